"""Plain ASGI middleware (no BaseHTTPMiddleware): rate limits, body size and content type,
the CORS hint, transaction retry. Each wraps the next without buffering responses. The
request id, access log and Prometheus series are in `app.observability`."""

from __future__ import annotations

import asyncio
import logging
import random
import re
from typing import Any

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.config import Settings
from app.errors import CONFLICT_STATE, PayloadTooLarge, send_problem
from app.observability import Telemetry
from app.ratelimit import RateLimiter
from app.security import peek_subject

error_log = logging.getLogger("app.errors")


class BodyTooLarge(HTTPException):
    """A 413 raised from `receive` while a streamed body is read. An HTTPException because
    FastAPI's body parser lets only those through (it turns anything else into a 400)."""

    slug = PayloadTooLarge.slug

    def __init__(self, max_bytes: int) -> None:
        super().__init__(PayloadTooLarge.status, f"the body exceeds {max_bytes} bytes")


def subject_key(subject: object) -> str:
    return f"sub:{subject}"


class RateLimitMiddleware:
    """Per-caller limits on `/v1`: by verified token subject, else by client address.
    The token endpoint has its own, stricter limit per address."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter, settings: Settings) -> None:
        self.app = app
        self.limiter = limiter
        self.settings = settings

    def _key(self, scope: Scope) -> tuple[str, int]:
        client = scope.get("client")
        address = client[0] if client else "unknown"
        if scope["path"] == "/v1/auth/token":
            return f"token:{address}", self.settings.token_rate_limit_per_minute
        auth = Headers(scope=scope).get("authorization", "")
        if auth[:7].lower() == "bearer ":
            subject = peek_subject(self.settings, auth[7:].strip())
            if subject:
                return subject_key(subject), self.settings.rate_limit_per_minute
        return f"ip:{address}", self.settings.rate_limit_per_minute

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        key, limit = self._key(scope)
        retry_after = await self.limiter.hit(key, limit, 60)
        if retry_after:
            await send_problem(
                send,
                429,
                "rate-limited",
                f"rate limit of {limit} requests per minute exceeded",
                [(b"retry-after", str(retry_after).encode())],
            )
            return
        await self.app(scope, receive, send)


class CorsDisabledMiddleware:
    """Without CORS_ORIGINS (outside development), a browser's preflight gets a problem saying
    why instead of a bare 405."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "OPTIONS":
            headers = Headers(scope=scope)
            if "origin" in headers and "access-control-request-method" in headers:
                detail = (
                    f"cross-origin calls from {headers['origin']} are not enabled: list the origin in "
                    "CORS_ORIGINS (development allows the usual local dev servers)"
                )
                await send_problem(send, 403, "cors-not-enabled", detail)
                return
        await self.app(scope, receive, send)


class BodyGuardMiddleware:
    """413 for bodies over the limit (declared or streamed); 415 for non-JSON writes to `/v1`.

    Attachment uploads (UPLOADS) are files in `multipart/form-data`: they may be as large as
    `upload_max_bytes` (ATTACHMENT_MAX_BYTES and room for the form around the file), and their
    media type is checked by the upload itself (app/services/uploads.py), after the caller's
    token, so that an anonymous upload answers 401 whatever it sends."""

    FORM_PATHS = ("/v1/auth/",)
    UPLOADS = re.compile(r"/v1/(visits|results|ideas)/[^/]+/attachments")
    UPLOAD_OVERHEAD = 64 * 1024

    def __init__(self, app: ASGIApp, max_bytes: int, upload_max_bytes: int | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.upload_max_bytes = upload_max_bytes or max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        upload = scope["method"] == "POST" and self.UPLOADS.fullmatch(scope["path"]) is not None
        max_bytes = self.upload_max_bytes if upload else self.max_bytes
        declared = headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                await send_problem(send, 400, "bad-request", "invalid Content-Length")
                return
            if int(declared) > max_bytes:
                await send_problem(send, 413, "payload-too-large", f"the body exceeds {max_bytes} bytes")
                return
        has_body = (declared not in (None, "0")) or "transfer-encoding" in headers
        json_only = scope["path"].startswith("/v1/") and not scope["path"].startswith(self.FORM_PATHS) and not upload
        if has_body and json_only:
            media = headers.get("content-type", "").split(";")[0].strip().lower()
            if media != "application/json" and not (media.startswith("application/") and media.endswith("+json")):
                await send_problem(send, 415, "unsupported-media-type", "send the body as application/json")
                return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    raise BodyTooLarge(max_bytes)
            return message

        await self.app(scope, counting_receive, send)


class ReplayableBody:
    """The request body as the app reads it, kept (up to `max_bytes`) to be read again."""

    def __init__(self, receive: Receive, max_bytes: int) -> None:
        self._receive = receive
        self._max_bytes = max_bytes
        self._messages: list[Message] = []
        self._size = 0
        self.replayable = True

    def reader(self) -> Receive:
        """A `receive` that first gives the messages kept so far, then reads on (and keeps)."""
        given = 0

        async def receive() -> Message:
            nonlocal given
            if given < len(self._messages):
                given += 1
                return self._messages[given - 1]
            message = await self._receive()
            if message["type"] == "http.request" and self.replayable:
                self._size += len(message.get("body", b""))
                if self._size > self._max_bytes:
                    self.replayable, self._messages = False, []
                else:
                    self._messages.append(message)
                    given += 1
            return message

        return receive


class TransactionRetryMiddleware:
    """Runs a request again when its transaction lost to a concurrent one.

    PostgreSQL aborts one transaction of a deadlock (SQLSTATE 40P01), of a serialization
    failure (40001) or of a lock it could not get (55P03). A request is one transaction
    (app.db.get_session) and that transaction has rolled back by then, so nothing of the
    attempt remains, its `Idempotency-Key` claim included: running the whole request again —
    routing, dependencies (a new session, a new transaction), the endpoint, the commit — is
    safe. The error handler (errors.py) answers such a conflict with 503 and marks it in
    `scope["state"]`; this middleware holds that answer back and runs the request again, with
    the body it kept (at most `max_bytes`, the body limit), after a short random pause, up to
    `attempts` runs in all. The last run's 503 (`Retry-After: 1`) goes to the client.

    Innermost of the app's middleware: rate limits, body checks and the access log see the
    request once."""

    def __init__(self, app: ASGIApp, telemetry: Telemetry, max_bytes: int, attempts: int = 3) -> None:
        self.app = app
        self.telemetry = telemetry
        self.max_bytes = max_bytes
        self.attempts = attempts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state: dict[str, Any] = scope.setdefault("state", {})
        body = ReplayableBody(receive, self.max_bytes)
        for attempt in range(1, self.attempts + 1):
            conflict = await self._run(scope, body, send, state, may_retry=attempt < self.attempts)
            if conflict is None:
                return
            error_log.warning(
                "transaction conflict; running the request again",
                extra={"sqlstate": conflict, "attempt": attempt, "path": scope["path"]},
            )
            await asyncio.sleep(random.uniform(0.005, 0.025) * attempt)  # noqa: S311 - jitter, not a secret

    async def _run(
        self, scope: Scope, body: ReplayableBody, send: Send, state: dict[str, Any], *, may_retry: bool
    ) -> str | None:
        """One run of the request; the SQLSTATE of the conflict when its answer was held back."""
        held: str | None = None

        async def send_unless_conflict(message: Message) -> None:
            nonlocal held
            if message["type"] == "http.response.start":
                conflict = state.pop(CONFLICT_STATE, None)
                if conflict is not None:
                    retry = may_retry and body.replayable
                    self.telemetry.transaction_conflicts.labels(conflict, "retried" if retry else "gave_up").inc()
                    if retry:
                        held = conflict
            if held is None:
                await send(message)

        await self.app(scope, body.reader(), send_unless_conflict)
        return held
