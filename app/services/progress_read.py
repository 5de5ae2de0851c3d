"""The lean read of one progress record: the buyer pull's hottest request in one statement.

`GET /v1/enterprises/{id}/progress` is what sourcing systems call most. Through the framework
it costs a session, a transaction, a principal query and a record query; here it is one
statement sent straight to asyncpg that answers both questions at once:

    live  — is the caller's account still active, with the `auth_version` of its token?
    body  — the stored record text, if the caller may see that enterprise.

The SQL is compiled once per principal kind and role from the very SQLAlchemy expressions the
regular path uses (`auth.principal_row`, `access.visible_enterprise_ids`), so the permission
rules stay written once. Anything unusual (no live account, a hidden or unknown enterprise, a
record never stored) is left to the regular route, which answers it as before.
"""

from __future__ import annotations

from dataclasses import dataclass
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
from app.services.access import Action, Resource, can, visible_enterprise_ids
from app.services.auth import principal_row


class Reader(Protocol):
    """Runs one read-only statement and returns its first row (asyncpg's `fetchrow`)."""

    async def fetchrow(self, sql: str, *args: Any) -> Any: ...


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


@cache
def statement(kind: PrincipalKind, role: Role) -> Statement:
    """`SELECT live, body` for a caller of this kind and role (compiled once, then cached)."""
    template = Principal(
        kind=kind,
        id=cast(UUID, sa.bindparam("me_id")),
        role=role,
        organisation_id=cast(UUID, sa.bindparam("me_org")),
        enterprise_id=cast(UUID, sa.bindparam("me_ent")),
    )
    body = select(ProgressRecord.body).where(ProgressRecord.enterprise_id == sa.bindparam("enterprise_id"))
    if not template.is_admin:
        body = body.where(ProgressRecord.enterprise_id.in_(visible_enterprise_ids(template)))  # type: ignore[attr-defined]
    live = principal_row(kind, sa.bindparam("me_id"), sa.bindparam("me_ver"))
    query = sa.select(sa.exists(live).label("live"), body.scalar_subquery().label("body"))
    compiled = query.compile(dialect=asyncpg_dialect())  # type: ignore[no-untyped-call]
    names = tuple(compiled.positiontup or ())
    own = {"me_id", "me_ver", "me_org", "me_ent", "enterprise_id"}
    fixed = {name: _plain(value) for name, value in compiled.params.items() if name not in own}
    return Statement(sql=compiled.string, names=names, fixed=fixed)


async def read_record(reader: Reader, principal: Principal, version: int, enterprise_id: UUID) -> bytes | None:
    """The record's bytes if the caller is live and may see it; None leaves it to the regular
    route (which answers 401, 403, 404, or computes a record never stored)."""
    if not can(principal, Resource.progress, Action.read):
        return None
    stmt = statement(principal.kind, principal.role)
    values = {
        "me_id": principal.id,
        "me_ver": version,
        "me_org": principal.organisation_id,
        "me_ent": principal.enterprise_id,
        "enterprise_id": enterprise_id,
    }
    row = await reader.fetchrow(stmt.sql, *stmt.args(values))
    if row is None or not row[0] or row[1] is None:
        return None
    return str(row[1]).encode()
