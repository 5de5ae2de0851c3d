"""Filter conditions for list queries."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from app.models.enterprises import Enterprise
from app.principal import Principal
from app.services.access import scoped


def eq(column: Any, value: Any) -> ColumnElement[bool] | None:
    """A filter condition, or None when the filter was not given."""
    return None if value is None else column == value  # type: ignore[no-any-return]


def escape_like(text: str) -> str:
    """`text` matched literally in a LIKE pattern: `\\`, `%` and `_` escaped with a backslash
    (PostgreSQL's default LIKE escape character)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def contains(q: str | None, *columns: Any) -> ColumnElement[bool] | None:
    """`q` as a case-insensitive substring of any of `columns` (`ILIKE '%q%'`, which the
    columns' trigram indexes serve), or None when there is no search."""
    if q is None:
        return None
    pattern = f"%{escape_like(q)}%"
    return sa.or_(*(column.ilike(pattern) for column in columns))


def any_of(*conditions: ColumnElement[bool] | None) -> ColumnElement[bool] | None:
    """Any of the conditions given (None when none is)."""
    given = [condition for condition in conditions if condition is not None]
    return sa.or_(*given) if given else None


def enterprise_named(principal: Principal, q: str | None, enterprise_id: Any) -> ColumnElement[bool] | None:
    """Rows whose enterprise, one the caller may see, has `q` in its name (None: no search)."""
    names = contains(q, Enterprise.name)
    if names is None:
        return None
    return enterprise_id.in_(scoped(principal, Enterprise).where(names).with_only_columns(Enterprise.id))  # type: ignore[no-any-return]
