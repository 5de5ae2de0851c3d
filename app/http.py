"""Response helpers shared by every router: JSON bytes, ETag / conditional requests, byte
ranges and download names."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Protocol
from urllib.parse import quote
from uuid import UUID

from fastapi import Header, Request
from pydantic import BaseModel
from starlette.responses import Response

from app.errors import PreconditionFailed, RangeNotSatisfiable
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


_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The bytes `[start, end)` of `size` that a `Range` header asks for (RFC 9110 §14), or None
    for the whole representation: no header, one that is not a single `bytes=` range (several
    ranges, another unit, a malformed one: a server may ignore a Range). A range starting at or
    beyond the end is 416 (`RangeNotSatisfiable`, with `Content-Range: bytes */size`)."""
    found = _RANGE.fullmatch(header.strip()) if header else None
    if found is None:
        return None
    first, last = found.groups()
    if not first:  # `bytes=-n`: the last n bytes
        if not last:
            return None
        if int(last) == 0:
            raise RangeNotSatisfiable(size)
        return max(size - int(last), 0), size
    start = int(first)
    if last and int(last) < start:
        return None
    if start >= size:
        raise RangeNotSatisfiable(size)
    return start, size if not last else min(int(last) + 1, size)


def content_disposition(filename: str) -> str:
    """`attachment` with the name in UTF-8 (RFC 6266 `filename*`) and an ASCII stand-in."""
    plain = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in filename)
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(filename, safe='')}"
