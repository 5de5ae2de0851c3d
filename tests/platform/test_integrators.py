"""What first-time integrators tripped over: browsers (CORS), a JSON token request, `GET /`."""

from __future__ import annotations

import httpx
import pytest

from app.config import DEV_CORS_ORIGINS, Settings
from app.main import EXPOSED_HEADERS, create_app
from tests.conftest import make_settings


@pytest.fixture
def dev_app(database):
    settings = make_settings(database.engine.url.render_as_string(hide_password=False), environment="development")
    return create_app(settings, database=database)


def client_of(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


PREFLIGHT = {
    "Access-Control-Request-Method": "PATCH",
    "Access-Control-Request-Headers": "authorization,content-type,if-match,idempotency-key",
}


@pytest.mark.parametrize("origin", ["http://localhost:5173", "http://localhost:3000", "http://127.0.0.1:5173"])
async def test_development_allows_local_frontends(dev_app, origin):
    async with client_of(dev_app) as c:
        r = await c.options("/v1/enterprises", headers={"Origin": origin, **PREFLIGHT})
        assert r.status_code == 200, r.text
        assert r.headers["access-control-allow-origin"] == origin
        r = await c.get("/v1/me", headers={"Origin": origin})
    exposed = {h.strip().lower() for h in r.headers["access-control-expose-headers"].split(",")}
    wanted = {"x-next-cursor", "idempotent-replayed", "etag", "link", "location", "retry-after", "x-request-id"}
    assert wanted <= exposed


async def test_development_refuses_other_origins(dev_app):
    async with client_of(dev_app) as c:
        r = await c.options("/v1/enterprises", headers={"Origin": "https://evil.example", **PREFLIGHT})
    assert r.status_code == 400
    assert "access-control-allow-origin" not in r.headers


def test_only_development_has_default_origins():
    assert Settings(environment="development").allowed_origins == list(DEV_CORS_ORIGINS)
    assert Settings(environment="test").allowed_origins == []
    assert Settings(environment="test", cors_origins="https://app.example").allowed_origins == ["https://app.example"]
    assert "X-Next-Cursor" in EXPOSED_HEADERS


async def test_a_preflight_without_cors_says_why(client):
    r = await client.options("/v1/enterprises", headers={"Origin": "http://localhost:5173", **PREFLIGHT})
    assert r.status_code == 403
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "CORS_ORIGINS" in r.json()["detail"]


async def test_a_json_token_request_is_told_to_use_a_form(client, factory):
    user = await factory.user("buyer")
    r = await client.post(
        "/v1/auth/token", json={"grant_type": "password", "username": user.email, "password": "whatever"}
    )
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_request"
    assert "form-encoded" in r.json()["error_description"]


async def test_root_points_to_the_docs(client):
    r = await client.get("/")
    assert r.status_code == 200
    body = r.json()
    assert (body["docs"], body["openapi"], body["api"]) == ("/docs", "/openapi.json", "/v1")
    assert (await client.get(body["openapi"])).status_code == 200
