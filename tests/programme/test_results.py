"""Results: the validation rules of docs/reference.md, who may record, change and verify them."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from app.models.enums import IdeaCategory
from app.models.results import Result
from tests.worlds import site

PERIOD = {"period_start": "2025-01-01", "period_end": "2025-12-31"}


def body(site, **kw):
    values = {"enterprise_id": str(site.enterprise.id), "metric": "water", **PERIOD, "value": 1200.0}
    values.update(kw)
    return values


async def test_sme_records_self_reported_result(client, factory):
    s = await site(factory)
    r = await client.post("/v1/results", json=body(s, unit="m3", is_baseline=True), headers=factory.auth(s.sme))
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["source"] == "self_reported"
    assert out["unit"] == "m3" and out["is_baseline"] is True
    assert out["verified"] is False and out["verified_at"] is None and out["verified_by"] is None
    assert out["recorded_by"] == f"user:{s.sme.id}"
    assert r.headers["location"] == f"/v1/results/{out['id']}"
    got = await client.get(r.headers["location"], headers=factory.auth(s.sme))
    assert got.status_code == 200 and got.json()["value"] == 1200.0 and got.headers["etag"]


async def test_expert_records_expert_result_and_sme_cannot_claim_expert_source(client, factory):
    s = await site(factory)
    r = await client.post("/v1/results", json=body(s), headers=factory.auth(s.expert))
    assert r.status_code == 201, r.text
    assert r.json()["source"] == "expert"
    r = await client.post(
        "/v1/results",
        json=body(s, period_start="2024-01-01", period_end="2024-12-31", source="expert"),
        headers=factory.auth(s.sme),
    )
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["loc"] == ["body", "source"]


async def test_duplicate_period_is_409(client, factory):
    s = await site(factory)
    first = await client.post("/v1/results", json=body(s), headers=factory.auth(s.sme))
    assert first.status_code == 201
    r = await client.post("/v1/results", json=body(s, value=900.0), headers=factory.auth(s.sme))
    assert r.status_code == 409, r.text
    assert "period" in r.json()["detail"]
    # a different period of the same metric is fine
    r = await client.post(
        "/v1/results", json=body(s, period_start="2026-01-01", period_end="2026-01-31"), headers=factory.auth(s.sme)
    )
    assert r.status_code == 201, r.text


async def test_second_baseline_is_409(client, factory):
    s = await site(factory)
    r = await client.post("/v1/results", json=body(s, is_baseline=True), headers=factory.auth(s.sme))
    assert r.status_code == 201
    r = await client.post(
        "/v1/results",
        json=body(s, period_start="2024-01-01", period_end="2024-12-31", is_baseline=True),
        headers=factory.auth(s.sme),
    )
    assert r.status_code == 409, r.text
    assert "baseline" in r.json()["detail"]
    # another metric may have its own baseline
    r = await client.post(
        "/v1/results", json=body(s, metric="electricity", is_baseline=True), headers=factory.auth(s.sme)
    )
    assert r.status_code == 201, r.text


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"metric": "yield_rate", "value": 120}, "value"),
        ({"metric": "defect_rate", "value": 100.5}, "value"),
        ({"period_start": "2025-12-31", "period_end": "2025-01-01"}, "period_end"),
        ({"unit": "L"}, "unit"),
        ({"metric": "no_such_metric"}, "metric"),
        ({"value": -1}, "value"),
        ({"enterprise_id": "01930000-0000-7000-8000-000000000001"}, "enterprise_id"),
        ({"verified_at": "2025-01-01T00:00:00Z"}, "verified_at"),
        ({"recorded_by": "user:x"}, "recorded_by"),
    ],
)
async def test_invalid_result_is_422(client, factory, changes, field):
    s = await site(factory)
    r = await client.post("/v1/results", json=body(s, **changes), headers=factory.auth(s.expert))
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert field in {issue["loc"][-1] for issue in r.json()["errors"]}


async def test_percentage_bounds_are_inclusive(client, factory):
    s = await site(factory)
    for value, start in ((0, "2024-01-01"), (100, "2025-01-01")):
        r = await client.post(
            "/v1/results",
            json=body(s, metric="yield_rate", value=value, period_start=start, period_end=start, unit="%"),
            headers=factory.auth(s.sme),
        )
        assert r.status_code == 201, r.text


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
async def test_non_finite_value_is_422(client, factory, literal):
    s = await site(factory)
    raw = (
        f'{{"enterprise_id": "{s.enterprise.id}", "metric": "water", "period_start": "2025-01-01", '
        f'"period_end": "2025-12-31", "value": {literal}}}'
    )
    r = await client.post(
        "/v1/results", content=raw, headers={**factory.auth(s.sme), "content-type": "application/json"}
    )
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"


async def test_idea_must_belong_to_the_same_enterprise(client, factory):
    s = await site(factory)
    other = await site(factory)
    own_idea = await factory.idea(s.enterprise, category=IdeaCategory.water)
    foreign_idea = await factory.idea(other.enterprise, category=IdeaCategory.water)
    r = await client.post("/v1/results", json=body(s, idea_id=str(foreign_idea.id)), headers=factory.auth(s.sme))
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["loc"] == ["body", "idea_id"]
    r = await client.post("/v1/results", json=body(s, idea_id=str(own_idea.id)), headers=factory.auth(s.sme))
    assert r.status_code == 201, r.text
    assert r.json()["idea_id"] == str(own_idea.id)


async def test_sme_of_another_enterprise_gets_404(client, factory):
    s = await site(factory)
    other = await site(factory)
    res = await factory.result(s.enterprise)
    for method, url in (
        ("GET", f"/v1/results/{res.id}"),
        ("PATCH", f"/v1/results/{res.id}"),
        ("POST", f"/v1/results/{res.id}/verify"),
    ):
        kw = {"json": {"value": 1.0}} if method == "PATCH" else {}
        r = await client.request(method, url, headers=factory.auth(other.sme), **kw)
        assert r.status_code == 404, (method, r.text)
    listed = await client.get("/v1/results", headers=factory.auth(other.sme))
    assert res.id not in {item["id"] for item in listed.json()["items"]}
    # nor can it record results for an enterprise not its own
    r = await client.post("/v1/results", json=body(s), headers=factory.auth(other.sme))
    assert r.status_code == 422


async def test_unassigned_expert_gets_404_and_buyer_cannot_write(client, factory):
    s = await site(factory)
    res = await factory.result(s.enterprise)
    stranger = await factory.user("expert", organisation=s.partner_org)
    assert (await client.post(f"/v1/results/{res.id}/verify", headers=factory.auth(stranger))).status_code == 404
    buyer = await factory.user("buyer")
    r = await client.post("/v1/results", json=body(s), headers=factory.auth(buyer))
    assert r.status_code == 403


async def test_sme_cannot_verify(client, factory):
    s = await site(factory)
    res = await factory.result(s.enterprise)
    r = await client.post(f"/v1/results/{res.id}/verify", headers=factory.auth(s.sme))
    assert r.status_code == 403, r.text
    got = await client.get(f"/v1/results/{res.id}", headers=factory.auth(s.sme))
    assert got.json()["verified_at"] is None


async def test_expert_verifies_once_and_it_is_audited(client, factory, session):
    s = await site(factory)
    res = await factory.result(s.enterprise)
    r = await client.post(f"/v1/results/{res.id}/verify", headers=factory.auth(s.expert))
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["verified"] is True and out["verified_at"] and out["verified_by"] == str(s.expert.id)
    again = await client.post(f"/v1/results/{res.id}/verify", headers=factory.auth(s.partner))
    assert again.status_code == 409, again.text
    admin = await factory.user("admin")
    events = await client.get(
        "/v1/audit-events", params={"object_id": str(res.id), "action": "verify"}, headers=factory.auth(admin)
    )
    [event] = events.json()["items"]
    assert event["actor"] == f"user:{s.expert.id}" and event["object_type"] == "result"
    assert event["changes"]["verified_by"] == [None, str(s.expert.id)]


async def test_partner_verifies_but_its_api_client_cannot(client, factory):
    s = await site(factory)
    res = await factory.result(s.enterprise)
    machine, _ = await factory.api_client(s.partner_org)
    r = await client.post(f"/v1/results/{res.id}/verify", headers=factory.auth(machine))
    assert r.status_code == 403, r.text
    r = await client.post(f"/v1/results/{res.id}/verify", headers=factory.auth(s.partner))
    assert r.status_code == 200, r.text
    assert r.json()["verified_by"] == str(s.partner.id)


async def test_sme_cannot_change_or_delete_a_verified_result(client, factory):
    s = await site(factory)
    res = await factory.result(s.enterprise, value=50.0)
    r = await client.patch(f"/v1/results/{res.id}", json={"value": 40.0}, headers=factory.auth(s.sme))
    assert r.status_code == 200, r.text  # unverified: the SME may correct it
    assert (await client.post(f"/v1/results/{res.id}/verify", headers=factory.auth(s.expert))).status_code == 200
    r = await client.patch(f"/v1/results/{res.id}", json={"value": 10.0}, headers=factory.auth(s.sme))
    assert r.status_code == 403, r.text
    r = await client.delete(f"/v1/results/{res.id}", headers=factory.auth(s.sme))
    assert r.status_code == 403, r.text
    got = (await client.get(f"/v1/results/{res.id}", headers=factory.auth(s.sme))).json()
    assert got["value"] == 40.0 and got["verified"] is True


async def test_expert_change_withdraws_verification(client, factory):
    s = await site(factory)
    res = await factory.result(s.enterprise)
    await client.post(f"/v1/results/{res.id}/verify", headers=factory.auth(s.expert))
    r = await client.patch(f"/v1/results/{res.id}", json={"is_baseline": True}, headers=factory.auth(s.expert))
    assert r.status_code == 200 and r.json()["verified"] is True
    r = await client.patch(f"/v1/results/{res.id}", json={"value": 999.0}, headers=factory.auth(s.expert))
    assert r.status_code == 200, r.text
    assert r.json()["verified"] is False and r.json()["verified_by"] is None


@pytest.mark.parametrize(
    ("patch", "status"),
    [
        ({"metric": "yield_rate"}, 422),  # 1200 is no percentage
        ({"metric": "yield_rate", "value": 80}, 200),
        ({"period_end": "2024-12-31"}, 422),
        ({"unit": "kWh"}, 422),
        ({"unit": "m3", "value": 10}, 200),
        ({"value": None}, 422),
        ({"period_start": None}, 422),
        ({"verified_by": None}, 422),
        ({"enterprise_id": "01930000-0000-7000-8000-000000000001"}, 422),
    ],
)
async def test_patch_revalidates_against_the_metric(client, factory, patch, status):
    s = await site(factory)
    res = await factory.result(s.enterprise)
    r = await client.patch(f"/v1/results/{res.id}", json=patch, headers=factory.auth(s.sme))
    assert r.status_code == status, r.text


async def test_patch_into_an_existing_period_or_second_baseline_is_409(client, factory):
    s = await site(factory)
    await factory.result(s.enterprise, is_baseline=True)
    other = await factory.result(s.enterprise, period_start=date(2026, 1, 1), period_end=date(2026, 1, 31))
    r = await client.patch(
        f"/v1/results/{other.id}",
        json={"period_start": "2025-01-01", "period_end": "2025-12-31"},
        headers=factory.auth(s.sme),
    )
    assert r.status_code == 409, r.text
    r = await client.patch(f"/v1/results/{other.id}", json={"is_baseline": True}, headers=factory.auth(s.sme))
    assert r.status_code == 409, r.text
    got = (await client.get(f"/v1/results/{other.id}", headers=factory.auth(s.sme))).json()
    assert got["is_baseline"] is False and got["period_start"] == "2026-01-01"


async def test_patch_honours_if_match(client, factory):
    s = await site(factory)
    res = await factory.result(s.enterprise)
    etag = (await client.get(f"/v1/results/{res.id}", headers=factory.auth(s.sme))).headers["etag"]
    r = await client.patch(
        f"/v1/results/{res.id}", json={"value": 1.0}, headers={**factory.auth(s.sme), "If-Match": etag}
    )
    assert r.status_code == 200
    r = await client.patch(
        f"/v1/results/{res.id}", json={"value": 2.0}, headers={**factory.auth(s.sme), "If-Match": etag}
    )
    assert r.status_code == 412


async def test_expert_deletes_result(client, factory, session):
    s = await site(factory)
    res = await factory.result(s.enterprise)
    r = await client.delete(f"/v1/results/{res.id}", headers=factory.auth(s.expert))
    assert r.status_code == 204
    assert await session.get(Result, res.id) is None


async def test_list_filters(client, factory):
    s = await site(factory)
    base = await factory.result(
        s.enterprise, is_baseline=True, period_start=date(2023, 1, 1), period_end=date(2023, 12, 31)
    )
    mid = await factory.result(s.enterprise, period_start=date(2024, 1, 1), period_end=date(2024, 12, 31))
    power = await factory.result(s.enterprise, metric="electricity", value=5.0)
    await client.post(f"/v1/results/{mid.id}/verify", headers=factory.auth(s.expert))
    other = await site(factory)
    await factory.result(other.enterprise)
    admin = await factory.user("admin")

    async def ids(**params):
        r = await client.get("/v1/results", params=params, headers=factory.auth(admin))
        assert r.status_code == 200, r.text
        return {item["id"] for item in r.json()["items"]}

    eid = str(s.enterprise.id)
    assert await ids(enterprise_id=eid) == {str(base.id), str(mid.id), str(power.id)}
    assert await ids(enterprise_id=eid, metric="water") == {str(base.id), str(mid.id)}
    assert await ids(enterprise_id=eid, is_baseline="true") == {str(base.id)}
    assert await ids(enterprise_id=eid, verified="true") == {str(mid.id)}
    assert await ids(enterprise_id=eid, verified="false") == {str(base.id), str(power.id)}
    assert await ids(enterprise_id=eid, **{"from": "2024-01-01", "to": "2024-12-31"}) == {str(mid.id)}
    assert await ids(enterprise_id=eid, **{"from": "2024-06-01"}) == {str(mid.id), str(power.id)}
    # the expert of the enterprise sees its results, not the other enterprise's
    r = await client.get("/v1/results", headers=factory.auth(s.expert))
    assert {item["enterprise_id"] for item in r.json()["items"]} == {eid}


async def test_buyer_sees_results_only_with_an_active_link(client, factory):
    from app.models.enums import LinkStatus
    from app.models.supplier_links import SupplierLink

    s = await site(factory)
    res = await factory.result(s.enterprise)
    buyer = await factory.user("buyer")
    assert (await client.get(f"/v1/results/{res.id}", headers=factory.auth(buyer))).status_code == 404
    await factory.save(
        SupplierLink(enterprise_id=s.enterprise.id, buyer_id=buyer.organisation_id, status=LinkStatus.active)
    )
    r = await client.get(f"/v1/results/{res.id}", headers=factory.auth(buyer))
    assert r.status_code == 200 and r.json()["unit"] == "m3"
    assert (
        await client.patch(f"/v1/results/{res.id}", json={"value": 1.0}, headers=factory.auth(buyer))
    ).status_code == 403


async def test_values_beyond_1e15_are_refused(client, factory):
    """Found in review: huge values would overflow annualised sums for everyone's portfolio."""
    s = await site(factory)
    body = {
        "enterprise_id": str(s.enterprise.id),
        "metric": "water",
        "period_start": "2025-01-01",
        "period_end": "2025-12-31",
        "value": 1e300,
    }
    r = await client.post("/v1/results", json=body, headers=factory.auth(s.expert))
    assert r.status_code == 422


async def test_lapsed_expert_cannot_verify(client, factory):
    """Buyers read verified figures as vouched for by a certified expert: a lapsed one may not."""
    s = await site(factory)
    res = await factory.result(s.enterprise)
    s.expert.certified_until = date.today() - timedelta(days=1)
    await factory.save(s.expert)
    r = await client.post(f"/v1/results/{res.id}/verify", headers=factory.auth(s.expert))
    assert r.status_code == 409, r.text
    assert r.json()["type"].endswith("/certification-lapsed")
    got = await client.get(f"/v1/results/{res.id}", headers=factory.auth(s.expert))
    assert got.json()["verified_at"] is None
    s.expert.certified_until = date.today()
    await factory.save(s.expert)
    r = await client.post(f"/v1/results/{res.id}/verify", headers=factory.auth(s.expert))
    assert r.status_code == 200, "certified through today still counts"
