"""`Idempotency-Key` on POST: a retry gets the first answer and creates nothing new.

The key row is inserted in the request's own transaction before any work. A concurrent
request with the same key blocks on the unique index until the first commits, then finds
the stored response; if the first failed (rolled back), the second proceeds. The stored
response is written in the same transaction as the object, so they land together. A request
run again after a transaction conflict (middleware.TransactionRetryMiddleware) claims the key
anew: the claim of the failed run rolled back with everything else it did.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.responses import Response

from app.errors import Conflict, IdempotencyKeyReused
from app.ids import utcnow, uuid7
from app.media import JSON
from app.models.idempotency import IdempotencyRecord


class IdempotentReplay(Exception):
    """Raised to answer a retried request with its stored first response."""

    def __init__(self, record: IdempotencyRecord) -> None:
        super().__init__("idempotent replay")
        # Copied now: the request's session rolls back (expiring the record) before the
        # handler turns this into a response.
        self.status_code = record.status_code or 200
        self.body = record.body or b""
        self.location = record.location

    def response(self) -> Response:
        headers = {"Idempotent-Replayed": "true"}
        if self.location:
            headers["Location"] = self.location
        return Response(self.body, status_code=self.status_code, media_type=JSON, headers=headers)


@dataclass
class IdempotencyKey:
    record_id: UUID

    async def complete(self, session: AsyncSession, status_code: int, body: bytes, location: str | None) -> None:
        await session.exec(  # type: ignore[call-overload]
            sa.update(IdempotencyRecord)
            .where(IdempotencyRecord.id == self.record_id)  # type: ignore[arg-type]
            .values(status_code=status_code, body=body, location=location)
        )


def request_fingerprint(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).hexdigest()


async def begin(session: AsyncSession, *, principal: str, key: str, fingerprint: str, ttl_hours: int) -> IdempotencyKey:
    """Claim the key for this request, or raise with the stored outcome of the first one."""
    cutoff = utcnow() - timedelta(hours=ttl_hours)
    await session.exec(  # type: ignore[call-overload]
        sa.delete(IdempotencyRecord).where(
            IdempotencyRecord.principal == principal,  # type: ignore[arg-type]
            IdempotencyRecord.key == key,  # type: ignore[arg-type]
            IdempotencyRecord.created_at < cutoff,  # type: ignore[arg-type]
        )
    )
    new_id = uuid7()
    inserted = await session.exec(  # type: ignore[call-overload]
        insert(IdempotencyRecord)
        .values(id=new_id, principal=principal, key=key, request_hash=fingerprint, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["principal", "key"])
        .returning(col(IdempotencyRecord.id))
    )
    if inserted.first() is not None:
        return IdempotencyKey(new_id)
    existing = (
        await session.exec(
            select(IdempotencyRecord).where(IdempotencyRecord.principal == principal, IdempotencyRecord.key == key)
        )
    ).one()
    if existing.request_hash != fingerprint:
        raise IdempotencyKeyReused("this Idempotency-Key was used with a different request body or endpoint")
    if existing.status_code is None:
        raise Conflict("a request with this Idempotency-Key is still being processed")
    raise IdempotentReplay(existing)


async def purge_expired(session: AsyncSession, ttl_hours: int) -> int:
    cutoff = utcnow() - timedelta(hours=ttl_hours)
    result = await session.exec(sa.delete(IdempotencyRecord).where(IdempotencyRecord.created_at < cutoff))  # type: ignore[call-overload,arg-type]
    return int(result.rowcount or 0)
