"""Enterprises and expert assignment, per role, own and other."""

from __future__ import annotations

from datetime import date

import pytest
from sqlmodel import select

from app.models.enterprises import Enterprise
from app.models.enums import LinkStatus
from app.models.supplier_links import SupplierLink

BODY = {"name": "Shree Rubber", "country": "IN", "sector": "2219", "employees_female": 10, "employees_male": 20}


async def test_partner_creates_own_enterprise(client, factory):
    partner = await factory.user("partner")
    r = await client.post("/v1/enterprises", json=BODY, headers=factory.auth(partner))
    assert r.status_code == 201, r.text
    assert r.json()["partner_id"] == str(partner.organisation_id)
    assert r.headers["location"] == f"/v1/enterprises/{r.json()['id']}"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("country", "XX"),
        ("country", "IND"),
        ("sector", "0400"),
        ("sector", "Z"),
        ("employees_male", -1),
        ("contact_email", "not-an-email"),
        ("name", ""),
    ],
)
async def test_enterprise_validation(client, factory, field, value):
    partner = await factory.user("partner")
    r = await client.post("/v1/enterprises", json={**BODY, field: value}, headers=factory.auth(partner))
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"


async def test_partner_cannot_set_other_partner_id(client, factory):
    partner = await factory.user("partner")
    other = await factory.org("partner")
    r = await client.post("/v1/enterprises", json={**BODY, "partner_id": str(other.id)}, headers=factory.auth(partner))
    assert r.status_code == 422


async def test_admin_must_name_a_partner(client, factory):
    admin = await factory.user("admin")
    buyer_org = await factory.org("buyer")
    r = await client.post(
        "/v1/enterprises", json={**BODY, "partner_id": str(buyer_org.id)}, headers=factory.auth(admin)
    )
    assert r.status_code == 422
    partner_org = await factory.org("partner")
    r = await client.post(
        "/v1/enterprises", json={**BODY, "partner_id": str(partner_org.id)}, headers=factory.auth(admin)
    )
    assert r.status_code == 201


async def test_partner_a_cannot_see_partner_b_enterprises(client, factory):
    a = await factory.user("partner")
    b = await factory.user("partner")
    ent_b = await factory.enterprise(await _org_of(factory, b))
    assert (await client.get(f"/v1/enterprises/{ent_b.id}", headers=factory.auth(a))).status_code == 404
    assert (
        await client.patch(f"/v1/enterprises/{ent_b.id}", json={"name": "x"}, headers=factory.auth(a))
    ).status_code == 404
    assert (await client.delete(f"/v1/enterprises/{ent_b.id}", headers=factory.auth(a))).status_code == 404
    listed = (await client.get("/v1/enterprises", headers=factory.auth(a))).json()["items"]
    assert str(ent_b.id) not in {e["id"] for e in listed}


async def _org_of(factory, user):
    from app.models.organisations import Organisation

    return await factory.session.get(Organisation, user.organisation_id)


async def test_sme_reads_and_updates_own_profile_only(client, factory):
    partner = await factory.user("partner")
    org = await _org_of(factory, partner)
    own = await factory.enterprise(org)
    other = await factory.enterprise(org)
    sme = await factory.user("sme", enterprise_id=own.id)
    h = factory.auth(sme)
    assert (await client.get(f"/v1/enterprises/{own.id}", headers=h)).status_code == 200
    assert (await client.get(f"/v1/enterprises/{other.id}", headers=h)).status_code == 404
    r = await client.patch(f"/v1/enterprises/{own.id}", json={"products": "gaskets"}, headers=h)
    assert r.status_code == 200 and r.json()["products"] == "gaskets"
    r = await client.patch(f"/v1/enterprises/{own.id}", json={"partner_id": str(org.id)}, headers=h)
    assert r.status_code == 422
    assert (await client.delete(f"/v1/enterprises/{own.id}", headers=h)).status_code == 403
    assert (await client.post("/v1/enterprises", json=BODY, headers=h)).status_code == 403


async def test_expert_assignment_gives_and_removes_access(client, factory):
    partner = await factory.user("partner")
    org = await _org_of(factory, partner)
    ent = await factory.enterprise(org)
    expert = await factory.user("expert", organisation=org)
    he, hp = factory.auth(expert), factory.auth(partner)
    assert (await client.get(f"/v1/enterprises/{ent.id}", headers=he)).status_code == 404
    r = await client.put(f"/v1/enterprises/{ent.id}/experts/{expert.id}", headers=hp)
    assert r.status_code == 201, r.text
    assert (await client.put(f"/v1/enterprises/{ent.id}/experts/{expert.id}", headers=hp)).status_code == 200
    assert (await client.get(f"/v1/enterprises/{ent.id}", headers=he)).status_code == 200
    assert (await client.patch(f"/v1/enterprises/{ent.id}", json={"name": "x"}, headers=he)).status_code == 403
    listed = (await client.get(f"/v1/enterprises/{ent.id}/experts", headers=hp)).json()["items"]
    assert [a["user_id"] for a in listed] == [str(expert.id)]
    assert (await client.delete(f"/v1/enterprises/{ent.id}/experts/{expert.id}", headers=hp)).status_code == 204
    assert (await client.get(f"/v1/enterprises/{ent.id}", headers=he)).status_code == 404
    assert (await client.delete(f"/v1/enterprises/{ent.id}/experts/{expert.id}", headers=hp)).status_code == 404


async def test_lapsed_or_foreign_expert_cannot_be_assigned(client, factory):
    partner = await factory.user("partner")
    org = await _org_of(factory, partner)
    ent = await factory.enterprise(org)
    lapsed = await factory.user("expert", organisation=org, certified_until=date(2020, 1, 1))
    r = await client.put(f"/v1/enterprises/{ent.id}/experts/{lapsed.id}", headers=factory.auth(partner))
    assert r.status_code == 409
    assert r.json()["type"].endswith("/certification-lapsed")
    foreign = await factory.user("expert")
    r = await client.put(f"/v1/enterprises/{ent.id}/experts/{foreign.id}", headers=factory.auth(partner))
    assert r.status_code == 404  # another partner's expert is not visible to this partner
    admin = await factory.user("admin")
    r = await client.put(f"/v1/enterprises/{ent.id}/experts/{foreign.id}", headers=factory.auth(admin))
    assert r.status_code == 422


async def test_buyer_sees_enterprise_only_with_active_link(client, factory, session):
    partner = await factory.user("partner")
    ent = await factory.enterprise(await _org_of(factory, partner))
    buyer = await factory.user("buyer")
    h = factory.auth(buyer)
    assert (await client.get(f"/v1/enterprises/{ent.id}", headers=h)).status_code == 404
    link = await factory.save(
        SupplierLink(enterprise_id=ent.id, buyer_id=buyer.organisation_id, status=LinkStatus.active)
    )
    assert (await client.get(f"/v1/enterprises/{ent.id}", headers=h)).status_code == 200
    assert (await client.patch(f"/v1/enterprises/{ent.id}", json={"name": "x"}, headers=h)).status_code == 403
    link.status = LinkStatus.revoked
    await factory.save(link)
    assert (await client.get(f"/v1/enterprises/{ent.id}", headers=h)).status_code == 404


async def test_enterprise_with_dependents_is_not_deleted(client, factory, session):
    partner = await factory.user("partner")
    ent = await factory.enterprise(await _org_of(factory, partner))
    await factory.user("sme", enterprise_id=ent.id)
    r = await client.delete(f"/v1/enterprises/{ent.id}", headers=factory.auth(partner))
    assert r.status_code == 409
    assert (await session.exec(select(Enterprise).where(Enterprise.id == ent.id))).first() is not None
