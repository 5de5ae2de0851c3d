"""Blob stores other than PostgreSQL: bytes written outside the database transaction are
removed when the upload rolls back, and removed by a deletion only once it has committed
(app.db.after_commit / after_rollback). Also the store selector (ATTACHMENT_STORE)."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from uuid import UUID

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from sqlmodel.ext.asyncio.session import AsyncSession

from app.config import Settings
from app.db import Database, after_commit, after_rollback
from app.models.attachments import ATTACHMENT_CHUNKS
from app.services.blobs import STORES, joins_transaction, open_store
from app.services.blobs_postgres import PostgresBlobs
from tests.factories import PNG, Factory
from tests.two_tenants import build_tenant

JPEG = b"\xff\xd8\xff\xe0" + b"\x07" * 300


class MemoryBlobs:
    """An object store that keeps objects in a dict (it joins no transaction)."""

    name = "memory"

    def __init__(self) -> None:
        self.objects: dict[UUID, bytes] = {}

    async def put(self, session: AsyncSession, key: UUID, chunks: AsyncIterable[bytes]) -> None:
        self.objects[key] = b"".join([chunk async for chunk in chunks])

    async def get(
        self, session: AsyncSession, key: UUID, start: int = 0, end: int | None = None
    ) -> AsyncIterator[bytes]:
        data = self.objects.get(key)
        if data is not None:
            yield data[start:end]

    async def delete(self, session: AsyncSession, key: UUID) -> None:
        self.objects.pop(key, None)


async def test_an_external_store_is_cleaned_after_rollback_and_after_commit(
    app: FastAPI, live_client: httpx.AsyncClient, live_factory: Factory, database: Database
) -> None:
    tenant = await build_tenant(live_factory, "mem")
    expert = live_factory.auth(tenant.users["expert"])
    store = MemoryBlobs()
    default, app.state.blobs = app.state.blobs, store
    try:
        path = f"/v1/ideas/{tenant.idea.id}/attachments"
        key = {**expert, "Idempotency-Key": "mem-1"}
        first = await live_client.post(path, files={"file": ("a.png", PNG)}, headers=key)
        assert first.status_code == 201, first.text
        attachment_id = UUID(first.json()["id"])
        assert store.objects == {attachment_id: PNG}
        # The same key with another file: its bytes reached the store before the key was checked,
        # and go when the transaction rolls back.
        reused = await live_client.post(path, files={"file": ("b.jpg", JPEG)}, headers=key)
        assert reused.status_code == 422
        assert store.objects == {attachment_id: PNG}

        content = await live_client.get(f"/v1/attachments/{attachment_id}/content", headers=expert)
        assert content.content == PNG
        async with database.sessionmaker() as session:
            chunks = await session.exec(sa.select(sa.func.count()).select_from(ATTACHMENT_CHUNKS))  # type: ignore[call-overload]
            assert chunks.one()[0] == 0, "nothing went to the PostgreSQL store"

        refused = await live_client.delete(
            f"/v1/attachments/{attachment_id}", headers=live_factory.auth(tenant.users["buyer"])
        )
        assert refused.status_code == 403 and attachment_id in store.objects
        gone = await live_client.delete(f"/v1/attachments/{attachment_id}", headers=expert)
        assert gone.status_code == 204
        assert store.objects == {}
    finally:
        app.state.blobs = default


async def test_after_commit_and_after_rollback_steps(database: Database) -> None:
    ran: list[str] = []

    async def note(what: str) -> None:
        ran.append(what)

    async with database.sessionmaker() as session:
        after_commit(session, lambda: note("committed"))
        after_rollback(session, lambda: note("rolled back"))
        await session.commit()
    async with database.sessionmaker() as session:
        after_commit(session, lambda: note("committed"))
        after_rollback(session, lambda: note("rolled back"))
        await session.rollback()
    async with database.sessionmaker() as session:

        async def fails() -> None:
            raise RuntimeError("the object store is away")

        after_commit(session, fails)
        after_commit(session, lambda: note("still ran"))
        await session.commit()  # a failing step is logged, not raised
    assert ran == ["committed", "rolled back", "still ran"]


def test_the_store_is_chosen_by_name(settings: Settings) -> None:
    store = open_store(settings)
    assert isinstance(store, PostgresBlobs) and joins_transaction(store)
    assert settings.attachment_store == "postgres" and "postgres" in STORES
    with pytest.raises(RuntimeError, match="ATTACHMENT_STORE='nowhere'.*postgres"):
        open_store(settings.model_copy(update={"attachment_store": "nowhere"}))
