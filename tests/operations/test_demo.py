"""Demo data (`score4climate load-demo`) and the enterprise story it makes readable."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.models import metadata
from app.services import demo
from app.services.demo import DEMO_PASSWORD, DemoRefused, load_demo, load_demo_at_start
from app.services.stories import emissions_sentence, number

TOKEN_URL = "/v1/auth/token"


async def counts(session) -> dict[str, int]:
    result = {}
    for table in metadata.sorted_tables:
        result[table.name] = (await session.exec(sa.select(sa.func.count()).select_from(table))).scalar_one()
    return result


async def login(client, email: str) -> dict[str, str]:
    r = await client.post(TOKEN_URL, data={"grant_type": "password", "username": email, "password": DEMO_PASSWORD})
    assert r.status_code == 200, (email, r.text)
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def metric(record: dict, code: str) -> dict:
    return next(m for m in record["metrics"] if m["metric"] == code)


def email_of(summary, role: str, contains: str = "") -> str:
    return next(x.email for x in summary.logins if x.role == role and contains in x.email)


async def test_loading_twice_creates_nothing_new(session):
    first = await load_demo(session)
    assert first.created and first.api_client_secret
    assert set(first.enterprises) == {"rubber", "lime", "cleaning"}
    before = await counts(session)
    assert before["enterprises"] >= 3 and before["ideas"] >= 14 and before["results"] >= 40

    second = await load_demo(session)
    assert not second.created
    assert second.api_client_secret is None, "a stored secret cannot be shown again"
    assert second.api_client_id == first.api_client_id
    assert second.enterprises == first.enterprises
    assert [x.email for x in second.logins] == [x.email for x in first.logins]
    after = await counts(session)
    assert after == before


async def test_at_start_only_an_empty_database_gets_the_demo(session, factory):
    """`serve` leaves a database with enterprises of its own alone, and describes (not
    re-creates) a demo world that is there."""
    await factory.enterprise(await factory.org())
    assert await load_demo_at_start(session) is None
    found = await session.exec(
        sa.text("SELECT count(*) FROM organisations WHERE name = :n").bindparams(n=demo.DEMO_PARTNER_NAME)
    )
    assert found.scalar_one() == 0

    loaded = await load_demo(session)
    described = await load_demo_at_start(session)
    assert described is not None and not described.created
    assert described.api_client_id == loaded.api_client_id and described.api_client_secret is None


async def test_refused_in_production(session):
    with pytest.raises(DemoRefused, match="production"):
        await load_demo(session, environment="production")
    found = await session.exec(
        sa.text("SELECT count(*) FROM organisations WHERE name = :n").bindparams(n=demo.DEMO_PARTNER_NAME)
    )
    assert found.scalar_one() == 0


async def test_demo_world_is_coherent(session):
    summary = await load_demo(session)
    ids = [str(i) for i in summary.enterprises.values()]
    params = {"ids": ids}

    # Prerequisite first: each enterprise completed a prerequisite module before the workshop.
    rows = (
        await session.exec(
            sa.text(
                "SELECT en.enterprise_id, t.module::text, t.start_date, en.completed_at FROM enrollments en "
                "JOIN trainings t ON t.id = en.training_id WHERE en.enterprise_id = ANY(CAST(:ids AS uuid[])) "
                "ORDER BY t.start_date"
            ).bindparams(**params)
        )
    ).all()
    by_enterprise: dict = {}
    for enterprise_id, module, _, completed_at in rows:
        assert completed_at is not None
        by_enterprise.setdefault(enterprise_id, []).append(module)
    assert len(by_enterprise) == 3
    for modules in by_enterprise.values():
        assert modules[0] in ("workplace_cooperation", "score_basics") and modules[-1] == "score4climate"

    # Every idea's status is where its recorded transitions lead.
    bad = (
        await session.exec(
            sa.text(
                "SELECT i.title FROM ideas i LEFT JOIN LATERAL (SELECT to_status FROM idea_transitions t "
                "WHERE t.idea_id = i.id ORDER BY t.created_at DESC, t.id DESC LIMIT 1) last ON true "
                "WHERE i.enterprise_id = ANY(CAST(:ids AS uuid[])) "
                "AND coalesce(last.to_status::text, 'proposed') <> i.status::text"
            ).bindparams(**params)
        )
    ).all()
    assert bad == []

    # Experts assigned, visits completed by them, an active link to a buyer for each.
    for table, condition in [
        ("enterprise_experts", "true"),
        ("visits", "status = 'completed'"),
        ("supplier_links", "status = 'active'"),
    ]:
        n = (
            await session.exec(
                sa.text(
                    f"SELECT count(DISTINCT enterprise_id) FROM {table} "
                    f"WHERE enterprise_id = ANY(CAST(:ids AS uuid[])) AND {condition}"
                ).bindparams(**params)
            )
        ).scalar_one()
        assert n == 3, table

    # No result period ends in the future (the API refuses them; the demo writes directly).
    future = (
        await session.exec(
            sa.text(
                "SELECT count(*) FROM results WHERE enterprise_id = ANY(CAST(:ids AS uuid[])) "
                "AND period_end > current_date"
            ).bindparams(**params)
        )
    ).scalar_one()
    assert future == 0


async def test_demo_records_account_for_emissions(client, session):
    """Each story's record converts at least two scopes (the figures add up to the totals), has a
    verified share and an intensity per unit of the enterprise's output. Rubber and cleaning
    emit less; the lime processor bags ~28 % more lime, so it buys ~28 % more quicklime: higher
    in total, lower per bag. Cleaning's scope 2 rises (steam cleaners) while scope 3 falls."""
    summary = await load_demo(session)
    partner = await login(client, email_of(summary, "partner"))
    records = {}
    for key, enterprise_id in summary.enterprises.items():
        r = await client.get(f"/v1/enterprises/{enterprise_id}/progress", headers=partner)
        assert r.status_code == 200, r.text
        records[key] = record = r.json()
        em = record["emissions"]
        assert em["reduction_tco2e_per_year"] is not None and em["reduction_tco2e_per_year"] != 0, key
        assert len(em["by_scope"]) >= 2, key
        for total in ("baseline_tco2e_per_year", "latest_tco2e_per_year", "reduction_tco2e_per_year"):
            assert round(sum(s[total] for s in em["by_scope"]), 2) == em[total], (key, total)
        counted = [m["tco2e"] for m in record["metrics"] if m["tco2e"] and None not in m["tco2e"].values()]
        assert round(sum(t["baseline_per_year"] for t in counted), 2) == em["baseline_tco2e_per_year"], key
        assert round(sum(t["latest_per_year"] for t in counted), 2) == em["latest_tco2e_per_year"], key
        assert em["verified_share"] is not None and 0 < em["verified_share"] < 1, key
        assert em["intensity"] is not None and em["intensity"]["change_pct"] < 0, key
    scopes = {key: {s["scope"]: s for s in rec["emissions"]["by_scope"]} for key, rec in records.items()}

    rubber = records["rubber"]["emissions"]
    assert rubber["reduction_tco2e_per_year"] > 0 and rubber["intensity"]["output_unit"] == "piece"
    assert set(scopes["rubber"]) == {2, 3}
    assert all(s["reduction_tco2e_per_year"] > 0 for s in scopes["rubber"].values())
    assert metric(records["rubber"], "electricity")["latest"]["verified"] is False
    assert rubber["verified_share"] == 0.66
    assert metric(records["rubber"], "waste_recycled")["tco2e"] is None, "circularity, not an emission source"

    lime = records["lime"]["emissions"]
    assert lime["reduction_tco2e_per_year"] < 0 and lime["intensity"]["output_unit"] == "piece"
    assert metric(records["lime"], "quicklime")["improved"] is False
    assert metric(records["lime"], "production_output")["change_pct"] > 25

    cleaning = records["cleaning"]["emissions"]
    assert cleaning["reduction_tco2e_per_year"] > 0 and cleaning["intensity"]["output_unit"] == "hour"
    assert scopes["cleaning"][2]["reduction_tco2e_per_year"] < 0 < scopes["cleaning"][3]["reduction_tco2e_per_year"]
    assert metric(records["cleaning"], "cleaning_chemicals")["latest"]["verified"] is False


async def test_indian_and_chinese_progress(client, session):
    summary = await load_demo(session)
    partner = await login(client, email_of(summary, "partner"))

    r = await client.get(f"/v1/enterprises/{summary.enterprises['rubber']}/progress", headers=partner)
    assert r.status_code == 200, r.text
    record = r.json()
    assert record["enterprise"]["country"] == "IN" and record["enterprise"]["sector"] == "2219"
    assert record["programme"]["modules_completed"] == ["score4climate", "workplace_cooperation"]
    assert record["programme"]["visits_completed"] == 4
    yield_rate = metric(record, "yield_rate")
    assert yield_rate["baseline"]["value"] == 78 and yield_rate["latest"]["value"] == 95
    assert yield_rate["improved"] is True and yield_rate["latest"]["verified"] is True
    waste = metric(record, "material_waste_rate")
    assert waste["baseline"]["value"] == 22 and waste["latest"]["value"] == 0
    assert waste["change_pct"] == -100 and waste["improved"] is True
    assert record["ideas"]["by_status"]["verified"] == 2
    assert {"amount": 2_280_000.0, "currency": "INR"} in record["ideas"]["implemented_estimated_annual_savings"]

    r = await client.get(f"/v1/enterprises/{summary.enterprises['cleaning']}/progress", headers=partner)
    record = r.json()
    water = metric(record, "water")
    assert water["baseline"]["per_year"] == 1200
    assert water["change_pct"] == pytest.approx(-75, abs=0.1)
    assert water["improved"] is True
    assert metric(record, "clients_served")["change_pct"] == 100

    r = await client.get(f"/v1/enterprises/{summary.enterprises['lime']}/progress", headers=partner)
    record = r.json()
    assert record["programme"]["modules_completed"] == ["score4climate", "score_basics"]
    assert metric(record, "solid_waste")["improved"] is True
    assert metric(record, "production_output")["improved"] is True


async def test_every_demo_login_works(client, session):
    summary = await load_demo(session)
    assert {x.role for x in summary.logins} == {"partner", "expert", "sme", "buyer"}
    assert len(summary.logins) == 8
    for entry in summary.logins:
        headers = await login(client, entry.email)
        me = await client.get("/v1/me", headers=headers)
        assert me.status_code == 200
        assert me.json()["role"] == entry.role

    r = await client.post(
        TOKEN_URL,
        data={
            "grant_type": "client_credentials",
            "client_id": summary.api_client_id,
            "client_secret": summary.api_client_secret,
        },
    )
    assert r.status_code == 200, r.text


async def test_buyers_see_their_linked_enterprises_progress(client, session):
    summary = await load_demo(session)
    evergreen = await login(client, email_of(summary, "buyer", "evergreen"))
    northwind = await login(client, email_of(summary, "buyer", "northwind"))

    r = await client.get("/v1/progress", headers=evergreen)
    assert r.status_code == 200
    seen = {item["enterprise"]["id"] for item in r.json()["items"]}
    assert seen == {str(summary.enterprises["rubber"]), str(summary.enterprises["lime"])}

    r = await client.get("/v1/progress", headers=northwind)
    assert {item["enterprise"]["id"] for item in r.json()["items"]} == {str(summary.enterprises["cleaning"])}
    r = await client.get(f"/v1/enterprises/{summary.enterprises['rubber']}/progress", headers=northwind)
    assert r.status_code == 404

    token = await client.post(
        TOKEN_URL,
        data={
            "grant_type": "client_credentials",
            "client_id": summary.api_client_id,
            "client_secret": summary.api_client_secret,
        },
    )
    machine = {"Authorization": f"Bearer {token.json()['access_token']}"}
    r = await client.get(f"/v1/enterprises/{summary.enterprises['lime']}/progress", headers=machine)
    assert r.status_code == 200


async def test_story_json(client, session):
    summary = await load_demo(session)
    buyer = await login(client, email_of(summary, "buyer", "evergreen"))
    r = await client.get(f"/v1/enterprises/{summary.enterprises['rubber']}/story", headers=buyer)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    story = r.json()
    assert story["enterprise"]["name"] == "Sunrise Rubber Products Pvt. Ltd."
    assert story["enterprise"]["country_name"] == "India"
    assert "Yield increased from 78 % to 95 %" in story["highlights"]
    assert "Material waste rate decreased from 22 % to 0 %" in story["highlights"]
    # Sorted by the size of the relative change: -100 % before +21.8 %.
    assert story["highlights"].index("Material waste rate decreased from 22 % to 0 %") < story["highlights"].index(
        "Yield increased from 78 % to 95 %"
    )
    assert story["modules_completed"] == ["workplace_cooperation", "score4climate"]
    assert "Sell rubber trimmings and off-cuts to rubber manufacturers" in story["ideas_implemented"]
    assert "Install dust collectors at the grinding and buffing stations" in story["ideas_implemented"]
    assert "Insulate the curing press platens" not in story["ideas_implemented"]
    assert story["headline"].startswith("Sunrise Rubber Products Pvt. Ltd. (India) completed SCORE4Climate")
    assert story["generated_at"]


async def test_story_phrases_flow_metrics_per_year_and_only_verified(client, session):
    summary = await load_demo(session)
    partner = await login(client, email_of(summary, "partner"))
    r = await client.get(f"/v1/enterprises/{summary.enterprises['cleaning']}/story", headers=partner)
    highlights = r.json()["highlights"]
    assert "Water consumption decreased by 75 % (1,200 m3 → 300 m3 per year)" in highlights
    assert "Clients served increased by 100 % (40 → 80)" in highlights

    r = await client.get(f"/v1/enterprises/{summary.enterprises['lime']}/story", headers=partner)
    story = r.json()
    # Work accidents fell too, but the latest result is self-reported and not verified yet.
    assert not any("accidents" in h.lower() for h in story["highlights"])
    assert any(h.startswith("Solid waste decreased by") for h in story["highlights"])
    assert "Turn waste lime into limewash paint sold locally" in story["ideas_implemented"]
    assert len(story["highlights"]) <= 5


async def test_story_markdown(client, session):
    summary = await load_demo(session)
    sme = await login(client, email_of(summary, "sme", "rubber"))
    r = await client.get(
        f"/v1/enterprises/{summary.enterprises['rubber']}/story", headers={**sme, "Accept": "text/markdown"}
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/markdown")
    text = r.text
    assert text.startswith("# Sunrise Rubber Products Pvt. Ltd.")
    assert "- Yield increased from 78 % to 95 %" in text
    assert "## Ideas implemented" in text


async def test_each_story_states_the_records_emissions(client, session):
    summary = await load_demo(session)
    partner = await login(client, email_of(summary, "partner"))
    for key, enterprise_id in summary.enterprises.items():
        record = (await client.get(f"/v1/enterprises/{enterprise_id}/progress", headers=partner)).json()
        em = record["emissions"]
        story = (await client.get(f"/v1/enterprises/{enterprise_id}/story", headers=partner)).json()
        reduction = em["reduction_tco2e_per_year"]
        direction = "lower" if reduction > 0 else "higher"
        assert story["emissions"].startswith(f"Emissions {number(abs(reduction))} t CO2e per year {direction}"), key
        for scope in em["by_scope"]:
            assert f"in scope {scope['scope']}" in story["emissions"], key
        assert f"{number(round(em['verified_share'] * 100))} % of the latest figure verified" in story["emissions"]
        markdown = await client.get(
            f"/v1/enterprises/{enterprise_id}/story", headers={**partner, "Accept": "text/markdown"}
        )
        assert "## Greenhouse-gas emissions\n\n" + story["emissions"] + "." in markdown.text, key

    rubber = (await client.get(f"/v1/enterprises/{summary.enterprises['rubber']}/story", headers=partner)).json()
    assert rubber["emissions"] == (
        "Emissions 305 t CO2e per year lower (−15.1 %) than at the baseline (2,024 → 1,719 t CO2e per year): "
        "54.3 t lower in scope 2 and 251 t lower in scope 3; 66 % of the latest figure verified; "
        "1.69 → 1.39 kg CO2e per piece (−17.6 %)"
    )
    lime = (await client.get(f"/v1/enterprises/{summary.enterprises['lime']}/story", headers=partner)).json()
    assert lime["emissions"].startswith("Emissions 579 t CO2e per year higher (+24.8 %) than at the baseline")
    assert lime["emissions"].endswith("19.5 → 19.1 kg CO2e per piece (−2.2 %)")
    cleaning = (await client.get(f"/v1/enterprises/{summary.enterprises['cleaning']}/story", headers=partner)).json()
    assert "3.17 t higher in scope 2 and 3.52 t lower in scope 3" in cleaning["emissions"]
    assert cleaning["emissions"].endswith("kg CO2e per hour (−16.4 %)")
    assert "Production output increased by 16.5 % (96,000 hours → 111,855 hours per year)" in cleaning["highlights"]


def test_emissions_sentence_edge_cases():
    nothing = {"reduction_tco2e_per_year": None, "by_scope": [], "verified_share": None, "intensity": None}
    assert emissions_sentence(nothing) is None
    flat = {
        "baseline_tco2e_per_year": 0.01,
        "latest_tco2e_per_year": 0.01,
        "reduction_tco2e_per_year": 0,
        "reduction_pct": 0,
        "by_scope": [
            {"scope": 1, "baseline_tco2e_per_year": 0.01, "latest_tco2e_per_year": 0.01, "reduction_tco2e_per_year": 0}
        ],
        "verified_share": 0,
        "intensity": {
            "output_unit": None,
            "baseline_kg_co2e_per_unit": 0.0009936,
            "latest_kg_co2e_per_unit": 0.0009936,
            "change_pct": 0,
        },
    }
    assert emissions_sentence(flat) == (
        "Emissions unchanged from the baseline (0.01 → 0.01 t CO2e per year): unchanged in scope 1; "
        "0 % of the latest figure verified; 0.000994 → 0.000994 kg CO2e per unit of output (0 %)"
    )


async def test_story_is_hidden_from_others(client, session, factory):
    summary = await load_demo(session)
    other_sme = await login(client, email_of(summary, "sme", "cleaning"))
    r = await client.get(f"/v1/enterprises/{summary.enterprises['rubber']}/story", headers=other_sme)
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")

    outsider = await factory.user("buyer")
    r = await client.get(f"/v1/enterprises/{summary.enterprises['rubber']}/story", headers=factory.auth(outsider))
    assert r.status_code == 404


def test_demo_password_is_documented():
    assert demo.DEMO_PASSWORD == "score4climate-demo"
