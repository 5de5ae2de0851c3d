"""Conventions every endpoint follows (docs/conventions.md): problem details, pagination, ETags,
idempotency, rate limits, request ids, metrics, readiness and offline docs."""

from __future__ import annotations

import asyncio
import base64
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import func, select

from app import security
from app.db import Database
from app.main import create_app
from app.models.organisations import Organisation
from tests.conftest import make_settings

PROBLEM = "application/problem+json"


def assert_problem(r: httpx.Response, status: int) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    body = r.json()
    assert body["status"] == status
    assert body["type"] and body["title"]
    return body


@asynccontextmanager
async def separate_app(database_url: str, **overrides: object) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """An app of its own (own settings, limiter and database pool) for tests that change it."""
    settings = make_settings(database_url, **overrides)
    assert settings.database_url
    database = Database(settings.database_url, settings)
    app = create_app(settings, database=database)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield app, c
    finally:
        await database.dispose()


# --- problem details ----------------------------------------------------------------------


async def test_unknown_route_is_404_problem(client):
    assert_problem(await client.get("/v1/no-such-thing"), 404)


async def test_wrong_method_is_405_problem(client, factory):
    admin = await factory.user("admin")
    assert_problem(await client.delete("/v1/me", headers=factory.auth(admin)), 405)


async def test_validation_error_is_422_with_errors(client, factory):
    admin = await factory.user("admin")
    r = await client.post(
        "/v1/organisations", json={"kind": "guild", "name": "", "extra": 1}, headers=factory.auth(admin)
    )
    body = assert_problem(r, 422)
    assert isinstance(body["errors"], list) and body["errors"]
    for issue in body["errors"]:
        assert isinstance(issue["loc"], list) and issue["loc"][0] == "body"
        assert isinstance(issue["msg"], str) and issue["msg"]
    fields = {issue["loc"][-1] for issue in body["errors"]}
    assert {"kind", "name", "extra"} <= fields


def _issues(r: httpx.Response) -> list[tuple[list[str], str, str]]:
    return [(issue["loc"], issue["pointer"], issue["type"]) for issue in assert_problem(r, 422)["errors"]]


async def test_validation_issues_locate_the_value_as_strings_and_a_json_pointer(client, factory):
    """`loc` holds strings only (array indexes in decimal), so that typed SDKs can decode it;
    `pointer` is an RFC 6901 JSON Pointer into the body, or the name of a parameter."""
    auth = factory.auth(await factory.user("admin"))
    missing_gender = {
        "enterprise_id": "not-a-uuid",
        "participants": [{"role": "worker", "gender": "female"}, {"role": "manager"}],
    }
    r = await client.post(f"/v1/trainings/{uuid.uuid4()}/enrollments", json=missing_gender, headers=auth)
    assert sorted(_issues(r)) == [
        (["body", "enterprise_id"], "/enterprise_id", "uuid_parsing"),
        (["body", "participants", "1", "gender"], "/participants/1/gender", "missing"),
    ]
    r = await client.post(
        "/v1/organisations", json={"kind": "buyer", "name": "Acme", "country": "DE", "a/b~c": 1}, headers=auth
    )
    assert _issues(r) == [(["body", "a/b~c"], "/a~1b~0c", "extra_forbidden")]
    r = await client.post("/v1/organisations", json=[1], headers=auth)
    assert [pointer for _, pointer, _ in _issues(r)] == [""]  # the body as a whole
    r = await client.get("/v1/organisations", params={"limit": 0}, headers=auth)
    assert _issues(r) == [(["query", "limit"], "limit", "greater_than_equal")]
    r = await client.get("/v1/ideas/not-a-uuid", headers=auth)
    assert [(loc, pointer) for loc, pointer, _ in _issues(r)] == [(["path", "idea_id"], "idea_id")]
    r = await client.patch(f"/v1/ideas/{uuid.uuid4()}", json={}, headers={**auth, "If-Match": "x" * 201})
    assert [(loc, pointer) for loc, pointer, _ in _issues(r)] == [(["header", "If-Match"], "If-Match")]
    # `loc` names the union members a value was tried against; `pointer` names only the place.
    r = await client.patch(f"/v1/enterprises/{uuid.uuid4()}", json={"country": 5}, headers=auth)
    assert {pointer for _, pointer, _ in _issues(r)} == {"/country"} and len(_issues(r)) == 2


async def test_an_unknown_query_parameter_is_422_on_every_operation(app, client, factory):
    """A misspelt or unsupported filter (`?name=Sunrise`) must not quietly answer the unfiltered list."""
    admin = factory.auth(await factory.user("admin"))
    wrong = []
    for path, item in app.openapi()["paths"].items():
        if not path.startswith("/v1/"):
            continue
        for method in item:
            url = re.sub(r"\{[^}]+\}", lambda _: str(uuid.uuid4()), path)
            r = await client.request(method.upper(), url, params={"zzz_unknown": "1"}, headers=admin, json={})
            issues = r.json().get("errors", []) if r.status_code == 422 else []
            if r.status_code != 422 or [i["loc"] for i in issues] != [["query", "zzz_unknown"]]:
                wrong.append(f"{method.upper()} {path}: {r.status_code} {r.text[:200]}")
    assert wrong == []


async def test_the_unknown_parameter_error_names_the_known_ones(client, factory):
    h = factory.auth(await factory.user("admin"))
    r = await client.get("/v1/enterprises", params={"name": "Sunrise"}, headers=h)
    assert r.status_code == 422
    assert "'name'" in r.json()["detail"] and "country" in r.json()["detail"] and "updated_since" in r.json()["detail"]
    r = await client.get("/v1/progress", params={"q": "rubber"}, headers=h)  # a plain Starlette route, same rule
    assert r.status_code == 422 and "'q'" in r.json()["detail"]
    r = await client.get("/v1/me", params={"verbose": "1"}, headers=h)
    assert r.status_code == 422 and "takes no query parameters" in r.json()["detail"]
    assert (await client.get("/v1/enterprises", params={"country": "IN"}, headers=h)).status_code == 200


async def test_malformed_json_is_422_not_500(client, factory):
    admin = await factory.user("admin")
    r = await client.post(
        "/v1/organisations",
        content=b'{"kind": "buyer", "name": ',
        headers={**factory.auth(admin), "Content-Type": "application/json"},
    )
    assert_problem(r, 422)


async def test_oversized_body_is_413(client, factory, settings):
    admin = await factory.user("admin")
    big = b'{"kind": "buyer", "name": "' + b"x" * settings.max_body_bytes + b'"}'
    r = await client.post(
        "/v1/organisations", content=big, headers={**factory.auth(admin), "Content-Type": "application/json"}
    )
    assert_problem(r, 413)


async def test_oversized_streamed_body_is_413(client, factory, settings):
    """No Content-Length (chunked): the limit is enforced while reading."""
    admin = await factory.user("admin")

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"kind": "buyer", "name": "'
        for _ in range(settings.max_body_bytes // 65536 + 1):
            yield b"x" * 65536
        yield b'"}'

    r = await client.post(
        "/v1/organisations", content=chunks(), headers={**factory.auth(admin), "Content-Type": "application/json"}
    )
    assert_problem(r, 413)


async def test_wrong_content_type_is_415(client, factory):
    admin = await factory.user("admin")
    r = await client.post(
        "/v1/organisations",
        content=b"kind=buyer&name=Acme",
        headers={**factory.auth(admin), "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert_problem(r, 415)


async def test_unauthenticated_is_401_problem(client):
    r = await client.get("/v1/organisations")
    assert_problem(r, 401)
    assert r.headers["www-authenticate"].startswith("Bearer")


FAILURES = {
    "bug": (RuntimeError("secret internals: password=hunter2"), 500),
    "database down": (OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused, hunter2")), 503),
    "constraint": (IntegrityError("INSERT hunter2", {}, Exception("duplicate key hunter2")), 409),
}


@pytest.mark.parametrize("case", list(FAILURES))
async def test_unexpected_error_is_problem_without_internals(database_url, case):
    error, status = FAILURES[case]
    async with separate_app(database_url) as (app, c):

        @app.get("/v1/boom")
        async def boom() -> None:
            raise error

        r = await c.get("/v1/boom", headers={"X-Request-ID": "boom-1"})
    body = assert_problem(r, status)
    assert "Traceback" not in r.text
    assert "hunter2" not in r.text and type(error).__name__ not in r.text
    assert body["detail"]
    assert r.headers["x-request-id"] == "boom-1"
    if status == 503:
        assert r.headers["retry-after"]


# --- pagination ---------------------------------------------------------------------------


async def walk(
    client: httpx.AsyncClient, url: str, params: dict[str, object], headers: dict[str, str]
) -> tuple[list[str], list[httpx.Response]]:
    ids: list[str] = []
    pages: list[httpx.Response] = []
    cursor = None
    while True:
        r = await client.get(url, params={**params, **({"cursor": cursor} if cursor else {})}, headers=headers)
        assert r.status_code == 200, r.text
        pages.append(r)
        ids += [item["id"] for item in r.json()["items"]]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return ids, pages
        assert len(pages) < 50, "pagination does not end"


async def test_cursor_pagination_walks_every_item_once(client, factory):
    admin = await factory.user("admin")
    created = [(await factory.org("buyer")).id for _ in range(7)]
    ids, pages = await walk(client, "/v1/organisations", {"limit": 2}, factory.auth(admin))

    assert len(ids) == len(set(ids)), "duplicates across pages"
    assert {str(i) for i in created} <= set(ids), "gaps across pages"
    everything = await client.get("/v1/organisations", params={"limit": 500}, headers=factory.auth(admin))
    assert ids == [item["id"] for item in everything.json()["items"]]
    assert len(pages) == -(-len(ids) // 2)

    for page in pages[:-1]:
        assert all(len(p.json()["items"]) == 2 for p in pages[:-1])
        link = page.headers["link"]
        match = re.fullmatch(r'<([^>]+)>; rel="next"', link)
        assert match, link
        query = parse_qs(urlsplit(match.group(1)).query)
        assert query["cursor"] == [page.json()["next_cursor"]]
        assert query["limit"] == ["2"]
    assert "link" not in pages[-1].headers


async def test_tampered_cursor_is_400(client, factory):
    admin = await factory.user("admin")
    for _ in range(3):
        await factory.org("partner")
    first = await client.get("/v1/organisations", params={"limit": 1}, headers=factory.auth(admin))
    cursor = first.json()["next_cursor"]
    payload, signature = cursor.split(".", 1)
    raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    altered = base64.urlsafe_b64encode(raw.replace(b'"k":["', b'"k":["0')).rstrip(b"=").decode()
    bad_cursors = (
        f"{altered}.{signature}",
        f"{payload}.{'0' * len(signature)}",
        f"{payload}.é",
        "garbage",
        "é.é",
        cursor[:-1],
    )
    for bad in bad_cursors:
        r = await client.get("/v1/organisations", params={"limit": 1, "cursor": bad}, headers=factory.auth(admin))
        assert_problem(r, 400)


async def test_cursor_of_another_caller_or_filter_is_400(client, factory):
    admin, other_admin = await factory.user("admin"), await factory.user("admin")
    for _ in range(3):
        await factory.org("buyer")
    first = await client.get("/v1/organisations", params={"limit": 1}, headers=factory.auth(admin))
    cursor = first.json()["next_cursor"]
    own = await client.get("/v1/organisations", params={"limit": 1, "cursor": cursor}, headers=factory.auth(admin))
    assert own.status_code == 200
    replayed = await client.get(
        "/v1/organisations", params={"limit": 1, "cursor": cursor}, headers=factory.auth(other_admin)
    )
    assert_problem(replayed, 400)
    refiltered = await client.get(
        "/v1/organisations", params={"limit": 1, "cursor": cursor, "kind": "buyer"}, headers=factory.auth(admin)
    )
    assert_problem(refiltered, 400)


async def test_cursor_from_another_deployment_is_400(live_client, live_factory, database_url):
    """Cursors are signed with the app's own key: one minted under another key is refused,
    even for the same caller, list and filters."""
    admin = await live_factory.user("admin")
    for _ in range(3):
        await live_factory.org("buyer")
    first = await live_client.get("/v1/organisations", params={"limit": 1}, headers=live_factory.auth(admin))
    cursor = first.json()["next_cursor"]
    async with separate_app(database_url, secret_key="another-deployment-" + "k" * 32) as (app, other):
        token, _ = security.issue_token(
            app.state.settings,
            token_type="access",
            subject=admin.id,
            kind="user",
            role="admin",
            organisation_id=None,
            version=admin.auth_version,
            ttl_seconds=60,
        )
        auth = {"Authorization": f"Bearer {token}"}
        assert (await other.get("/v1/organisations", params={"limit": 1}, headers=auth)).status_code == 200
        r = await other.get("/v1/organisations", params={"limit": 1, "cursor": cursor}, headers=auth)
    assert_problem(r, 400)


@pytest.mark.parametrize("limit", [0, -1, 501, "many"])
async def test_limit_out_of_range_is_422(client, factory, limit):
    admin = await factory.user("admin")
    r = await client.get("/v1/organisations", params={"limit": limit}, headers=factory.auth(admin))
    body = assert_problem(r, 422)
    assert body["errors"][0]["loc"] == ["query", "limit"]


# --- ETags and conditional requests -------------------------------------------------------


async def test_etag_if_none_match_and_if_match(client, factory):
    admin = await factory.user("admin")
    org = await factory.org("partner", name="Before")
    url = f"/v1/organisations/{org.id}"
    auth = factory.auth(admin)

    first = await client.get(url, headers=auth)
    assert first.status_code == 200
    etag = first.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"')

    cached = await client.get(url, headers={**auth, "If-None-Match": etag})
    assert cached.status_code == 304
    assert cached.content == b""
    assert cached.headers["etag"] == etag

    changed = await client.patch(url, json={"name": "Meanwhile"}, headers=auth)
    assert changed.status_code == 200
    current = changed.headers["etag"]
    assert current != etag
    assert (await client.get(url, headers={**auth, "If-None-Match": etag})).status_code == 200

    stale = await client.patch(url, json={"name": "Lost update"}, headers={**auth, "If-Match": etag})
    assert_problem(stale, 412)
    assert (await client.get(url, headers=auth)).json()["name"] == "Meanwhile"

    ok = await client.patch(url, json={"name": "After"}, headers={**auth, "If-Match": current})
    assert ok.status_code == 200, ok.text
    assert ok.json()["name"] == "After"
    assert (await client.get(url, headers=auth)).json()["name"] == "After"


# --- idempotency --------------------------------------------------------------------------


async def count_named(session, name: str) -> int:
    return (await session.exec(select(func.count()).select_from(Organisation).where(Organisation.name == name))).one()


async def test_an_idempotency_key_is_kept_a_week_for_offline_clients(client, factory, session, settings):
    """A retry six days later (an expert's app back in coverage) still replays; the purge of
    the default window keeps it, and removes it after seven days."""
    from app.models.idempotency import IdempotencyRecord
    from app.services import idempotency

    assert settings.idempotency_ttl_hours >= 7 * 24
    admin = await factory.user("admin")
    headers = {**factory.auth(admin), "Idempotency-Key": "offline-create-1"}
    body = {"kind": "buyer", "name": factory.unique("Acme"), "country": "DE"}
    first = await client.post("/v1/organisations", json=body, headers=headers)
    assert first.status_code == 201, first.text
    stored = sa.update(IdempotencyRecord).values(created_at=sa.func.now() - sa.text("interval '6 days'"))
    await session.exec(stored)
    assert await idempotency.purge_expired(session, settings.idempotency_ttl_hours) == 0
    again = await client.post("/v1/organisations", json=body, headers=headers)
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    await session.exec(sa.update(IdempotencyRecord).values(created_at=sa.func.now() - sa.text("interval '8 days'")))
    assert await idempotency.purge_expired(session, settings.idempotency_ttl_hours) >= 1


async def test_idempotent_retry_returns_first_response(client, factory, session):
    admin = await factory.user("admin")
    headers = {**factory.auth(admin), "Idempotency-Key": "create-acme-1"}
    body = {"kind": "buyer", "name": factory.unique("Acme"), "country": "DE"}

    first = await client.post("/v1/organisations", json=body, headers=headers)
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    second = await client.post("/v1/organisations", json=body, headers=headers)
    assert second.status_code == 201, second.text
    assert second.headers["idempotent-replayed"] == "true"
    assert second.json() == first.json()
    assert second.headers["location"] == first.headers["location"]
    assert await count_named(session, body["name"]) == 1

    different = await client.post("/v1/organisations", json={**body, "country": "FR"}, headers=headers)
    assert_problem(different, 422)
    assert await count_named(session, body["name"]) == 1

    # Keys are per caller: another admin may use the same key for its own request.
    other = await factory.user("admin")
    theirs = await client.post(
        "/v1/organisations", json=body, headers={**factory.auth(other), "Idempotency-Key": "create-acme-1"}
    )
    assert theirs.status_code == 201
    assert "idempotent-replayed" not in theirs.headers


async def test_concurrent_requests_with_one_key_create_one_row(live_client, live_factory, database):
    admin = await live_factory.user("admin")
    headers = {**live_factory.auth(admin), "Idempotency-Key": "race-1"}
    body = {"kind": "partner", "name": live_factory.unique("Race")}

    responses = await asyncio.gather(
        *(live_client.post("/v1/organisations", json=body, headers=headers) for _ in range(2))
    )
    assert sorted(r.status_code for r in responses) == [201, 201], [r.text for r in responses]
    assert responses[0].json()["id"] == responses[1].json()["id"]
    assert [r.headers.get("idempotent-replayed") for r in responses].count("true") == 1
    async with database.engine.connect() as conn:
        count = (
            await conn.execute(
                sa.select(sa.func.count()).select_from(Organisation).where(Organisation.name == body["name"])
            )
        ).scalar_one()
    assert count == 1


# --- rate limits, request ids, operations -------------------------------------------------


async def test_rate_limit_gives_429_with_retry_after(database_url):
    async with separate_app(database_url, rate_limit_per_minute=3) as (app, c):
        app.state.limiter.clock = lambda: 6000.0  # one fixed one-minute window throughout
        statuses = [(await c.get("/v1/me")).status_code for _ in range(3)]
        assert statuses == [401, 401, 401]
        r = await c.get("/v1/me")
        assert_problem(r, 429)
        assert int(r.headers["retry-after"]) >= 1
        assert r.headers["x-request-id"]
        # Operational endpoints are not counted against the caller.
        assert (await c.get("/healthz")).status_code == 200


async def test_request_id_on_every_response(client, factory):
    admin = await factory.user("admin")
    responses = [
        await client.get("/healthz"),
        await client.get("/v1/me", headers=factory.auth(admin)),
        await client.get("/v1/me"),
        await client.get("/nowhere"),
        await client.post("/v1/organisations", json={}, headers=factory.auth(admin)),
        await client.post(
            "/v1/auth/token", data={"grant_type": "password", "username": "x@example.org", "password": "y"}
        ),
    ]
    ids = [r.headers["x-request-id"] for r in responses]
    assert all(ids) and len(set(ids)) == len(ids)

    echoed = await client.get("/healthz", headers={"X-Request-ID": "trace-abc.123"})
    assert echoed.headers["x-request-id"] == "trace-abc.123"
    refused = await client.get("/healthz", headers={"X-Request-ID": "bad id\twith <stuff>"})
    assert refused.headers["x-request-id"] != "bad id\twith <stuff>"
    assert re.fullmatch(r"[A-Za-z0-9._\-]{1,128}", refused.headers["x-request-id"])


async def test_metrics_are_labelled_by_route_template(client, factory):
    admin = await factory.user("admin")
    org = await factory.org("buyer")
    assert (await client.get("/v1/organisations", headers=factory.auth(admin))).status_code == 200
    assert (await client.get(f"/v1/organisations/{org.id}", headers=factory.auth(admin))).status_code == 200
    r = await client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    lines = [line for line in r.text.splitlines() if line.startswith("http_requests_total{")]
    assert any('route="/v1/organisations"' in line and 'method="GET"' in line for line in lines), lines
    assert any('route="/v1/organisations/{organisation_id}"' in line for line in lines), lines
    assert not any(str(org.id) in line for line in lines), "raw paths would explode the label set"
    durations = [
        float(line.rsplit(" ", 1)[1])
        for line in r.text.splitlines()
        if line.startswith("http_request_duration_seconds_sum{") and 'route="/v1/organisations"' in line
    ]
    assert durations and all(0 < d < 60 for d in durations), durations


async def test_readyz(client):
    r = await client.get("/readyz")
    assert r.status_code == 200
    assert r.json() == {"status": "ready"}


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_work_offline(client, page):
    r = await client.get(page)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assets = re.findall(r'(?:src|href)="([^"]+)"', r.text)
    assert assets, r.text
    assert "http://" not in r.text and "https://" not in r.text
    for asset in assets:
        assert asset.startswith("/docs-assets/"), asset
        fetched = await client.get(asset)
        assert fetched.status_code == 200, asset
        assert fetched.content
