"""Typed domain errors and the single RFC 9457 problem+json renderer.

Services raise these; one set of handlers turns them (and framework errors) into
`application/problem+json`. Nothing else in the code base builds an error body.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any, ClassVar

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import Send

log = logging.getLogger("app.errors")

PROBLEM_BASE = "https://score4climate.dev/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"


class ValidationIssue(BaseModel):
    """One reason a request is not valid."""

    loc: list[str] = Field(
        description="Where the problem is: `body`, `query`, `path` or `header`, then the field path; "
        'array indexes are decimal strings (`["body", "participants", "0", "gender"]`).',
        examples=[["body", "participants", "0", "gender"]],
    )
    pointer: str = Field(
        description="For the body, an RFC 6901 JSON Pointer to the offending value "
        '(`/participants/0/gender`; `""` for the body as a whole); for a query, path or header '
        "parameter, its name as the API spells it (`limit`, `idea_id`, `If-Match`).",
        examples=["/participants/0/gender"],
    )
    msg: str = Field(description="What is wrong, for people.")
    type: str = Field(description="Machine-readable kind of validation failure, e.g. `missing`.")


class Problem(BaseModel):
    """RFC 9457 problem details. Every error this API returns has this shape."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": PROBLEM_BASE + "not-found",
                    "title": "Not Found",
                    "status": 404,
                    "detail": "enterprise not found",
                }
            ]
        }
    )

    type: str = Field(description="URI naming the kind of problem.")
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[ValidationIssue] | None = Field(default=None, description="Present on validation failures (422).")


class ProblemError(Exception):
    """Base of every error a service may raise; knows its HTTP status and problem type."""

    status: ClassVar[int] = 400
    slug: ClassVar[str] = "bad-request"

    def __init__(self, detail: str | None = None, *, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail or self.slug)
        self.detail = detail
        self.headers = dict(headers or {})

    @property
    def type_uri(self) -> str:
        return PROBLEM_BASE + self.slug


class BadRequest(ProblemError):
    status, slug = 400, "bad-request"


class InvalidCursor(ProblemError):
    status, slug = 400, "invalid-cursor"


class CursorExpired(ProblemError):
    status, slug = 410, "cursor-expired"


class Unauthorized(ProblemError):
    status, slug = 401, "unauthorized"

    def __init__(self, detail: str | None = "missing or invalid access token", *, token_given: bool = True) -> None:
        # RFC 6750 §3.1: no error code when the request carried no token at all.
        challenge = (
            'Bearer realm="score4climate", error="invalid_token"' if token_given else 'Bearer realm="score4climate"'
        )
        super().__init__(detail, headers={"WWW-Authenticate": challenge})


class Forbidden(ProblemError):
    status, slug = 403, "forbidden"


class NotFound(ProblemError):
    status, slug = 404, "not-found"


class Conflict(ProblemError):
    status, slug = 409, "conflict"


class IdConflict(ProblemError):
    """A client-chosen id that names another request's object, or one the caller may not see.
    The answer is the same whatever the reason, so that it tells nothing about other objects."""

    status, slug = 409, "id-conflict"
    DETAIL: ClassVar[str] = "this id is already in use; create the object with another id"

    def __init__(self) -> None:
        super().__init__(self.DETAIL)


class InvalidTransition(ProblemError):
    status, slug = 409, "invalid-transition"


class PrerequisiteNotMet(ProblemError):
    status, slug = 409, "prerequisite-not-met"


class CertificationLapsed(ProblemError):
    status, slug = 409, "certification-lapsed"


class PreconditionFailed(ProblemError):
    status, slug = 412, "precondition-failed"


class PayloadTooLarge(ProblemError):
    status, slug = 413, "payload-too-large"


class UnsupportedMediaType(ProblemError):
    status, slug = 415, "unsupported-media-type"


class RangeNotSatisfiable(ProblemError):
    status, slug = 416, "range-not-satisfiable"

    def __init__(self, size: int) -> None:
        super().__init__(
            f"the range starts beyond the end of the {size} bytes", headers={"Content-Range": f"bytes */{size}"}
        )


class Unprocessable(ProblemError):
    status, slug = 422, "validation-error"

    def __init__(self, detail: str, *, loc: Sequence[str | int] = ("body",)) -> None:
        super().__init__(detail)
        self.errors = [validation_issue(loc, detail, "value_error")]


class IdempotencyKeyReused(ProblemError):
    status, slug = 422, "idempotency-key-reused"


class RateLimited(ProblemError):
    status, slug = 429, "rate-limited"

    def __init__(self, retry_after: int, detail: str = "too many requests") -> None:
        self.retry_after = max(1, retry_after)
        super().__init__(detail, headers={"Retry-After": str(self.retry_after)})


class ServiceUnavailable(ProblemError):
    status, slug = 503, "service-unavailable"

    def __init__(self, detail: str = "the database is unavailable; retry shortly") -> None:
        super().__init__(detail, headers={"Retry-After": "1"})


PROBLEM_HEADERS = [(b"content-type", PROBLEM_MEDIA_TYPE.encode())]


async def send_problem(
    send: Send, status: int, slug: str, detail: str, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    """A problem answer written straight to ASGI `send`, for the middleware that answers
    before any route (413, 415, 429, the CORS hint, the last-resort 500)."""
    body = problem_body(status, slug=slug, detail=detail)
    headers = PROBLEM_HEADERS + [(b"content-length", str(len(body)).encode())] + (extra or [])
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def problem_body(
    status: int,
    *,
    slug: str | None = None,
    detail: str | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> bytes:
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + (slug or title.lower().replace(" ", "-").replace("'", "")),
        "title": title,
        "status": status,
    }
    if detail is not None:
        body["detail"] = detail
    if errors is not None:
        body["errors"] = errors
    return orjson.dumps(body)


def problem_response(
    status: int,
    *,
    slug: str | None = None,
    detail: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    return Response(
        problem_body(status, slug=slug, detail=detail, errors=errors),
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=dict(headers or {}),
    )


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _body_tokens(path: Sequence[Any], body: Any, missing: bool) -> list[str]:
    """The steps of `path` that are places in `body`. Pydantic's locations also name the union
    member a value was tried against (`str`, `function-after[...]`): those name no place in the
    document and are dropped, except a missing member of an object, which names where it belongs."""
    tokens: list[str] = []
    node = body
    for index, part in enumerate(path):
        in_object = isinstance(node, Mapping) and isinstance(part, str)
        in_array = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if (in_object and part in node) or in_array:
            node = node[part]
        elif in_object and missing and index == len(path) - 1:
            node = None  # the missing member itself
        else:
            continue
        tokens.append(str(part))
    return tokens


_UNKNOWN_BODY = object()


def validation_issue(loc: Sequence[Any], msg: str, type_: str, body: Any = _UNKNOWN_BODY) -> dict[str, Any]:
    """One `errors[]` entry: `loc` as strings, and `pointer` to the value in the body (RFC 6901)
    or the parameter's name. Without the request's `body`, a body location is taken as it is."""
    where, path = (str(loc[0]), list(loc[1:])) if loc else ("body", [])
    if where != "body":
        pointer = str(path[0]) if path else ""
    elif body is _UNKNOWN_BODY:
        pointer = "".join("/" + _escape(str(part)) for part in path)
    else:
        pointer = "".join("/" + _escape(token) for token in _body_tokens(path, body, type_ == "missing"))
    return {"loc": [str(part) for part in loc], "pointer": pointer, "msg": msg, "type": type_}


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    return [
        validation_issue(
            err.get("loc", ()),
            str(err.get("msg", "invalid value")),
            str(err.get("type", "value_error")),
            exc.body,
        )
        for err in exc.errors()
    ]


def is_database_unavailable(exc: BaseException) -> bool:
    """True for errors that mean "the database cannot serve now" rather than a bug."""
    if isinstance(exc, PoolTimeoutError | InterfaceError | ConnectionError | OSError):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True  # SQLAlchemy saw the connection drop (see db._detect_dropped_connection)
    if isinstance(exc, OperationalError | DBAPIError):
        text = str(exc.orig if getattr(exc, "orig", None) is not None else exc).lower()
        markers = (
            "connection",
            "cannot connect",
            "terminating",
            "shutting down",
            "statement timeout",
            "canceling statement",
            "the database system is",
        )
        return any(marker in text for marker in markers)
    return False


def _sqlstate(exc: BaseException) -> str:
    """The PostgreSQL SQLSTATE behind a driver error, e.g. 22021 for a NUL in text ("" if none)."""
    orig = getattr(exc, "orig", None)
    driver = getattr(orig, "driver_exception", orig)
    return str(getattr(driver, "sqlstate", None) or "")


TRANSACTION_CONFLICTS = frozenset({"40P01", "40001", "55P03"})
"""SQLSTATEs of a transaction that lost to a concurrent one and did nothing: deadlock_detected,
serialization_failure, lock_not_available. Running it again is safe (see TransactionRetryMiddleware)."""

CONFLICT_STATE = "transaction_conflict"
"""Key in `scope["state"]`: the SQLSTATE of a conflict the response being sent answers."""

CONFLICT_DETAIL = "the change met concurrent changes of the same data; retry shortly"


def transaction_conflict(exc: BaseException) -> str | None:
    """The SQLSTATE when `exc` is a transaction conflict (TRANSACTION_CONFLICTS), else None."""
    sqlstate = _sqlstate(exc)
    return sqlstate if sqlstate in TRANSACTION_CONFLICTS else None


def install_error_handlers(app: FastAPI) -> None:
    """Register the one renderer for every error the app can produce."""

    async def on_problem(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, ProblemError)
        return problem_response(
            exc.status,
            slug=exc.slug,
            detail=exc.detail,
            errors=getattr(exc, "errors", None),
            headers=exc.headers,
        )

    async def on_validation(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return problem_response(
            422,
            slug="validation-error",
            detail="the request is not valid; see errors",
            errors=_validation_errors(exc),
        )

    async def on_http(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        detail = exc.detail if isinstance(exc.detail, str) else None
        if exc.status_code == 404 and detail == "Not Found":
            detail = "no such resource"
        if exc.status_code == 405:
            detail = "method not allowed on this resource"
        return problem_response(exc.status_code, slug=getattr(exc, "slug", None), detail=detail, headers=exc.headers)

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        conflict = transaction_conflict(exc)
        if conflict is not None:
            # Marked for TransactionRetryMiddleware, which runs the request again while it may;
            # this 503 reaches the client only when it may not.
            request.scope.setdefault("state", {})[CONFLICT_STATE] = conflict
            err = ServiceUnavailable(CONFLICT_DETAIL)
            return problem_response(err.status, slug=err.slug, detail=err.detail, headers=err.headers)
        if is_database_unavailable(exc):
            log.warning("database unavailable", extra={"error": type(exc).__name__})
            err = ServiceUnavailable()
            return problem_response(err.status, slug=err.slug, detail=err.detail, headers=err.headers)
        if isinstance(exc, IntegrityError):
            return problem_response(409, slug="conflict", detail="the change conflicts with existing data")
        if isinstance(exc, DataError) or _sqlstate(exc).startswith("22"):  # class 22: data exception
            return problem_response(
                422, slug="validation-error", detail="a value is out of the range the database accepts"
            )
        log.exception("unhandled error", extra={"path": request.url.path})
        return problem_response(500, slug="internal-error", detail="an unexpected error occurred; it has been logged")

    app.add_exception_handler(ProblemError, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    # Database and network errors get their 503/409/422 inside the middleware stack, like every
    # other handled error; `Exception` is the backstop for the rest (see RequestContextMiddleware).
    app.add_exception_handler(SQLAlchemyError, on_unexpected)
    app.add_exception_handler(OSError, on_unexpected)
    app.add_exception_handler(Exception, on_unexpected)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries so SDKs get typed problem details."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        out[status] = {
            "model": Problem,
            "description": HTTPStatus(status).phrase,
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
    return out
