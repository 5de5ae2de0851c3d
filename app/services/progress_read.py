"""The lean reads of progress records: the buyer pull's requests in one or two statements.

`GET /v1/enterprises/{id}/progress` and `GET /v1/progress` are what sourcing systems call
most. Through the framework each costs a session, a transaction, a principal query and the
reads; here statements go straight to asyncpg and answer the caller check along the way:

    record — live (is the caller's account still active, with the `auth_version` of its
             token?) and the stored record text, if the caller may see that enterprise;
    page   — live and the page's keys in (updated_at, enterprise_id) order, then the text of
             those records (`progress.BODIES`, the route's own second statement).

The SQL is compiled once per principal kind and role from the very SQLAlchemy expressions the
regular path uses (`auth.principal_row`, `access.visible_enterprise_ids`), so the permission
rules stay written once. Anything unusual (no live account, a hidden or unknown enterprise, a
record never stored) is left to the regular route, which answers it as before.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from functools import cache
from typing import Any, Protocol, cast
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlmodel import select

from app.models.progress import ProgressRecord
from app.models.types import Role
from app.principal import Principal
from app.security import PrincipalKind
from app.services import progress
from app.services.access import Action, Resource, can, visible_enterprise_ids
from app.services.auth import principal_row


class Reader(Protocol):
    """Runs one read-only statement: its first row, or all rows (asyncpg's `fetchrow`, `fetch`)."""

    async def fetchrow(self, sql: str, *args: Any) -> Any: ...

    async def fetch(self, sql: str, *args: Any) -> list[Any]: ...


@dataclass(frozen=True, slots=True)
class Statement:
    sql: str
    names: tuple[str, ...]
    """The name behind each positional parameter ($1, $2, ...)."""
    fixed: dict[str, Any]
    """Values the expressions carry themselves (e.g. the `active` link status)."""

    def args(self, values: dict[str, Any]) -> list[Any]:
        return [values[name] if name in values else self.fixed[name] for name in self.names]


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


def _compile(query: Any) -> Statement:
    compiled = query.compile(dialect=asyncpg_dialect())  # type: ignore[no-untyped-call]
    names = tuple(compiled.positiontup or ())
    # Parameters bound without a value are filled per request; the others the expressions carry.
    fixed = {name: _plain(value) for name, value in compiled.params.items() if value is not None}
    return Statement(sql=compiled.string, names=names, fixed=fixed)


def _template(kind: PrincipalKind, role: Role) -> Principal:
    """A principal whose ids are bound parameters, to compile the access rules once per role."""
    return Principal(
        kind=kind,
        id=cast(UUID, sa.bindparam("me_id")),
        role=role,
        organisation_id=cast(UUID, sa.bindparam("me_org")),
        enterprise_id=cast(UUID, sa.bindparam("me_ent")),
    )


def _live(template: Principal) -> Any:
    """The caller's account is active, at the token's version, and still the cached principal."""
    family = sa.bindparam("me_fam", type_=sa.Uuid())
    row = principal_row(template.kind, sa.bindparam("me_id"), sa.bindparam("me_ver"), family, same_as=template)
    return sa.exists(row).label("live")


@cache
def statement(kind: PrincipalKind, role: Role) -> Statement:
    """`SELECT live, body` for a caller of this kind and role (compiled once, then cached)."""
    template = _template(kind, role)
    body = select(ProgressRecord.body).where(ProgressRecord.enterprise_id == sa.bindparam("enterprise_id"))
    if not template.is_admin:
        body = body.where(ProgressRecord.enterprise_id.in_(visible_enterprise_ids(template)))  # type: ignore[attr-defined]
    return _compile(sa.select(_live(template), body.scalar_subquery().label("body")))


@cache
def page_statement(kind: PrincipalKind, role: Role, since: bool, after: bool) -> Statement:
    """`live, updated_at, enterprise_id` of one page: one row (live, NULL, NULL) when the caller
    is not live or the page is empty, else a row per record in key order."""
    template = _template(kind, role)
    keys = progress.visible_keys(template)
    if since:
        keys = keys.where(ProgressRecord.updated_at >= sa.bindparam("since"))
    if after:
        position = sa.tuple_(ProgressRecord.updated_at, ProgressRecord.enterprise_id)
        after_at = sa.bindparam("after_at", type_=ProgressRecord.__table__.c.updated_at.type)  # type: ignore[attr-defined]
        keys = keys.where(position > sa.tuple_(after_at, sa.bindparam("after_id", type_=sa.Uuid())))
    order = (ProgressRecord.updated_at, ProgressRecord.enterprise_id)
    page = keys.order_by(*order).limit(sa.bindparam("n")).subquery("k")
    live = sa.select(_live(template)).subquery("l")
    query = (
        sa.select(live.c.live, page.c.updated_at, page.c.enterprise_id)
        .select_from(live.outerjoin(page, live.c.live))
        .order_by(page.c.updated_at, page.c.enterprise_id)
    )
    return _compile(query)


@cache
def bodies_statement() -> Statement:
    return _compile(progress.BODIES)


def _caller_values(principal: Principal, version: int, family: UUID | None) -> dict[str, Any]:
    return {
        "me_id": principal.id,
        "me_ver": version,
        "me_fam": family,
        "me_org": principal.organisation_id,
        "me_ent": principal.enterprise_id,
    }


async def read_record(
    reader: Reader, principal: Principal, version: int, family: UUID | None, enterprise_id: UUID | str
) -> bytes | None:
    """The record's bytes if the caller is live and may see it; None leaves it to the regular
    route (which answers 401, 403, 404, or computes a record never stored)."""
    if not can(principal, Resource.progress, Action.read):
        return None
    stmt = statement(principal.kind, principal.role)
    values = _caller_values(principal, version, family)
    values["enterprise_id"] = enterprise_id
    row = await reader.fetchrow(stmt.sql, *stmt.args(values))
    if row is None or not row[0] or row[1] is None:
        return None
    return str(row[1]).encode()


async def read_page(
    reader: Reader,
    principal: Principal,
    version: int,
    family: UUID | None,
    limit: int,
    since: datetime | None,
    after: list[Any] | None,
    large_pages: asyncio.Semaphore,
) -> tuple[list[bytes], tuple[datetime, UUID] | None] | None:
    """One page's record bytes and, if there are more, the key of its last record. None when
    the caller is not live (the route answers). Large pages take their turn in `large_pages`,
    as on the route (see `progress.list_records`)."""
    if not can(principal, Resource.progress, Action.read):
        return None
    stmt = page_statement(principal.kind, principal.role, since is not None, after is not None)
    values = _caller_values(principal, version, family)
    values["n"] = limit + 1
    if since is not None:
        values["since"] = since
    if after is not None:
        values["after_at"], values["after_id"] = after
    rows = await reader.fetch(stmt.sql, *stmt.args(values))
    if not rows or not rows[0][0]:
        return None
    keys = [(row[1], row[2]) for row in rows if row[2] is not None]
    last = keys[limit - 1] if len(keys) > limit else None
    page = keys[:limit]
    if not page:
        return [], None
    if len(page) <= progress.LARGE_PAGE:
        return await _bodies(reader, page), last
    async with large_pages:  # no connection is held while waiting here
        return await _bodies(reader, page), last


async def _bodies(reader: Reader, keys: list[tuple[datetime, UUID]]) -> list[bytes]:
    """The text at the keys' stamps (`progress.BODIES`: the page stays as of the keys' snapshot)."""
    stmt = bodies_statement()
    values = {"ids": [key[1] for key in keys], "stamps": [key[0] for key in keys]}
    return [row[0] for row in await reader.fetch(stmt.sql, *stmt.args(values))]
