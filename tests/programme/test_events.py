"""`GET /v1/events`: who receives which event, tombstones, the progress record in its event,
filters, cursors and the retention's 410."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.db import run_before_commit
from app.models.enums import IdeaCategory
from app.models.events import EventType
from app.services import events
from tests.factories import Factory
from tests.two_tenants import Tenant, build_tenant

ROLES = ("partner", "expert", "sme", "buyer")


async def _feed(client, factory: Factory, who, **params: Any) -> list[dict[str, Any]]:
    """Everything in the caller's feed, following `Link` pages."""
    items: list[dict[str, Any]] = []
    query: dict[str, Any] = {"limit": 50, **params}
    while True:
        r = await client.get("/v1/events", params=query, headers=factory.auth(who))
        assert r.status_code == 200, r.text
        body = r.json()
        items += body["items"]
        if "link" not in r.headers:
            return items
        query["after"] = body["next_cursor"]


def _of(items: list[dict[str, Any]], event_type: str, subject_id: Any) -> list[dict[str, Any]]:
    return [i for i in items if i["type"] == event_type and i["subject"]["id"] == str(subject_id)]


@pytest.fixture
async def tenants(factory: Factory, session) -> tuple[Tenant, Tenant]:
    world = await build_tenant(factory, "a"), await build_tenant(factory, "b")
    await run_before_commit(session)  # the records of the new enterprises, and their events
    return world


async def _idea(client, factory: Factory, tenant: Tenant, title: str = "Reuse rinse water") -> str:
    body = {"enterprise_id": str(tenant.enterprise.id), "title": title, "category": "water"}
    r = await client.post("/v1/ideas", json=body, headers=factory.auth(tenant.users["partner"]))
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def test_an_idea_reaches_everyone_who_sees_it_and_no_one_else(client, factory, tenants):
    a, b = tenants
    admin = await factory.user("admin")
    idea_id = await _idea(client, factory, a)
    for role in ROLES:
        found = _of(await _feed(client, factory, a.users[role]), "idea.created", idea_id)
        assert len(found) == 1, f"side A's {role} should receive idea.created once"
        event = found[0]
        assert event["subject"] == {"type": "idea", "id": idea_id}
        assert event["data"]["enterprise_id"] == str(a.enterprise.id)
        assert set(event) == {"id", "type", "occurred_at", "subject", "data"}
        assert _of(await _feed(client, factory, b.users[role]), "idea.created", idea_id) == [], role
    assert len(_of(await _feed(client, factory, admin), "idea.created", idea_id)) == 1


async def test_an_enterprise_change_reaches_its_own_audience_only(client, factory, tenants):
    a, b = tenants
    r = await client.patch(
        f"/v1/enterprises/{a.enterprise.id}",
        json={"products": "Moulded rubber parts"},
        headers=factory.auth(a.users["partner"]),
    )
    assert r.status_code == 200, r.text
    for role in ROLES:
        assert len(_of(await _feed(client, factory, a.users[role]), "enterprise.updated", a.enterprise.id)) == 1, role
        assert _of(await _feed(client, factory, b.users[role]), "enterprise.updated", a.enterprise.id) == [], role


async def test_visits_stay_with_the_enterprise_its_partner_and_experts(client, factory, tenants):
    a, _ = tenants
    r = await client.post(
        "/v1/visits",
        json={
            "enterprise_id": str(a.enterprise.id),
            "expert_id": str(a.users["expert"].id),
            "scheduled_at": "2026-06-01T09:00:00Z",
            "kind": "consultation",
        },
        headers=factory.auth(a.users["partner"]),
    )
    assert r.status_code == 201, r.text
    visit_id = r.json()["id"]
    for role, receives in (("partner", True), ("expert", True), ("sme", True), ("buyer", False)):
        found = _of(await _feed(client, factory, a.users[role]), "visit.created", visit_id)
        assert len(found) == (1 if receives else 0), role


async def test_a_revoked_link_is_a_tombstone_for_its_buyer_and_ends_the_flow(client, factory, tenants):
    a, _ = tenants
    buyer = a.users["buyer"]
    r = await client.post(f"/v1/supplier-links/{a.link.id}/revoke", headers=factory.auth(a.users["sme"]))
    assert r.status_code == 200, r.text
    revoked = _of(await _feed(client, factory, buyer), "supplier_link.revoked", a.link.id)
    assert len(revoked) == 1, "the buyer learns of the revocation from its own feed"
    assert revoked[0]["data"]["enterprise_id"] == str(a.enterprise.id)
    assert revoked[0]["data"]["buyer_id"] == str(a.buyer_org.id)
    assert revoked[0]["data"]["changes"]["status"] == ["active", "revoked"]

    idea_id = await _idea(client, factory, a, "After the revocation")
    after = await _feed(client, factory, buyer)
    assert _of(after, "idea.created", idea_id) == [], "no event of the enterprise after consent ends"
    assert _of(after, "progress.updated", a.enterprise.id)[-1]["occurred_at"] <= revoked[0]["occurred_at"]


async def test_deletions_reach_those_who_saw_the_object(client, factory, tenants):
    a, _ = tenants
    r = await client.delete(f"/v1/ideas/{a.idea.id}", headers=factory.auth(a.users["partner"]))
    assert r.status_code == 204, r.text
    for role in ROLES:
        found = _of(await _feed(client, factory, a.users[role]), "idea.deleted", a.idea.id)
        assert len(found) == 1, role
        assert found[0]["data"]["enterprise_id"] == str(a.enterprise.id)


async def test_progress_updated_carries_the_record_as_the_progress_endpoint_serves_it(client, factory, tenants):
    a, _ = tenants
    expert = a.users["expert"]
    r = await client.post(
        "/v1/results",
        json={
            "enterprise_id": str(a.enterprise.id),
            "metric": "water",
            "period_start": "2022-01-01",
            "period_end": "2022-12-31",
            "value": 900,
        },
        headers=factory.auth(expert),
    )
    assert r.status_code == 201, r.text
    buyer = a.users["buyer"]
    updates = _of(await _feed(client, factory, buyer, types="progress.updated"), "progress.updated", a.enterprise.id)
    assert updates, "a result write updates the record, and the buyer hears of it"
    record = (await client.get(f"/v1/enterprises/{a.enterprise.id}/progress", headers=factory.auth(buyer))).json()
    assert updates[-1]["data"] == record


async def test_types_filter_and_unknown_types(client, factory, tenants):
    a, _ = tenants
    partner = a.users["partner"]
    await _idea(client, factory, a)
    only = await _feed(client, factory, partner, types="idea.created,result.created")
    assert only and {i["type"] for i in only} <= {"idea.created", "result.created"}
    r = await client.get("/v1/events", params={"types": "idea.created,idea.exploded"}, headers=factory.auth(partner))
    assert r.status_code == 422
    assert "idea.exploded" in r.text and "progress.updated" in r.text


async def test_cursor_is_always_given_and_bound_to_caller_and_filter(client, factory, tenants):
    a, b = tenants
    partner = a.users["partner"]
    await _idea(client, factory, a)
    r = await client.get("/v1/events", params={"limit": 1}, headers=factory.auth(partner))
    assert r.status_code == 200
    cursor = r.json()["next_cursor"]
    assert cursor and 'rel="next"' in r.headers["link"]
    r = await client.get("/v1/events", params={"after": cursor, "limit": 500}, headers=factory.auth(partner))
    assert r.status_code == 200 and "link" not in r.headers
    end = r.json()["next_cursor"]
    r = await client.get("/v1/events", params={"after": end}, headers=factory.auth(partner))
    assert r.json() == {"items": [], "next_cursor": end}, "at the end: nothing, and the same place to resume"
    other = b.users["partner"]
    assert (await client.get("/v1/events", params={"after": cursor}, headers=factory.auth(other))).status_code == 400
    filtered = {"after": cursor, "types": "idea.created"}
    assert (await client.get("/v1/events", params=filtered, headers=factory.auth(partner))).status_code == 400


async def test_a_cursor_older_than_the_retention_is_410(client, factory, tenants, session):
    a, _ = tenants
    partner = a.users["partner"]
    r = await client.get("/v1/events", params={"limit": 1}, headers=factory.auth(partner))
    cursor = r.json()["next_cursor"]
    removed = await events.prune(session, retention_days=0)
    assert removed > 0
    r = await client.get("/v1/events", params={"after": cursor}, headers=factory.auth(partner))
    assert r.status_code == 410, r.text
    assert r.json()["type"].endswith("/cursor-expired")
    r = await client.get("/v1/events", headers=factory.auth(partner))
    assert r.status_code == 200, "the feed's start is always available"


async def test_a_refused_change_leaves_no_event(client, factory, tenants):
    """The delete is noted before it runs (so its audience is the object's); when the delete is
    refused and rolled back, its event goes with it."""
    a, _ = tenants
    await factory.idea(a.enterprise, title="From the visit", category=IdeaCategory.water, visit_id=a.visit.id)
    expert = a.users["expert"]
    assert (await client.delete(f"/v1/visits/{a.visit.id}", headers=factory.auth(expert))).status_code == 409
    await _idea(client, factory, a, "A later, successful write")
    assert _of(await _feed(client, factory, expert), "visit.deleted", a.visit.id) == []


def test_every_event_type_is_documented() -> None:
    page = (Path(__file__).resolve().parents[2] / "docs" / "events.md").read_text()
    missing = [t.value for t in EventType if f"| `{t.value}` |" not in page]
    assert missing == [], f"add these to the table in docs/events.md: {missing}"
