"""The lean read path: `GET /v1/enterprises/{id}/progress` answered below the framework.

A plain ASGI layer just outside FastAPI (inside request id, access log, metrics, CORS and rate
limits, which apply unchanged). For a request it can serve in full — a verified access token
whose principal this process has already resolved, and a record the caller may see — it
answers with the same bytes and headers as the route in `routers/progress.py`, from one
statement (`services/progress_read.py`). Everything else is passed on to that route untouched,
so errors, 401/403/404 and first-time callers keep one implementation. Metrics count which
way each request went (`progress_read_path_total{outcome}`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

import asyncpg
from starlette.datastructures import State
from starlette.types import ASGIApp, Receive, Scope, Send

from app.config import Settings
from app.http import etag_matches, etag_of_bytes
from app.security import TokenInvalid, decode_token
from app.services.auth import known_principal
from app.services.progress_read import Reader, read_record

PREFIX, SUFFIX = "/v1/enterprises/", "/progress"
ROUTE = PREFIX + "{enterprise_id}" + SUFFIX
_DB_ERRORS = (OSError, asyncio.TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)

ReaderFactory = Callable[[], Awaitable[Reader]]


class _Route:
    """What the access log and metrics read from `scope["route"]`: the route template."""

    path = ROUTE


def enterprise_in(path: str) -> UUID | None:
    """The enterprise id of a progress path in canonical form; None for anything else
    (other spellings go to the route, which validates them)."""
    if not (path.startswith(PREFIX) and path.endswith(SUFFIX)) or len(path) != len(PREFIX) + 36 + len(SUFFIX):
        return None
    text = path[len(PREFIX) : -len(SUFFIX)]
    try:
        value = UUID(text)
    except ValueError:
        return None
    return value if str(value) == text.lower() else None


def _headers(scope: Scope) -> tuple[str, str | None]:
    """The bearer token ('' if none) and `If-None-Match`, from the first header of each name."""
    token, if_none_match = None, None
    for name, value in scope["headers"]:
        if name == b"authorization" and token is None:
            scheme, _, credentials = value.decode("latin-1").partition(" ")
            token = credentials.strip() if scheme.lower() == "bearer" else ""
        elif name == b"if-none-match" and if_none_match is None:
            if_none_match = value.decode("latin-1")
    return token or "", if_none_match


class ProgressReadPath:
    def __init__(self, app: ASGIApp, settings: Settings, state: State, metrics: Any) -> None:
        self.app = app
        self.settings = settings
        self.state = state
        self.served = metrics.read_path.labels("served")
        self.passed = metrics.read_path.labels("passed")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            enterprise_id = enterprise_in(scope["path"])
            if enterprise_id is not None:
                if await self._serve(scope, send, enterprise_id):
                    self.served.inc()
                    return
                self.passed.inc()
        await self.app(scope, receive, send)

    async def _serve(self, scope: Scope, send: Send, enterprise_id: UUID) -> bool:
        token, if_none_match = _headers(scope)
        if not token:
            return False
        try:
            claims = decode_token(self.settings, token, "access")
        except TokenInvalid:
            return False
        principal = known_principal(claims)
        if principal is None:
            return False
        factory: ReaderFactory = self.state.reader
        try:
            body = await read_record(await factory(), principal, claims.version, enterprise_id)
        except _DB_ERRORS:
            return False  # the route meets the same trouble and answers it (503)
        if body is None:
            return False
        scope.setdefault("state", {})["caller"] = principal.key
        scope["route"] = _Route
        etag = etag_of_bytes(body).encode()
        if if_none_match and etag_matches(if_none_match, etag.decode()):
            await send({"type": "http.response.start", "status": 304, "headers": [(b"etag", etag)]})
            await send({"type": "http.response.body", "body": b""})
            return True
        headers = [
            (b"etag", etag),
            (b"content-length", str(len(body)).encode()),
            (b"content-type", b"application/json"),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return True
