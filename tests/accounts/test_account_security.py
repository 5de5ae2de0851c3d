"""Account takeover defences: the current password to change one's own, audited resets of
others', the login throttle (per account and address, counted before Argon2 runs, growing
delays), trusted proxies only, Argon2 off the event loop, and logout ending access tokens."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator

import fakeredis
import httpx
import pytest
from fastapi import FastAPI

from app import security
from app.ratelimit import Backoff, MemoryRateLimiter, RateLimiter, RedisRateLimiter
from tests.factories import PASSWORD

TOKEN_URL = "/v1/auth/token"
NEW = "a brand new passphrase"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    return await client.post(TOKEN_URL, data={"grant_type": "password", "username": email, "password": password})


# --- 1. a stolen access token cannot change the password ---------------------------------


async def test_own_password_change_needs_the_current_password(client, factory):
    user = await factory.user("expert")
    token = (await login(client, user.email)).json()["access_token"]
    r = await client.patch(f"/v1/users/{user.id}", json={"password": NEW}, headers=bearer(token))
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["loc"][-1] == "current_password"
    r = await client.patch(
        f"/v1/users/{user.id}", json={"password": NEW, "current_password": "not my password"}, headers=bearer(token)
    )
    assert r.status_code == 403, r.text
    assert (await login(client, user.email)).status_code == 200, "the password is unchanged"
    r = await client.patch(
        f"/v1/users/{user.id}", json={"password": NEW, "current_password": PASSWORD}, headers=bearer(token)
    )
    assert r.status_code == 200, r.text
    assert (await login(client, user.email, NEW)).status_code == 200
    assert (await client.get("/v1/me", headers=bearer(token))).status_code == 401, "old sessions end"


async def test_current_password_alone_is_refused(client, factory):
    user = await factory.user("sme")
    r = await client.patch(f"/v1/users/{user.id}", json={"current_password": PASSWORD}, headers=factory.auth(user))
    assert r.status_code == 422, r.text


async def test_wrong_current_passwords_are_throttled_like_logins(throttled, client, factory):
    user = await factory.user("buyer")
    body = {"password": NEW, "current_password": "guess"}
    statuses = [
        (await client.patch(f"/v1/users/{user.id}", json=body, headers=factory.auth(user))).status_code
        for _ in range(8)
    ]
    assert statuses[:5] == [403] * 5
    assert statuses[5:] == [429] * 3


async def test_managers_cannot_set_passwords_through_patch(client, factory):
    admin = await factory.user("admin")
    user = await factory.user("buyer")
    r = await client.patch(f"/v1/users/{user.id}", json={"password": NEW}, headers=factory.auth(admin))
    assert r.status_code == 422, r.text
    assert "password-reset" in r.json()["detail"]


async def test_password_reset_is_a_separate_audited_action(client, factory):
    admin = await factory.user("admin")
    user = await factory.user("expert")
    tokens = (await login(client, user.email)).json()
    r = await client.post(f"/v1/users/{user.id}/password-reset", json={"password": NEW}, headers=factory.auth(admin))
    assert r.status_code == 204, r.text
    assert (await client.get("/v1/me", headers=bearer(tokens["access_token"]))).status_code == 401
    refreshed = await client.post(
        TOKEN_URL, data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    )
    assert refreshed.status_code == 400
    assert (await login(client, user.email, NEW)).status_code == 200
    events = await client.get("/v1/audit-events", params={"object_id": str(user.id)}, headers=factory.auth(admin))
    resets = [e for e in events.json()["items"] if e["action"] == "password_reset"]
    assert len(resets) == 1 and resets[0]["actor"].endswith(str(admin.id))
    assert NEW not in events.text


async def test_password_reset_follows_who_manages_whom(client, factory):
    partner = await factory.user("partner")
    org = await factory.org("partner")
    mine = await factory.user("expert", organisation=org)
    manager = await factory.user("partner", organisation=org)
    stranger = await factory.user("expert")
    buyer = await factory.user("buyer")
    url = "/v1/users/{}/password-reset"
    assert (
        await client.post(url.format(mine.id), json={"password": NEW}, headers=factory.auth(manager))
    ).status_code == 204
    assert (
        await client.post(url.format(stranger.id), json={"password": NEW}, headers=factory.auth(manager))
    ).status_code == 404
    assert (
        await client.post(url.format(manager.id), json={"password": NEW}, headers=factory.auth(manager))
    ).status_code == 403
    assert (
        await client.post(url.format(buyer.id), json={"password": NEW}, headers=factory.auth(buyer))
    ).status_code == 403
    assert (
        await client.post(url.format(partner.id), json={"password": NEW}, headers=factory.auth(buyer))
    ).status_code == 404


# --- 2. the login throttle ----------------------------------------------------------------


class Clock:
    """The throttle's clock, frozen: no delay runs out while a slow machine verifies passwords."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def throttled(app: FastAPI, clock: Clock) -> Iterator[FastAPI]:
    """The app with a fresh limiter on a frozen clock, and the production defaults of the throttle."""
    settings, limiter = app.state.settings, app.state.limiter
    app.state.settings = settings.model_copy(update={"login_failures_per_address": 30})
    app.state.limiter = MemoryRateLimiter(clock=clock)
    yield app
    app.state.settings, app.state.limiter = settings, limiter


def per_address_limit(app: FastAPI, failures: int) -> None:
    app.state.settings = app.state.settings.model_copy(update={"login_failures_per_address": failures})


def client_at(app: FastAPI, address: str, **headers: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=(address, 4321))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver", headers=headers)


async def attempt(app: FastAPI, address: str, email: str, password: str, **headers: str) -> httpx.Response:
    async with client_at(app, address, **headers) as c:
        return await login(c, email, password)


async def test_failures_are_counted_per_account_across_addresses(throttled, client, factory):
    user = await factory.user("buyer")
    for n in range(5):
        assert (await attempt(throttled, f"10.0.0.{n}", user.email, "wrong!")).status_code == 400
    r = await attempt(throttled, "10.0.1.1", user.email, PASSWORD)
    assert r.status_code == 429, r.text
    assert int(r.headers["retry-after"]) >= 1


async def test_parallel_guesses_get_exactly_the_free_evaluations(throttled, live_client, live_factory):
    user = await live_factory.user("buyer")
    replies = await asyncio.gather(*(attempt(throttled, "10.1.0.1", user.email, f"guess {n}") for n in range(24)))
    statuses = sorted(r.status_code for r in replies)
    assert statuses.count(400) == 5, statuses
    assert statuses.count(429) == 19, statuses


async def test_the_delay_grows_and_then_lets_one_try_through(throttled, clock, client, factory):
    user = await factory.user("buyer")
    for _ in range(5):
        assert (await attempt(throttled, "10.2.0.1", user.email, "wrong!")).status_code == 400
    refused = await attempt(throttled, "10.2.0.1", user.email, PASSWORD)
    assert (refused.status_code, refused.headers["retry-after"]) == (429, "1")
    clock.now += 1.01
    assert (await attempt(throttled, "10.2.0.1", user.email, "wrong again")).status_code == 400
    refused = await attempt(throttled, "10.2.0.1", user.email, PASSWORD)
    assert (refused.status_code, refused.headers["retry-after"]) == (429, "2")
    clock.now += 2.01
    assert (await attempt(throttled, "10.2.0.1", user.email, PASSWORD)).status_code == 200


async def test_correct_passwords_are_not_counted(throttled, client, factory):
    user = await factory.user("buyer")
    for _ in range(12):
        assert (await attempt(throttled, "10.3.0.1", user.email, PASSWORD)).status_code == 200


async def test_failures_are_counted_per_address_across_accounts(throttled, client, factory):
    per_address_limit(throttled, 3)
    users = [await factory.user("buyer") for _ in range(4)]
    statuses = [(await attempt(throttled, "10.4.0.1", u.email, "wrong!")).status_code for u in users]
    assert statuses == [400, 400, 400, 429]
    assert (await attempt(throttled, "10.4.0.2", users[3].email, PASSWORD)).status_code == 200


async def test_forwarded_for_is_ignored_unless_the_proxy_is_trusted(throttled, client, factory):
    per_address_limit(throttled, 3)
    users = [await factory.user("buyer") for _ in range(4)]
    spoofed = [
        (await attempt(throttled, "10.5.0.1", u.email, "wrong!", **{"X-Forwarded-For": f"192.0.2.{n}"})).status_code
        for n, u in enumerate(users)
    ]
    assert spoofed == [400, 400, 400, 429], "a client cannot pick its own address"


async def test_a_trusted_proxy_passes_the_client_address_on(database, factory, client):
    from app.main import create_app
    from tests.conftest import make_settings

    settings = make_settings(
        str(database.engine.url.render_as_string(hide_password=False)),
        login_failures_per_address=3,
        trusted_proxies=["10.6.0.1"],
    )
    proxied = create_app(settings, database=database)
    users = [await factory.user("buyer") for _ in range(4)]
    await factory.session.commit()
    try:
        statuses = [
            (await attempt(proxied, "10.6.0.1", u.email, "wrong!", **{"X-Forwarded-For": f"192.0.2.{n}"})).status_code
            for n, u in enumerate(users)
        ]
    finally:
        for u in users:
            await factory.session.delete(u)
        await factory.session.commit()
    assert statuses == [400, 400, 400, 400], "each forwarded client has its own count"


def test_forwarded_headers_are_trusted_from_nobody_by_default():
    from app.config import Settings

    assert Settings(environment="test").trusted_proxies == []


@pytest.fixture(params=["memory", "redis"])
async def limiter(request: pytest.FixtureRequest) -> AsyncIterator[RateLimiter]:
    if request.param == "memory":
        yield MemoryRateLimiter()
        return
    redis = fakeredis.FakeAsyncRedis()
    yield RedisRateLimiter(redis)
    await redis.aclose()


async def test_attempts_are_atomic_in_both_stores(limiter: RateLimiter):
    backoff = Backoff(free=5, cap=300)
    waits = await asyncio.gather(*(limiter.attempt("k", backoff) for _ in range(24)))
    assert sorted(waits)[:5] == [0] * 5 and all(w >= 1 for w in sorted(waits)[5:]), waits
    await limiter.release("other")  # releasing an unknown key is harmless
    assert await limiter.attempt("other", backoff) == 0


async def test_release_takes_back_one_attempt_in_both_stores(limiter: RateLimiter):
    backoff = Backoff(free=2, cap=300)
    assert await limiter.attempt("k", backoff) == 0
    await limiter.release("k")
    assert await limiter.attempt("k", backoff) == 0
    assert await limiter.attempt("k", backoff) == 0  # the second counted attempt: now delayed
    assert await limiter.attempt("k", backoff) >= 1


def test_backoff_doubles_up_to_its_cap():
    backoff = Backoff(free=5, cap=60)
    assert [backoff.delay(n) for n in (1, 4, 5, 6, 7, 12, 50)] == [0, 0, 1, 2, 4, 60, 60]


# --- 3. Argon2 off the event loop ---------------------------------------------------------


async def test_password_hashing_runs_in_the_bounded_pool(monkeypatch):
    loop_thread = threading.get_ident()
    seen: list[int] = []
    running = [0]
    peak = [0]
    real_verify = security.verify_password

    def recording_verify(password: str, password_hash: str | None) -> bool:
        seen.append(threading.get_ident())
        running[0] += 1
        peak[0] = max(peak[0], running[0])
        try:
            return real_verify(password, password_hash)
        finally:
            running[0] -= 1

    monkeypatch.setattr(security, "verify_password", recording_verify)
    security.configure_password_pool(2)
    try:
        hashed = await security.hash_password_async(PASSWORD)
        results = await asyncio.gather(*(security.verify_password_async(PASSWORD, hashed) for _ in range(8)))
    finally:
        security.configure_password_pool(None)
    assert all(results)
    assert seen and loop_thread not in seen, "Argon2 must not run on the event loop's thread"
    assert peak[0] <= 2


# --- 4. logout ends the access token at once ----------------------------------------------


async def test_logout_ends_the_access_token_at_once(client, factory):
    user = await factory.user("buyer")
    tokens = (await login(client, user.email)).json()
    other = (await login(client, user.email)).json()
    assert (await client.get("/v1/me", headers=bearer(tokens["access_token"]))).status_code == 200
    r = await client.post("/v1/auth/revoke", data={"token": tokens["refresh_token"]})
    assert r.status_code == 200
    assert (await client.get("/v1/me", headers=bearer(tokens["access_token"]))).status_code == 401
    assert (await client.get("/v1/progress", headers=bearer(tokens["access_token"]))).status_code == 401
    assert (await client.get("/v1/me", headers=bearer(other["access_token"]))).status_code == 200, "other logins live"


async def test_refresh_reuse_ends_the_family_access_tokens(client, factory):
    user = await factory.user("buyer")
    first = (await login(client, user.email)).json()
    second = (
        await client.post(TOKEN_URL, data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]})
    ).json()
    assert (await client.get("/v1/me", headers=bearer(second["access_token"]))).status_code == 200
    reuse = await client.post(TOKEN_URL, data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]})
    assert reuse.status_code == 400
    for token in (first["access_token"], second["access_token"]):
        assert (await client.get("/v1/me", headers=bearer(token))).status_code == 401
