"""Attachments: `/v1/{visits|results|ideas}/{parent_id}/attachments` (upload, list) and
`/v1/attachments/{attachment_id}` (read, download, delete)."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import Header, Path, Request, Response
from starlette.responses import StreamingResponse

from app.blobs import BlobStore
from app.deps import CurrentPrincipal, IdempotencyKeyHeader, SessionDep, SettingsDep
from app.errors import PROBLEM_MEDIA_TYPE
from app.filetypes import SIGNATURES
from app.http import byte_range, content_disposition, etag_matches, object_response, write_response
from app.models.attachments import AttachmentPublic
from app.models.enums import AttachmentParent
from app.pagination import Page, PageDep
from app.routers.common import make_router
from app.services import attachments as service
from app.services import crud

router = make_router("attachments", "/v1")


class AttachmentPage(Page[AttachmentPublic]):
    pass


UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {"$ref": "#/components/schemas/AttachmentUpload"},
                "encoding": {"file": {"contentType": ", ".join(SIGNATURES)}},
            }
        },
    }
}

BINARY = {"schema": {"type": "string", "format": "binary"}}
CONTENT_RANGE = {
    "Content-Range": {"description": "`bytes start-end/size`: which bytes this is.", "schema": {"type": "string"}}
}
DOWNLOAD_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The file, with `Content-Disposition: attachment` and `Accept-Ranges: bytes`; the "
        "`ETag` is its SHA-256.",
        "content": {media_type: BINARY for media_type in SIGNATURES},
    },
    206: {
        "description": "Partial Content: the single byte range `Range` asked for.",
        "content": {media_type: BINARY for media_type in SIGNATURES},
        "headers": CONTENT_RANGE,
    },
    416: {
        "description": "Range Not Satisfiable: the range starts at or beyond the end of the file "
        "(`Content-Range: bytes */size`; `range-not-satisfiable`).",
        "headers": CONTENT_RANGE,
        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    },
}

RangeHeader = Annotated[
    str | None,
    Header(
        alias="Range",
        max_length=200,
        description="One range, `bytes=start-end`, `bytes=start-` or `bytes=-length`: 206 with that part. "
        "Several ranges are answered with the whole file (200).",
    ),
]
IfRange = Annotated[
    str | None,
    Header(alias="If-Range", max_length=200, description="Send the range only while the file has this `ETag`."),
]


ParentId = Annotated[UUID, Path(description="The id of the visit, result or idea.")]


def _store(request: Request) -> BlobStore:
    store: BlobStore = request.app.state.blobs
    return store


def _parent_routes(parent_type: AttachmentParent) -> None:
    """Upload and list for one kind of parent (`/v1/visits/{parent_id}/attachments`, ...)."""
    noun = parent_type.value
    path = f"/{noun}s/{{parent_id}}/attachments"

    async def upload(
        request: Request,
        session: SessionDep,
        principal: CurrentPrincipal,
        settings: SettingsDep,
        parent_id: ParentId,
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response:
        attachment, claim = await service.create_attachment(
            session,
            principal,
            settings,
            _store(request),
            parent_type,
            parent_id,
            (request.headers.get("content-type"), request.stream()),
            idempotency_key,
            (request.method, request.url.path),
        )
        return await write_response(
            session,
            claim,
            AttachmentPublic.of(attachment),
            status_code=201,
            location=f"/v1/attachments/{attachment.id}",
            etag=crud.etag(attachment),
        )

    async def list_(
        session: SessionDep, principal: CurrentPrincipal, page: PageDep, parent_id: ParentId
    ) -> AttachmentPage:
        rows, cursor = await service.list_attachments(session, principal, page, parent_type, parent_id)
        return AttachmentPage(items=[AttachmentPublic.of(row) for row in rows], next_cursor=cursor)

    router.add_api_route(
        path,
        upload,
        methods=["POST"],
        name=f"create-for-{noun}",
        summary=f"Attach a file to a {noun}",
        description=f"`multipart/form-data` with the part `file` and, optionally, `description`. Whoever may "
        f"update the {noun} may attach. The type is recognised from the bytes (415 for another), 413 over "
        "ATTACHMENT_MAX_BYTES, 422 for an empty file, a missing `file`, an unknown part or a truncated body.",
        status_code=201,
        response_model=AttachmentPublic,
        openapi_extra=UPLOAD_BODY,
    )
    router.add_api_route(
        path,
        list_,
        methods=["GET"],
        name=f"list-for-{noun}",
        summary=f"List a {noun}'s attachments",
        description=f"The attachments of a {noun} you may see, oldest first"
        + (" (buyers: those of verified results only)." if parent_type is AttachmentParent.result else "."),
        response_model=AttachmentPage,
    )


for _parent in AttachmentParent:
    _parent_routes(_parent)


@router.get("/attachments/{attachment_id}", name="get", summary="Get an attachment", response_model=AttachmentPublic)
async def get_attachment(
    request: Request, session: SessionDep, principal: CurrentPrincipal, attachment_id: UUID
) -> Response:
    """What is known of the file (not its bytes: see `/content`). Sends an ETag."""
    attachment = await service.get_attachment(session, principal, attachment_id)
    return object_response(request, AttachmentPublic.of(attachment), crud.etag(attachment))


@router.get(
    "/attachments/{attachment_id}/content",
    name="download",
    summary="Download an attachment's file",
    response_class=Response,
    responses=DOWNLOAD_RESPONSES,
)
async def download(
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
    attachment_id: UUID,
    range_: RangeHeader = None,
    if_range: IfRange = None,
) -> Response:
    """The bytes, streamed. `ETag` is the file's SHA-256 (quoted): `If-None-Match` with it answers
    304. A single `Range` answers 206 with `Content-Range`; a range starting beyond the end, 416."""
    attachment = await service.get_attachment(session, principal, attachment_id)
    etag = f'"{attachment.sha256}"'
    headers = {
        "ETag": etag,
        "Accept-Ranges": "bytes",
        "Content-Disposition": content_disposition(attachment.filename),
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, no-cache",
    }
    if_none_match = request.headers.get("if-none-match")
    if if_none_match and etag_matches(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    size = attachment.size
    wanted = byte_range(range_, size) if if_range is None or if_range.strip() == etag else None
    start, end = wanted or (0, size)
    if wanted is not None:
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
    headers["Content-Length"] = str(end - start)
    return StreamingResponse(
        service.content(request.app.state.sessions, _store(request), attachment.id, start, end),
        status_code=206 if wanted is not None else 200,
        media_type=attachment.content_type,
        headers=headers,
    )


@router.delete("/attachments/{attachment_id}", name="delete", summary="Delete an attachment", status_code=204)
async def delete_attachment(
    request: Request, session: SessionDep, principal: CurrentPrincipal, attachment_id: UUID
) -> Response:
    """Whoever may update the parent may delete its attachments; the bytes go too."""
    await service.delete_attachment(session, principal, _store(request), attachment_id)
    return Response(status_code=204)
