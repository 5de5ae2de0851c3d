"""Where attachment bytes live: the one interface every store implements.

PostgreSQL is the default store (nothing more to run); an S3-compatible object store is the
option for deployments that outgrow one database. A key is the attachment's id.

The PostgreSQL store writes inside the caller's transaction, so a rolled-back upload leaves
nothing behind. An object store cannot join that transaction: its `put` runs before the row is
committed and a failed commit is followed by `delete`; what a crash leaves between the two is
an object no row names, which the object store's own sweep removes.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from typing import Protocol
from uuid import UUID

from sqlmodel.ext.asyncio.session import AsyncSession


class BlobStore(Protocol):
    """Bytes by key. `session` is the request's session (used by the PostgreSQL store)."""

    name: str

    async def put(self, session: AsyncSession, key: UUID, chunks: AsyncIterable[bytes]) -> None:
        """Store the bytes of `chunks` under `key` (a new key), never holding all of them in memory."""
        ...

    def get(self, session: AsyncSession, key: UUID, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """The bytes of `key` from offset `start` up to, not including, `end` (None: to the end), in chunks."""
        ...

    async def delete(self, session: AsyncSession, key: UUID) -> None:
        """Remove `key`; removing a key that is not there is not an error."""
        ...
