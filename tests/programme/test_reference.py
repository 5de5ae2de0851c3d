"""Reference data: the seeded KPI catalogue (a contract), metric and emission-factor rules."""

from __future__ import annotations

import pytest

from tests.worlds import site

# docs/reference.md: code → (unit, kind, better direction)
CONTRACT = {
    "production_output": ("unit", "flow", "increase"),
    "yield_rate": ("%", "level", "increase"),
    "defect_rate": ("%", "level", "decrease"),
    "material_waste_rate": ("%", "level", "decrease"),
    "solid_waste": ("kg", "flow", "decrease"),
    "water": ("m3", "flow", "decrease"),
    "electricity": ("kWh", "flow", "decrease"),
    "diesel": ("L", "flow", "decrease"),
    "petrol": ("L", "flow", "decrease"),
    "natural_gas": ("m3", "flow", "decrease"),
    "lpg": ("kg", "flow", "decrease"),
    "coal": ("kg", "flow", "decrease"),
    "direct_co2e": ("t", "flow", "decrease"),
    "clients_served": ("count", "level", "increase"),
    "work_accidents": ("count", "flow", "decrease"),
    "worker_turnover": ("%", "level", "decrease"),
}

METRIC = {"code": "steam", "name": "Steam", "unit": "t", "direction": "decrease", "kind": "flow", "category": "energy"}
FACTOR = {"metric": "diesel", "country": "IN", "kg_co2e_per_unit": 2.7, "source": "national inventory", "year": 2024}


async def all_items(client, headers, url, **params):
    items, params = [], {"limit": 5, **params}
    while True:
        r = await client.get(url, params=params, headers=headers)
        assert r.status_code == 200, r.text
        items += r.json()["items"]
        if not r.json()["next_cursor"]:
            return items
        params["cursor"] = r.json()["next_cursor"]


@pytest.mark.parametrize("role", ["admin", "partner", "expert", "sme", "buyer"])
async def test_seeded_catalogue_holds_the_contract_codes(client, factory, role):
    user = await factory.user(role)
    metrics = {m["code"]: m for m in await all_items(client, factory.auth(user), "/v1/metrics")}
    for code, (unit, kind, direction) in CONTRACT.items():
        assert code in metrics, code
        assert (metrics[code]["unit"], metrics[code]["kind"], metrics[code]["direction"]) == (unit, kind, direction), (
            code
        )


async def test_metric_filters_and_get(client, factory):
    sme = await factory.user("sme")
    headers = factory.auth(sme)
    levels = await all_items(client, headers, "/v1/metrics", kind="level")
    assert {m["code"] for m in levels} >= {
        "yield_rate",
        "defect_rate",
        "material_waste_rate",
        "clients_served",
        "worker_turnover",
    }
    assert all(m["kind"] == "level" for m in levels)
    increase = await all_items(client, headers, "/v1/metrics", direction="increase")
    assert {m["code"] for m in increase} >= {"production_output", "yield_rate", "clients_served"}
    assert all(m["direction"] == "increase" for m in increase)
    energy = await all_items(client, headers, "/v1/metrics", category="energy")
    assert "electricity" in {m["code"] for m in energy} and all(m["category"] == "energy" for m in energy)
    [water] = await all_items(client, headers, "/v1/metrics", code="water")
    r = await client.get(f"/v1/metrics/{water['id']}", headers=headers)
    assert r.status_code == 200 and r.json()["code"] == "water" and r.headers["etag"]
    assert (await client.get("/v1/metrics", params={"kind": "stock"}, headers=headers)).status_code == 422


@pytest.mark.parametrize("role", ["partner", "expert", "sme", "buyer"])
async def test_non_admins_cannot_write_reference_data(client, factory, role):
    user = await factory.user(role)
    headers = factory.auth(user)
    assert (await client.post("/v1/metrics", json=METRIC, headers=headers)).status_code == 403
    assert (await client.post("/v1/emission-factors", json=FACTOR, headers=headers)).status_code == 403
    [water] = await all_items(client, headers, "/v1/metrics", code="water")
    assert (await client.patch(f"/v1/metrics/{water['id']}", json={"name": "x"}, headers=headers)).status_code == 403
    assert (await client.delete(f"/v1/metrics/{water['id']}", headers=headers)).status_code == 403
    [factor] = await all_items(client, headers, "/v1/emission-factors", metric="electricity", country="IN")
    r = await client.patch(f"/v1/emission-factors/{factor['id']}", json={"year": 2024}, headers=headers)
    assert r.status_code == 403
    assert (await client.delete(f"/v1/emission-factors/{factor['id']}", headers=headers)).status_code == 403


async def test_admin_metric_lifecycle(client, factory):
    admin = await factory.user("admin")
    headers = factory.auth(admin)
    r = await client.post("/v1/metrics", json=METRIC, headers=headers)
    assert r.status_code == 201, r.text
    metric = r.json()
    assert r.headers["location"] == f"/v1/metrics/{metric['id']}"
    dup = await client.post("/v1/metrics", json={**METRIC, "name": "Other"}, headers=headers)
    assert dup.status_code == 409, dup.text
    r = await client.patch(f"/v1/metrics/{metric['id']}", json={"name": "Process steam", "unit": "kg"}, headers=headers)
    assert r.status_code == 200 and r.json()["name"] == "Process steam" and r.json()["code"] == "steam"
    r = await client.patch(f"/v1/metrics/{metric['id']}", json={"code": "steam2"}, headers=headers)
    assert r.status_code == 422  # the code is immutable
    r = await client.patch(f"/v1/metrics/{metric['id']}", json={"name": None}, headers=headers)
    assert r.status_code == 422
    assert (await client.delete(f"/v1/metrics/{metric['id']}", headers=headers)).status_code == 204
    assert (await client.get(f"/v1/metrics/{metric['id']}", headers=headers)).status_code == 404


@pytest.mark.parametrize("code", ["Steam", "steam-flow", "9steam", "s", "_steam", "a" * 65, "steam flow"])
async def test_metric_code_must_be_snake_case(client, factory, code):
    admin = await factory.user("admin")
    r = await client.post("/v1/metrics", json={**METRIC, "code": code}, headers=factory.auth(admin))
    assert r.status_code == 422, r.text


async def test_metric_in_use_cannot_be_deleted_or_redefined(client, factory):
    admin = await factory.user("admin")
    headers = factory.auth(admin)
    metric = (await client.post("/v1/metrics", json=METRIC, headers=headers)).json()
    s = await site(factory)
    await factory.result(s.enterprise, metric="steam", value=3.0)
    r = await client.delete(f"/v1/metrics/{metric['id']}", headers=headers)
    assert r.status_code == 409, r.text
    assert (await client.get(f"/v1/metrics/{metric['id']}", headers=headers)).status_code == 200
    r = await client.patch(f"/v1/metrics/{metric['id']}", json={"unit": "kg"}, headers=headers)
    assert r.status_code == 409, r.text
    r = await client.patch(f"/v1/metrics/{metric['id']}", json={"description": "bought steam"}, headers=headers)
    assert r.status_code == 200, r.text
    # seeded metrics with factors: electricity
    [power] = await all_items(client, headers, "/v1/metrics", code="electricity")
    assert (await client.delete(f"/v1/metrics/{power['id']}", headers=headers)).status_code == 409
    r = await client.patch(f"/v1/metrics/{power['id']}", json={"kind": "level"}, headers=headers)
    assert r.status_code == 409, r.text


async def test_seeded_factors_and_filters(client, factory):
    buyer = await factory.user("buyer")
    headers = factory.auth(buyer)
    power = await all_items(client, headers, "/v1/emission-factors", metric="electricity")
    assert {f["country"] for f in power} >= {None, "IN"}
    [india] = await all_items(client, headers, "/v1/emission-factors", metric="electricity", country="in")
    assert (
        india["country"] == "IN" and india["kg_co2e_per_unit"] > 0 and india["source"] and 1990 <= india["year"] <= 2100
    )
    by_year = await all_items(client, headers, "/v1/emission-factors", year=2006)
    assert by_year and all(f["year"] == 2006 for f in by_year)
    r = await client.get(f"/v1/emission-factors/{india['id']}", headers=headers)
    assert r.status_code == 200 and r.headers["etag"]


async def test_admin_factor_lifecycle(client, factory):
    admin = await factory.user("admin")
    headers = factory.auth(admin)
    r = await client.post("/v1/emission-factors", json=FACTOR, headers=headers)
    assert r.status_code == 201, r.text
    factor = r.json()
    assert factor["country"] == "IN" and factor["metric"] == "diesel"
    assert (await client.post("/v1/emission-factors", json=FACTOR, headers=headers)).status_code == 409
    glob = await client.post("/v1/emission-factors", json={**FACTOR, "country": None, "year": 2024}, headers=headers)
    assert glob.status_code == 201, glob.text
    again = await client.post("/v1/emission-factors", json={**FACTOR, "country": None, "year": 2024}, headers=headers)
    assert again.status_code == 409  # a second global default for the same year
    # moving a factor onto an existing (metric, country, year) is a conflict too
    r = await client.patch(f"/v1/emission-factors/{factor['id']}", json={"country": None}, headers=headers)
    assert r.status_code == 409, r.text
    r = await client.patch(f"/v1/emission-factors/{factor['id']}", json={"kg_co2e_per_unit": 2.65}, headers=headers)
    assert r.status_code == 200 and r.json()["kg_co2e_per_unit"] == 2.65
    r = await client.patch(f"/v1/emission-factors/{factor['id']}", json={"metric": "petrol"}, headers=headers)
    assert r.status_code == 422
    assert (await client.delete(f"/v1/emission-factors/{factor['id']}", headers=headers)).status_code == 204
    assert (await client.get(f"/v1/emission-factors/{factor['id']}", headers=headers)).status_code == 404


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"metric": "yield_rate"}, "metric"),  # a level metric
        ({"metric": "no_such_metric"}, "metric"),
        ({"kg_co2e_per_unit": 0}, "kg_co2e_per_unit"),
        ({"kg_co2e_per_unit": -1.5}, "kg_co2e_per_unit"),
        ({"country": "XX"}, "country"),
        ({"country": "IND"}, "country"),
        ({"year": 1989}, "year"),
        ({"year": 2101}, "year"),
        ({"source": ""}, "source"),
        ({"source": None}, "source"),
    ],
)
async def test_factor_validation(client, factory, changes, field):
    admin = await factory.user("admin")
    r = await client.post("/v1/emission-factors", json={**FACTOR, **changes}, headers=factory.auth(admin))
    assert r.status_code == 422, r.text
    assert field in {issue["loc"][-1] for issue in r.json()["errors"]}


async def test_factor_value_must_be_finite(client, factory):
    admin = await factory.user("admin")
    raw = '{"metric": "diesel", "kg_co2e_per_unit": Infinity, "source": "x", "year": 2024}'
    r = await client.post(
        "/v1/emission-factors", content=raw, headers={**factory.auth(admin), "content-type": "application/json"}
    )
    assert r.status_code == 422, r.text
