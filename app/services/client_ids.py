"""Client-chosen ids: an object created offline keeps the id its device gave it.

A creation body may carry `id`. The request claims it in `client_ids` with INSERT ... ON
CONFLICT DO NOTHING, in its own transaction and before any lock of an enterprise (so a claim
never waits while holding one):

- the claim is new: the object is created with this id, unless an object of a kind that takes
  client ids already has it (created by the server, or before the claim was recorded) → 409;
- the claim exists, from the same caller, for the same kind of object and the same body (as
  validated, so key order and spacing do not matter): a retry. The object is read again through
  the normal visibility rule and answered as on creation (`201`); nothing is created;
- anything else (another body, another kind, another caller, or an object the caller can no
  longer see or that was deleted) → 409 `id-conflict`, always with the same body.

Two concurrent requests with one id: the second one's INSERT waits on the primary key until the
first commits (then it finds the claim: a retry or a conflict) or rolls back (then it claims).
A claim rolls back with its request, so a failed creation leaves the id free.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, TypeVar
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import SQLModel, col
from sqlmodel.ext.asyncio.session import AsyncSession

from app.errors import IdConflict, NotFound
from app.ids import utcnow
from app.models.client_ids import ClientIdClaim, ClientIdentified
from app.models.ideas import Idea
from app.models.results import Result
from app.models.trainings import Enrollment
from app.models.visits import Visit
from app.principal import Principal
from app.services.access import get_visible, made_by

M = TypeVar("M", bound=SQLModel)

KINDS: dict[str, type[SQLModel]] = {"idea": Idea, "visit": Visit, "result": Result, "enrollment": Enrollment}
"""The kinds of object that take a client-chosen id. One id names at most one object of all of them."""


@dataclass(frozen=True, slots=True)
class Claim:
    """What a creation does with the body's `id`."""

    id: UUID | None
    """The id to create the object with (None: the server draws one)."""
    replay: bool = False
    """The object exists already, created by this same request: answer it instead."""

    def fields(self) -> dict[str, Any]:
        """Constructor arguments of the new object (none when the server chooses the id)."""
        return {} if self.id is None else {"id": self.id}


def request_hash(kind: str, scope: str, body: ClientIdentified) -> str:
    """The request as validated (defaults filled in, instants in UTC), without its id."""
    text = body.model_dump_json(exclude={"id"})
    return hashlib.sha256(f"{kind}\n{scope}\n{text}".encode()).hexdigest()


async def _in_use(session: AsyncSession, object_id: UUID) -> bool:
    found = sa.union_all(
        *(sa.select(sa.literal(1)).where(col(model.id) == object_id) for model in KINDS.values())  # type: ignore[attr-defined]
    )
    return (await session.exec(sa.select(sa.exists(found)))).one()[0]  # type: ignore[call-overload,no-any-return]


async def claim(
    session: AsyncSession, principal: Principal, kind: str, body: ClientIdentified, scope: str = ""
) -> Claim:
    """Claim the body's id for a new object of `kind` (`scope`: what else names the request,
    e.g. the training of an enrollment). Call it after the permission check and before any
    enterprise lock."""
    if body.id is None:
        return Claim(None)
    fingerprint = request_hash(kind, scope, body)
    inserted = await session.exec(  # type: ignore[call-overload]
        insert(ClientIdClaim)
        .values(id=body.id, resource=kind, request_hash=fingerprint, creator=principal.key, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(col(ClientIdClaim.id))
    )
    if inserted.first() is not None:
        if await _in_use(session, body.id):
            raise IdConflict()
        return Claim(body.id)
    existing = await session.get(ClientIdClaim, body.id, populate_existing=True)
    if existing is None or (existing.resource, existing.request_hash) != (kind, fingerprint):
        raise IdConflict()
    if not made_by(principal, existing.creator):
        raise IdConflict()
    return Claim(body.id, replay=True)


async def replayed(session: AsyncSession, principal: Principal, model: type[M], retry: Claim) -> M:
    """The object a retried creation made, read as the caller may see it now (gone or hidden: 409)."""
    assert retry.replay and retry.id is not None
    try:
        return await get_visible(session, principal, model, retry.id)
    except NotFound:
        raise IdConflict() from None
