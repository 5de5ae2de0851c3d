"""`q`, `sort` and `count` on the lists people browse (docs/conventions.md, "Search, sort and count").

Each list gets a small set of its own objects, kept apart from anything else in the database
by a filter (`partner_id`, `enterprise_id`, ...) or, for organisations, by a search token. The
orders are checked against the same items sorted in Python: the key, NULLs last in both
directions, then the id.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from sqlmodel.ext.asyncio.session import AsyncSession

from app.models.enterprises import EnterpriseSort
from app.models.ideas import IdeaSort
from app.models.organisations import OrganisationSort
from app.models.results import ResultSort
from app.models.trainings import TrainingSort
from app.models.types import OrganisationKind
from app.models.users import UserSort
from app.models.visits import VisitSort
from tests.factories import Factory

SORTS = {
    "/v1/organisations": OrganisationSort,
    "/v1/users": UserSort,
    "/v1/enterprises": EnterpriseSort,
    "/v1/trainings": TrainingSort,
    "/v1/ideas": IdeaSort,
    "/v1/visits": VisitSort,
    "/v1/results": ResultSort,
}
LISTS = list(SORTS)


@dataclass
class World:
    """Objects of every browsable list, all of one partner, and the params that select them."""

    admin: dict[str, str]
    token: str  # in every organisation's name (organisations are selected by `q`)
    scope: dict[str, dict[str, str]]  # per list: the filter that selects this world's objects
    ids: dict[str, set[str]]  # per list: the ids of this world's objects


def _at(day: int, hour: int = 9) -> datetime:
    return datetime(2026, 1, day, hour, tzinfo=UTC)


@pytest.fixture
async def world(factory: Factory) -> World:
    token = secrets.token_hex(4)
    partner = await factory.org(OrganisationKind.partner, name=f"Partner {token}", country="IN")
    orgs = [
        partner,
        await factory.org(OrganisationKind.buyer, name=f"Buyer {token} Alpha", country="DE"),
        await factory.org(OrganisationKind.buyer, name=f"buyer {token} beta", country="DE"),
        await factory.org(OrganisationKind.buyer, name=f"Buyer {token} Gamma"),
        await factory.org(OrganisationKind.buyer, name=f"Buyer {token} Delta"),
    ]
    users = [
        await factory.user("partner", partner, full_name="Priya Raman", email=f"priya.{token}@example.org"),
        await factory.user("partner", partner, full_name="Arun Kumar", email=f"arun.{token}@example.org"),
        await factory.user("expert", partner, full_name="Arun Kumar", email=f"arun2.{token}@example.org"),
        await factory.user("expert", partner, full_name=None, email=f"zz.{token}@example.org"),
        await factory.user("partner", partner, full_name=None, email=f"aa.{token}@example.org"),
    ]
    expert = users[2]
    enterprises = [
        await factory.enterprise(partner, name=f"Sunrise Rubber {token}", country="IN"),
        await factory.enterprise(partner, name=f"Moonlight Textiles {token}", country="BD"),
        await factory.enterprise(partner, name=f"sunrise tannery {token}", country="IN"),
    ]
    sunrise, moonlight, _ = enterprises
    trainings = [
        await factory.training(partner, title="Energy basics", start_date=date(2025, 3, 10)),
        await factory.training(partner, title="Water and energy", start_date=date(2025, 3, 10)),
        await factory.training(partner, title="Cooperation", start_date=date(2025, 2, 1)),
    ]
    ideas = [
        await factory.idea(sunrise, title="Insulate the curing press"),
        await factory.idea(sunrise, title="LED lighting"),
        await factory.idea(sunrise, title="Fix compressed-air leaks"),
        await factory.idea(sunrise, title="LED lighting"),
    ]
    for enterprise in (sunrise, moonlight):
        await factory.assign(enterprise, expert)
    visits = [
        await factory.visit(sunrise, expert, scheduled_at=_at(5), findings="Compressed-air leaks on line 2"),
        await factory.visit(sunrise, expert, scheduled_at=_at(5), findings=None),
        await factory.visit(sunrise, expert, scheduled_at=_at(3), findings="Uninsulated press"),
        await factory.visit(moonlight, expert, scheduled_at=_at(7), findings="Dye bath heat recovery"),
    ]
    results = [
        await factory.result(sunrise, metric="water", value=10.0, verified_at=_at(2)),
        await factory.result(
            sunrise, metric="electricity", value=10.0, period_start=date(2024, 1, 1), period_end=date(2024, 12, 31)
        ),
        await factory.result(sunrise, metric="yield_rate", value=78.0, verified_at=_at(2)),
        await factory.result(moonlight, metric="electricity", value=3.5),
    ]
    admin = factory.auth(await factory.user("admin"))
    by_partner = {"partner_id": str(partner.id)}
    return World(
        admin=admin,
        token=token,
        scope={
            "/v1/organisations": {"q": token},
            "/v1/users": {"organisation_id": str(partner.id)},
            "/v1/enterprises": by_partner,
            "/v1/trainings": by_partner,
            "/v1/ideas": {"enterprise_id": str(sunrise.id)},
            "/v1/visits": {"expert_id": str(expert.id)},
            "/v1/results": {"from": "2000-01-01"},  # narrowed to this world's ids below
        },
        ids={
            "/v1/organisations": {str(o.id) for o in orgs},
            "/v1/users": {str(u.id) for u in users},
            "/v1/enterprises": {str(e.id) for e in enterprises},
            "/v1/trainings": {str(t.id) for t in trainings},
            "/v1/ideas": {str(i.id) for i in ideas},
            "/v1/visits": {str(v.id) for v in visits},
            "/v1/results": {str(r.id) for r in results},
        },
    )


async def everything(client: httpx.AsyncClient, path: str, params: dict[str, Any], headers: dict[str, str]) -> list:
    """Every item of a list, page by page (asserting each answer is 200)."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        r = await client.get(path, params={**params, **({"cursor": cursor} if cursor else {})}, headers=headers)
        assert r.status_code == 200, r.text
        items += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return items


async def listed(client: httpx.AsyncClient, world: World, path: str, **params: Any) -> list[dict[str, Any]]:
    """The world's own items of the list at `path` in the order served (pages of 2)."""
    items = await everything(client, path, {**world.scope[path], "limit": 2, **params}, world.admin)
    return [item for item in items if item["id"] in world.ids[path]]


def _key(field: str, value: Any) -> Any:
    return datetime.fromisoformat(value) if field.endswith("_at") and value is not None else value


def python_sorted(items: list[dict[str, Any]], sort: str) -> list[str]:
    """Ids in `sort` order: the key (NULLs last either way), then the id, all reversed for `-field`."""
    field, descending = sort.removeprefix("-"), sort.startswith("-")
    present = [item for item in items if item[field] is not None]
    absent = [item for item in items if item[field] is None]
    present.sort(key=lambda item: (_key(field, item[field]), item["id"]), reverse=descending)
    absent.sort(key=lambda item: item["id"], reverse=descending)
    return [item["id"] for item in present + absent]


# -- search ------------------------------------------------------------------------------------

SEARCHES = [
    # (list, q, what the matching items have in common)
    ("/v1/organisations", "BUYER", lambda i: i["name"].lower().startswith("buyer ")),
    ("/v1/users", "arun", lambda i: i["full_name"] == "Arun Kumar"),
    ("/v1/users", "ZZ.", lambda i: i["email"].startswith("zz.")),
    ("/v1/enterprises", "SUNRISE", lambda i: i["name"].lower().startswith("sunrise")),
    ("/v1/trainings", "ENERGY", lambda i: "energy" in i["title"].lower()),
    ("/v1/ideas", "led light", lambda i: i["title"] == "LED lighting"),
    ("/v1/visits", "compressed-AIR", lambda i: (i["findings"] or "").startswith("Compressed")),
    ("/v1/visits", "moonlight", lambda i: i["findings"] == "Dye bath heat recovery"),
    ("/v1/results", "ELECTRIC", lambda i: i["metric"] == "electricity"),
    ("/v1/results", "moonLIGHT textiles", lambda i: i["value"] == 3.5),
]


@pytest.mark.parametrize(("path", "q", "matches"), SEARCHES, ids=[f"{s[0]}?q={s[1]}" for s in SEARCHES])
async def test_q_is_a_case_insensitive_substring_search(client, world, path, q, matches):
    every = await listed(client, world, path)
    found = await listed(client, world, path, q=q)
    expected = [item["id"] for item in every if matches(item)]
    assert expected, "the world has something to find"
    assert len(expected) < len(every), "and something not to find"
    assert sorted(item["id"] for item in found) == sorted(expected)


@pytest.mark.parametrize(
    ("q", "expected"),
    [("%", ["100% cotton"]), ("_", ["dye_works"]), ("\\", ["back\\slash"]), ("0%", ["100% cotton"])],
)
async def test_like_wildcards_in_q_match_themselves(client, factory, q, expected):
    partner = await factory.org()
    for name in ("100% cotton", "1000 cotton", "dye_works", "dyeXworks", "back\\slash", "backXslash"):
        await factory.enterprise(partner, name=name)
    h = factory.auth(await factory.user("admin"))
    r = await client.get("/v1/enterprises", params={"partner_id": str(partner.id), "q": q}, headers=h)
    assert r.status_code == 200, r.text
    assert [item["name"] for item in r.json()["items"]] == expected


async def test_q_never_reveals_what_the_caller_may_not_see(client, factory):
    """A search over hidden objects' names finds nothing, counts nothing, and a search by
    enterprise name on visits and results only looks at enterprises the caller may see."""
    token = secrets.token_hex(4)
    mine, theirs = await factory.org(), await factory.org()
    own = await factory.enterprise(mine, name=f"Sunrise {token} own")
    hidden = await factory.enterprise(theirs, name=f"Sunrise {token} hidden")
    expert = await factory.user("expert", theirs)
    await factory.assign(hidden, expert)
    await factory.visit(hidden, expert, findings=f"{token} findings")
    await factory.result(hidden, metric="electricity")
    await factory.result(own, metric="water")
    await factory.idea(hidden, title=f"{token} idea")
    await factory.user("partner", theirs, full_name=f"{token} person")
    h = factory.auth(await factory.user("partner", mine))
    r = await client.get("/v1/enterprises", params={"q": token, "count": "true"}, headers=h)
    assert [i["id"] for i in r.json()["items"]] == [str(own.id)] and r.json()["total"] == 1
    for path in ("/v1/visits", "/v1/ideas", "/v1/users"):
        r = await client.get(path, params={"q": token, "count": "true"}, headers=h)
        assert r.status_code == 200 and r.json()["items"] == [] and r.json()["total"] == 0, (path, r.text)
    r = await client.get("/v1/results", params={"q": f"sunrise {token}", "count": "true"}, headers=h)
    assert [i["enterprise_id"] for i in r.json()["items"]] == [str(own.id)] and r.json()["total"] == 1
    r = await client.get("/v1/results", params={"q": "electricity", "enterprise_id": str(hidden.id)}, headers=h)
    assert r.json()["items"] == []


async def test_the_trigram_index_serves_the_search(session: AsyncSession):
    """The planner can answer `ILIKE '%…%'` (with escaped wildcards) from the GIN trigram index."""
    connection = await session.connection()
    await connection.execute(sa.text("SET LOCAL enable_seqscan = off"))
    for table, column in [("organisations", "name"), ("users", "email"), ("visits", "findings")]:
        plan = await connection.execute(sa.text(f"EXPLAIN SELECT id FROM {table} WHERE {column} ILIKE '%sun\\%rise%'"))
        text = "\n".join(row[0] for row in plan)
        assert f"ix_{table}_{column}_trgm" in text, text


# -- sort --------------------------------------------------------------------------------------

CASES = [(path, sort.value) for path, enum in SORTS.items() for sort in enum]


@pytest.mark.parametrize(("path", "sort"), CASES, ids=[f"{p}?sort={s}" for p, s in CASES])
async def test_every_sort_pages_in_the_documented_order(client, world, path, sort):
    """Pages of 2 over ties and NULLs: each item once, in key order, NULLs last, then by id."""
    served = await listed(client, world, path, sort=sort)
    assert len(served) == len(world.ids[path])
    assert [item["id"] for item in served] == python_sorted(served, sort)


async def test_the_default_order_is_creation_order(client, world):
    served = await listed(client, world, "/v1/users")
    assert [item["id"] for item in served] == sorted(item["id"] for item in served)


async def test_sorted_pages_of_one_over_ties_and_nulls_skip_and_repeat_nothing(client, factory):
    """Six users, two pairs of full names shared and two missing: every page size gives the same order."""
    org = await factory.org()
    for name in ("B", None, "A", "B", None, "A"):
        await factory.user("partner", org, full_name=name)
    h = factory.auth(await factory.user("admin"))
    for sort in ("full_name", "-full_name"):
        whole = await everything(client, "/v1/users", {"organisation_id": str(org.id), "sort": sort}, h)
        assert [u["id"] for u in whole] == python_sorted(whole, sort)
        assert [u["full_name"] for u in whole][-2:] == [None, None]
        for limit in (1, 2, 4):
            paged = await everything(
                client, "/v1/users", {"organisation_id": str(org.id), "sort": sort, "limit": limit}, h
            )
            assert [u["id"] for u in paged] == [u["id"] for u in whole], (sort, limit)


async def test_an_unknown_sort_is_422_naming_the_choices(client, world):
    r = await client.get("/v1/organisations", params={"sort": "password_hash"}, headers=world.admin)
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == ["query", "sort"] and "-name" in r.json()["errors"][0]["msg"]
    for path in LISTS:
        r = await client.get(path, params={"sort": "-id"}, headers=world.admin)
        assert r.status_code == 422, path


def test_the_document_lists_each_lists_sort_keys(app: FastAPI):
    paths = app.openapi()["paths"]
    schemas = app.openapi()["components"]["schemas"]
    for path, enum in SORTS.items():
        params = {p["name"]: p for p in paths[path]["get"]["parameters"]}
        assert {"q", "sort", "count"} <= set(params), path
        ref = next(s["$ref"] for s in params["sort"]["schema"]["anyOf"] if "$ref" in s)
        assert schemas[ref.rsplit("/", 1)[1]]["enum"] == [member.value for member in enum]
        assert params["q"]["schema"]["maxLength"] == 200


# -- count -------------------------------------------------------------------------------------


async def test_total_is_there_only_when_asked(client, world):
    r = await client.get("/v1/enterprises", params=world.scope["/v1/enterprises"], headers=world.admin)
    assert r.status_code == 200 and "total" not in r.json()
    r = await client.get(
        "/v1/enterprises", params={**world.scope["/v1/enterprises"], "count": "false"}, headers=world.admin
    )
    assert "total" not in r.json()


async def test_count_counts_every_page_with_filters_and_q(client, world):
    scope = world.scope["/v1/enterprises"]
    r = await client.get("/v1/enterprises", params={**scope, "count": "true", "limit": 1}, headers=world.admin)
    assert r.json()["total"] == 3 and len(r.json()["items"]) == 1
    r = await client.get("/v1/enterprises", params={**scope, "country": "IN", "count": "true"}, headers=world.admin)
    assert r.json()["total"] == 2
    params = {**scope, "q": "sunrise", "count": "true", "limit": 1, "sort": "-name"}
    first = await client.get("/v1/enterprises", params=params, headers=world.admin)
    assert first.json()["total"] == 2
    # the total ignores the cursor, and asking for it (or not) does not change the cursor's list
    second = await client.get(
        "/v1/enterprises", params={**params, "cursor": first.json()["next_cursor"]}, headers=world.admin
    )
    assert second.status_code == 200 and second.json()["total"] == 2
    del params["count"]
    again = await client.get(
        "/v1/enterprises", params={**params, "cursor": first.json()["next_cursor"]}, headers=world.admin
    )
    assert again.json()["items"] == second.json()["items"] and "total" not in again.json()
    r = await client.get(
        "/v1/users", params={**world.scope["/v1/users"], "q": "arun", "count": "true"}, headers=world.admin
    )
    assert r.json()["total"] == 2


# -- cursors and bad input ---------------------------------------------------------------------


@pytest.mark.parametrize("change", [{"sort": "-name"}, {"sort": None}, {"q": "moon"}, {"q": None}])
async def test_a_cursor_from_another_sort_or_search_is_400(client, world, change):
    params = {**world.scope["/v1/enterprises"], "sort": "name", "q": world.token, "limit": 1}
    cursor = (await client.get("/v1/enterprises", params=params, headers=world.admin)).json()["next_cursor"]
    assert cursor
    changed = {k: v for k, v in {**params, **change}.items() if v is not None}
    r = await client.get("/v1/enterprises", params={**changed, "cursor": cursor}, headers=world.admin)
    assert r.status_code == 400 and r.json()["type"].endswith("/invalid-cursor"), r.text


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize(
    "params",
    [{"q": "x" * 201}, {"q": ""}, {"q": "a\x00b"}, {"count": "maybe"}, {"name": "Sunrise"}, {"search": "x"}],
    ids=["q-too-long", "q-empty", "q-nul", "count-not-boolean", "unknown-name", "unknown-search"],
)
async def test_bad_list_parameters_are_422(client, world, path, params):
    r = await client.get(path, params=params, headers=world.admin)
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["loc"] == ["query", next(iter(params))]


async def test_q_of_200_characters_is_fine(client, world):
    r = await client.get("/v1/ideas", params={"q": "é" * 200}, headers=world.admin)
    assert r.status_code == 200 and r.json()["items"] == []
