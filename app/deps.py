"""Named dependency types used by every router."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.dependencies.models import Dependant
from fastapi.openapi.models import OAuthFlowClientCredentials, OAuthFlowPassword, OAuthFlows
from fastapi.security import HTTPBearer, OAuth2
from sqlmodel.ext.asyncio.session import AsyncSession

from app.config import Settings
from app.db import ReadOnly, get_session, read_only
from app.errors import Unprocessable
from app.principal import Principal
from app.security import TokenClaims
from app.services import auth as auth_service
from app.services import idempotency as idempotency_service

SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
ReadOnlyDep = Annotated[ReadOnly, Depends(read_only, scope="function")]


async def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_app_settings)]


def client_address(request: Request) -> str:
    """The caller's address: the connection's, or the X-Forwarded-For client when the connection
    comes from one of TRUSTED_PROXIES (resolved once, before the app, by ProxyHeadersMiddleware)."""
    return request.client.host if request.client else "unknown"


async def throttle(request: Request, settings: SettingsDep) -> auth_service.Throttle:
    return auth_service.Throttle(request.app.state.limiter, settings, client_address(request))


ThrottleDep = Annotated[auth_service.Throttle, Depends(throttle)]

# Declared for the OpenAPI document (SDKs and the docs' "Authorize" button); the
# header itself is read and verified once, in `current_principal`.
oauth2_scheme = OAuth2(
    flows=OAuthFlows(
        password=OAuthFlowPassword(tokenUrl="/v1/auth/token", refreshUrl="/v1/auth/token"),
        clientCredentials=OAuthFlowClientCredentials(tokenUrl="/v1/auth/token"),
    ),
    scheme_name="OAuth2",
    description="People log in with the password grant; machine clients with client credentials.",
    auto_error=False,
)
bearer_scheme = HTTPBearer(scheme_name="BearerToken", bearerFormat="JWT", auto_error=False)


def bearer_token(request: Request) -> str:
    """The token of `Authorization: Bearer <token>` ("" when absent or of another scheme)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


async def current_claims(
    request: Request,
    settings: SettingsDep,
    _oauth: Annotated[str | None, Depends(oauth2_scheme)],
    _bearer: Annotated[object, Depends(bearer_scheme)],
) -> TokenClaims:
    """The verified access token alone (no database): for reads whose own statement checks
    that the account is still live (`auth.principal_row`)."""
    claims = auth_service.verified_claims(settings, bearer_token(request))
    request.state.caller = claims.key
    return claims


CurrentClaims = Annotated[TokenClaims, Depends(current_claims)]


async def current_principal(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    _oauth: Annotated[str | None, Depends(oauth2_scheme)],
    _bearer: Annotated[object, Depends(bearer_scheme)],
) -> Principal:
    principal = await auth_service.resolve_principal(session, settings, bearer_token(request))
    request.state.caller = principal.key
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="Makes a retried POST safe: the same key and body return the first response "
        "and create nothing new (kept 7 days by default, IDEMPOTENCY_TTL_HOURS; per caller).",
    ),
]
"""The header alone: for a POST whose body is a stream (an upload), claimed by the service once read."""


async def idempotency_key(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: CurrentPrincipal,
    key: IdempotencyKeyHeader = None,
) -> idempotency_service.IdempotencyKey | None:
    if key is None:
        return None
    body = await request.body()
    return await idempotency_service.begin(
        session,
        principal=principal.key,
        key=key,
        fingerprint=idempotency_service.request_fingerprint(request.method, request.url.path, body),
        ttl_hours=settings.idempotency_ttl_hours,
    )


IdempotencyDep = Annotated[idempotency_service.IdempotencyKey | None, Depends(idempotency_key)]


def all_dependants(dependant: Dependant) -> list[Dependant]:
    """A route's dependency tree, flattened (the route's own first)."""
    found, pending = [], [dependant]
    while pending:
        current = pending.pop()
        found.append(current)
        pending.extend(current.dependencies)
    return found


def query_names(dependant: Dependant) -> frozenset[str]:
    """The query parameters an operation declares (its own and its dependencies')."""
    return frozenset(p.alias for d in all_dependants(dependant) for p in d.query_params)


def reject_unknown_query(request: Request, known: frozenset[str]) -> None:
    """422 for a query parameter the operation does not declare: a misspelt or unsupported
    filter must not quietly return the unfiltered list."""
    unknown = sorted({name for name in request.query_params if name not in known})
    if not unknown:
        return
    takes = f"it takes: {', '.join(sorted(known))}" if known else "it takes no query parameters"
    raise Unprocessable(
        f"unknown query parameter{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; {takes}",
        loc=("query", unknown[0]),
    )


async def known_query_only(request: Request) -> None:
    """Every `/v1` route's first dependency (app/routers/common.py)."""
    route = request.scope.get("route")
    known: frozenset[str] | None = getattr(route, "known_query", None)
    if known is None:
        dependant = getattr(route, "dependant", None)
        if dependant is None:
            return
        known = query_names(dependant)
        route.known_query = known  # type: ignore[union-attr]  # worked out once per route
    reject_unknown_query(request, known)
