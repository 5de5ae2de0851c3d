"""Every operation, sent the failures every client meets, answers only what the document declares.

The OpenAPI document's statuses and headers are derived from each route (app/openapi.py); these
tests check the derivation against real answers. For every `/v1` operation they send: no token,
ids that name nothing, malformed ids, a forged cursor (lists), a body that is not JSON and one
that is too large (writes), a stale `If-Match` (updates), the current `ETag` in `If-None-Match`
(single-object reads); then every operation on an app whose rate limit is spent, and on one whose
database cannot be reached. Each answer must have a declared status, media type and every
required header (tests/contract.py), and each probe must get the status it is there to provoke.
The authorization table (tests/platform/test_authorization.py) checks the same for every role's answer.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import make_url
from sqlmodel.ext.asyncio.session import AsyncSession

from app.config import Settings
from app.db import Database
from app.main import create_app
from app.middleware import BodyGuardMiddleware
from tests.conftest import make_settings
from tests.contract import mismatches
from tests.factories import Factory
from tests.platform.test_authorization import EXPECT, OPS, Ctx, World, build_world

METHODS = ("get", "post", "put", "patch", "delete")
WRITES = ("POST", "PUT", "PATCH")


def v1_operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, op)
        for path, item in doc["paths"].items()
        if path.startswith("/v1/")
        for method, op in item.items()
        if method in METHODS
    ]


def param_names(op: dict[str, Any], where: str) -> set[str]:
    return {p["name"] for p in op.get("parameters", []) if p["in"] == where}


def with_ids(path: str, value: str) -> str:
    return re.sub(r"\{[^}]+\}", value, path)


async def real_url(world: World, factory: Factory, op: dict[str, Any], path: str) -> tuple[str, dict[str, Any] | None]:
    """The URL (and a valid body) of the operation on an object of side A, as the admin."""
    name = op["operationId"]
    target = "none" if "none" in EXPECT[name]["admin"] else "own"
    expected = EXPECT[name]["admin"][target]
    call = await OPS[name].prepare(Ctx(world, world.a, "admin", target, expected, factory))
    return path.format(**call.params), call.body


@pytest.fixture
async def world(session: AsyncSession, factory: Factory) -> World:
    return await build_world(session, factory)


class Probes:
    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.problems: list[str] = []

    def check(self, method: str, path: str, response: httpx.Response, wanted: int | None = None) -> None:
        self.problems += mismatches(self.doc, method, path, response)
        if wanted is not None and response.status_code != wanted:
            self.problems.append(f"{method} {path}: expected {wanted}, got {response.status_code} {response.text}")


async def test_every_operation_declares_its_answers_to_common_failures(
    app: FastAPI, client: httpx.AsyncClient, factory: Factory, world: World, settings: Settings
) -> None:
    doc = app.openapi()
    admin = factory.auth(world.admin)
    probes = Probes(doc)
    counted = 0
    for method, path, op in v1_operations(doc):
        public = not op.get("security")
        body = {} if method in WRITES else None
        unknown = with_ids(path, str(uuid.uuid4()))
        r = await client.request(method, unknown, json=body)
        probes.check(method, path, r, None if public else 401)
        r = await client.request(method, unknown, json=body, headers=admin)
        names_nothing = param_names(op, "path") and "requestBody" not in op  # (a body is validated first)
        probes.check(method, path, r, 404 if names_nothing else None)
        if param_names(op, "path"):
            r = await client.request(method, with_ids(path, "not-a-uuid"), json=body, headers=admin)
            probes.check(method, path, r, 422)
        if method in WRITES:
            media = {"Content-Type": "text/plain"}
            r = await client.request(method, unknown, content=b"x", headers={**admin, **media})
            probes.check(method, path, r, None if path.startswith("/v1/auth/") else 415)
            upload = BodyGuardMiddleware.UPLOADS.fullmatch(path.replace("{parent_id}", "x")) is not None
            limit = (
                settings.attachment_max_bytes + BodyGuardMiddleware.UPLOAD_OVERHEAD
                if upload
                else settings.max_body_bytes
            )
            big = b"{" + b" " * limit + b"}"
            r = await client.request(
                method, unknown, content=big, headers={**admin, "Content-Type": "application/json"}
            )
            probes.check(method, path, r, 413)
        counted += 1
        if public or not (
            {"cursor", "If-Match", "If-None-Match"} & (param_names(op, "query") | param_names(op, "header"))
        ):
            continue
        url, valid_body = await real_url(world, factory, op, path)
        if "cursor" in param_names(op, "query"):
            r = await client.get(url, params={"cursor": "forged.cursor"}, headers=admin)
            probes.check(method, path, r, 400)
        if "If-Match" in param_names(op, "header"):
            r = await client.request(method, url, json=valid_body, headers={**admin, "If-Match": '"stale"'})
            probes.check(method, path, r, 412)
        if "If-None-Match" in param_names(op, "header"):
            first = await client.get(url, headers=admin)
            probes.check(method, path, first, 200)
            again = await client.get(url, headers={**admin, "If-None-Match": first.headers.get("etag", "")})
            probes.check(method, path, again, 304)
    assert counted > 60
    assert probes.problems == []


def _client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url="http://testserver"
    )


async def _every_operation(app: FastAPI, headers: dict[str, str], wanted: int, *, public_too: bool) -> list[str]:
    doc = app.openapi()
    probes = Probes(doc)
    async with _client(app) as c:
        for method, path, op in v1_operations(doc):
            body = {} if method in WRITES else None
            r = await c.request(method, with_ids(path, str(uuid.uuid4())), json=body, headers=headers)
            probes.check(method, path, r, wanted if public_too or op.get("security") else None)
    return probes.problems


async def test_every_operation_declares_429_with_retry_after(
    database_url: str, database: Database, factory: Factory
) -> None:
    app = create_app(make_settings(database_url, rate_limit_per_minute=1, token_rate_limit_per_minute=1), database)
    app.state.limiter.clock = lambda: 6000.0  # one window throughout: no minute boundary frees a request
    admin = factory.auth(await factory.user("admin"))
    async with _client(app) as c:  # spend the minute's one request of the caller, the address and its logins
        await c.get("/v1/me", headers=admin)
        await c.post("/v1/auth/revoke", data={"token": "x"})
        await c.post("/v1/auth/token", data={"grant_type": "password"})
    assert await _every_operation(app, admin, 429, public_too=True) == []


@pytest.fixture
async def unreachable_database(settings: Settings) -> Any:
    assert settings.database_url
    db = Database(make_url(settings.database_url).set(port=1).render_as_string(hide_password=False), settings)
    yield db
    await db.dispose()


async def test_every_operation_declares_503_with_retry_after(
    database_url: str, unreachable_database: Database, factory: Factory
) -> None:
    """The token endpoints may answer before they need the database (a form that lacks a field):
    for them only the declaration of whatever they answer is checked."""
    app = create_app(make_settings(database_url), unreachable_database)
    assert await _every_operation(app, factory.auth(await factory.user("admin")), 503, public_too=False) == []
