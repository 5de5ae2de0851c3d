"""`/pact`: the PACT v3 host system (discovery, token, footprints, events).

Every route here is a `PactRoute`: whatever error its handling raises (the service's
`PactProblem`, any other `ProblemError`, a validation error, a framework HTTP error) is answered
in PACT's shape, `{"code", "message"}` as `application/json`. The rest of the API keeps RFC 9457.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from http import HTTPStatus
from typing import Annotated, Any
from uuid import UUID

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response

from app.deps import SessionDep, SettingsDep, bearer_scheme, bearer_token
from app.errors import ProblemError
from app.models.auth import OAuthError
from app.models.pact import FootprintList, FootprintOne, OpenIdConfiguration, PactCode, PactError, PactTokenResponse
from app.observability import request_id_var
from app.pagination import MAX_LIMIT, PageParams
from app.principal import Principal
from app.routers.auth import NO_STORE, basic_credentials, oauth_error
from app.services import auth as auth_service
from app.services import pact as service

CODES: dict[int, PactCode] = {
    400: PactCode.BadRequest,
    401: PactCode.BadRequest,
    403: PactCode.AccessDenied,
    404: PactCode.NotFound,
    405: PactCode.NotImplemented,
    501: PactCode.NotImplemented,
}
JSON = "application/json"


def pact_error(status: int, code: PactCode, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps({"code": code, "message": message}), status_code=status, media_type=JSON, headers=headers
    )


def as_pact_error(exc: Exception) -> Response | None:
    """PACT's answer for an error raised under `/pact`; None for an unexpected one (the app's
    handlers then log it and answer 500)."""
    if isinstance(exc, service.PactProblem):
        return pact_error(exc.status, exc.code, str(exc.detail), exc.headers)
    if isinstance(exc, RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return pact_error(400, PactCode.BadRequest, f"{where}: {first.get('msg')}".lstrip(": "))
    if isinstance(exc, ProblemError):
        status = 400 if exc.status == 422 else exc.status
        code = CODES.get(status, PactCode.InternalError if status >= 500 else PactCode.BadRequest)
        return pact_error(status, code, exc.detail or HTTPStatus(status).phrase, exc.headers)
    if isinstance(exc, StarletteHTTPException):
        status = exc.status_code
        code = CODES.get(status, PactCode.InternalError if status >= 500 else PactCode.BadRequest)
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(status).phrase
        return pact_error(status, code, detail, dict(exc.headers or {}))
    return None


class PactRoute(APIRoute):
    """A route whose errors are PACT error bodies."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def pact_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:
                answer = as_pact_error(exc)
                if answer is None:
                    raise
                return answer

        return pact_handler


PACT_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": PactError, "description": description}
    for status, description in {
        400: "Bad request (`BadRequest`): a malformed parameter, filter value or event.",
        401: "No valid access token (`BadRequest`, or `TokenExpired`).",
        403: "The token is not a lead buyer's (`AccessDenied`).",
    }.items()
}

router = APIRouter(prefix="/pact", tags=["pact"], route_class=PactRoute)


async def buyer(
    request: Request, session: SessionDep, settings: SettingsDep, _: Annotated[object, Depends(bearer_scheme)]
) -> Principal:
    principal = await service.pact_principal(session, settings, bearer_token(request))
    request.state.caller = principal.key
    return principal


BuyerDep = Annotated[Principal, Depends(buyer)]


def pact_base(request: Request) -> str:
    """`/pact` as the caller reached it: scheme, host, port and base path of this request."""
    return str(request.base_url).rstrip("/") + "/pact"


@router.get(
    "/.well-known/openid-configuration",
    name="openid-configuration",
    summary="Discover the token endpoint",
    response_model=OpenIdConfiguration,
)
async def openid_configuration(request: Request) -> OpenIdConfiguration:
    """Where PACT clients get a token: `token_endpoint` is this server's `/pact/auth/token`, as
    the caller reached it."""
    base = pact_base(request)
    return OpenIdConfiguration(
        issuer=base,
        token_endpoint=base + "/auth/token",
        grant_types_supported=["client_credentials"],
        token_endpoint_auth_methods_supported=["client_secret_basic", "client_secret_post"],
        response_types_supported=["token"],
        scopes_supported=[],
    )


@router.post(
    "/auth/token",
    name="token",
    summary="Get a PACT access token",
    response_model=PactTokenResponse,
    responses={
        400: {
            "model": OAuthError,
            "description": "OAuth2 error (RFC 6749 §5.2): `unsupported_grant_type`, `invalid_request`.",
        },
        401: {"model": OAuthError, "description": "Client authentication failed (`invalid_client`)."},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {"schema": {"$ref": "#/components/schemas/PactTokenRequest"}}
            },
        }
    },
)
async def token(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """OAuth2 client credentials (`grant_type=client_credentials`, form-encoded), the API
    client's id and secret in HTTP Basic (or as `client_id` and `client_secret` form fields).
    Errors are OAuth2's (`{"error", "error_description"}`)."""
    try:
        form = await request.form()
    except Exception:  # a body that is not a form
        form = None
    fields = {k: v for k, v in (form or {}).items() if isinstance(v, str)}
    try:
        grant = fields.get("grant_type")
        if grant is None:
            raise auth_service.OAuthProblem("invalid_request", "grant_type is required")
        if grant != "client_credentials":
            raise auth_service.OAuthProblem("unsupported_grant_type", "only grant_type=client_credentials is supported")
        basic = basic_credentials(request)
        client_id, secret = basic if basic else (fields.get("client_id"), fields.get("client_secret"))
        if not client_id or not secret:
            raise auth_service.OAuthProblem(
                "invalid_client", "client credentials are required (HTTP Basic)", status=401
            )
        result = await auth_service.client_credentials_grant(session, settings, client_id[:65], secret[:300])
    except auth_service.OAuthProblem as exc:
        return oauth_error(exc)
    body = PactTokenResponse(access_token=result.access_token, expires_in=result.expires_in)
    return JSONResponse(body.model_dump(), headers=NO_STORE)


ListFilter = Annotated[list[str] | None, Query(max_length=50)]
LIST_PARAMETERS = frozenset(
    {"productId", "companyId", "geography", "classification", "validOn", "validAfter", "validBefore", "status"}
    | {"limit", "cursor"}
)
"""What the list takes; other parameters are 400, except PACT's `x-…` extensions, which are ignored."""


@router.get(
    "/3/footprints",
    name="list-footprints",
    summary="List footprints (PACT ListFootprints)",
    response_model=FootprintList,
    response_model_exclude_none=True,
    responses=PACT_ERRORS,
)
async def list_footprints(
    request: Request,
    session: SessionDep,
    principal: BuyerDep,
    productId: ListFilter = None,
    companyId: ListFilter = None,
    geography: ListFilter = None,
    classification: ListFilter = None,
    validOn: Annotated[str | None, Query(max_length=64)] = None,
    validAfter: Annotated[str | None, Query(max_length=64)] = None,
    validBefore: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[str | None, Query(max_length=64, description="`Active` or `Deprecated` (any case).")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Footprints per page (1-500).")] = 50,
    cursor: Annotated[str | None, Query(max_length=1024, description="Set by the `Link` header's next URL.")] = None,
) -> Response:
    """The footprints of the caller's active suppliers. Each filter may repeat (any of its
    values matches); different filters must all match; a value that matches nothing gives an
    empty list. More pages: `Link: <absolute URL>; rel="next"`."""
    unknown = sorted(k for k in request.query_params if k not in LIST_PARAMETERS and not k.lower().startswith("x-"))
    if unknown:
        raise service.PactProblem(400, PactCode.BadRequest, f"unknown query parameter {unknown[0]!r}")
    filters = service.Filters(
        productId or (),
        companyId or (),
        geography or (),
        classification or (),
        service.instant(validOn, "validOn"),
        service.instant(validAfter, "validAfter"),
        service.instant(validBefore, "validBefore"),
        status,
    )
    answer = Response(media_type=JSON)
    page = PageParams(limit=limit, cursor=cursor, request=request, response=answer)
    data = await service.list_footprints(session, principal, filters, page)
    answer.body = orjson.dumps({"data": data})
    answer.headers["content-length"] = str(len(answer.body))
    return answer


@router.get(
    "/3/footprints/{footprint_id}",
    name="get-footprint",
    summary="Get a footprint (PACT GetFootprint)",
    response_model=FootprintOne,
    response_model_exclude_none=True,
    responses={
        **PACT_ERRORS,
        404: {"model": PactError, "description": "No such footprint, or not yours to read (`NotFound`)."},
    },
)
async def get_footprint(session: SessionDep, principal: BuyerDep, footprint_id: UUID) -> Response:
    """One footprint of an active supplier, deprecated ones included."""
    data = await service.get_footprint(session, principal, footprint_id)
    return Response(orjson.dumps({"data": data}), media_type=JSON)


@router.post(
    "/3/events",
    name="events",
    summary="Send an event (PACT Events)",
    status_code=200,
    response_class=Response,
    responses={**PACT_ERRORS, 200: {"description": "Accepted (empty body)."}},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/cloudevents+json": {"schema": {"$ref": "#/components/schemas/CloudEvent"}}},
            "description": "A CloudEvents 1.0 event in structured mode: `RequestCreatedEvent.3`, `PublishedEvent.3`, "
            "`RequestFulfilledEvent.3` or `RequestRejectedEvent.3` (types `org.wbcsd.pact.ProductFootprint.*`).",
        }
    },
)
async def post_event(request: Request, session: SessionDep, settings: SettingsDep, principal: BuyerDep) -> Response:
    """A request for footprints is accepted at once (200, empty body) and answered later: the
    worker posts a `RequestFulfilledEvent` (the matching footprints) or a `RequestRejectedEvent`
    to `{source}/3/events`, with a token from the requester's own token endpoint. Other events
    are validated and acknowledged."""
    raw = await request.body()
    await service.receive_event(session, principal, settings, raw, pact_base(request), request_id_var.get())
    return Response(status_code=200)
