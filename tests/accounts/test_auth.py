"""Authentication: bearer-token verification, the OAuth2 token endpoint, refresh rotation,
revocation, failed-login handling and machine clients (docs/authentication.md).

Forged tokens are built by hand (base64 + HMAC from the standard library) so that the tests
do not share the JWT library's idea of what a token is; valid ones come from the factory.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from app import security
from app.config import Settings
from app.models.users import User
from tests.factories import PASSWORD, Factory

TOKEN_URL = "/v1/auth/token"


# --- hand-made JWTs ------------------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def make_jwt(payload: dict[str, Any], key: str | None, alg: str = "HS256") -> str:
    """A compact JWS. `key=None` gives an unsigned token (empty signature)."""
    header = b64url(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    body = b64url(json.dumps(payload).encode())
    signing_input = f"{header}.{body}".encode()
    if key is None:
        return f"{header}.{body}."
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    return f"{header}.{body}.{b64url(hmac.new(key.encode(), signing_input, digest).digest())}"


def claims_for(settings: Settings, user: User, **changes: Any) -> dict[str, Any]:
    """The claims the service itself puts in an access token; `changes` set (or, with None, drop) some."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": str(user.id),
        "iat": now,
        "exp": now + 600,
        "jti": str(uuid.uuid4()),
        "typ": "access",
        "kind": "user",
        "role": user.role.value,
        "org": None,
        "ver": user.auth_version,
    }
    for name, value in changes.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    return claims


def flip_signature_byte(token: str) -> str:
    head, body, signature = token.split(".")
    raw = bytearray(b64url_decode(signature))
    raw[len(raw) // 2] ^= 0x01
    return f"{head}.{body}.{b64url(bytes(raw))}"


# --- invalid bearer tokens ----------------------------------------------------------------


@dataclass
class Ctx:
    client: httpx.AsyncClient
    factory: Factory
    settings: Settings
    user: User

    @property
    def key(self) -> str:
        return self.settings.signing_key


async def password_changed(ctx: Ctx) -> str:
    old = ctx.factory.token(ctx.user)
    r = await ctx.client.patch(
        f"/v1/users/{ctx.user.id}",
        json={"password": "a brand new passphrase", "current_password": PASSWORD},
        headers={"Authorization": f"Bearer {old}"},
    )
    assert r.status_code == 200, r.text
    return old


async def deactivated(ctx: Ctx) -> str:
    inactive = await ctx.factory.user("admin", is_active=False)
    return ctx.factory.token(inactive)


async def refresh_as_access(ctx: Ctx) -> str:
    token, _ = security.issue_token(
        ctx.settings,
        token_type="refresh",
        subject=ctx.user.id,
        kind="user",
        role=ctx.user.role.value,
        organisation_id=None,
        version=ctx.user.auth_version,
        ttl_seconds=600,
        family_id=uuid.uuid4(),
    )
    return token


def forged(build: Callable[[Ctx], str]) -> Callable[[Ctx], Awaitable[str]]:
    async def make(ctx: Ctx) -> str:
        return build(ctx)

    return make


INVALID_TOKENS: dict[str, Callable[[Ctx], Awaitable[str | None]]] = {
    "no token": forged(lambda ctx: ""),
    "garbage": forged(lambda ctx: "not.a-token.at-all"),
    "flipped signature byte": forged(lambda ctx: flip_signature_byte(ctx.factory.token(ctx.user))),
    "alg none": forged(lambda ctx: make_jwt(claims_for(ctx.settings, ctx.user), None, alg="none")),
    "other algorithm, right key": forged(lambda ctx: make_jwt(claims_for(ctx.settings, ctx.user), ctx.key, "HS512")),
    "HS256 with another key": forged(lambda ctx: make_jwt(claims_for(ctx.settings, ctx.user), "k" * 48)),
    "expired": forged(
        lambda ctx: make_jwt(
            claims_for(ctx.settings, ctx.user, iat=int(time.time()) - 120, exp=int(time.time()) - 60), ctx.key
        )
    ),
    "missing exp": forged(lambda ctx: make_jwt(claims_for(ctx.settings, ctx.user, exp=None), ctx.key)),
    "wrong aud": forged(lambda ctx: make_jwt(claims_for(ctx.settings, ctx.user, aud="another-api"), ctx.key)),
    "missing aud": forged(lambda ctx: make_jwt(claims_for(ctx.settings, ctx.user, aud=None), ctx.key)),
    "wrong iss": forged(lambda ctx: make_jwt(claims_for(ctx.settings, ctx.user, iss="someone-else"), ctx.key)),
    "refresh token as access token": refresh_as_access,
    "deactivated user": deactivated,
    "issued before a password change": password_changed,
}


async def test_hand_made_token_is_accepted(client, factory, settings):
    """The forging helpers make tokens the service accepts, so the rejections below are meaningful."""
    user = await factory.user("admin")
    token = make_jwt(claims_for(settings, user), settings.signing_key)
    r = await client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    assert r.json()["id"] == str(user.id)


@pytest.mark.parametrize("case", list(INVALID_TOKENS), ids=list(INVALID_TOKENS))
async def test_invalid_token_is_401_with_bearer_challenge(client, factory, settings, case):
    user = await factory.user("admin")
    token = await INVALID_TOKENS[case](Ctx(client, factory, settings, user))
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    r = await client.get("/v1/me", headers=headers)
    assert r.status_code == 401, r.text
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["status"] == 401


# --- password grant, refresh rotation, revocation -----------------------------------------


async def password_grant(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    return await client.post(TOKEN_URL, data={"grant_type": "password", "username": email, "password": password})


async def refresh(client: httpx.AsyncClient, refresh_token: str) -> httpx.Response:
    return await client.post(TOKEN_URL, data={"grant_type": "refresh_token", "refresh_token": refresh_token})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_password_grant(client, factory):
    user = await factory.user("expert")
    r = await password_grant(client, user.email.upper())
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    body = r.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] > 0
    assert body["refresh_token"]
    me = await client.get("/v1/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200, me.text
    assert me.json()["kind"] == "user"
    assert me.json()["email"] == user.email
    assert me.json()["role"] == "expert"


async def test_refresh_rotation_and_reuse_detection(client, factory):
    user = await factory.user("admin")
    first = (await password_grant(client, user.email)).json()

    r = await refresh(client, first["refresh_token"])
    assert r.status_code == 200, r.text
    second = r.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert (await client.get("/v1/me", headers=bearer(second["access_token"]))).status_code == 200

    # The spent token no longer works...
    reused = await refresh(client, first["refresh_token"])
    assert reused.status_code == 400
    assert reused.json()["error"] == "invalid_grant"
    # ...and presenting it revoked the whole family, including the newer token.
    after = await refresh(client, second["refresh_token"])
    assert after.status_code == 400
    assert after.json()["error"] == "invalid_grant"


async def test_refresh_token_of_another_kind_is_refused(client, factory):
    user = await factory.user("admin")
    access = factory.token(user)
    r = await refresh(client, access)
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_grant"


async def test_revoke_logs_out(client, factory):
    user = await factory.user("partner")
    tokens = (await password_grant(client, user.email)).json()
    r = await client.post("/v1/auth/revoke", data={"token": tokens["refresh_token"]})
    assert r.status_code == 200, r.text
    after = await refresh(client, tokens["refresh_token"])
    assert after.status_code == 400
    assert after.json()["error"] == "invalid_grant"
    # Revoking something unknown is not an error (RFC 7009).
    assert (await client.post("/v1/auth/revoke", data={"token": "whatever"})).status_code == 200


async def test_password_change_ends_refresh_tokens(client, factory):
    user = await factory.user("admin")
    tokens = (await password_grant(client, user.email)).json()
    r = await client.patch(
        f"/v1/users/{user.id}",
        json={"password": "another good passphrase", "current_password": PASSWORD},
        headers=bearer(tokens["access_token"]),
    )
    assert r.status_code == 200, r.text
    assert (await refresh(client, tokens["refresh_token"])).json()["error"] == "invalid_grant"
    assert (await password_grant(client, user.email, "another good passphrase")).status_code == 200


# --- failed logins ------------------------------------------------------------------------


async def timed_failure(client: httpx.AsyncClient, email: str, password: str) -> float:
    started = time.perf_counter()
    r = await password_grant(client, email, password)
    elapsed = time.perf_counter() - started
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "invalid_grant"
    assert r.headers["content-type"].startswith("application/json")
    return elapsed


async def test_wrong_password_and_unknown_email_look_alike(client, factory):
    user = await factory.user("partner")
    wrong_password = [await timed_failure(client, user.email, "not the password") for _ in range(3)]
    unknown = [
        await timed_failure(client, factory.unique("nobody") + "@example.org", "not the password") for _ in range(3)
    ]
    a, b = statistics.median(wrong_password), statistics.median(unknown)
    assert max(a, b) / min(a, b) < 3, (wrong_password, unknown)


async def test_repeated_failures_are_rate_limited(client, factory, settings):
    user = await factory.user("admin")
    for _ in range(settings.login_failures_per_15_minutes):
        r = await password_grant(client, user.email, "not the password")
        assert r.status_code == 400
    r = await password_grant(client, user.email, "not the password")
    assert r.status_code == 429, r.text
    assert r.json()["error"] == "invalid_grant"
    assert int(r.headers["retry-after"]) > 0
    # The lock holds even for the right password, and it is per email: others are unaffected.
    assert (await password_grant(client, user.email)).status_code == 429
    other = await factory.user("admin")
    assert (await password_grant(client, other.email)).status_code == 200


async def test_over_long_password_is_refused(client, factory):
    user = await factory.user("admin")
    r = await password_grant(client, user.email, "x" * 1025)
    assert r.status_code in (400, 422), r.text
    if r.status_code == 400:
        assert r.json()["error"] == "invalid_grant"
    else:
        assert r.json()["status"] == 422
    assert security.verify_password("x" * 5000, user.password_hash) is False


async def test_missing_fields_are_invalid_request(client):
    r = await client.post(TOKEN_URL, data={"grant_type": "password", "username": "a@example.org"})
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_request"


# --- machine clients ----------------------------------------------------------------------


async def test_client_credentials_grant(client, factory):
    buyer = await factory.user("buyer")
    created = await client.post("/v1/api-clients", json={"name": "Sourcing system"}, headers=factory.auth(buyer))
    assert created.status_code == 201, created.text
    api_client = created.json()
    assert api_client["client_secret"].startswith(api_client["secret_prefix"])

    r = await client.post(
        TOKEN_URL,
        data={
            "grant_type": "client_credentials",
            "client_id": api_client["client_id"],
            "client_secret": api_client["client_secret"],
        },
    )
    assert r.status_code == 200, r.text
    assert "refresh_token" not in r.json()
    token = r.json()["access_token"]

    me = await client.get("/v1/me", headers=bearer(token))
    assert me.status_code == 200, me.text
    assert me.json()["kind"] == "client"
    assert me.json()["role"] == "buyer"
    assert me.json()["organisation_id"] == str(buyer.organisation_id)

    wrong = await client.post(
        TOKEN_URL,
        data={"grant_type": "client_credentials", "client_id": api_client["client_id"], "client_secret": "nope"},
    )
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "invalid_client"

    off = await client.patch(
        f"/v1/api-clients/{api_client['id']}", json={"is_active": False}, headers=factory.auth(buyer)
    )
    assert off.status_code == 200, off.text
    after = await client.get("/v1/me", headers=bearer(token))
    assert after.status_code == 401
    assert after.headers["www-authenticate"].startswith("Bearer")


async def test_token_endpoint_answers_oauth_errors_for_bad_grants(client):
    r = await client.post("/v1/auth/token", data={"grant_type": "implicit"})
    assert r.status_code == 400
    assert r.json()["error"] == "unsupported_grant_type"
    r = await client.post("/v1/auth/token", data={"username": "a@b.org", "password": "x"})
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_request"
    assert r.headers["cache-control"] == "no-store"


async def test_no_token_challenge_has_no_error_code(client):
    r = await client.get("/v1/me")
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == 'Bearer realm="score4climate"'
    r = await client.get("/v1/me", headers={"Authorization": "Bearer garbage"})
    assert 'error="invalid_token"' in r.headers["www-authenticate"]
