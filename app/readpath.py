"""The lean read path: `GET /v1/enterprises/{id}/progress` and `GET /v1/progress` answered
before the framework.

The outermost ASGI layer (main.py puts it around the whole middleware stack). For a request it
can serve in full — a verified access token whose principal this process has already
resolved, no `Origin` (CORS is the stack's), within the caller's rate limit, and a record the
caller may see — it answers with the same bytes and headers as the route in
`routers/progress.py`, from one or two statements (`services/progress_read.py`), and does what the
middleware would have done: `X-Request-ID`, the rate-limit count, metrics and the access line,
with the same functions. Everything else goes on through the stack to that route untouched
(a rate-limit hit already counted is handed along, not counted twice), so errors,
401/403/404/429 and first-time callers keep one implementation. Metrics count which way each
request went (`progress_read_path_total{outcome}`).

The page it serves is the plain JSON page with `limit`, `cursor` and `updated_since` in the
spelling the route would accept; `country`, `sector`, CSV (`Accept: text/csv`), a cursor it
cannot verify and anything unusual go to the route.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from uuid import UUID

import asyncpg
from pydantic import TypeAdapter, ValidationError
from starlette.datastructures import URL, QueryParams, State
from starlette.types import ASGIApp, Receive, Scope, Send

from app.config import Settings
from app.errors import InvalidCursor
from app.http import etag_matches, etag_of_bytes, wants_csv
from app.middleware import RATE_COUNTED, Metrics, finish_request, request_id_of, subject_key
from app.models.types import Rfc3339
from app.pagination import DEFAULT_LIMIT, MAX_LIMIT, PARSERS, decode_cursor, encode_cursor, fingerprint, next_link
from app.principal import Principal
from app.ratelimit import RateLimiter
from app.security import TokenInvalid, decode_token
from app.services.auth import known_principal
from app.services.progress import page_bytes
from app.services.progress_read import Reader, read_page, read_record

PREFIX, SUFFIX = "/v1/enterprises/", "/progress"
ROUTE = PREFIX + "{enterprise_id}" + SUFFIX
LIST = "/v1/progress"
_HEX = "[0-9a-fA-F]"
_RECORD_PATH = re.compile(f"/v1/enterprises/({_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}})/progress")
PAGE_PARAMS = frozenset({"limit", "cursor", "updated_since"})
_LIMIT = re.compile(r"[1-9][0-9]{0,2}")
_since = TypeAdapter(Rfc3339)
_DB_ERRORS = (OSError, asyncio.TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)

ReaderFactory = Callable[[], Awaitable[Reader]]
STARTED = "score4climate.lean_response_started"
"""Set in the scope once the lean path begins its response: from then on it cannot hand over."""
PAGE_KEYS = (PARSERS[datetime], PARSERS[UUID])
error_log = logging.getLogger("app.errors")


class _Route:
    """What the access log and metrics read from `scope["route"]`: the route template."""

    path = ROUTE


class _ListRoute:
    path = LIST


class _Request:
    """The request headers the lean path reads (first of each name)."""

    __slots__ = ("accept", "if_none_match", "origin", "token")

    def __init__(self, scope: Scope) -> None:
        self.token: str | None = None
        self.if_none_match: str | None = None
        self.accept: str | None = None
        self.origin = False
        for name, value in scope["headers"]:
            if name == b"authorization" and self.token is None:
                scheme, _, credentials = value.decode("latin-1").partition(" ")
                self.token = credentials.strip() if scheme.lower() == "bearer" else ""
            elif name == b"if-none-match" and self.if_none_match is None:
                self.if_none_match = value.decode("latin-1")
            elif name == b"accept" and self.accept is None:
                self.accept = value.decode("latin-1")
            elif name == b"origin":
                self.origin = True


def page_request(query: QueryParams) -> tuple[int, str | None, datetime | None] | None:
    """`limit`, `cursor` and `updated_since` as the route would read them, or None if the
    query holds anything else or anything the route would refuse (it answers that)."""
    items = query.multi_items()
    names = [name for name, _ in items]
    if not set(names) <= PAGE_PARAMS or len(names) != len(set(names)):
        return None
    limit_text = query.get("limit", str(DEFAULT_LIMIT))
    if not _LIMIT.fullmatch(limit_text) or int(limit_text) > MAX_LIMIT:
        return None
    cursor = query.get("cursor")
    if cursor is not None and len(cursor) > 1024:
        return None
    since_text = query.get("updated_since")
    since = None
    if since_text is not None:
        try:
            since = _since.validate_python(since_text)
        except ValidationError:
            return None
    return int(limit_text), cursor, since


def enterprise_in(path: str) -> str | None:
    """The enterprise id of a progress path in canonical form (as text: asyncpg takes it as a
    uuid); None for anything else (other spellings go to the route, which validates them)."""
    match = _RECORD_PATH.fullmatch(path)
    return match[1] if match else None


def _json_headers(body: bytes) -> list[tuple[bytes, bytes]]:
    return [(b"content-length", str(len(body)).encode()), (b"content-type", b"application/json")]


class ProgressReadPath:
    def __init__(self, app: ASGIApp, settings: Settings, state: State, metrics: Metrics, limiter: RateLimiter) -> None:
        self.app = app
        self.settings = settings
        self.state = state
        self.metrics = metrics
        self.limiter = limiter
        self.served = metrics.read_path.labels("served")
        self.passed = metrics.read_path.labels("passed")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            path = scope["path"]
            enterprise_id = enterprise_in(path)
            if enterprise_id is not None or path == LIST:
                started = time.perf_counter()
                try:
                    if enterprise_id is not None:
                        served = await self._serve_record(scope, send, enterprise_id, started)
                    else:
                        served = await self._serve_page(scope, send, started)
                except Exception:  # a fault here must not cost the caller an answer: the route gives it
                    error_log.exception("lean read path failed", extra={"path": path})
                    if scope.get(STARTED):  # too late to hand over: the response has begun
                        raise
                    served = False
                if served:
                    self.served.inc()
                    return
                self.passed.inc()
        await self.app(scope, receive, send)

    async def _caller(self, scope: Scope, request: _Request) -> tuple[Principal, int, UUID | None] | None:
        """The known principal behind the token, its version and login, once counted against the
        caller's rate limit; None (and nothing counted) when the route should answer."""
        if not request.token or request.origin:
            return None
        try:
            claims = decode_token(self.settings, request.token, "access")
        except TokenInvalid:
            return None
        principal = known_principal(claims)
        if principal is None:
            return None
        limit = self.settings.rate_limit_per_minute
        retry_after = await self.limiter.hit(subject_key(claims.subject), limit, 60)
        scope.setdefault("state", {})[RATE_COUNTED] = (limit, retry_after)
        return None if retry_after else (principal, claims.version, claims.family_id)

    async def _reply(
        self,
        scope: Scope,
        send: Send,
        served: tuple[Principal, type, float],
        status: int,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
    ) -> None:
        """Answer here, as the stack would: the route's headers plus `X-Request-ID`, then the
        metrics and the access line. `served` is the caller, the route template and the start."""
        principal, route, started = served
        scope[STARTED] = True
        request_id = request_id_of(scope)
        scope["state"]["caller"] = principal.key
        scope["route"] = route
        headers.append((b"x-request-id", request_id.encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        finish_request(self.metrics, scope, status, started, request_id)

    async def _serve_record(self, scope: Scope, send: Send, enterprise_id: str, started: float) -> bool:
        request = _Request(scope)
        caller = await self._caller(scope, request)
        if caller is None:
            return False
        factory: ReaderFactory = self.state.reader
        try:
            body = await read_record(await factory(), *caller, enterprise_id)
        except _DB_ERRORS:
            body = None  # the route meets the same trouble and answers it (503)
        if body is None:
            return False
        served = (caller[0], _Route, started)
        etag = etag_of_bytes(body)
        if request.if_none_match and etag_matches(request.if_none_match, etag):
            await self._reply(scope, send, served, 304, [(b"etag", etag.encode())], b"")
        else:
            await self._reply(scope, send, served, 200, [(b"etag", etag.encode()), *_json_headers(body)], body)
        return True

    async def _serve_page(self, scope: Scope, send: Send, started: float) -> bool:
        request = _Request(scope)
        if wants_csv(request.accept):
            return False
        query = QueryParams(scope["query_string"])
        wanted = page_request(query)
        if wanted is None:
            return False
        caller = await self._caller(scope, request)
        if caller is None:
            return False
        principal, version, family = caller
        limit, cursor, since = wanted
        fingerprint_ = fingerprint(principal.key, scope["path"], query.multi_items())
        try:
            after = decode_cursor(self.settings, cursor, fingerprint_, PAGE_KEYS)
        except InvalidCursor:
            return False
        factory: ReaderFactory = self.state.reader
        try:
            page = await read_page(
                await factory(), principal, version, family, limit, since, after, self.state.large_pages
            )
        except _DB_ERRORS:
            page = None
        if page is None:
            return False
        items, last = page
        next_cursor = None if last is None else encode_cursor(self.settings, fingerprint_, last)
        body = page_bytes(items, next_cursor)
        headers = _json_headers(body)
        if next_cursor is not None:
            headers[:0] = [
                (b"link", next_link(URL(scope=scope), next_cursor).encode("latin-1")),
                (b"x-next-cursor", next_cursor.encode("latin-1")),
            ]
        await self._reply(scope, send, (principal, _ListRoute, started), 200, headers, body)
        return True
