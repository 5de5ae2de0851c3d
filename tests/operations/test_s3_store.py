"""The S3-compatible attachment store against a real S3-compatible HTTP server (moto's standalone
server, started here on 127.0.0.1): round trips, multipart uploads, ranges, aborts, memory, sweep.

The server runs in its own process, so that the memory test measures the store alone (the
server keeps every uploaded byte in memory).
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import os
import subprocess
import sys
import time
import tracemalloc
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import get_type_hints

import httpx
import pytest
from botocore.exceptions import ClientError
from fastapi import FastAPI
from pydantic import ValidationError

from app.blobs import BlobStore
from app.db import Database, unit_of_work
from app.services.attachments import sweep_orphans
from app.services.blobs_s3 import PART_SIZE, S3Blobs, S3StoreNotConfigured, Swept
from app.services.delivery import Worker
from tests.conftest import make_settings
from tests.factories import PNG, Factory
from tests.live_server import free_port
from tests.two_tenants import build_tenant

MiB = 1024 * 1024
NO_DB = "postgresql://nobody@127.0.0.1:1/none"  # settings need a URL; these tests use no database


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "server.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(url + "/moto-api/", timeout=1)
                break
            except httpx.TransportError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the S3 test server did not start:\n" + log.read_text()) from None
                time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture
async def store(s3_endpoint: str) -> AsyncIterator[S3Blobs]:
    """A store on a bucket of its own."""
    bucket = "t-" + uuid.uuid4().hex[:20]
    async with S3Blobs(
        bucket, endpoint_url=s3_endpoint, region="us-east-1", access_key_id="testing", secret_access_key="testing"
    ) as blobs:
        await (await blobs.client()).create_bucket(Bucket=bucket)
        yield blobs


async def chunked(data: bytes, size: int) -> AsyncIterator[bytes]:
    for offset in range(0, len(data), size):
        yield data[offset : offset + size]


async def read(store: S3Blobs, key: uuid.UUID, start: int = 0, end: int | None = None) -> bytes:
    return b"".join([chunk async for chunk in store.get(None, key, start, end)])


async def incomplete_uploads(store: S3Blobs) -> list[str]:
    listing = await (await store.client()).list_multipart_uploads(Bucket=store.bucket)
    return [upload["Key"] for upload in listing.get("Uploads", [])]


async def exists(store: S3Blobs, key: uuid.UUID) -> bool:
    try:
        await (await store.client()).head_object(Bucket=store.bucket, Key=store.object_key(key))
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "404"
        return False
    return True


# --- round trips ---------------------------------------------------------------------------------


async def test_a_small_file_is_one_object_under_the_prefix(store: S3Blobs) -> None:
    key, data = uuid.uuid4(), b"%PDF-1.7 a small document\n" * 40
    await store.put(None, key, chunked(data, 100))
    assert await read(store, key) == data
    head = await (await store.client()).head_object(Bucket=store.bucket, Key="attachments/" + str(key))
    assert head["ContentLength"] == len(data)
    assert "-" not in head["ETag"]  # a single PutObject, not a multipart upload
    assert await incomplete_uploads(store) == []


async def test_an_empty_stream_is_an_empty_object(store: S3Blobs) -> None:
    key = uuid.uuid4()
    await store.put(None, key, chunked(b"", 1))
    assert await read(store, key) == b""


async def test_a_large_file_goes_up_in_parts_and_comes_back_equal(store: S3Blobs) -> None:
    key, data = uuid.uuid4(), os.urandom(2 * PART_SIZE + 12345)
    await store.put(None, key, chunked(data, MiB + 7))  # chunks that do not divide a part
    digest = hashlib.sha256()
    chunks = 0
    async for chunk in store.get(None, key):
        digest.update(chunk)
        chunks += 1
    assert digest.hexdigest() == hashlib.sha256(data).hexdigest()
    assert chunks > 1  # streamed, not read whole
    head = await (await store.client()).head_object(Bucket=store.bucket, Key=store.object_key(key))
    assert head["ETag"].strip('"').endswith("-3")  # a multipart upload of three parts
    assert await incomplete_uploads(store) == []
    # A range across the boundary of the first two parts.
    assert await read(store, key, PART_SIZE - 3, PART_SIZE + 3) == data[PART_SIZE - 3 : PART_SIZE + 3]


async def test_exactly_one_part_is_one_put_and_one_byte_more_is_two_parts(store: S3Blobs) -> None:
    client = await store.client()
    for size, etag_suffix in ((PART_SIZE, None), (PART_SIZE + 1, "-2")):
        key, data = uuid.uuid4(), os.urandom(size)
        await store.put(None, key, chunked(data, MiB))
        assert await read(store, key) == data
        etag = (await client.head_object(Bucket=store.bucket, Key=store.object_key(key)))["ETag"].strip('"')
        assert etag.endswith(etag_suffix) if etag_suffix else "-" not in etag
    assert await incomplete_uploads(store) == []


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (0, None, slice(0, None)),
        (0, 1, slice(0, 1)),
        (5, 17, slice(5, 17)),
        (999, None, slice(999, None)),  # the last byte
        (990, 1000, slice(990, 1000)),  # up to the very end
        (0, 5000, slice(0, None)),  # an end past the object: up to its end
        (1000, None, slice(0, 0)),  # starting at the end: nothing
        (4000, 4010, slice(0, 0)),  # starting past the end: nothing
        (10, 10, slice(0, 0)),  # an empty range
    ],
)
async def test_ranged_reads(store: S3Blobs, start: int, end: int | None, expected: slice) -> None:
    key, data = uuid.uuid4(), bytes(range(250)) * 4
    await store.put(None, key, chunked(data, 333))
    assert await read(store, key, start, end) == data[expected]


async def test_a_negative_offset_is_refused(store: S3Blobs) -> None:
    with pytest.raises(ValueError):
        await read(store, uuid.uuid4(), -1)


async def test_delete_is_idempotent_and_a_deleted_key_is_not_found(store: S3Blobs) -> None:
    key = uuid.uuid4()
    await store.put(None, key, chunked(b"photo", 2))
    await store.delete(None, key)
    await store.delete(None, key)
    await store.delete(None, uuid.uuid4())  # never there
    assert not await exists(store, key)
    with pytest.raises(FileNotFoundError):
        await read(store, key)


# --- failures ------------------------------------------------------------------------------------


async def test_a_failure_mid_stream_aborts_the_upload(store: S3Blobs) -> None:
    async def failing() -> AsyncIterator[bytes]:
        for _ in range(10):  # 10 MiB: the first part has gone up
            yield os.urandom(MiB)
        raise RuntimeError("the client went away")

    key = uuid.uuid4()
    with pytest.raises(RuntimeError, match="went away"):
        await store.put(None, key, failing())
    assert await incomplete_uploads(store) == []
    assert not await exists(store, key)


async def test_a_cancelled_upload_is_aborted(store: S3Blobs) -> None:
    stalled = asyncio.Event()

    async def stalling() -> AsyncIterator[bytes]:
        for _ in range(9):
            yield os.urandom(MiB)
        stalled.set()
        await asyncio.Event().wait()  # never comes
        yield b""

    key = uuid.uuid4()
    task = asyncio.ensure_future(store.put(None, key, stalling()))
    await stalled.wait()
    assert len(await incomplete_uploads(store)) == 1  # a part is up: the upload is in flight
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await incomplete_uploads(store) == []
    assert not await exists(store, key)


async def test_a_failure_of_a_small_put_leaves_nothing(store: S3Blobs) -> None:
    async def failing() -> AsyncIterator[bytes]:
        yield b"abc"
        raise RuntimeError("broken")

    key = uuid.uuid4()
    with pytest.raises(RuntimeError):
        await store.put(None, key, failing())
    assert not await exists(store, key)
    assert await incomplete_uploads(store) == []


# --- memory --------------------------------------------------------------------------------------


async def test_memory_of_a_30_mib_put_is_bounded_by_the_part_size(store: S3Blobs) -> None:
    size, chunk = 30 * MiB, 64 * 1024
    digest = hashlib.sha256()

    async def generated() -> AsyncIterator[bytes]:
        # Each chunk is made when asked for, so the file never exists whole on this side.
        for index in range(size // chunk):
            piece = index.to_bytes(8, "big") * (chunk // 8)
            digest.update(piece)
            yield piece

    key = uuid.uuid4()
    await store.client()  # the client's own set-up is not part of the measure
    tracemalloc.start()
    try:
        await store.put(None, key, generated())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert PART_SIZE <= peak < 3 * PART_SIZE, f"peak {peak / MiB:.1f} MiB for a {size // MiB} MiB file"
    stored = hashlib.sha256()
    async for piece in store.get(None, key):
        stored.update(piece)
    assert stored.hexdigest() == digest.hexdigest()


# --- sweep ---------------------------------------------------------------------------------------


async def test_sweep_removes_old_orphans_and_stale_uploads_and_keeps_the_rest(store: S3Blobs) -> None:
    named, orphan = uuid.uuid4(), uuid.uuid4()
    for key in (named, orphan):
        await store.put(None, key, chunked(b"bytes of " + key.bytes, 4))
    client = await store.client()
    foreign = store.prefix + "README.txt"  # not an attachment id: not the store's to remove
    await client.put_object(Bucket=store.bucket, Key=foreign, Body=b"kept")
    outside = "elsewhere/" + str(uuid.uuid4())  # outside the prefix
    await client.put_object(Bucket=store.bucket, Key=outside, Body=b"kept")
    grace = timedelta(hours=1)

    # Within the grace period everything stays: an upload may be on its way to its commit.
    assert await store.sweep({named}, grace) == Swept(objects=0, uploads=0)
    assert await exists(store, orphan)

    stale = await client.create_multipart_upload(Bucket=store.bucket, Key=store.object_key(uuid.uuid4()))
    # An upload is young within the grace period from its start. (The clock is the upload's own
    # start: this test server dates every upload the same fixed day in the past.)
    listing = await client.list_multipart_uploads(Bucket=store.bucket)
    initiated = listing["Uploads"][0]["Initiated"]
    assert await store.sweep({named}, grace, now=initiated + grace / 2) == Swept(objects=0, uploads=0)
    assert len(await incomplete_uploads(store)) == 1

    asked: list[set[uuid.UUID]] = []

    async def rows_naming(candidates: list[uuid.UUID]) -> set[uuid.UUID]:
        asked.append(set(candidates))
        return {named} & set(candidates)

    later = datetime.now(UTC) + 2 * grace
    assert await store.sweep(rows_naming, grace, now=later) == Swept(objects=1, uploads=1)
    assert asked == [{named, orphan}]  # only the attachment ids were asked about
    assert await exists(store, named)
    assert not await exists(store, orphan)
    assert await incomplete_uploads(store) == []
    keys = {item["Key"] for item in (await client.list_objects_v2(Bucket=store.bucket))["Contents"]}
    assert keys == {store.object_key(named), foreign, outside}
    with pytest.raises(ClientError):
        await client.list_parts(Bucket=store.bucket, Key=store.object_key(orphan), UploadId=stale["UploadId"])

    # A second sweep finds nothing more.
    assert await store.sweep({named}, grace, now=later) == Swept(objects=0, uploads=0)


# --- settings and the interface ------------------------------------------------------------------


def test_from_settings_needs_a_bucket() -> None:
    with pytest.raises(S3StoreNotConfigured, match="ATTACHMENT_S3_BUCKET"):
        S3Blobs.from_settings(make_settings(NO_DB))
    with pytest.raises(S3StoreNotConfigured, match="ATTACHMENT_S3_BUCKET"):
        S3Blobs.from_settings(make_settings(NO_DB, attachment_s3_bucket="  "))


def test_from_settings_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATTACHMENT_S3_BUCKET", "evidence")
    monkeypatch.setenv("ATTACHMENT_S3_ENDPOINT_URL", "http://minio:9000")
    monkeypatch.setenv("ATTACHMENT_S3_REGION", "eu-west-1")
    monkeypatch.setenv("ATTACHMENT_S3_ACCESS_KEY_ID", "key-id")
    monkeypatch.setenv("ATTACHMENT_S3_SECRET_ACCESS_KEY", "very secret")
    monkeypatch.setenv("ATTACHMENT_S3_PREFIX", "s4c/attachments/")
    settings = make_settings(NO_DB)
    assert "very secret" not in repr(settings)
    store = S3Blobs.from_settings(settings)
    key = uuid.UUID("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b")
    assert (store.name, store.bucket, store.object_key(key)) == ("s3", "evidence", "s4c/attachments/" + str(key))


def test_the_default_prefix_and_credential_chain() -> None:
    settings = make_settings(NO_DB, attachment_s3_bucket="evidence")
    assert settings.attachment_s3_prefix == "attachments/"
    assert settings.attachment_s3_access_key_id is None and settings.attachment_s3_endpoint_url is None
    assert S3Blobs.from_settings(settings).prefix == "attachments/"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"attachment_s3_access_key_id": "key-id"}, "set together"),
        ({"attachment_s3_secret_access_key": "secret"}, "set together"),
        ({"attachment_s3_endpoint_url": "minio:9000"}, "http:// or https://"),
        ({"attachment_s3_prefix": "/attachments/"}, "without a leading /"),
    ],
)
def test_settings_validation(overrides: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        make_settings(NO_DB, attachment_s3_bucket="evidence", **overrides)


def test_the_store_refuses_a_part_size_s3_would_refuse() -> None:
    with pytest.raises(S3StoreNotConfigured, match="part size"):
        S3Blobs("evidence", part_size=MiB)
    with pytest.raises(S3StoreNotConfigured, match="together"):
        S3Blobs("evidence", access_key_id="only the id")


def test_s3_blobs_has_the_blob_store_interface() -> None:
    """Structurally (mypy checks the same through a typed assignment in the module)."""
    members = {"name", "put", "get", "delete"}
    assert members <= set(BlobStore.__dict__) | set(get_type_hints(BlobStore))
    assert S3Blobs.name == "s3"
    for method in ("put", "get", "delete"):
        wanted = list(inspect.signature(getattr(BlobStore, method)).parameters)
        assert list(inspect.signature(getattr(S3Blobs, method)).parameters) == wanted, method
    assert inspect.iscoroutinefunction(S3Blobs.put) and inspect.iscoroutinefunction(S3Blobs.delete)
    assert inspect.isasyncgenfunction(S3Blobs.get)  # calling it gives an async iterator, as the protocol says


# --- the app on the S3 store -----------------------------------------------------------------------


async def test_the_app_keeps_attachments_in_the_s3_store_and_sweeps_what_no_row_names(
    app: FastAPI, live_client: httpx.AsyncClient, live_factory: Factory, database: Database, store: S3Blobs
) -> None:
    tenant = await build_tenant(live_factory, "s3")
    expert = live_factory.auth(tenant.users["expert"])
    default, app.state.blobs = app.state.blobs, store
    try:
        posted = await live_client.post(
            f"/v1/ideas/{tenant.idea.id}/attachments", files={"file": ("dust.png", PNG)}, headers=expert
        )
        assert posted.status_code == 201, posted.text
        attachment_id = uuid.UUID(posted.json()["id"])
        assert await read(store, attachment_id) == PNG
        content = await live_client.get(f"/v1/attachments/{attachment_id}/content", headers=expert)
        assert content.status_code == 200 and content.content == PNG
        part = await live_client.get(
            f"/v1/attachments/{attachment_id}/content", headers={**expert, "Range": "bytes=1-3"}
        )
        assert part.status_code == 206 and part.content == PNG[1:4]

        # An object that a crash between upload and commit would leave: no row names it.
        orphan = uuid.uuid4()
        await store.put(None, orphan, chunked(b"%PDF-1.7 orphan", 4))
        later = datetime.now(UTC) + timedelta(minutes=5)
        swept = await sweep_orphans(lambda: unit_of_work(database), store, timedelta(minutes=1), now=later)
        assert swept == Swept(objects=1, uploads=0)
        assert not await exists(store, orphan) and await exists(store, attachment_id)

        gone = await live_client.delete(f"/v1/attachments/{attachment_id}", headers=expert)
        assert gone.status_code == 204
        assert not await exists(store, attachment_id), "deleted once the deletion committed"
    finally:
        app.state.blobs = default


async def test_the_worker_opens_the_configured_store_and_sweeps_nothing_of_postgres(
    database: Database, database_url: str, s3_endpoint: str
) -> None:
    s3 = make_settings(
        database_url,
        attachment_store="s3",
        attachment_s3_bucket="worker-bucket",
        attachment_s3_endpoint_url=s3_endpoint,
        attachment_s3_access_key_id="testing",
        attachment_s3_secret_access_key="testing",
    )
    worker = Worker(database, s3)
    try:
        assert isinstance(worker.blobs, S3Blobs) and worker.blobs.bucket == "worker-bucket"
    finally:
        await worker.close()
    plain = Worker(database, make_settings(database_url))
    try:
        assert await sweep_orphans(lambda: unit_of_work(database), plain.blobs, timedelta(hours=1)) is None
    finally:
        await plain.close()
