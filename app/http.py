"""Response helpers shared by every router: JSON bytes, ETag / conditional requests."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Protocol
from uuid import UUID

from fastapi import Header, Request
from pydantic import BaseModel
from starlette.responses import Response

from app.errors import PreconditionFailed
from app.media import CSV as CSV  # re-exported with the helpers
from app.media import JSON as JSON

if TYPE_CHECKING:
    from sqlmodel.ext.asyncio.session import AsyncSession


class StoredAnswer(Protocol):
    """Where a POST's answer is kept for `Idempotency-Key` replays (app.services.idempotency)."""

    async def complete(self, session: AsyncSession, status_code: int, body: bytes, location: str | None) -> None: ...


def wants_csv(accept: str | None) -> bool:
    """`Accept` asks for CSV and not for JSON (JSON stays the default)."""
    return accept is not None and CSV in accept and JSON not in accept


IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        max_length=200,
        description="ETag from a previous GET; the update is refused with 412 if the object changed since.",
    ),
]


def etag_for(object_id: UUID, updated_at: datetime) -> str:
    digest = hashlib.sha256(f"{object_id}:{updated_at.isoformat()}".encode()).hexdigest()[:24]
    return f'"{digest}"'


def etag_of_bytes(body: bytes) -> str:
    return f'"{hashlib.sha256(body).hexdigest()[:24]}"'


def weak_etag(*parts: bytes) -> str:
    """A weak ETag (RFC 9110 §8.8.1): for representations that differ only in what does not
    matter to the reader (a generation timestamp), computed from the parts that do."""
    return "W/" + etag_of_bytes(b"\0".join(parts))


def etag_matches(header: str, etag: str) -> bool:
    """Does an `If-None-Match` / `If-Match` header name this ETag (weak or strong, or `*`)?"""
    candidates = {part.strip().removeprefix("W/") for part in header.split(",")}
    return "*" in candidates or etag.removeprefix("W/") in candidates


def ensure_match(if_match: str | None, current_etag: str) -> None:
    """Optimistic concurrency: refuse a write based on a stale representation."""
    if if_match is not None and not etag_matches(if_match, current_etag):
        raise PreconditionFailed("the object changed since you read it; GET it again and retry")


def json_bytes(model: BaseModel) -> bytes:
    return model.model_dump_json().encode()


def object_response(request: Request, model: BaseModel, etag: str, status_code: int = 200) -> Response:
    """A single object with its ETag; answers 304 to a matching `If-None-Match`."""
    headers = {"ETag": etag}
    if_none_match = request.headers.get("if-none-match")
    if status_code == 200 and if_none_match and etag_matches(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    return Response(json_bytes(model), status_code=status_code, media_type=JSON, headers=headers)


def representation_response(request: Request, body: bytes, media_type: str = JSON, etag: str | None = None) -> Response:
    """A computed representation (no stored version) whose ETag is, unless given, a digest of
    its bytes; answers 304 to a matching `If-None-Match`."""
    etag = etag or etag_of_bytes(body)
    if_none_match = request.headers.get("if-none-match")
    if if_none_match and etag_matches(if_none_match, etag):
        return Response(status_code=304, headers={"ETag": etag})
    return Response(body, media_type=media_type, headers={"ETag": etag})


async def write_response(
    session: AsyncSession,
    idempotency: StoredAnswer | None,
    model: BaseModel,
    *,
    status_code: int = 200,
    location: str | None = None,
    etag: str | None = None,
    replay: BaseModel | None = None,
) -> Response:
    """The answer to a POST: stored for `Idempotency-Key` replays in the same transaction.
    `replay` is what a replay answers instead, when the answer carries a secret that must
    not be stored (an API client's `client_secret`)."""
    body = json_bytes(model)
    if idempotency is not None:
        stored = body if replay is None else json_bytes(replay)
        await idempotency.complete(session, status_code, stored, location)
    headers = {}
    if location:
        headers["Location"] = location
    if etag:
        headers["ETag"] = etag
    return Response(body, status_code=status_code, media_type=JSON, headers=headers)
