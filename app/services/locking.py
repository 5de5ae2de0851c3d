"""The one order in which writes lock an enterprise's programme data.

Every write that changes an enterprise's programme data — the enterprise itself, its
enrollments, ideas (and their transitions), visits, results, attachments (after their bytes
have been received, which takes no lock), supplier links and expert assignments — takes its row locks in this order and holds them until it commits:

0. **The request's own claims**, before anything else: its `Idempotency-Key` row
   (app.services.idempotency) and the id a client chose for a new object
   (app.services.client_ids). A request waiting for another one's claim of the same key or id
   holds no lock of an enterprise yet.
1. **The enterprise row**, before any of its data is read for a rule or written (only the
   check that the caller may see it comes first): `FOR NO KEY UPDATE` (`lock_enterprise`;
   `FOR UPDATE` only to delete the enterprise). Two writes of one enterprise queue here, one
   after the other; writes of different enterprises never meet.
2. **The object changed**, read again under `FOR NO KEY UPDATE` (`get_for_write`), then
   whatever the write inserts, updates or deletes. The foreign-key checks of those statements
   take `FOR KEY SHARE` on the rows they reference (the enterprise, an idea, a visit, a
   training, a user), which `FOR NO KEY UPDATE` does not block.
3. **At commit** (`app.db.ProgrammeSession.commit`), the progress refresh (`app.services.progress.refresh`):
   `FOR KEY SHARE` on every enterprise whose record it recomputes, in id order
   (`share_enterprises`), which waits only for an enterprise being deleted; then the global
   progress lock (a transaction-scoped advisory lock, `commit_order_lock`); then the
   `progress_records` rows; then (app.services.events.publish_pending) the event log rows.
   The same lock numbers records (`updated_at`) and events (`seq`) in commit order: that is
   what lets the progress feed and the event feed resume without missing a commit.

So whoever holds the progress lock waits for nobody (what it needs was taken at step 3
before it), and a write waiting at step 1 or 2 waits for a write of the same enterprise that
is already past that step: no cycle of waits can form among these writes.

Why the order exists. Writes used to lock with `FOR UPDATE`, the strongest row lock, which
conflicts with the `FOR KEY SHARE` of every foreign-key check, and in no common order: the
object first, then its enterprise when a rule needed it (enrollments). Two deadlocks came of
it (PostgreSQL detects them after `deadlock_timeout`, 1 s, and aborted one side, a 500):

- `DELETE /v1/enrollments/{id}` (and the other enrollment writes checking the prerequisite
  rule, `PATCH /v1/enterprises/{id}`, expert assignments) held `FOR UPDATE` on the
  enterprise and, at commit, waited for the progress lock, while the holder of that lock,
  another write of the same enterprise committing, waited for `FOR KEY SHARE` on the
  enterprise to insert its first progress record (the record's foreign key).
- `PATCH /v1/ideas/{id}` with a `visit_id` (the idea `FOR UPDATE`, then the visit's key)
  against a visit write naming that idea in `idea_ids` (the visit `FOR UPDATE`, then the
  idea's key).

A conflict that still happens (a lock taken outside this order, say by deleting a training
or a user, or a serialization failure) is retried as a whole request:
`app.middleware.TransactionRetryMiddleware`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar
from uuid import UUID

import sqlalchemy as sa
from sqlmodel import SQLModel, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.models.enterprises import Enterprise
from app.principal import Principal
from app.services import progress_sql
from app.services.access import get_visible

M = TypeVar("M", bound=SQLModel)


async def lock_enterprise(session: AsyncSession, enterprise_id: UUID, *, delete: bool = False) -> bool:
    """Step 1: lock the enterprise row (`FOR UPDATE` when it is to be deleted). False when
    there is no such enterprise."""
    query = select(Enterprise.id).where(Enterprise.id == enterprise_id).with_for_update(key_share=not delete)
    return (await session.exec(query)).first() is not None


async def get_for_write(session: AsyncSession, principal: Principal, model: type[M], object_id: UUID) -> M:
    """Steps 1 and 2 for a change of one object: the object if the caller may see it (else 404),
    its enterprise locked, then the object read again under its own lock (its state may have
    changed while the enterprise lock was awaited; gone meanwhile → 404)."""
    found: Any = await get_visible(session, principal, model, object_id)
    await lock_enterprise(session, found.id if isinstance(found, Enterprise) else found.enterprise_id)
    return await get_visible(session, principal, model, object_id, for_update=True)


SHARE = sa.text("SELECT id FROM enterprises WHERE id = ANY(CAST(:ids AS uuid[])) ORDER BY id FOR KEY SHARE")


async def share_enterprises(session: AsyncSession, enterprise_ids: Iterable[UUID]) -> None:
    """Step 3: `FOR KEY SHARE` on these enterprises, in id order (nothing to wait for on rows
    this transaction locked at step 1)."""
    ids = [str(i) for i in sorted(set(enterprise_ids))]
    if ids:
        await session.exec(SHARE.bindparams(ids=ids))  # type: ignore[call-overload]


async def commit_order_lock(session: AsyncSession) -> None:
    """Take the progress lock (held until commit): whatever is numbered after it (progress
    records' `updated_at`, events' `seq`) is numbered in commit order."""
    await session.exec(sa.text("SELECT pg_advisory_xact_lock(:key)").bindparams(key=progress_sql.LOCK_KEY))  # type: ignore[call-overload]
