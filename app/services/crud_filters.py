"""Filter conditions for list queries."""

from __future__ import annotations

from typing import Any

from sqlalchemy.sql.elements import ColumnElement


def eq(column: Any, value: Any) -> ColumnElement[bool] | None:
    """A filter condition, or None when the filter was not given."""
    return None if value is None else column == value  # type: ignore[no-any-return]
