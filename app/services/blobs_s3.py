"""The S3-compatible attachment store: attachment bytes as objects in a bucket (AWS S3, MinIO, …).

An object's key is the store's prefix followed by the attachment's id. `put` streams: the bytes
are buffered up to one part (8 MiB); a smaller file is one PutObject, a larger one a multipart
upload of 8 MiB parts, aborted when anything fails, so that memory stays bounded by the part
size and no incomplete upload is left behind. `get` reads a byte range and streams it.

The store cannot join the database transaction (see `app.blobs`): `put` runs before the row is
committed and `delete` after. `sweep` removes what a crash between the two leaves behind:
objects no attachment row names, and multipart uploads that were never completed, once they are
older than a grace period.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Sequence
from collections.abc import Set as AbstractSet
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self
from uuid import UUID

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import ClientError

from app.config import Settings

if TYPE_CHECKING:
    from sqlmodel.ext.asyncio.session import AsyncSession
    from types_aiobotocore_s3 import S3Client
    from types_aiobotocore_s3.type_defs import CompletedPartTypeDef

    from app.blobs import BlobStore

log = logging.getLogger(__name__)

PART_SIZE = 8 * 1024 * 1024
"""Bytes of one multipart part, and the most `put` buffers. S3 wants parts of at least 5 MiB."""
MIN_PART_SIZE = 5 * 1024 * 1024
READ_CHUNK = 64 * 1024
"""Bytes `get` reads from the response body at a time."""

Known = AbstractSet[UUID] | Callable[[Sequence[UUID]], Awaitable[AbstractSet[UUID]]]
"""What `sweep` keeps: the ids attachment rows name, as a set, or as a function that is given
candidate ids (up to 1000 at a time) and answers which of them a row names."""


class S3StoreNotConfigured(ValueError):
    """The settings do not describe a usable object store (no bucket, say)."""


@dataclass(frozen=True)
class Swept:
    """What one `sweep` removed."""

    objects: int
    uploads: int


class S3Blobs:
    """A `BlobStore` on an S3-compatible bucket. The `session` arguments are not used.

    The client is opened on first use and closed by `close()` (or by leaving `async with`).
    """

    name = "s3"

    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = "attachments/",
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        part_size: int = PART_SIZE,
    ) -> None:
        if not bucket:
            raise S3StoreNotConfigured("the S3 attachment store needs a bucket (ATTACHMENT_S3_BUCKET)")
        if (access_key_id is None) != (secret_access_key is None):
            raise S3StoreNotConfigured("an S3 access key id and secret access key are given together or not at all")
        if part_size < MIN_PART_SIZE:
            raise S3StoreNotConfigured(f"the part size must be at least {MIN_PART_SIZE} bytes")
        self.bucket = bucket
        self.prefix = prefix
        self.part_size = part_size
        self._endpoint_url = endpoint_url
        self._region = region
        self._credentials = (access_key_id, secret_access_key)
        self._client: S3Client | None = None
        self._stack = AsyncExitStack()
        self._opening = asyncio.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> S3Blobs:
        """The store the `ATTACHMENT_S3_*` settings describe; `S3StoreNotConfigured` without a bucket."""
        if not settings.attachment_s3_bucket:
            raise S3StoreNotConfigured("ATTACHMENT_S3_BUCKET is required for the S3 attachment store")
        key_id, secret = settings.attachment_s3_access_key_id, settings.attachment_s3_secret_access_key
        return cls(
            settings.attachment_s3_bucket,
            prefix=settings.attachment_s3_prefix,
            endpoint_url=settings.attachment_s3_endpoint_url,
            region=settings.attachment_s3_region,
            access_key_id=key_id.get_secret_value() if key_id is not None else None,
            secret_access_key=secret.get_secret_value() if secret is not None else None,
        )

    # --- life cycle ------------------------------------------------------------------------------

    async def client(self) -> S3Client:
        """The S3 client, opened once."""
        async with self._opening:
            if self._client is None:
                key_id, secret = self._credentials
                config = AioConfig(
                    # A custom endpoint (MinIO, …) is addressed by path: no wildcard DNS needed.
                    s3={"addressing_style": "path" if self._endpoint_url else "auto"},
                    retries={"mode": "standard", "max_attempts": 3},
                    connect_timeout=5,
                    read_timeout=60,
                    # Checksums only where S3 requires them: many S3-compatible servers refuse the
                    # newer default (CRC trailers on every upload).
                    request_checksum_calculation="when_required",
                    response_checksum_validation="when_required",
                )
                self._client = await self._stack.enter_async_context(
                    get_session().create_client(
                        "s3",
                        endpoint_url=self._endpoint_url,
                        region_name=self._region,
                        aws_access_key_id=key_id,
                        aws_secret_access_key=secret,
                        config=config,
                    )
                )
            return self._client

    async def close(self) -> None:
        """Close the client (a later call opens a new one)."""
        async with self._opening:
            self._client = None
            await self._stack.aclose()
            self._stack = AsyncExitStack()

    async def __aenter__(self) -> Self:
        await self.client()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def object_key(self, key: UUID) -> str:
        return self.prefix + str(key)

    # --- the BlobStore interface -----------------------------------------------------------------

    async def put(self, session: AsyncSession | None, key: UUID, chunks: AsyncIterable[bytes]) -> None:
        """Store `chunks` under `key`: one PutObject up to the part size, else a multipart upload."""
        client = await self.client()
        object_key = self.object_key(key)
        buffer = bytearray()
        upload_id: str | None = None
        parts: list[CompletedPartTypeDef] = []
        try:
            async for chunk in chunks:
                buffer += chunk
                while len(buffer) > self.part_size:  # more than one part: the file goes up in parts
                    if upload_id is None:
                        created = await client.create_multipart_upload(Bucket=self.bucket, Key=object_key)
                        upload_id = created["UploadId"]
                    part = _take(buffer, self.part_size)
                    parts.append(await self._upload_part(client, object_key, upload_id, len(parts) + 1, part))
                    del part
            if upload_id is None:
                await client.put_object(Bucket=self.bucket, Key=object_key, Body=bytes(buffer))
                return
            if buffer:
                part = _take(buffer, len(buffer))
                parts.append(await self._upload_part(client, object_key, upload_id, len(parts) + 1, part))
            await client.complete_multipart_upload(
                Bucket=self.bucket, Key=object_key, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except BaseException:
            if upload_id is not None:
                await self._abort_shielded(client, object_key, upload_id)
            raise

    async def get(
        self, session: AsyncSession | None, key: UUID, start: int = 0, end: int | None = None
    ) -> AsyncIterator[bytes]:
        """The bytes of `key` in [start, end), in chunks; `FileNotFoundError` when there is no such object.

        A range that starts at or past the end of the object yields nothing.
        """
        if start < 0 or (end is not None and end < 0):
            raise ValueError("a byte range starts and ends at offsets >= 0")
        if end is not None and end <= start:
            return
        client = await self.client()
        object_key = self.object_key(key)
        request: dict[str, Any] = {"Bucket": self.bucket, "Key": object_key}
        if start or end is not None:
            request["Range"] = f"bytes={start}-{'' if end is None else end - 1}"
        try:
            response = await client.get_object(**request)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in ("NoSuchKey", "404"):
                raise FileNotFoundError(f"no object {object_key!r} in bucket {self.bucket!r}") from None
            if code == "InvalidRange":  # start at or past the end: no bytes in that range
                return
            raise
        async with response["Body"] as body:
            async for chunk in body.iter_chunks(READ_CHUNK):
                yield chunk

    async def delete(self, session: AsyncSession | None, key: UUID) -> None:
        """Remove `key`'s object; S3 answers a missing key like any other, so this is idempotent."""
        client = await self.client()
        await client.delete_object(Bucket=self.bucket, Key=self.object_key(key))

    # --- orphans ---------------------------------------------------------------------------------

    async def sweep(self, known: Known, older_than: timedelta, now: datetime | None = None) -> Swept:
        """Remove the objects under the prefix that no row names and the uncompleted multipart
        uploads, when older than `older_than` (the grace period that protects uploads in flight).

        Objects whose name after the prefix is not an id are not this store's and are left alone.
        """
        client = await self.client()
        cutoff = (now or datetime.now(UTC)) - older_than
        objects = 0
        async for page in client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix):
            old: dict[UUID, str] = {}
            for item in page.get("Contents", []):
                key = _attachment_id(item["Key"], self.prefix)
                if key is not None and item["LastModified"] < cutoff:
                    old[key] = item["Key"]
            if not old:
                continue
            named = known if isinstance(known, AbstractSet) else await known(list(old))
            orphans = [object_key for key, object_key in old.items() if key not in named]
            if orphans:
                objects += await self._delete_many(client, orphans)
        uploads = 0
        async for listing in client.get_paginator("list_multipart_uploads").paginate(
            Bucket=self.bucket, Prefix=self.prefix
        ):
            for upload in listing.get("Uploads", []):
                if upload["Initiated"] < cutoff:
                    await client.abort_multipart_upload(
                        Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                    )
                    uploads += 1
        if objects or uploads:
            log.info("attachment store sweep removed %d orphaned objects and %d stale uploads", objects, uploads)
        return Swept(objects=objects, uploads=uploads)

    # --- helpers ---------------------------------------------------------------------------------

    async def _upload_part(
        self, client: S3Client, object_key: str, upload_id: str, number: int, body: bytes
    ) -> CompletedPartTypeDef:
        answer = await client.upload_part(
            Bucket=self.bucket, Key=object_key, UploadId=upload_id, PartNumber=number, Body=body
        )
        return {"ETag": answer["ETag"], "PartNumber": number}

    async def _abort_shielded(self, client: S3Client, object_key: str, upload_id: str) -> None:
        """Abort the upload even when the put was cancelled: the abort runs as its own task."""

        async def abort() -> None:
            try:
                await client.abort_multipart_upload(Bucket=self.bucket, Key=object_key, UploadId=upload_id)
            except Exception:
                log.warning("could not abort the multipart upload of %s; the sweep will", object_key, exc_info=True)

        task = asyncio.ensure_future(abort())
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            # Cancelled again while aborting: the abort task goes on by itself.
            log.debug("put of %s cancelled while its upload is being aborted", object_key)

    async def _delete_many(self, client: S3Client, object_keys: list[str]) -> int:
        answer = await client.delete_objects(
            Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in object_keys], "Quiet": True}
        )
        errors = answer.get("Errors", [])
        for error in errors:
            log.warning("sweep could not delete %s: %s", error.get("Key"), error.get("Message"))
        return len(object_keys) - len(errors)


def _take(buffer: bytearray, size: int) -> bytes:
    """The first `size` bytes of `buffer`, removed from it: one copy, never the whole stream."""
    with memoryview(buffer) as view:
        part = view[:size].tobytes()
    del buffer[:size]
    return part


def _attachment_id(object_key: str, prefix: str) -> UUID | None:
    """The id an object key names, or None for a key this store did not write."""
    name = object_key[len(prefix) :]
    try:
        key = UUID(name)
    except ValueError:
        return None
    return key if str(key) == name else None


if TYPE_CHECKING:

    def _is_a_blob_store(store: S3Blobs) -> BlobStore:
        return store  # mypy checks that S3Blobs has the BlobStore interface
