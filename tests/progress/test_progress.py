"""The progress record's numbers (docs/progress.md), exact to two decimals, and who may read it."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from typing import Any

import pytest

from app.db import ReadOnly, run_before_commit
from app.models.enums import LinkStatus
from app.models.supplier_links import SupplierLink
from app.services import progress
from app.services.progress import CSV_COLUMNS

Y2023 = (date(2023, 1, 1), date(2023, 12, 31))
Y2025 = (date(2025, 1, 1), date(2025, 12, 31))


async def enterprise(factory, country="IN"):
    """An enterprise under a partner of its own."""
    return await factory.enterprise(await factory.org("partner"), country=country)


async def result(factory, ent, metric, value, period, baseline=False, verified=False):
    return await factory.expert_result(ent, metric, value, period, baseline, verified)


async def record_of(client, factory, ent):
    await progress.refresh(factory.session, [ent.id])
    admin = await factory.user("admin")
    r = await client.get(f"/v1/enterprises/{ent.id}/progress", headers=factory.auth(admin))
    assert r.status_code == 200, r.text
    return r.json()


def metric(record, code):
    return next(m for m in record["metrics"] if m["metric"] == code)


async def test_level_metrics_compare_directly(client, factory):
    ent = await enterprise(factory)
    await result(factory, ent, "yield_rate", 78, Y2023, baseline=True)
    await result(factory, ent, "yield_rate", 95, Y2025, verified=True)
    await result(factory, ent, "material_waste_rate", 22, Y2023, baseline=True)
    await result(factory, ent, "material_waste_rate", 0, Y2025)
    await result(factory, ent, "clients_served", 40, Y2023, baseline=True)
    await result(factory, ent, "clients_served", 80, Y2025)
    rec = await record_of(client, factory, ent)
    y = metric(rec, "yield_rate")
    assert (y["change_abs"], y["change_pct"], y["improved"]) == (17, 21.79, True)
    assert y["latest"]["verified"] is True and "per_year" not in y["latest"]
    w = metric(rec, "material_waste_rate")
    assert (w["change_pct"], w["improved"]) == (-100, True)
    c = metric(rec, "clients_served")
    assert (c["change_pct"], c["improved"]) == (100, True)


async def test_flow_metrics_compare_annualised(client, factory):
    ent = await enterprise(factory)
    await result(factory, ent, "water", 1200, Y2023, baseline=True)
    await result(factory, ent, "water", 25, (date(2025, 6, 1), date(2025, 6, 30)))
    await result(factory, ent, "work_accidents", 2, Y2023, baseline=True)
    await result(factory, ent, "work_accidents", 3, Y2025)
    rec = await record_of(client, factory, ent)
    w = metric(rec, "water")
    assert w["baseline"]["per_year"] == 1200.00
    assert w["latest"]["per_year"] == 304.17
    assert (w["change_abs"], w["change_pct"], w["improved"]) == (-895.83, -74.65, True)
    assert metric(rec, "work_accidents")["improved"] is False


async def test_emissions_use_factor_and_sum(client, factory):
    ent = await enterprise(factory, country="GH")  # no national diesel factor: the global 2.68 applies
    await result(factory, ent, "diesel", 10_000, Y2023, baseline=True)
    await result(factory, ent, "diesel", 6_000, Y2025)
    rec = await record_of(client, factory, ent)
    em = rec["emissions"]
    assert (em["baseline_tco2e_per_year"], em["latest_tco2e_per_year"]) == (26.80, 16.08)
    assert (em["reduction_tco2e_per_year"], em["reduction_pct"]) == (10.72, 40.0)
    assert [(f["metric"], f["kg_co2e_per_unit"], f["country"]) for f in em["factors"]] == [("diesel", 2.68, None)]


async def test_national_electricity_factor_wins(client, factory):
    ent = await enterprise(factory, country="IN")
    await result(factory, ent, "electricity", 100_000, Y2023, baseline=True)
    await result(factory, ent, "electricity", 50_000, Y2025)
    em = (await record_of(client, factory, ent))["emissions"]
    assert em["factors"][0]["country"] == "IN"
    assert em["baseline_tco2e_per_year"] == pytest.approx(71.6)


async def test_baseline_without_later_result(client, factory):
    ent = await enterprise(factory)
    await result(factory, ent, "defect_rate", 5, Y2023, baseline=True)
    m = metric(await record_of(client, factory, ent), "defect_rate")
    assert m["baseline"]["value"] == 5 and m["latest"] is None
    assert m["change_abs"] is None and m["improved"] is None


async def test_zero_baseline_gives_null_pct(client, factory):
    ent = await enterprise(factory)
    await result(factory, ent, "work_accidents", 0, Y2023, baseline=True)
    await result(factory, ent, "work_accidents", 1, Y2025)
    m = metric(await record_of(client, factory, ent), "work_accidents")
    assert m["change_pct"] is None and m["change_abs"] == 1 and m["improved"] is False


async def test_progress_visibility_and_etag(client, factory):
    ent = await enterprise(factory)
    buyer = await factory.user("buyer")
    h = factory.auth(buyer)
    await progress.refresh(factory.session, [ent.id])
    assert (await client.get(f"/v1/enterprises/{ent.id}/progress", headers=h)).status_code == 404
    assert (await client.get("/v1/progress", headers=h)).json()["items"] == []
    await factory.save(SupplierLink(enterprise_id=ent.id, buyer_id=buyer.organisation_id, status=LinkStatus.active))
    await progress.refresh_pending(factory.session)  # the link becoming active moves the record
    r = await client.get(f"/v1/enterprises/{ent.id}/progress", headers=h)
    assert r.status_code == 200
    again = await client.get(f"/v1/enterprises/{ent.id}/progress", headers={**h, "If-None-Match": r.headers["etag"]})
    assert again.status_code == 304
    items = (await client.get("/v1/progress", headers=h)).json()["items"]
    assert [i["enterprise"]["id"] for i in items] == [str(ent.id)]


async def test_csv_has_a_row_per_metric(client, factory):
    ent = await enterprise(factory)
    await result(factory, ent, "yield_rate", 78, Y2023, baseline=True)
    await result(factory, ent, "water", 1200, Y2023, baseline=True)
    await progress.refresh(factory.session, [ent.id])
    admin = await factory.user("admin")
    r = await client.get(
        "/v1/progress", params={"country": "IN", "limit": 500}, headers={**factory.auth(admin), "Accept": "text/csv"}
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    lines = r.text.strip().splitlines()
    assert lines[0].startswith("enterprise_id,enterprise_name")
    assert sum(1 for line in lines if line.startswith(str(ent.id))) == 2


async def test_portfolio_for_a_buyer(client, factory):
    buyer = await factory.user("buyer")
    ents = [await enterprise(factory) for _ in range(3)]
    for ent, latest in zip(ents, (6_000, 8_000, 12_000), strict=True):
        await result(factory, ent, "diesel", 10_000, Y2023, baseline=True)
        await result(factory, ent, "diesel", latest, Y2025)
        await factory.save(SupplierLink(enterprise_id=ent.id, buyer_id=buyer.organisation_id, status=LinkStatus.active))
    hidden = await enterprise(factory)
    await result(factory, hidden, "diesel", 10_000, Y2023, baseline=True)
    await result(factory, hidden, "diesel", 1, Y2025)
    await progress.refresh(factory.session, [*(e.id for e in ents), hidden.id])
    r = await client.get("/v1/portfolio", headers=factory.auth(buyer))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["enterprises"] == 3
    d = next(m for m in body["metrics"] if m["metric"] == "diesel")
    assert (d["enterprises_measured"], d["enterprises_improved"]) == (3, 2)
    assert d["median_change_pct"] == -20.0
    assert body["total_reduction_tco2e_per_year"] == pytest.approx(26.8 - 16.08 + 26.8 - 21.44 + 26.8 - 32.16, abs=0.02)


class _StatementCounter:
    def __init__(self, engine):
        self.engine, self.count = engine, 0

    def __enter__(self):
        from sqlalchemy import event

        event.listen(self.engine.sync_engine, "before_cursor_execute", self._hit)
        return self

    def __exit__(self, *exc):
        from sqlalchemy import event

        event.remove(self.engine.sync_engine, "before_cursor_execute", self._hit)

    def _hit(self, *args):
        self.count += 1


async def _statements_for(app, client, headers, url, session) -> int:
    """Statements the request ran: through SQLAlchemy, and on its read-only connection."""
    engine = session.bind.engine if hasattr(session.bind, "engine") else session.bind
    reads, counted = app.state.reads, [0]

    class Counting:
        def __init__(self, connection: Any) -> None:
            self.connection = connection

        async def fetch(self, *args: object) -> object:
            counted[0] += 1
            return await self.connection.fetch(*args)

        async def fetchrow(self, *args: object) -> object:
            counted[0] += 1
            return await self.connection.fetchrow(*args)

    @asynccontextmanager
    async def counting() -> AsyncIterator[ReadOnly]:
        async with reads() as found:
            yield ReadOnly(Counting(found.connection), found.writing)

    app.state.reads = counting
    try:
        with _StatementCounter(engine) as counter:
            r = await client.get(url, headers=headers)
            assert r.status_code == 200, r.text
    finally:
        app.state.reads = reads
    return counter.count + counted[0]


async def test_queries_are_bounded_whatever_the_data_size(app, client, factory, session):
    buyer = await factory.user("buyer")
    h = factory.auth(buyer)
    ents = []
    counts = []
    for size in (3, 40):
        while len(ents) < size:
            ent = await enterprise(factory)
            await result(factory, ent, "water", 1200, Y2023, baseline=True)
            await result(factory, ent, "water", 100, Y2025)
            await factory.save(
                SupplierLink(enterprise_id=ent.id, buyer_id=buyer.organisation_id, status=LinkStatus.active)
            )
            ents.append(ent)
        await progress.refresh(session, [e.id for e in ents])
        await run_before_commit(session)  # as a commit would: the records, then their events
        page = await _statements_for(app, client, h, "/v1/progress?limit=500", session)
        routed = await _statements_for(app, client, h, "/v1/progress?limit=500&country=IN", session)
        assert len((await client.get("/v1/progress?limit=500", headers=h)).json()["items"]) == size
        single = await _statements_for(app, client, h, f"/v1/enterprises/{ents[0].id}/progress", session)
        portfolio = await _statements_for(app, client, h, "/v1/portfolio", session)
        counts.append((page, single, portfolio, routed))
    # Principal lookup + one query for the aggregates (+ the test session's savepoints); the
    # caller's check is part of the read itself: 2 for a page (keys, text), 1 for a record.
    assert all(n <= 6 for n in counts[0]), counts
    assert (counts[0][0], counts[0][1], counts[0][3]) == (2, 1, 2), counts
    assert counts[0] == counts[1], f"statement counts grew with the data: {counts}"


async def test_progress_bytes_match_the_declared_schema(app, client, factory, session):
    """The records are built by PostgreSQL, not Pydantic: prove they still match the OpenAPI document."""
    import jsonschema_rs

    ent = await enterprise(factory)
    await result(factory, ent, "yield_rate", 78, Y2023, baseline=True)
    await result(factory, ent, "yield_rate", 95, Y2025, verified=True)
    await result(factory, ent, "diesel", 10_000, Y2023, baseline=True)
    await result(factory, ent, "diesel", 6_000, Y2025)
    await result(factory, ent, "water", 5, Y2023, baseline=True)
    other = await enterprise(factory)  # an enterprise with nothing recorded yet
    await progress.refresh(session, [ent.id, other.id])
    admin = factory.auth(await factory.user("admin"))
    components = app.openapi()["components"]

    def validate(name: str, instance: object) -> None:
        schema = {"$ref": f"#/components/schemas/{name}", "components": components}
        errors = [str(e) for e in jsonschema_rs.validator_for(schema).iter_errors(instance)]
        assert not errors, errors

    for eid in (ent.id, other.id):
        validate("ProgressRecordPublic", (await client.get(f"/v1/enterprises/{eid}/progress", headers=admin)).json())
    validate("ProgressPage", (await client.get("/v1/progress?limit=500", headers=admin)).json())
    validate("Portfolio", (await client.get("/v1/portfolio", headers=admin)).json())


@pytest.mark.parametrize(
    "name", ['=HYPERLINK("http://x.example","Sunrise")', "+1+1", "-2+3", "@SUM(A1)", "\tTab", "\rCR"]
)
async def test_csv_neutralises_formulas_in_text_cells(client, factory, name):
    ent = await enterprise(factory)
    ent.name = name
    await factory.save(ent)
    await result(factory, ent, "diesel", 10_000, Y2023, baseline=True)
    await result(factory, ent, "diesel", 8_000, Y2025)
    await progress.refresh(factory.session, [ent.id])
    admin = await factory.user("admin")
    r = await client.get("/v1/progress", params={"limit": 500}, headers={**factory.auth(admin), "Accept": "text/csv"})
    text = r.text.replace("\r", "<CR>")  # the reader would take a bare CR for a line end
    rows = [row for row in csv.reader(io.StringIO(text)) if row and row[0] == str(ent.id)]
    name = name.replace("\r", "<CR>")
    assert rows and all(row[1] == "'" + name for row in rows), rows
    change_pct = rows[0][CSV_COLUMNS.index("change_pct")]
    assert change_pct == "-20", "numbers, negative ones too, stay numbers"
