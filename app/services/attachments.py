"""Attachments: files that evidence a visit, a result or an idea.

Who may: whoever may update the parent attaches and removes (`access.require_change_of_parent`);
whoever sees the parent reads its attachments, except buyers, who read only those of ideas and
of verified results (`access.visible_attachments`).

An upload streams its bytes into the blob store first (app/services/uploads.py), without any
lock held; only then does it lock the parent's enterprise and the parent (app/services/locking.py)
and add the row, so a slow upload never holds up other writes of the enterprise.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from uuid import UUID

import orjson
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.blobs import BlobStore
from app.config import Settings
from app.db import after_commit, after_rollback
from app.ids import uuid7
from app.models.attachments import Attachment
from app.models.enums import AttachmentParent
from app.models.ideas import Idea
from app.models.results import Result
from app.models.visits import Visit
from app.pagination import PageParams
from app.principal import Principal
from app.services import crud, idempotency
from app.services.access import get_visible, require_change_of_parent
from app.services.blobs import joins_transaction
from app.services.blobs_s3 import S3Blobs, Swept
from app.services.locking import get_for_write
from app.services.uploads import Receiver

PARENTS: dict[AttachmentParent, type[Visit] | type[Result] | type[Idea]] = {
    AttachmentParent.visit: Visit,
    AttachmentParent.result: Result,
    AttachmentParent.idea: Idea,
}

PARENT_COLUMNS = {
    AttachmentParent.visit: "visit_id",
    AttachmentParent.result: "result_id",
    AttachmentParent.idea: "idea_id",
}

READ_WINDOW = 1024 * 1024
"""A download reads this many bytes per short transaction, then sends them: no connection is
held while a slow client takes its time."""

Sessions = Callable[[], AbstractAsyncContextManager[AsyncSession]]


async def list_attachments(
    session: AsyncSession, principal: Principal, page: PageParams, parent_type: AttachmentParent, parent_id: UUID
) -> tuple[list[Attachment], str | None]:
    """The attachments of a parent the caller sees (404 otherwise) that the caller may read."""
    await get_visible(session, principal, PARENTS[parent_type], parent_id)
    column = getattr(Attachment, PARENT_COLUMNS[parent_type])
    return await crud.list_page(session, principal, Attachment, page, [col(column) == parent_id])


async def get_attachment(session: AsyncSession, principal: Principal, attachment_id: UUID) -> Attachment:
    return await get_visible(session, principal, Attachment, attachment_id)


async def create_attachment(
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    store: BlobStore,
    parent_type: AttachmentParent,
    parent_id: UUID,
    upload: tuple[str | None, AsyncIterable[bytes]],
    idempotency_key: str | None,
    request_target: tuple[str, str],
) -> tuple[Attachment, idempotency.IdempotencyKey | None]:
    """Receive the upload (`Content-Type` and body) into the store, then add the attachment.

    With an `Idempotency-Key`, the request is known by what it carries (the file's SHA-256, its
    name and the description, not the multipart framing, which differs between two sends of the
    same file), so the key is claimed once the body has been read."""
    content_type, body = upload
    # A body that is not multipart/form-data is refused first (415), before the parent is looked up.
    receiver = Receiver(content_type, body, max_bytes=settings.attachment_max_bytes, allowed=settings.attachment_types)
    model = PARENTS[parent_type]
    parent = await get_visible(session, principal, model, parent_id)
    require_change_of_parent(principal, parent_type, parent)
    key = uuid7()
    if not joins_transaction(store):
        after_rollback(session, lambda: store.delete(session, key))
    await store.put(session, key, receiver.file_bytes())
    received = receiver.result()
    claim = None
    if idempotency_key is not None:
        method, path = request_target
        what = orjson.dumps([received.sha256, received.filename, received.description])
        claim = await idempotency.begin(
            session,
            principal=principal.key,
            key=idempotency_key,
            fingerprint=idempotency.request_fingerprint(method, path, what),
            ttl_hours=settings.idempotency_ttl_hours,
        )
    parent = await get_for_write(session, principal, model, parent_id)
    require_change_of_parent(principal, parent_type, parent)  # it may have been verified meanwhile
    attachment = Attachment(
        id=key,
        visit_id=parent.id if parent_type is AttachmentParent.visit else None,
        result_id=parent.id if parent_type is AttachmentParent.result else None,
        idea_id=parent.id if parent_type is AttachmentParent.idea else None,
        parent_type=parent_type,
        enterprise_id=parent.enterprise_id,
        filename=received.filename,
        content_type=received.content_type,
        size=received.size,
        sha256=received.sha256,
        description=received.description,
        created_by=principal.key,
    )
    return await crud.insert(session, principal, attachment, "attachment already exists"), claim


async def delete_attachment(session: AsyncSession, principal: Principal, store: BlobStore, attachment_id: UUID) -> None:
    """Remove the attachment and its bytes: in this transaction (PostgreSQL store), or once it
    has committed (another store: bytes removed too early could not be restored)."""
    attachment = await get_visible(session, principal, Attachment, attachment_id)
    parent_type = attachment.parent_type
    parent = await get_for_write(session, principal, PARENTS[parent_type], attachment.parent_id)
    require_change_of_parent(principal, parent_type, parent)
    attachment = await get_visible(session, principal, Attachment, attachment_id, for_update=True)
    if joins_transaction(store):
        await store.delete(session, attachment.id)
    else:
        after_commit(session, lambda: store.delete(session, attachment_id))
    await crud.delete(session, principal, attachment, "the attachment")


async def content(sessions: Sessions, store: BlobStore, key: UUID, start: int, end: int) -> AsyncIterator[bytes]:
    """The bytes `[start, end)`, read READ_WINDOW at a time, each window in its own short
    transaction that ends before the window is sent."""
    position = start
    while position < end:
        stop = min(position + READ_WINDOW, end)
        pieces: list[bytes] = []
        async with sessions() as session:
            async for piece in store.get(session, key, position, stop):
                pieces.append(piece)
        if not pieces:  # removed meanwhile: the response ends short and the client sees it
            return
        for piece in pieces:
            yield piece
        position = stop


async def sweep_orphans(
    sessions: Sessions, store: BlobStore, grace: timedelta, now: datetime | None = None
) -> Swept | None:
    """Remove the objects of an object store that no attachment row names and that are older
    than `grace` (a crash between an upload and its commit leaves them), and its abandoned
    multipart uploads. None for a store that writes in the database's transactions."""
    if not isinstance(store, S3Blobs):
        return None

    async def named(ids: Sequence[UUID]) -> set[UUID]:
        async with sessions() as session:
            found = await session.exec(select(Attachment.id).where(col(Attachment.id).in_(ids)))
            return set(found.all())

    return await store.sweep(named, grace, now)
