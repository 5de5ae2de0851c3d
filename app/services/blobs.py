"""Which blob store (app/blobs.py) keeps attachment bytes: ATTACHMENT_STORE names one of
STORES. `create_app` opens it once and keeps it on `app.state.blobs`.

A store that writes in the request's transaction (TRANSACTIONAL: PostgreSQL) removes bytes in
that transaction. Any other store removes them after the commit (app.db.after_commit), and
removes what an upload wrote when the upload's transaction rolls back (app.db.after_rollback).
"""

from __future__ import annotations

from collections.abc import Callable

from app.blobs import BlobStore
from app.config import Settings
from app.services.blobs_postgres import PostgresBlobs
from app.services.blobs_s3 import S3Blobs

StoreFactory = Callable[[Settings], BlobStore]


def _postgres(_: Settings) -> BlobStore:
    return PostgresBlobs()


STORES: dict[str, StoreFactory] = {
    "postgres": _postgres,
    "s3": S3Blobs.from_settings,
}

TRANSACTIONAL = frozenset({"postgres"})
"""Stores whose writes are part of the request's database transaction."""


def open_store(settings: Settings) -> BlobStore:
    """The store ATTACHMENT_STORE names; an unknown name stops the start with the known ones."""
    factory = STORES.get(settings.attachment_store)
    if factory is None:
        known = ", ".join(sorted(STORES))
        raise RuntimeError(f"ATTACHMENT_STORE={settings.attachment_store!r} is not a known store; use one of: {known}")
    return factory(settings)


def joins_transaction(store: BlobStore) -> bool:
    return store.name in TRANSACTIONAL


async def close_store(store: BlobStore) -> None:
    """Release what the store holds (an object store's HTTP client); the PostgreSQL store has nothing."""
    close = getattr(store, "close", None)
    if close is not None:
        await close()
