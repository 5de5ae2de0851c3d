"""The PostgreSQL blob store: an attachment's bytes in `attachment_chunks`, in pieces of
CHUNK_BYTES keyed by their offset.

Written with the request's session, so the bytes commit or roll back with the attachment's
row. Reads fetch one piece per statement: a download never holds more than a piece in memory,
and a ranged read fetches only the pieces that overlap the range.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from uuid import UUID

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from app.models.attachments import ATTACHMENT_CHUNKS as CHUNKS

CHUNK_BYTES = 256 * 1024


class PostgresBlobs:
    """BlobStore (app/blobs.py) on the service's own database."""

    name = "postgres"

    async def put(self, session: AsyncSession, key: UUID, chunks: AsyncIterable[bytes]) -> None:
        buffer = bytearray()
        offset = 0
        async for data in chunks:
            buffer += data
            while len(buffer) >= CHUNK_BYTES:
                await self._insert(session, key, offset, bytes(buffer[:CHUNK_BYTES]))
                del buffer[:CHUNK_BYTES]
                offset += CHUNK_BYTES
        if buffer:
            await self._insert(session, key, offset, bytes(buffer))

    @staticmethod
    async def _insert(session: AsyncSession, key: UUID, offset: int, data: bytes) -> None:
        await session.exec(sa.insert(CHUNKS).values(attachment_id=key, offset=offset, data=data))  # type: ignore[call-overload]

    async def get(
        self, session: AsyncSession, key: UUID, start: int = 0, end: int | None = None
    ) -> AsyncIterator[bytes]:
        overlapping = CHUNKS.c.offset + sa.func.octet_length(CHUNKS.c.data) > start  # any piece size
        offsets = sa.select(CHUNKS.c.offset).where(CHUNKS.c.attachment_id == key, overlapping)
        if end is not None:
            offsets = offsets.where(CHUNKS.c.offset < end)
        for (offset,) in (await session.exec(offsets.order_by(CHUNKS.c.offset))).all():  # type: ignore[call-overload]
            piece = sa.select(CHUNKS.c.data).where(CHUNKS.c.attachment_id == key, CHUNKS.c.offset == offset)
            data: bytes | None = (await session.exec(piece)).scalar_one_or_none()  # type: ignore[call-overload]
            if data is None:  # removed meanwhile
                return
            low = max(start - offset, 0)
            high = len(data) if end is None else min(end - offset, len(data))
            if high > low:
                yield data[low:high]

    async def delete(self, session: AsyncSession, key: UUID) -> None:
        await session.exec(sa.delete(CHUNKS).where(CHUNKS.c.attachment_id == key))  # type: ignore[call-overload]
