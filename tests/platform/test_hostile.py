"""Hostile input: each case gets its expected answer, and the data is unchanged afterwards
(row counts of every table compared before and after; for updates, the object too).

Runs on committed data (two tenant worlds, see tests/two_tenants.py) through `live_client`,
which empties the tables after each test.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any
from uuid import uuid4

import httpx
import pytest

from app.config import Settings
from app.db import Database
from tests.factories import Factory
from tests.two_tenants import TwoTenants, count_rows, seed

pytestmark = pytest.mark.asyncio(loop_scope="session")

MB = 1_000_000


@pytest.fixture
async def world(live_client: httpx.AsyncClient, database: Database, settings: Settings) -> AsyncIterator[TwoTenants]:
    # `live_client` is requested first so that its teardown (TRUNCATE) runs after this fixture's.
    yield await seed(database, settings)


def auth(world: TwoTenants, role: str, tenant: str = "a", settings: Settings | None = None) -> dict[str, str]:
    if tenant == "a":
        return {"Authorization": f"Bearer {world.tokens[role]}"}
    assert settings is not None
    user = world.b.users[role]
    return {"Authorization": f"Bearer {Factory(None, settings).token(user)}"}  # type: ignore[arg-type]


class Unchanged:
    """`async with Unchanged(db):` asserts that no table gained or lost a row."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def __aenter__(self) -> Unchanged:
        self.before = await count_rows(self.database)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if exc[0] is None:
            after = await count_rows(self.database)
            changed = {t: (self.before[t], after[t]) for t in after if after[t] != self.before[t]}
            assert not changed, f"rows changed: {changed}"


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


def enterprise_body(**extra: Any) -> dict[str, Any]:
    return {"name": "Hostile Rubber", "country": "IN", "sector": "2219", **extra}


# --- bodies ---------------------------------------------------------------------------------


async def test_body_over_the_size_limit_is_413(
    live_client: httpx.AsyncClient, world: TwoTenants, database: Database, settings: Settings
) -> None:
    headers = auth(world, "partner")
    big = json.dumps(enterprise_body(products="x" * (settings.max_body_bytes + 10))).encode()
    async with Unchanged(database):
        problem(
            await live_client.post(
                "/v1/enterprises", content=big, headers=headers | {"content-type": "application/json"}
            ),
            413,
        )

        # The same without Content-Length (chunked): counted while it streams in.
        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(big), 65536):
                yield big[start : start + 65536]

        response = await live_client.post(
            "/v1/enterprises", content=chunks(), headers=headers | {"content-type": "application/json"}
        )
        problem(response, 413)


async def test_deeply_nested_json_is_a_4xx(
    live_client: httpx.AsyncClient, world: TwoTenants, database: Database
) -> None:
    headers = auth(world, "partner") | {"content-type": "application/json"}
    for body in (
        "[" * 10_000 + "]" * 10_000,
        '{"name": ' + "[" * 10_000 + "]" * 10_000 + "}",
        '{"a":' * 10_000 + "1" + "}" * 10_000,
    ):
        async with Unchanged(database):
            response = await live_client.post("/v1/enterprises", content=body, headers=headers)
            assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
            assert response.headers["content-type"].startswith("application/problem+json")


async def test_a_1_mb_string_is_refused(live_client: httpx.AsyncClient, world: TwoTenants, database: Database) -> None:
    headers = auth(world, "partner")
    async with Unchanged(database):
        response = await live_client.post("/v1/enterprises", json=enterprise_body(name="x" * MB), headers=headers)
        assert response.status_code in (413, 422), response.status_code
        assert len(response.content) < 10_000  # the error does not echo the megabyte back


@pytest.mark.parametrize(
    ("path", "role", "body"),
    [
        ("/v1/enterprises", "partner", enterprise_body(name="Nul\x00Rubber")),
        ("/v1/enterprises", "partner", enterprise_body(products="\x00")),
        ("/v1/organisations", "admin", {"kind": "buyer", "name": "Buyer\x00"}),
        ("/v1/api-clients", "partner", {"name": "\x00"}),
    ],
)
async def test_nul_characters_in_text_are_422(
    live_client: httpx.AsyncClient, world: TwoTenants, database: Database, path: str, role: str, body: dict[str, Any]
) -> None:
    async with Unchanged(database):
        errors = problem(await live_client.post(path, json=body, headers=auth(world, role)), 422)["errors"]
        assert any("NUL" in e["msg"] for e in errors), errors


async def test_nul_characters_nested_in_a_body_are_422(
    live_client: httpx.AsyncClient, world: TwoTenants, database: Database
) -> None:
    body = {
        "enterprise_id": str(world.a.enterprise.id),
        "title": "Heat recovery",
        "category": "energy",
        "owner_team": [{"role": "worker", "name": "P.\x00Devi"}],
    }
    async with Unchanged(database):
        errors = problem(await live_client.post("/v1/ideas", json=body, headers=auth(world, "partner")), 422)["errors"]
        assert errors[0]["loc"][:2] == ["body", "owner_team"], errors


async def test_nul_characters_in_a_query_are_not_a_server_error(
    live_client: httpx.AsyncClient, world: TwoTenants
) -> None:
    response = await live_client.get("/v1/enterprises", params={"sector": "22\x0019"}, headers=auth(world, "partner"))
    assert response.status_code in (200, 422), response.text
    if response.status_code == 200:
        assert response.json()["items"] == []


async def test_invalid_utf8_is_a_4xx(live_client: httpx.AsyncClient, world: TwoTenants, database: Database) -> None:
    headers = auth(world, "partner") | {"content-type": "application/json"}
    async with Unchanged(database):
        response = await live_client.post(
            "/v1/enterprises", content=b'{"name": "\xff\xfe\xfd", "country": "IN"}', headers=headers
        )
        assert 400 <= response.status_code < 500, response.text
        assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml", "multipart/form-data", ""]
)
async def test_wrong_content_type_is_415(
    live_client: httpx.AsyncClient, world: TwoTenants, database: Database, content_type: str
) -> None:
    headers = auth(world, "partner") | {"content-type": content_type}
    async with Unchanged(database):
        response = await live_client.post("/v1/enterprises", content=json.dumps(enterprise_body()), headers=headers)
        problem(response, 415)


@pytest.mark.parametrize("number", ["1e309", "-1e309", "NaN", "Infinity", "-Infinity"])
async def test_non_finite_numbers_are_422(
    live_client: httpx.AsyncClient, world: TwoTenants, database: Database, number: str
) -> None:
    a = world.a
    headers = auth(world, "partner") | {"content-type": "application/json"}
    result = (
        f'{{"enterprise_id": "{a.enterprise.id}", "metric": "water", "period_start": "2024-01-01", '
        f'"period_end": "2024-12-31", "value": {number}}}'
    )
    idea = (
        f'{{"enterprise_id": "{a.enterprise.id}", "title": "t", "category": "energy", '
        f'"expected_effect": {{"metric": "water", "change": {number}}}}}'
    )
    enterprise = f'{{"name": "n", "country": "IN", "sector": "2219", "employees_male": {number}}}'
    async with Unchanged(database):
        for path, body in (("/v1/results", result), ("/v1/ideas", idea), ("/v1/enterprises", enterprise)):
            problem(await live_client.post(path, content=body, headers=headers), 422)


async def test_negative_zero_is_stored_as_zero(live_client: httpx.AsyncClient, world: TwoTenants) -> None:
    body = (
        f'{{"enterprise_id": "{world.a.enterprise.id}", "metric": "water", "period_start": "2024-01-01", '
        '"period_end": "2024-12-31", "value": -0.0}'
    )
    headers = auth(world, "partner") | {"content-type": "application/json"}
    response = await live_client.post("/v1/results", content=body, headers=headers)
    assert response.status_code == 201, response.text
    assert response.json()["value"] == 0
    again = await live_client.get(response.headers["location"], headers=headers)
    assert again.json()["value"] == 0


async def test_huge_arrays_are_refused(
    live_client: httpx.AsyncClient, world: TwoTenants, database: Database, settings: Settings
) -> None:
    a = world.a
    headers = auth(world, "partner")
    path = f"/v1/enrollments/{a.enrollment.id}"
    before = (await live_client.get(path, headers=headers)).json()
    async with Unchanged(database):
        started = time.perf_counter()
        # 100,000 participants: the body is over the size limit.
        many = [{"role": "worker", "gender": "female"}] * 100_000
        problem(await live_client.patch(path, json={"participants": many}, headers=headers), 413)
        # 100,000 tiny items fit in the limit: refused by the length cap (500), quickly.
        tiny = "[" + ",".join(["{}"] * 100_000) + "]"
        response = await live_client.patch(
            path, content='{"participants": ' + tiny + "}", headers=headers | {"content-type": "application/json"}
        )
        body = problem(response, 422)
        assert len(response.content) < 100_000, "the error lists one problem per item"
        assert body["errors"]
        ids = [str(uuid4()) for _ in range(100_000)]
        problem(
            await live_client.post(
                "/v1/visits",
                json={
                    "enterprise_id": str(a.enterprise.id),
                    "scheduled_at": "2026-05-01T09:00:00Z",
                    "kind": "consultation",
                    "idea_ids": ids,
                },
                headers=headers,
            ),
            413,
        )
        assert time.perf_counter() - started < 10
    assert (await live_client.get(path, headers=headers)).json() == before


# --- query ----------------------------------------------------------------------------------


@pytest.mark.parametrize("limit", ["0", "-1", "501", "1000000", "1e3", "ten"])
async def test_limit_out_of_range_is_422(live_client: httpx.AsyncClient, world: TwoTenants, limit: str) -> None:
    errors = problem(
        await live_client.get("/v1/enterprises", params={"limit": limit}, headers=auth(world, "admin")), 422
    )
    assert errors["errors"][0]["loc"] == ["query", "limit"]


async def _first_cursor(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    response = await client.get("/v1/users", params={"limit": 1}, headers=headers)
    assert response.status_code == 200
    cursor: str = response.json()["next_cursor"]
    assert cursor
    return cursor


async def test_a_tampered_cursor_is_400(live_client: httpx.AsyncClient, world: TwoTenants) -> None:
    headers = auth(world, "admin")
    cursor = await _first_cursor(live_client, headers)
    payload, signature = cursor.split(".", 1)
    flipped = payload[:-1] + ("A" if payload[-1] != "A" else "B")
    for bad in (f"{flipped}.{signature}", f"{payload}.{signature[::-1]}", "garbage", ".", "a" * 1024, "%00"):
        response = await live_client.get("/v1/users", params={"limit": 1, "cursor": bad}, headers=headers)
        problem(response, 400)
    problem(await live_client.get("/v1/users", params={"cursor": "a" * 1025}, headers=headers), 422)


async def test_a_cursor_used_by_another_caller_or_list_is_400(
    live_client: httpx.AsyncClient, world: TwoTenants, settings: Settings
) -> None:
    admin = auth(world, "admin")
    cursor = await _first_cursor(live_client, admin)
    partner = auth(world, "partner")
    body = problem(await live_client.get("/v1/users", params={"limit": 1, "cursor": cursor}, headers=partner), 400)
    assert body["type"].endswith("/invalid-cursor")
    # Same caller, another list or other filters: also refused.
    problem(await live_client.get("/v1/organisations", params={"limit": 1, "cursor": cursor}, headers=admin), 400)
    problem(
        await live_client.get("/v1/users", params={"limit": 1, "cursor": cursor, "role": "sme"}, headers=admin), 400
    )
    # Untouched, for its owner, it works.
    assert (await live_client.get("/v1/users", params={"limit": 1, "cursor": cursor}, headers=admin)).status_code == 200


@pytest.mark.parametrize("path", ["/v1/enterprises", "/v1/ideas", "/v1/results", "/v1/users", "/v1/organisations"])
async def test_updated_since_in_the_future_is_empty(
    live_client: httpx.AsyncClient, world: TwoTenants, path: str
) -> None:
    response = await live_client.get(
        path, params={"updated_since": "2999-01-01T00:00:00Z"}, headers=auth(world, "admin")
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"items": [], "next_cursor": None}


@pytest.mark.parametrize(
    "value", ["yesterday", "2026-13-01T00:00:00Z", "2026-01-01", "2026-01-01T00:00:00", "0", "1700000000", "0.5", ""]
)
async def test_updated_since_not_an_instant_is_422(
    live_client: httpx.AsyncClient, world: TwoTenants, value: str
) -> None:
    response = await live_client.get("/v1/enterprises", params={"updated_since": value}, headers=auth(world, "admin"))
    body = problem(response, 422)
    assert body["errors"][0]["loc"] == ["query", "updated_since"]


# --- ids ------------------------------------------------------------------------------------

OBJECT_PATHS = {
    "enterprise": "/v1/enterprises/{}",
    "idea": "/v1/ideas/{}",
    "visit": "/v1/visits/{}",
    "result": "/v1/results/{}",
    "training": "/v1/trainings/{}",
    "enrollment": "/v1/enrollments/{}",
    "link": "/v1/supplier-links/{}",
    "api_client": "/v1/api-clients/{}",
}


NOT_UUIDS = ["42", "not-a-uuid", "0" * 33, "00000000-0000-0000-0000-00000000000g", "%00"]


async def test_an_id_that_is_not_a_uuid_is_422(live_client: httpx.AsyncClient, world: TwoTenants) -> None:
    headers = auth(world, "admin")
    for path in OBJECT_PATHS.values():
        for bad in NOT_UUIDS:
            body = problem(await live_client.get(path.format(bad), headers=headers), 422)
            assert body["errors"][0]["loc"][0] == "path", (path, bad)


@pytest.mark.parametrize("role", ["partner", "expert", "sme", "buyer"])
async def test_an_id_of_another_tenant_is_404(
    live_client: httpx.AsyncClient, world: TwoTenants, database: Database, role: str
) -> None:
    headers = auth(world, role)
    for kind, path in OBJECT_PATHS.items():
        theirs = getattr(world.b, kind).id
        mine = getattr(world.a, kind).id
        own = await live_client.get(path.format(mine), headers=headers)
        assert own.status_code in (200, 404)  # not every role sees every kind of its own tenant
        async with Unchanged(database):
            body = problem(await live_client.get(path.format(theirs), headers=headers), 404)
            assert str(theirs) not in json.dumps(body)
            if kind != "link":  # links change only through accept/revoke
                response = await live_client.patch(path.format(theirs), json={}, headers=headers)
                assert response.status_code == 404, (kind, response.text)
                response = await live_client.delete(path.format(theirs), headers=headers)
                assert response.status_code in (404, 405), (kind, response.text)
            else:
                for action in ("accept", "revoke"):
                    response = await live_client.post(f"{path.format(theirs)}/{action}", headers=headers)
                    assert response.status_code == 404, (kind, action, response.text)
            # the same answer as for an id that exists nowhere
            nowhere = problem(await live_client.get(path.format(uuid4()), headers=headers), 404)
            assert nowhere["detail"] == body["detail"], kind


# --- mass assignment ------------------------------------------------------------------------

SERVER_OWNED = {
    "id": "01930000-0000-7000-8000-0000000000ff",
    "partner_id": None,  # filled with tenant B's partner organisation
    "role": "admin",
    "verified_at": "2026-01-01T00:00:00Z",
    "status": "verified",
    "created_at": "2020-01-01T00:00:00Z",
}


def _writes(world: TwoTenants) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(method, path, role, a valid body) of every POST/PATCH with a JSON body."""
    a = world.a
    e = str(a.enterprise.id)
    return [
        ("POST", "/v1/organisations", "admin", {"kind": "partner", "name": "New partner"}),
        ("PATCH", f"/v1/organisations/{a.partner_org.id}", "admin", {"name": "Renamed"}),
        (
            "POST",
            "/v1/users",
            "admin",
            {"email": f"{uuid4().hex}@example.org", "password": "p" * 12, "role": "sme", "enterprise_id": e},
        ),
        ("PATCH", f"/v1/users/{a.users['expert'].id}", "admin", {"full_name": "Renamed"}),
        ("POST", "/v1/api-clients", "partner", {"name": "Back office"}),
        ("PATCH", f"/v1/api-clients/{a.api_client.id}", "partner", {"name": "Renamed"}),
        ("POST", "/v1/enterprises", "partner", enterprise_body()),
        ("PATCH", f"/v1/enterprises/{e}", "partner", {"name": "Renamed"}),
        ("POST", "/v1/ideas", "partner", {"enterprise_id": e, "title": "Insulate", "category": "energy"}),
        ("PATCH", f"/v1/ideas/{a.idea.id}", "partner", {"title": "Renamed"}),
        ("POST", f"/v1/ideas/{a.idea.id}/transitions", "partner", {"to": "approved"}),
        (
            "POST",
            "/v1/visits",
            "partner",
            {
                "enterprise_id": e,
                "scheduled_at": "2026-05-01T09:00:00Z",
                "kind": "consultation",
                "expert_id": str(a.users["expert"].id),
            },
        ),
        ("PATCH", f"/v1/visits/{a.visit.id}", "partner", {"findings": "leaks"}),
        (
            "POST",
            "/v1/results",
            "partner",
            {
                "enterprise_id": e,
                "metric": "water",
                "period_start": "2024-01-01",
                "period_end": "2024-12-31",
                "value": 1,
            },
        ),
        ("PATCH", f"/v1/results/{a.result.id}", "partner", {"value": 2}),
        ("POST", "/v1/supplier-links", "sme", {"enterprise_id": e, "buyer_id": str(world.b.buyer_org.id)}),
        (
            "POST",
            "/v1/trainings",
            "partner",
            {"module": "score_basics", "title": "Basics", "start_date": "2025-05-01", "end_date": "2025-05-02"},
        ),
        ("PATCH", f"/v1/trainings/{a.training.id}", "partner", {"place": "Pune"}),
        ("POST", f"/v1/trainings/{a.training.id}/enrollments", "partner", {"enterprise_id": e}),
        ("PATCH", f"/v1/enrollments/{a.enrollment.id}", "partner", {"attended": False}),
        (
            "POST",
            "/v1/metrics",
            "admin",
            {
                "code": "steam_h",
                "name": "Steam",
                "unit": "t",
                "direction": "decrease",
                "kind": "flow",
                "category": "energy",
            },
        ),
        (
            "POST",
            "/v1/emission-factors",
            "admin",
            {"metric": "water", "kg_co2e_per_unit": 0.3, "source": "x", "year": 2024},
        ),
    ]


@pytest.mark.parametrize("field", sorted(SERVER_OWNED))
async def test_mass_assignment_is_422_and_changes_nothing(
    live_client: httpx.AsyncClient, world: TwoTenants, database: Database, app: Any, field: str
) -> None:
    """Every POST/PATCH body refuses server-owned fields. Where a body legitimately declares
    the field (`role` of a new user, initial `status` of a training or visit, `partner_id` an
    admin chooses, the client-chosen `id` of a new idea, visit, result or enrollment), it is
    not server-owned there and is skipped; `partner_id` is then checked
    separately for non-admins (test below)."""
    schema = app.openapi()
    value = SERVER_OWNED[field] if field != "partner_id" else str(world.b.partner_org.id)
    tried = 0
    for method, path, role, body in _writes(world):
        headers = auth(world, role)
        template = _template(schema, path)
        operation = schema["paths"][template][method.lower()]
        ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        declared = schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]["properties"]
        if field in declared:
            continue
        tried += 1
        before = (await live_client.get(path, headers=headers)).json() if method == "PATCH" else None
        async with Unchanged(database):
            response = await live_client.request(method, path, json={**body, field: value}, headers=headers)
            errors = problem(response, 422)["errors"]
            assert ["body", field] in [e["loc"] for e in errors], (method, path, errors)
        if method == "PATCH":
            assert (await live_client.get(path, headers=headers)).json() == before, (method, path)
    assert tried >= 15


def _template(schema: dict[str, Any], path: str) -> str:
    parts = path.strip("/").split("/")
    for template in schema["paths"]:
        tparts = template.strip("/").split("/")
        if len(tparts) == len(parts) and all(t.startswith("{") or t == p for t, p in zip(tparts, parts, strict=True)):
            return template
    raise AssertionError(path)


@pytest.mark.parametrize("path", ["/v1/enterprises", "/v1/trainings"])
async def test_partner_id_of_another_partner_is_refused(
    live_client: httpx.AsyncClient, world: TwoTenants, database: Database, path: str
) -> None:
    body = (
        enterprise_body()
        if path == "/v1/enterprises"
        else {"module": "score_basics", "title": "Basics", "start_date": "2025-05-01", "end_date": "2025-05-02"}
    )
    async with Unchanged(database):
        response = await live_client.post(
            path, json={**body, "partner_id": str(world.b.partner_org.id)}, headers=auth(world, "partner")
        )
        assert response.status_code in (403, 422), response.text


# --- auth -----------------------------------------------------------------------------------


async def test_a_token_for_a_deleted_user_is_401(
    live_client: httpx.AsyncClient, world: TwoTenants, database: Database, settings: Settings
) -> None:
    async with database.sessionmaker() as session:
        f = Factory(session, settings, commit=True)
        doomed = await f.user("partner", organisation=world.a.partner_org)
        token = f.token(doomed)
    headers = {"Authorization": f"Bearer {token}"}
    assert (await live_client.get("/v1/me", headers=headers)).status_code == 200
    deleted = await live_client.delete(f"/v1/users/{doomed.id}", headers=auth(world, "admin"))
    assert deleted.status_code == 204, deleted.text
    response = await live_client.get("/v1/me", headers=headers)
    problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")
    problem(await live_client.get("/v1/enterprises", headers=headers), 401)


async def test_a_1_mb_password_is_refused_before_hashing(
    live_client: httpx.AsyncClient, world: TwoTenants, database: Database
) -> None:
    email = world.a.users["partner"].email
    huge = "p" * MB
    async with Unchanged(database):
        started = time.perf_counter()
        response = await live_client.post(
            "/v1/auth/token", data={"grant_type": "password", "username": email, "password": huge}
        )
        elapsed = time.perf_counter() - started
        assert 400 <= response.status_code < 500, response.text[:300]
        assert elapsed < 0.5, elapsed

        started = time.perf_counter()
        response = await live_client.post(
            "/v1/users",
            json={
                "email": f"{uuid4().hex}@example.org",
                "password": huge,
                "role": "sme",
                "enterprise_id": str(world.a.enterprise.id),
            },
            headers=auth(world, "admin"),
        )
        elapsed = time.perf_counter() - started
        assert response.status_code in (413, 422), response.text[:300]
        assert elapsed < 0.5, elapsed

        started = time.perf_counter()
        response = await live_client.patch(
            f"/v1/users/{world.a.users['partner'].id}", json={"password": huge}, headers=auth(world, "partner")
        )
        assert response.status_code in (413, 422)
        assert time.perf_counter() - started < 0.5


@pytest.mark.parametrize("instant", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:00:00-14:00"])
async def test_instants_outside_utc_are_422_not_500(client, factory, instant):
    """Found in review: converting these to UTC overflows."""
    admin = await factory.user("admin")
    r = await client.get("/v1/organisations", params={"updated_since": instant}, headers=factory.auth(admin))
    assert r.status_code == 422, r.text
    r = await client.get("/v1/visits", params={"from": instant}, headers=factory.auth(admin))
    assert r.status_code == 422, r.text
