"""Climate accounting in the progress record (docs/climate.md), computed by hand for one
enterprise with all three scopes, a baseline-only metric, two versions of a factor, verified and
unverified latest results and production output."""

from __future__ import annotations

import csv
import io
from datetime import date

from app.models.enums import OutputUnit
from app.models.reference import EmissionFactor
from app.services import progress

Y2023 = (date(2023, 1, 1), date(2023, 12, 31))
Y2025 = (date(2025, 1, 1), date(2025, 12, 31))


async def _enterprise(factory, **kw):
    """An enterprise under a partner of its own."""
    return await factory.enterprise(await factory.org("partner"), **kw)


async def _result(factory, ent, metric, value, period, baseline=False, verified=False):
    return await factory.expert_result(ent, metric, value, period, baseline, verified)


async def _record(client, factory, ent):
    await progress.refresh(factory.session, [ent.id])
    admin = await factory.user("admin")
    r = await client.get(f"/v1/enterprises/{ent.id}/progress", headers=factory.auth(admin))
    assert r.status_code == 200, r.text
    return r.json(), admin


def _metric(record, code):
    return next(m for m in record["metrics"] if m["metric"] == code)


async def _world(factory, output=(1_000_000, 1_100_000)):
    """Scope 1 diesel, scope 2 electricity (India's factor, a newer version from mid-2025),
    scope 3 water, baseline-only solid waste, production output and a level metric. Every
    period is a whole year, so `per_year` equals `value`."""
    await factory.save(
        EmissionFactor(
            metric="electricity",
            country="IN",
            kg_co2e_per_unit=0.70,
            source="test: a newer grid factor",
            year=2025,
            valid_from=date(2025, 6, 1),
        )
    )
    ent = await _enterprise(factory, output_unit=OutputUnit.piece)
    await _result(factory, ent, "electricity", 100_000, Y2023, baseline=True)
    await _result(factory, ent, "electricity", 80_000, Y2025, verified=True)
    await _result(factory, ent, "diesel", 10_000, Y2023, baseline=True)
    await _result(factory, ent, "diesel", 9_000, Y2025)
    await _result(factory, ent, "water", 5_000, Y2023, baseline=True)
    await _result(factory, ent, "water", 4_000, Y2025, verified=True)
    await _result(factory, ent, "solid_waste", 20_000, Y2023, baseline=True)
    await _result(factory, ent, "production_output", output[0], Y2023, baseline=True)
    await _result(factory, ent, "production_output", output[1], Y2025, verified=True)
    await _result(factory, ent, "yield_rate", 78, Y2023, baseline=True)
    await _result(factory, ent, "yield_rate", 95, Y2025)
    return ent


# By hand (t CO2e per year = value × kg per unit ÷ 1000):
#   electricity  baseline 100,000 × 0.716 (2023: the factor without valid_from) = 71.6
#                latest    80,000 × 0.70  (2025-12-31: valid from 2025-06-01)   = 56.0
#   diesel       10,000 × 2.68 = 26.8;  9,000 × 2.68 = 24.12
#   water        5,000 × 0.1913 = 0.9565;  4,000 × 0.1913 = 0.7652
#   solid waste  20,000 × 0.5205327 = 10.410654, baseline only: not counted
BASELINE = 71.6 + 26.8 + 0.9565
LATEST = 56.0 + 24.12 + 0.7652


async def test_every_figure_by_hand(client, factory):
    ent = await _world(factory)
    rec, _ = await _record(client, factory, ent)
    em = rec["emissions"]

    assert _metric(rec, "electricity")["ghg_scope"] == 2
    assert _metric(rec, "electricity")["tco2e"] == {"baseline_per_year": 71.6, "latest_per_year": 56.0}
    assert _metric(rec, "diesel")["tco2e"] == {"baseline_per_year": 26.8, "latest_per_year": 24.12}
    assert _metric(rec, "water")["tco2e"] == {"baseline_per_year": 0.96, "latest_per_year": 0.77}
    assert _metric(rec, "water")["ghg_scope"] == 3
    assert _metric(rec, "solid_waste")["tco2e"] == {"baseline_per_year": 10.41, "latest_per_year": None}
    assert _metric(rec, "production_output")["tco2e"] is None
    assert _metric(rec, "yield_rate")["tco2e"] is None and _metric(rec, "yield_rate")["ghg_scope"] is None

    assert em["baseline_tco2e_per_year"] == round(BASELINE, 2) == 99.36
    assert em["latest_tco2e_per_year"] == round(LATEST, 2) == 80.89
    assert em["reduction_tco2e_per_year"] == 18.47
    assert em["reduction_pct"] == round((BASELINE - LATEST) / BASELINE * 100, 2) == 18.59
    assert em["by_scope"] == [
        {"scope": 1, "baseline_tco2e_per_year": 26.8, "latest_tco2e_per_year": 24.12, "reduction_tco2e_per_year": 2.68},
        {"scope": 2, "baseline_tco2e_per_year": 71.6, "latest_tco2e_per_year": 56.0, "reduction_tco2e_per_year": 15.6},
        {"scope": 3, "baseline_tco2e_per_year": 0.96, "latest_tco2e_per_year": 0.77, "reduction_tco2e_per_year": 0.19},
    ]
    for key in ("baseline_tco2e_per_year", "latest_tco2e_per_year", "reduction_tco2e_per_year"):
        assert round(sum(s[key] for s in em["by_scope"]), 2) == em[key]

    # verified: electricity and water; diesel's latest is not
    assert em["verified_share"] == round((56.0 + 0.7652) / LATEST, 2) == 0.70

    baseline_intensity = BASELINE * 1000 / 1_000_000
    latest_intensity = LATEST * 1000 / 1_100_000
    assert em["intensity"] == {
        "output_unit": "piece",
        "baseline_kg_co2e_per_unit": round(baseline_intensity, 2),
        "latest_kg_co2e_per_unit": round(latest_intensity, 2),
        "change_pct": round((latest_intensity - baseline_intensity) / baseline_intensity * 100, 2),
    }
    assert em["intensity"]["change_pct"] == -25.99

    used = [(f["metric"], f["kg_co2e_per_unit"], f["applies_to"], f["scope"]) for f in em["factors"]]
    assert used == [
        ("diesel", 2.68, ["baseline", "latest"], 1),
        ("electricity", 0.716, ["baseline"], 2),
        ("electricity", 0.70, ["latest"], 2),
        ("solid_waste", 0.5205327, ["baseline"], 3),
        ("water", 0.1913, ["baseline", "latest"], 3),
    ]
    assert em["factors"][2]["valid_from"] == "2025-06-01" and em["factors"][1]["valid_from"] is None


async def test_small_intensities_keep_four_significant_digits(client, factory):
    ent = await _world(factory, output=(100_000_000, 110_000_000))
    rec, _ = await _record(client, factory, ent)
    intensity = rec["emissions"]["intensity"]
    assert intensity["baseline_kg_co2e_per_unit"] == 0.0009936  # 0.000993565 kg per piece
    assert intensity["latest_kg_co2e_per_unit"] == 0.0007353  # 0.000735320


async def test_a_factor_not_yet_valid_falls_back_to_the_earliest(client, factory):
    """Only dated factors, none valid at the baseline's period_end: the earliest is used."""
    for year, kg, valid_from in ((2026, 0.5, date(2024, 6, 1)), (2027, 0.4, date(2025, 6, 1))):
        await factory.save(
            EmissionFactor(metric="electricity", country="VN", kg_co2e_per_unit=kg, source="test", year=year,
                           valid_from=valid_from)
        )  # fmt: skip
    # the seeded Viet Nam factor has no valid_from: remove it from this test's view
    seeded = await factory.session.exec(
        EmissionFactor.__table__.delete().where(  # type: ignore[attr-defined]
            EmissionFactor.metric == "electricity", EmissionFactor.country == "VN", EmissionFactor.valid_from.is_(None)
        )
    )
    assert seeded.rowcount == 1
    ent = await _enterprise(factory, country="VN")
    await _result(factory, ent, "electricity", 1_000, Y2023, baseline=True)  # before both: earliest (0.5)
    await _result(factory, ent, "electricity", 1_000, (date(2025, 1, 1), date(2025, 3, 31)))  # only the first
    rec, _ = await _record(client, factory, ent)
    tco2e = _metric(rec, "electricity")["tco2e"]
    assert tco2e["baseline_per_year"] == 0.5
    assert tco2e["latest_per_year"] == round(1_000 / 90 * 365 * 0.5 / 1000, 2)


async def test_rounding_is_apportioned_so_metrics_add_up(client, factory):
    """Three metrics of 0.004 t each: plain rounding shows 0 + 0 + 0 against a total of 0.01;
    the record gives the hundredth to one of them."""
    ent = await _enterprise(factory, country="GH")
    for metric, per_unit in (("diesel", 2.68), ("petrol", 2.31), ("lpg", 2.98)):
        await _result(factory, ent, metric, round(4 / per_unit, 6), Y2023, baseline=True)
        await _result(factory, ent, metric, round(4 / per_unit, 6), Y2025)
    rec, _ = await _record(client, factory, ent)
    em = rec["emissions"]
    assert em["baseline_tco2e_per_year"] == 0.01
    figures = [_metric(rec, m)["tco2e"]["baseline_per_year"] for m in ("diesel", "lpg", "petrol")]
    assert sorted(figures) == [0, 0, 0.01]
    assert em["by_scope"] == [
        {"scope": 1, "baseline_tco2e_per_year": 0.01, "latest_tco2e_per_year": 0.01, "reduction_tco2e_per_year": 0}
    ]


async def test_csv_columns_sum_to_the_totals(client, factory):
    ent = await _world(factory)
    rec, admin = await _record(client, factory, ent)
    r = await client.get("/v1/progress", headers=factory.auth(admin) | {"Accept": "text/csv"})
    assert r.status_code == 200
    rows = [row for row in csv.DictReader(io.StringIO(r.text)) if row["enterprise_id"] == str(ent.id)]
    by_metric = {row["metric"]: row for row in rows}
    assert by_metric["electricity"]["ghg_scope"] == "2"
    assert by_metric["yield_rate"]["ghg_scope"] == ""
    assert (
        by_metric["electricity"]["baseline_tco2e_per_year"],
        by_metric["electricity"]["reduction_tco2e_per_year"],
    ) == (
        "71.6",
        "15.6",
    )
    # not counted (baseline only): empty, so the sums are the totals
    assert [by_metric["solid_waste"][k] for k in ("baseline_tco2e_per_year", "latest_tco2e_per_year")] == ["", ""]
    for key in ("baseline_tco2e_per_year", "latest_tco2e_per_year", "reduction_tco2e_per_year"):
        column = sum(float(row[key]) for row in rows if row[key])
        assert round(column, 2) == rec["emissions"][key]


async def test_nothing_converted_is_null_not_zero(client, factory):
    ent = await _enterprise(factory)
    await _result(factory, ent, "yield_rate", 78, Y2023, baseline=True)
    await _result(factory, ent, "yield_rate", 95, Y2025)
    await _result(factory, ent, "production_output", 10, Y2023, baseline=True)
    await _result(factory, ent, "production_output", 12, Y2025)
    rec, _ = await _record(client, factory, ent)
    em = rec["emissions"]
    assert em["baseline_tco2e_per_year"] is None and em["by_scope"] == []
    assert em["verified_share"] is None and em["intensity"] is None


async def test_portfolio_sums_scopes_and_medians_intensity(client, factory):
    first = await _world(factory)
    second = await _enterprise(factory, output_unit=OutputUnit.piece)
    await _result(factory, second, "diesel", 1_000, Y2023, baseline=True)
    await _result(factory, second, "diesel", 500, Y2025)
    await _result(factory, second, "production_output", 1_000, Y2023, baseline=True)
    await _result(factory, second, "production_output", 1_000, Y2025)
    await progress.refresh(factory.session, [first.id, second.id])
    partner = await factory.user("admin")
    r = await client.get("/v1/portfolio", headers=factory.auth(partner))
    assert r.status_code == 200, r.text
    body = r.json()
    scope1 = next(s for s in body["by_scope"] if s["scope"] == 1)
    # every enterprise of the (rolled-back) test database counts for an admin: compare with the records
    records = []
    cursor = None
    while True:
        page = await client.get(
            "/v1/progress",
            params={"limit": 500} | ({"cursor": cursor} if cursor else {}),
            headers=factory.auth(partner),
        )
        records += page.json()["items"]
        if not (cursor := page.json()["next_cursor"]):
            break
    ones = [s for rec in records for s in rec["emissions"]["by_scope"] if s["scope"] == 1]
    assert scope1["enterprises"] == len(ones)
    assert scope1["baseline_tco2e_per_year"] == round(sum(s["baseline_tco2e_per_year"] for s in ones), 2)
    pieces = next(i for i in body["intensity"] if i["output_unit"] == "piece")
    assert pieces["enterprises"] >= 2
    yield_rate = next(m for m in body["metrics"] if m["metric"] == "yield_rate")
    assert yield_rate["total_change_abs"] is None and yield_rate["median_change_abs"] is not None
