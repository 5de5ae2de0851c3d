"""`/v1/auth`: OAuth2 token endpoint (RFC 6749) and refresh-token revocation (RFC 7009)."""

from __future__ import annotations

import base64
import binascii
from enum import StrEnum
from typing import Annotated

from fastapi import Form, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import JSONResponse, Response

from app.deps import SessionDep, SettingsDep, ThrottleDep
from app.models.auth import OAuthError, TokenResponse
from app.routers.common import make_router
from app.services import auth as service

router = make_router("auth", "/v1/auth")

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class GrantType(StrEnum):
    """OAuth2 grant types of the token endpoint."""

    password = "password"
    client_credentials = "client_credentials"
    refresh_token = "refresh_token"


class TokenRequest(BaseModel):
    """Form fields of the token request; which ones are needed depends on `grant_type`."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [
                {"grant_type": "password", "username": "asha@npc.example", "password": "correct horse battery staple"}
            ]
        },
    )

    # A plain string at run time (an unknown grant answers `unsupported_grant_type`, not 422);
    # the OpenAPI document names the enum `GrantType` (app/openapi.py) so that SDKs get a type.
    grant_type: str | None = Field(
        default=None,
        max_length=50,
        description="`password`, `client_credentials` or `refresh_token`.",
        json_schema_extra={"enum": [g.value for g in GrantType]},
    )
    username: str | None = Field(default=None, max_length=320, description="Email (password grant).")
    password: str | None = Field(default=None, max_length=1024, description="Password (password grant).")
    client_id: str | None = Field(default=None, max_length=64)
    client_secret: str | None = Field(default=None, max_length=256)
    refresh_token: str | None = Field(default=None, max_length=4096)
    scope: str | None = Field(default=None, max_length=500)


class RevokeRequest(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={"examples": [{"token": "<refresh token>", "token_type_hint": "refresh_token"}]},
    )

    token: str = Field(min_length=1, max_length=4096, description="The refresh token to revoke.")
    token_type_hint: str | None = Field(default=None, max_length=50)


class RevokeResult(BaseModel):
    """Empty on purpose: revocation answers the same whether or not the token was known."""


OAUTH_ERRORS: dict[int | str, dict[str, object]] = {
    400: {"model": OAuthError, "description": "OAuth2 error (RFC 6749 §5.2), e.g. `invalid_grant`."},
    401: {"model": OAuthError, "description": "Client authentication failed (`invalid_client`)."},
    # Two sources: the failed-login throttle answers in OAuth2 form, the per-address rate limit
    # (middleware, before the endpoint) with problem details.
    429: {
        "description": "Too many requests: failed logins (`invalid_grant`) or the address's rate limit.",
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/OAuthError"}},
            "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}},
        },
    },
}


def oauth_error(exc: service.OAuthProblem) -> JSONResponse:
    headers = dict(NO_STORE)
    if exc.retry_after:
        headers["Retry-After"] = str(exc.retry_after)
    if exc.status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="score4climate"'
    return JSONResponse(
        {"error": exc.error, "error_description": exc.description}, status_code=exc.status, headers=headers
    )


def basic_credentials(request: Request) -> tuple[str, str] | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        client_id, _, secret = base64.b64decode(value, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return client_id, secret


@router.post(
    "/token",
    name="token",
    summary="Get an access token",
    response_model=TokenResponse,
    responses=OAUTH_ERRORS,
)
async def token(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    guard: ThrottleDep,
    form: Annotated[TokenRequest, Form()],
) -> Response:
    """OAuth2 token endpoint, form-encoded:

    - `grant_type=password&username=<email>&password=<password>` for people;
    - `grant_type=client_credentials&client_id=…&client_secret=…` (or HTTP Basic) for machine clients;
    - `grant_type=refresh_token&refresh_token=…` to rotate: a refresh token works once, and
      reusing a spent one revokes every token of that login.

    Errors follow RFC 6749 §5.2 (`{"error": "invalid_grant"}`), not problem details."""
    try:
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media == "application/json" or media.endswith("+json"):
            raise service.OAuthProblem(
                "invalid_request",
                "send the token request form-encoded (Content-Type: application/x-www-form-urlencoded, "
                "e.g. new URLSearchParams({grant_type: 'password', ...}) with fetch), not as JSON",
            )
        if form.grant_type is None:
            raise service.OAuthProblem("invalid_request", "grant_type is required")
        if form.grant_type not in GrantType.__members__:
            raise service.OAuthProblem("unsupported_grant_type", f"grant_type {form.grant_type!r} is not supported")
        grant = GrantType(form.grant_type)
        if grant is GrantType.password:
            if not form.username or form.password is None:
                raise service.OAuthProblem("invalid_request", "username and password are required")
            result = await service.password_grant(session, guard, form.username, form.password)
        elif grant is GrantType.client_credentials:
            basic = basic_credentials(request)
            client_id, secret = basic if basic else (form.client_id, form.client_secret)
            if not client_id or not secret:
                raise service.OAuthProblem("invalid_request", "client_id and client_secret are required")
            result = await service.client_credentials_grant(session, settings, client_id, secret)
        else:
            if not form.refresh_token:
                raise service.OAuthProblem("invalid_request", "refresh_token is required")
            result = await service.refresh_grant(session, settings, form.refresh_token)
    except service.OAuthProblem as exc:
        # Returned, not raised: a reuse detection's family revocation must still commit.
        return oauth_error(exc)
    return JSONResponse(result.model_dump(exclude_none=True), headers=NO_STORE)


@router.post(
    "/revoke",
    name="revoke",
    summary="Revoke a refresh token (log out)",
    response_model=RevokeResult,
)
async def revoke(session: SessionDep, settings: SettingsDep, form: Annotated[RevokeRequest, Form()]) -> RevokeResult:
    """Ends the login the refresh token belongs to: it and every token rotated from it stop
    working. Answers 200 whether or not the token was known (RFC 7009)."""
    await service.revoke(session, settings, form.token)
    return RevokeResult()
