"""The audit trail: every write leaves an event an admin can find; nobody else can read it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.worlds import site

BODY = {"name": "Shree Rubber", "country": "IN", "sector": "2219"}


async def events(client, admin_headers, **params):
    r = await client.get("/v1/audit-events", params=params, headers=admin_headers)
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def test_partner_writes_appear_with_actor_action_object_and_changes(client, factory):
    partner = await factory.user("partner")
    admin = factory.auth(await factory.user("admin"))
    created = await client.post("/v1/enterprises", json=BODY, headers=factory.auth(partner))
    assert created.status_code == 201
    eid = created.json()["id"]
    r = await client.patch(f"/v1/enterprises/{eid}", json={"name": "Shree Rubber Ltd"}, headers=factory.auth(partner))
    assert r.status_code == 200

    trail = await events(client, admin, object_id=eid)
    assert [e["action"] for e in trail] == ["create", "update"]
    create, update = trail
    for event in trail:
        assert event["actor"] == f"user:{partner.id}" and event["actor_role"] == "partner"
        assert event["object_type"] == "enterprise" and event["object_id"] == eid
        assert event["id"] and event["created_at"]
    assert create["changes"]["name"] == "Shree Rubber" and create["changes"]["partner_id"] == str(
        partner.organisation_id
    )
    assert update["changes"] == {"name": ["Shree Rubber", "Shree Rubber Ltd"]}


async def test_a_write_that_changes_nothing_leaves_no_update_event(client, factory):
    partner = await factory.user("partner")
    admin = factory.auth(await factory.user("admin"))
    eid = (await client.post("/v1/enterprises", json=BODY, headers=factory.auth(partner))).json()["id"]
    await client.patch(f"/v1/enterprises/{eid}", json={"name": BODY["name"]}, headers=factory.auth(partner))
    assert [e["action"] for e in await events(client, admin, object_id=eid)] == ["create"]


async def test_failed_write_leaves_no_event(client, factory):
    partner = await factory.user("partner")
    admin = factory.auth(await factory.user("admin"))
    before = await events(client, admin, actor=f"user:{partner.id}")
    r = await client.post("/v1/enterprises", json={**BODY, "country": "XX"}, headers=factory.auth(partner))
    assert r.status_code == 422
    assert await events(client, admin, actor=f"user:{partner.id}") == before == []


@pytest.mark.parametrize("role", ["partner", "expert", "sme", "buyer"])
async def test_non_admins_get_403(client, factory, role):
    user = await factory.user(role)
    r = await client.get("/v1/audit-events", headers=factory.auth(user))
    assert r.status_code == 403, r.text
    assert r.headers["content-type"] == "application/problem+json"


async def test_partner_api_client_gets_403(client, factory):
    org = await factory.org("partner")
    machine, _ = await factory.api_client(org)
    assert (await client.get("/v1/audit-events", headers=factory.auth(machine))).status_code == 403


async def test_unauthenticated_is_401(client):
    r = await client.get("/v1/audit-events")
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Bearer")


async def test_filters(client, factory):
    s = await site(factory)
    admin_user = await factory.user("admin")
    admin = factory.auth(admin_user)
    start = datetime.now(UTC) - timedelta(seconds=1)
    res = (
        await client.post(
            "/v1/results",
            json={
                "enterprise_id": str(s.enterprise.id),
                "metric": "water",
                "period_start": "2025-01-01",
                "period_end": "2025-12-31",
                "value": 10.0,
            },
            headers=factory.auth(s.sme),
        )
    ).json()
    await client.post(f"/v1/results/{res['id']}/verify", headers=factory.auth(s.expert))
    await client.patch(f"/v1/results/{res['id']}", json={"value": 11.0}, headers=factory.auth(s.expert))

    by_object = await events(client, admin, object_id=res["id"])
    assert [e["action"] for e in by_object] == ["create", "verify", "update"]
    sme_actor = f"user:{s.sme.id}"
    assert {e["object_id"] for e in await events(client, admin, actor=sme_actor)} == {res["id"]}
    assert [e["action"] for e in await events(client, admin, actor=f"user:{s.expert.id}")] == ["verify", "update"]
    verify_events = await events(client, admin, action="verify", object_type="result")
    assert res["id"] in {e["object_id"] for e in verify_events}
    assert all(e["action"] == "verify" and e["object_type"] == "result" for e in verify_events)
    assert await events(client, admin, object_type="enterprise", object_id=res["id"]) == []
    # `from` / `to` bound the time of the change
    assert len(await events(client, admin, object_id=res["id"], **{"from": start.isoformat()})) == 3
    assert await events(client, admin, object_id=res["id"], **{"to": start.isoformat()}) == []
    later = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    assert await events(client, admin, object_id=res["id"], **{"from": later}) == []
    # a naive timestamp is refused
    r = await client.get("/v1/audit-events", params={"from": "2025-01-01T00:00:00"}, headers=admin)
    assert r.status_code == 422


async def test_pagination(client, factory):
    partner = await factory.user("partner")
    admin = factory.auth(await factory.user("admin"))
    for i in range(3):
        await client.post("/v1/enterprises", json={**BODY, "name": f"E{i}"}, headers=factory.auth(partner))
    actor = f"user:{partner.id}"
    first = await client.get("/v1/audit-events", params={"actor": actor, "limit": 2}, headers=admin)
    assert len(first.json()["items"]) == 2 and first.json()["next_cursor"]
    assert 'rel="next"' in first.headers["link"]
    second = await client.get(
        "/v1/audit-events", params={"actor": actor, "limit": 2, "cursor": first.json()["next_cursor"]}, headers=admin
    )
    assert len(second.json()["items"]) == 1 and second.json()["next_cursor"] is None
    names = [e["changes"]["name"] for e in first.json()["items"] + second.json()["items"]]
    assert names == ["E0", "E1", "E2"]
