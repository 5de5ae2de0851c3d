"""Climate accounting's rules on the catalogue, the factors, enterprises, results and visits
(docs/climate.md): what a caller may store, and the clear 4xx for what it may not."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.ids import utcnow
from app.models.progress import ProgressRecord
from app.services import progress, progress_sql

SEEDED_SCOPES = {
    "diesel": (1, None),
    "petrol": (1, None),
    "natural_gas": (1, None),
    "lpg": (1, None),
    "coal": (1, None),
    "direct_co2e": (1, None),
    "electricity": (2, None),
    "water": (3, 1),
    "solid_waste": (3, 5),
    "wastewater": (3, 5),
    "rubber_compound": (3, 1),
    "quicklime": (3, 1),
    "cleaning_chemicals": (3, 1),
    "waste_recycled": (None, None),
    "yield_rate": (None, None),
}
STEAM = {"code": "steam", "name": "Steam", "unit": "t", "direction": "decrease", "kind": "flow", "category": "energy"}


async def test_seeded_scopes_and_factors(client, factory):
    buyer = await factory.user("buyer")
    headers = factory.auth(buyer)
    for code, (scope, category) in SEEDED_SCOPES.items():
        r = await client.get("/v1/metrics", params={"code": code}, headers=headers)
        [metric] = r.json()["items"]
        assert (metric["ghg_scope"], metric["ghg_category"]) == (scope, category), code
    for code in ("water", "wastewater", "solid_waste", "rubber_compound", "quicklime", "cleaning_chemicals"):
        r = await client.get("/v1/emission-factors", params={"metric": code}, headers=headers)
        [factor] = r.json()["items"]
        assert factor["source"] and factor["year"] and factor["valid_from"] is None, code


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"ghg_scope": 3}, "ghg_category is required"),
        ({"ghg_scope": 2, "ghg_category": 1}, "only given with ghg_scope 3"),
        ({"ghg_category": 4}, "only given with ghg_scope 3"),
        ({"ghg_scope": 4}, "less than or equal to 3"),
        ({"ghg_scope": 3, "ghg_category": 16}, "less than or equal to 15"),
        ({"ghg_scope": 1, "kind": "level"}, "only flow metrics"),
    ],
)
async def test_metric_scope_rules_on_create(client, factory, fields, message):
    admin = await factory.user("admin")
    r = await client.post("/v1/metrics", json=STEAM | fields, headers=factory.auth(admin))
    assert r.status_code == 422, r.text
    assert message in r.text


async def test_a_factor_needs_a_scoped_metric_and_keeps_it(client, factory):
    admin = await factory.user("admin")
    headers = factory.auth(admin)
    metric = (await client.post("/v1/metrics", json=STEAM, headers=headers)).json()
    factor = {"metric": "steam", "kg_co2e_per_unit": 180.0, "source": "supplier's declaration", "year": 2025}
    r = await client.post("/v1/emission-factors", json=factor, headers=headers)
    assert r.status_code == 422 and "has no ghg_scope" in r.text

    r = await client.patch(f"/v1/metrics/{metric['id']}", json={"ghg_scope": 3}, headers=headers)
    assert r.status_code == 422 and "ghg_category is required" in r.text  # checked on the merged metric
    r = await client.patch(f"/v1/metrics/{metric['id']}", json={"ghg_scope": 2}, headers=headers)
    assert r.status_code == 200 and r.json()["ghg_scope"] == 2
    r = await client.post("/v1/emission-factors", json=factor, headers=headers)
    assert r.status_code == 201, r.text

    r = await client.patch(f"/v1/metrics/{metric['id']}", json={"ghg_scope": None}, headers=headers)
    assert r.status_code == 409 and "needs a ghg_scope" in r.text
    r = await client.patch(f"/v1/metrics/{metric['id']}", json={"ghg_scope": 3, "ghg_category": 3}, headers=headers)
    assert r.status_code == 200 and (r.json()["ghg_scope"], r.json()["ghg_category"]) == (3, 3)


async def test_factor_versions_are_unique_per_valid_from(client, factory):
    admin = await factory.user("admin")
    headers = factory.auth(admin)
    first = {"metric": "diesel", "country": "GH", "kg_co2e_per_unit": 2.7, "source": "a", "year": 2024}
    r = await client.post("/v1/emission-factors", json=first | {"valid_from": "2024-01-01"}, headers=headers)
    assert r.status_code == 201 and r.json()["valid_from"] == "2024-01-01"
    r = await client.post(
        "/v1/emission-factors", json=first | {"year": 2025, "valid_from": "2024-01-01"}, headers=headers
    )
    assert r.status_code == 409 and "valid from 2024-01-01" in r.text
    r = await client.post(
        "/v1/emission-factors", json=first | {"year": 2025, "valid_from": "2025-01-01"}, headers=headers
    )
    assert r.status_code == 201, r.text
    r = await client.patch(f"/v1/emission-factors/{r.json()['id']}", json={"valid_from": "2024-01-01"}, headers=headers)
    assert r.status_code == 409


async def test_enterprise_output_unit(client, factory):
    admin = await factory.user("admin")
    partner_org = await factory.org("partner")
    headers = factory.auth(admin)
    body = {"name": factory.unique("ent"), "country": "IN", "sector": "2219", "partner_id": str(partner_org.id)}
    r = await client.post("/v1/enterprises", json=body | {"output_unit": "barrel"}, headers=headers)
    assert r.status_code == 422 and "output_unit" in r.text
    r = await client.post("/v1/enterprises", json=body | {"output_unit": "piece"}, headers=headers)
    assert r.status_code == 201 and r.json()["output_unit"] == "piece"
    ent = r.json()
    r = await client.patch(f"/v1/enterprises/{ent['id']}", json={"output_unit": "tonne"}, headers=headers)
    assert r.status_code == 200 and r.json()["output_unit"] == "tonne"
    r = await client.patch(f"/v1/enterprises/{ent['id']}", json={"output_unit": None}, headers=headers)
    assert r.status_code == 200 and r.json()["output_unit"] is None


async def test_results_for_periods_that_have_not_ended_are_refused(client, factory):
    admin = await factory.user("admin")
    partner_org = await factory.org("partner")
    ent = await factory.enterprise(partner_org, name=factory.unique("e"))
    today = utcnow().date()
    body = {"enterprise_id": str(ent.id), "metric": "water", "value": 10, "source": "expert"}
    headers = factory.auth(admin)
    month = {"period_start": str(today.replace(day=1)), "period_end": str(today + timedelta(days=1))}
    r = await client.post("/v1/results", json=body | month, headers=headers)
    assert r.status_code == 422 and "in the future" in r.text
    ended = {"period_start": str(today - timedelta(days=30)), "period_end": str(today)}
    r = await client.post("/v1/results", json=body | ended, headers=headers)
    assert r.status_code == 201, r.text
    r = await client.patch(
        f"/v1/results/{r.json()['id']}", json={"period_end": str(today + timedelta(days=31))}, headers=headers
    )
    assert r.status_code == 422 and "in the future" in r.text


async def test_a_visit_ahead_cannot_be_completed(client, factory):
    partner_org = await factory.org("partner")
    partner = await factory.user("partner", organisation=partner_org)
    expert = await factory.user("expert", organisation=partner_org)
    ent = await factory.enterprise(partner_org, name=factory.unique("e"))
    await factory.assign(ent, expert)
    headers = factory.auth(partner)
    ahead = (utcnow() + timedelta(days=2)).isoformat()
    body = {"enterprise_id": str(ent.id), "expert_id": str(expert.id), "kind": "consultation", "scheduled_at": ahead}
    r = await client.post("/v1/visits", json=body | {"status": "completed"}, headers=headers)
    assert r.status_code == 422 and "cannot be completed" in r.text
    r = await client.post("/v1/visits", json=body, headers=headers)
    assert r.status_code == 201, r.text
    visit = r.json()
    r = await client.patch(f"/v1/visits/{visit['id']}", json={"status": "completed"}, headers=headers)
    assert r.status_code == 422 and "cannot be completed" in r.text
    past = (utcnow() - timedelta(hours=1)).isoformat()
    r = await client.patch(
        f"/v1/visits/{visit['id']}", json={"status": "completed", "scheduled_at": past}, headers=headers
    )
    assert r.status_code == 200 and r.json()["status"] == "completed"


async def test_records_of_an_older_formula_are_found_and_rebuilt(factory):
    partner_org = await factory.org("partner")
    ent = await factory.enterprise(partner_org, name=factory.unique("e"))
    await progress.refresh(factory.session, [ent.id])
    assert ent.id not in await progress.outdated(factory.session, 10_000)
    # as a migration that changes the record leaves it: built by formula 1, without the new fields
    await factory.session.exec(
        sa.update(ProgressRecord).where(ProgressRecord.enterprise_id == ent.id).values(formula=1, body='{"old": true}')
    )
    assert ent.id in await progress.outdated(factory.session, 10_000)
    await progress.refresh(factory.session, await progress.outdated(factory.session, 10_000))
    row = (
        await factory.session.exec(
            sa.select(ProgressRecord.formula, ProgressRecord.body).where(ProgressRecord.enterprise_id == ent.id)
        )
    ).one()
    assert row[0] == progress_sql.FORMULA and '"by_scope"' in row[1]
