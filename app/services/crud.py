"""Generic steps every resource service reuses: scoped pages, guarded and audited writes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from app.errors import Conflict, Unprocessable
from app.http import ensure_match, etag_for
from app.ids import utcnow
from app.pagination import PageParams, sort_keys
from app.principal import Principal
from app.services import audit
from app.services.access import scoped
from app.services.crud_filters import any_of, contains, enterprise_named, eq

__all__ = ["any_of", "apply_changes", "contains", "delete", "enterprise_named", "eq", "etag", "insert", "list_page"]

M = TypeVar("M", bound=SQLModel)


def etag(obj: Any) -> str:
    return etag_for(obj.id, obj.updated_at)


def _object_type(obj: Any) -> str:
    return str(obj.__tablename__).removesuffix("s")


async def list_page(
    session: AsyncSession,
    principal: Principal,
    model: type[M],
    page: PageParams,
    filters: Sequence[ColumnElement[bool] | None] = (),
    updated_since: datetime | None = None,
    *,
    sort: StrEnum | None = None,
    count: bool = False,
) -> tuple[list[M], str | None]:
    """One page of the objects the caller may see, filtered, in `sort` order (`field` or
    `-field`; by default id, i.e. creation, order); `count` also sets `page.total`."""
    query = scoped(principal, model)
    for condition in filters:
        if condition is not None:
            query = query.where(condition)
    if updated_since is not None:
        query = query.where(model.updated_at >= updated_since)  # type: ignore[attr-defined]
    keys, descending = sort_keys(model, sort)
    return await page.fetch(session, query, principal.key, keys, descending=descending, count=count)


async def insert(session: AsyncSession, principal: Principal, obj: M, conflict: str) -> M:
    """Add and flush (a unique-constraint clash becomes 409 `conflict`); audited."""
    try:
        async with session.begin_nested():
            session.add(obj)
            await session.flush()
    except IntegrityError as exc:
        raise Conflict(conflict) from exc
    await audit.record(session, principal, "create", _object_type(obj), obj.id, audit.snapshot(obj))  # type: ignore[attr-defined]
    return obj


async def apply_changes(
    session: AsyncSession,
    principal: Principal,
    obj: M,
    changes: Mapping[str, Any],
    if_match: str | None,
    action: str = "update",
) -> M:
    """Set the given fields after checking `If-Match`; bumps `updated_at` and audits a real
    change under `action` (a domain action such as `password_reset`, else `update`)."""
    ensure_match(if_match, etag(obj))
    columns = obj.__table__.c  # type: ignore[attr-defined]
    for field, value in changes.items():
        if value is None and field in columns and not columns[field].nullable:
            raise Unprocessable(f"{field} cannot be null", loc=("body", field))
    before = obj.model_dump()
    changed = audit.diff(before, dict(changes))
    if changed:
        for field in changed:
            setattr(obj, field, changes[field])
        obj.updated_at = utcnow()  # type: ignore[attr-defined]
        try:
            async with session.begin_nested():
                session.add(obj)
                await session.flush()
        except IntegrityError as exc:
            raise Conflict("the change conflicts with another object (a unique value is taken)") from exc
        await audit.record(session, principal, action, _object_type(obj), obj.id, changed)  # type: ignore[attr-defined]
    return obj


async def delete(session: AsyncSession, principal: Principal, obj: Any, what: str) -> None:
    """Delete, or 409 with nothing removed when other objects still refer to it; audited
    first, so that the event of the deletion reaches those who saw the object."""
    await audit.record(session, principal, "delete", _object_type(obj), obj.id)
    try:
        async with session.begin_nested():
            await session.delete(obj)
            await session.flush()
    except IntegrityError as exc:
        raise Conflict(f"{what} still has dependent records; remove or reassign them first") from exc
