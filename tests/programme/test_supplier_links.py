"""Supplier links: invite → accept → revoke, consent by the SME side, and the buyer's access."""

from __future__ import annotations

import pytest
from sqlmodel import select

from app.models.audit import AuditEvent
from app.models.enums import LinkStatus

LINK_FIELDS = {"id", "created_at", "updated_at", "enterprise_id", "buyer_id", "status", "accepted_at", "revoked_at"}


@pytest.fixture
async def world(factory):
    """Two partners, each with an enterprise and its SME user; two buyers."""
    partner_org, other_partner_org = await factory.org("partner"), await factory.org("partner")
    ent = await factory.enterprise(partner_org)
    other_ent = await factory.enterprise(other_partner_org)
    buyer_org, other_buyer_org = await factory.org("buyer"), await factory.org("buyer")
    w = {
        "partner_org": partner_org,
        "ent": ent,
        "other_ent": other_ent,
        "buyer_org": buyer_org,
        "other_buyer_org": other_buyer_org,
        "admin": await factory.user("admin"),
        "partner": await factory.user("partner", organisation=partner_org),
        "other_partner": await factory.user("partner", organisation=other_partner_org),
        "expert": await factory.user("expert", organisation=partner_org),
        "sme": await factory.user("sme", enterprise_id=ent.id),
        "other_sme": await factory.user("sme", enterprise_id=other_ent.id),
        "buyer": await factory.user("buyer", organisation=buyer_org),
        "other_buyer": await factory.user("buyer", organisation=other_buyer_org),
    }
    await factory.assign(ent, w["expert"])
    return w


async def test_buyer_invite_is_pending_and_reveals_nothing_of_the_enterprise(client, factory, world):
    r = await client.post(
        "/v1/supplier-links", json={"enterprise_id": str(world["ent"].id)}, headers=factory.auth(world["buyer"])
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) == LINK_FIELDS
    assert body["status"] == "pending"
    assert body["buyer_id"] == str(world["buyer_org"].id)
    assert body["accepted_at"] is None and body["revoked_at"] is None
    assert world["ent"].name not in r.text
    assert r.headers["location"] == f"/v1/supplier-links/{body['id']}"
    assert r.headers["etag"]


async def test_buyer_api_client_can_invite(client, factory, world):
    api_client, _ = await factory.api_client(world["buyer_org"])
    r = await client.post(
        "/v1/supplier-links", json={"enterprise_id": str(world["ent"].id)}, headers=factory.auth(api_client)
    )
    assert r.status_code == 201, r.text
    assert r.json()["buyer_id"] == str(world["buyer_org"].id)


async def test_invite_of_unknown_enterprise_is_422(client, factory, world):
    r = await client.post(
        "/v1/supplier-links",
        json={"enterprise_id": "01930000-0000-7000-8000-00000000dead"},
        headers=factory.auth(world["buyer"]),
    )
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["loc"] == ["body", "enterprise_id"]
    assert r.json()["detail"] == "enterprise_id unknown"


async def test_buyer_cannot_invite_for_another_buyer(client, factory, world):
    body = {"enterprise_id": str(world["ent"].id), "buyer_id": str(world["other_buyer_org"].id)}
    r = await client.post("/v1/supplier-links", json=body, headers=factory.auth(world["buyer"]))
    assert r.status_code == 422, r.text


@pytest.mark.parametrize("extra", [{"status": "active"}, {"accepted_at": "2025-01-01T00:00:00Z"}, {"colour": "red"}])
async def test_server_owned_or_unknown_fields_are_422(client, factory, world, extra):
    body = {"enterprise_id": str(world["ent"].id), **extra}
    r = await client.post("/v1/supplier-links", json=body, headers=factory.auth(world["buyer"]))
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["loc"] == ["body", next(iter(extra))]


async def test_full_consent_cycle_controls_buyer_access(client, factory, world):
    buyer, sme = factory.auth(world["buyer"]), factory.auth(world["sme"])
    ent_url = f"/v1/enterprises/{world['ent'].id}"

    r = await client.post("/v1/supplier-links", json={"enterprise_id": str(world["ent"].id)}, headers=buyer)
    link_id = r.json()["id"]
    assert (await client.get(ent_url, headers=buyer)).status_code == 404, "pending must not open access"
    assert (await client.get("/v1/enterprises", headers=buyer)).json()["items"] == []

    r = await client.post(f"/v1/supplier-links/{link_id}/accept", headers=sme)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "active" and r.json()["accepted_at"]
    r = await client.get(ent_url, headers=buyer)
    assert r.status_code == 200, r.text
    assert r.json()["name"] == world["ent"].name

    r = await client.post(f"/v1/supplier-links/{link_id}/revoke", headers=sme)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "revoked" and r.json()["revoked_at"]
    assert (await client.get(ent_url, headers=buyer)).status_code == 404, "revocation must end access at once"

    r = await client.post(f"/v1/supplier-links/{link_id}/revoke", headers=sme)
    assert r.status_code == 409
    assert r.json()["type"].endswith("/invalid-transition")
    r = await client.post(f"/v1/supplier-links/{link_id}/accept", headers=sme)
    assert r.status_code == 409

    r = await client.post("/v1/supplier-links", json={"enterprise_id": str(world["ent"].id)}, headers=buyer)
    assert r.status_code == 201, "after revocation a new invite starts again"
    assert r.json()["status"] == "pending" and r.json()["id"] != link_id

    events = (await factory.session.exec(select(AuditEvent).where(AuditEvent.object_id == link_id))).all()
    assert [e.action for e in sorted(events, key=lambda e: e.created_at)] == ["create", "accept", "revoke"]


async def test_duplicate_open_link_is_409(client, factory, world):
    buyer = factory.auth(world["buyer"])
    body = {"enterprise_id": str(world["ent"].id)}
    assert (await client.post("/v1/supplier-links", json=body, headers=buyer)).status_code == 201
    r = await client.post("/v1/supplier-links", json=body, headers=buyer)
    assert r.status_code == 409, r.text
    r = await client.post(
        "/v1/supplier-links",
        json={**body, "buyer_id": str(world["buyer_org"].id)},
        headers=factory.auth(world["sme"]),
    )
    assert r.status_code == 409, "the SME side cannot open a second link next to a pending one"


async def test_idempotent_invite_creates_one_link(client, factory, world):
    headers = {**factory.auth(world["buyer"]), "Idempotency-Key": "invite-1"}
    body = {"enterprise_id": str(world["ent"].id)}
    first = await client.post("/v1/supplier-links", json=body, headers=headers)
    again = await client.post("/v1/supplier-links", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]


@pytest.mark.parametrize("who", ["sme", "partner", "admin"])
async def test_sme_side_link_is_active_at_once(client, factory, world, who):
    body = {"enterprise_id": str(world["ent"].id), "buyer_id": str(world["buyer_org"].id)}
    r = await client.post("/v1/supplier-links", json=body, headers=factory.auth(world[who]))
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "active" and r.json()["accepted_at"]
    assert r.json()["buyer_id"] == str(world["buyer_org"].id)
    r = await client.get(f"/v1/enterprises/{world['ent'].id}", headers=factory.auth(world["buyer"]))
    assert r.status_code == 200
    r = await client.get(f"/v1/enterprises/{world['ent'].id}", headers=factory.auth(world["other_buyer"]))
    assert r.status_code == 404


@pytest.mark.parametrize("who", ["sme", "partner"])
async def test_sme_side_cannot_link_someone_elses_enterprise(client, factory, world, who):
    body = {"enterprise_id": str(world["other_ent"].id), "buyer_id": str(world["buyer_org"].id)}
    r = await client.post("/v1/supplier-links", json=body, headers=factory.auth(world[who]))
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["loc"] == ["body", "enterprise_id"]


async def test_sme_side_must_name_a_buyer_organisation(client, factory, world):
    sme = factory.auth(world["sme"])
    ent = str(world["ent"].id)
    r = await client.post("/v1/supplier-links", json={"enterprise_id": ent}, headers=sme)
    assert r.status_code == 422
    r = await client.post(
        "/v1/supplier-links", json={"enterprise_id": ent, "buyer_id": str(world["partner_org"].id)}, headers=sme
    )
    assert r.status_code == 422, "a partner organisation is not a buyer"
    assert r.json()["errors"][0]["loc"] == ["body", "buyer_id"]


async def test_expert_has_no_access_to_links(client, factory, world):
    link = await factory.supplier_link(world["ent"], world["buyer_org"])
    expert = factory.auth(world["expert"])
    assert (await client.get("/v1/supplier-links", headers=expert)).status_code == 403
    assert (await client.get(f"/v1/supplier-links/{link.id}", headers=expert)).status_code == 404
    body = {"enterprise_id": str(world["ent"].id), "buyer_id": str(world["buyer_org"].id)}
    assert (await client.post("/v1/supplier-links", json=body, headers=expert)).status_code == 403


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("sme", 200),
        ("admin", 200),
        ("buyer", 403),
        ("partner", 403),
        ("other_sme", 404),
        ("other_buyer", 404),
        ("other_partner", 404),
        ("expert", 404),
    ],
)
async def test_who_may_accept(client, factory, world, who, status):
    link = await factory.supplier_link(world["ent"], world["buyer_org"], LinkStatus.pending)
    r = await client.post(f"/v1/supplier-links/{link.id}/accept", headers=factory.auth(world[who]))
    assert r.status_code == status, r.text


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("sme", 200),
        ("buyer", 200),
        ("partner", 403),
        ("admin", 200),
        ("other_sme", 404),
        ("other_buyer", 404),
        ("other_partner", 404),
        ("expert", 404),
    ],
)
async def test_who_may_revoke(client, factory, world, who, status):
    link = await factory.supplier_link(world["ent"], world["buyer_org"])
    r = await client.post(f"/v1/supplier-links/{link.id}/revoke", headers=factory.auth(world[who]))
    assert r.status_code == status, r.text
    if status == 200:
        assert r.json()["status"] == "revoked"
        get = await client.get(f"/v1/enterprises/{world['ent'].id}", headers=factory.auth(world["buyer"]))
        assert get.status_code == 404


async def test_accepting_an_active_link_is_409(client, factory, world):
    link = await factory.supplier_link(world["ent"], world["buyer_org"])
    r = await client.post(f"/v1/supplier-links/{link.id}/accept", headers=factory.auth(world["sme"]))
    assert r.status_code == 409
    assert r.json()["type"].endswith("/invalid-transition")


async def test_pending_invite_can_be_withdrawn_by_buyer(client, factory, world):
    link = await factory.supplier_link(world["ent"], world["buyer_org"], LinkStatus.pending)
    r = await client.post(f"/v1/supplier-links/{link.id}/revoke", headers=factory.auth(world["buyer"]))
    assert r.status_code == 200
    assert r.json()["status"] == "revoked" and r.json()["accepted_at"] is None


async def test_list_is_scoped_and_filtered(client, factory, world):
    mine = await factory.supplier_link(world["ent"], world["buyer_org"])
    pending = await factory.supplier_link(world["other_ent"], world["buyer_org"], LinkStatus.pending)
    theirs = await factory.supplier_link(world["ent"], world["other_buyer_org"])

    async def ids(who, **params):
        r = await client.get("/v1/supplier-links", params=params, headers=factory.auth(world[who]))
        assert r.status_code == 200, r.text
        return {item["id"] for item in r.json()["items"]}

    assert await ids("buyer") == {str(mine.id), str(pending.id)}
    assert await ids("buyer", status="pending") == {str(pending.id)}
    assert await ids("buyer", enterprise_id=str(world["ent"].id)) == {str(mine.id)}
    assert await ids("sme") == {str(mine.id), str(theirs.id)}
    assert await ids("sme", buyer_id=str(world["other_buyer_org"].id)) == {str(theirs.id)}
    assert await ids("partner") == {str(mine.id), str(theirs.id)}
    assert await ids("other_partner") == {str(pending.id)}
    assert {str(mine.id), str(pending.id), str(theirs.id)} <= await ids("admin")
    assert await ids("buyer", updated_since="2999-01-01T00:00:00Z") == set()


async def test_get_has_etag_and_304(client, factory, world):
    link = await factory.supplier_link(world["ent"], world["buyer_org"])
    buyer = factory.auth(world["buyer"])
    r = await client.get(f"/v1/supplier-links/{link.id}", headers=buyer)
    assert r.status_code == 200 and set(r.json()) == LINK_FIELDS
    r2 = await client.get(f"/v1/supplier-links/{link.id}", headers={**buyer, "If-None-Match": r.headers["etag"]})
    assert r2.status_code == 304
    assert (
        await client.get(f"/v1/supplier-links/{link.id}", headers=factory.auth(world["other_buyer"]))
    ).status_code == 404


async def test_no_patch_or_delete(client, factory, world):
    link = await factory.supplier_link(world["ent"], world["buyer_org"])
    admin = factory.auth(world["admin"])
    assert (await client.patch(f"/v1/supplier-links/{link.id}", json={}, headers=admin)).status_code == 405
    assert (await client.delete(f"/v1/supplier-links/{link.id}", headers=admin)).status_code == 405


async def test_retried_accept_with_idempotency_key_replays_the_first_answer(client, factory, world):
    link = await factory.supplier_link(world["ent"], world["buyer_org"], LinkStatus.pending)
    headers = {**factory.auth(world["sme"]), "Idempotency-Key": "accept-1"}
    first = await client.post(f"/v1/supplier-links/{link.id}/accept", headers=headers)
    again = await client.post(f"/v1/supplier-links/{link.id}/accept", headers=headers)
    assert first.status_code == again.status_code == 200, again.text
    assert first.json() == again.json()
    fresh = await client.post(f"/v1/supplier-links/{link.id}/accept", headers=factory.auth(world["sme"]))
    assert fresh.status_code == 409, "without the key, a second accept is a state conflict"
