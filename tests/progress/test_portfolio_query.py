"""The portfolio statement (built with SQLAlchemy Core in app/services/progress.py) agrees with
the same aggregates computed here, in Python, from the stored progress records it reads:
counts, modules, ideas, per-metric sums and medians (a metric counts only where it has both a
baseline and a latest result), and the total emission reduction."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from app.models.enums import IdeaStatus, LinkStatus, Module, TrainingStatus
from app.models.supplier_links import SupplierLink
from app.services import progress
from tests.factories import Factory

Y2023 = (date(2023, 1, 1), date(2023, 12, 31))
H2025 = (date(2025, 1, 1), date(2025, 6, 30))

# (metric, baseline, latest): None leaves that result out.
FIGURES: list[list[tuple[str, float | None, float | None]]] = [
    [("water", 1200, 300), ("electricity", 50_000, 41_000), ("diesel", 10_000, 6_000)],
    [("water", 800, 900), ("electricity", 20_000, None), ("diesel", 4_000, 1_500)],
    [("water", 0, 25), ("electricity", 30_000, 12_345.67), ("solid_waste", 5_000, None)],
    [("water", 2_000, 1_100), ("diesel", None, 700), ("solid_waste", 900, 100)],
    [("electricity", 10_000, 10_000)],
]


def _round2(value: float) -> float:
    return round(value, 2)


def expected(records: list[dict[str, Any]]) -> dict[str, Any]:
    measured: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        for x in record["metrics"]:
            if x["baseline"] is not None and x["latest"] is not None:
                measured[x["metric"]].append(x)
    metrics = []
    for code in sorted(measured):
        rows = measured[code]
        pcts = [x["change_pct"] for x in rows if x["change_pct"] is not None]
        metrics.append(
            {
                "metric": code,
                "unit": min(x["unit"] for x in rows),
                "direction": min(x["direction"] for x in rows),
                "enterprises_measured": len(rows),
                "enterprises_improved": sum(1 for x in rows if x["improved"] is True),
                "total_change_abs": _round2(sum(x["change_abs"] for x in rows)),
                "median_change_abs": _round2(statistics.median(x["change_abs"] for x in rows)),
                "median_change_pct": _round2(statistics.median(pcts)) if pcts else None,
            }
        )
    modules: Counter[str] = Counter(m for r in records for m in r["programme"]["modules_completed"])
    ideas: Counter[str] = Counter()
    for record in records:
        ideas.update({status: int(n) for status, n in record["ideas"]["by_status"].items()})
    reductions = [r["emissions"]["reduction_tco2e_per_year"] for r in records]
    return {
        "enterprises": len(records),
        "modules_completed": dict(modules),
        "ideas_by_status": dict(ideas),
        "metrics": metrics,
        "total_reduction_tco2e_per_year": _round2(sum(r for r in reductions if r is not None)),
    }


def same(answer: dict[str, Any], wanted: dict[str, Any]) -> None:
    """Equal, numbers to the cent (PostgreSQL rounds numerics half away from zero)."""
    assert (answer["enterprises"], answer["modules_completed"], answer["ideas_by_status"]) == (
        wanted["enterprises"],
        wanted["modules_completed"],
        wanted["ideas_by_status"],
    )
    assert [m["metric"] for m in answer["metrics"]] == [m["metric"] for m in wanted["metrics"]]
    for got, want in zip(answer["metrics"], wanted["metrics"], strict=True):
        for key, value in want.items():
            wanted_value = value if value is None or isinstance(value, str) else pytest.approx(value, abs=0.011)
            assert got[key] == wanted_value, (got["metric"], key)
    assert answer["total_reduction_tco2e_per_year"] == pytest.approx(
        wanted["total_reduction_tco2e_per_year"], abs=0.011
    )


async def _records(session: AsyncSession, ids: list[UUID] | None) -> list[dict[str, Any]]:
    """The stored records of these enterprises (None: all of them)."""
    query = sa.text("SELECT record FROM progress_records WHERE :all OR enterprise_id = ANY(:ids)").bindparams(
        sa.bindparam("all", value=ids is None, type_=sa.Boolean()),
        sa.bindparam("ids", value=ids or [], type_=sa.ARRAY(sa.Uuid())),
    )
    return list((await session.exec(query)).scalars().all())  # type: ignore[call-overload]


async def test_portfolio_agrees_with_the_records(client: httpx.AsyncClient, factory: Factory) -> None:
    partner_org = await factory.org("partner")
    buyer = await factory.user("buyer")
    admin = await factory.user("admin")
    held = {"start_date": date(2026, 3, 1), "end_date": date(2026, 3, 2), "status": TrainingStatus.completed}
    course = await factory.training(partner_org, Module.score4climate, **held)
    basics = await factory.training(partner_org, Module.score_basics, **held)
    ids: list[UUID] = []
    for n, figures in enumerate(FIGURES):
        ent = await factory.enterprise(partner_org)
        ids.append(ent.id)
        for metric, baseline, latest in figures:
            for value, period, is_baseline in ((baseline, Y2023, True), (latest, H2025, False)):
                if value is not None:
                    await factory.expert_result(ent, metric, value, period, baseline=is_baseline)
        for status in [IdeaStatus.proposed, IdeaStatus.implemented, IdeaStatus.verified][: n % 3 + 1]:
            await factory.idea(ent, status)
        for tr in [course, basics][: n % 2 + 1]:
            enrolment = await factory.enrollment(tr, ent)
            enrolment.completed_at = datetime(2026, 3, 2, tzinfo=UTC)
            await factory.save(enrolment)
        if n % 2 == 0:
            await factory.save(
                SupplierLink(enterprise_id=ent.id, buyer_id=buyer.organisation_id, status=LinkStatus.active)
            )
    await progress.refresh(factory.session, ids)

    # The buyer sees the linked enterprises; the admin every record (the test's among them).
    for who, scope in ((buyer, ids[::2]), (admin, None)):
        r = await client.get("/v1/portfolio", headers=factory.auth(who))
        assert r.status_code == 200, r.text
        answer = r.json()
        same(answer, expected(await _records(factory.session, scope)))
    # What the figures promise (the admin's answer): a metric with only a baseline or only a
    # latest result is not measured.
    by_metric = {m["metric"]: m for m in answer["metrics"]}
    assert by_metric["electricity"]["enterprises_measured"] == 3
    assert by_metric["solid_waste"]["enterprises_measured"] == 1
    assert by_metric["diesel"]["enterprises_measured"] == 2
    assert by_metric["water"]["median_change_pct"] is not None
    assert answer["modules_completed"] == {"score4climate": 5, "score_basics": 2}
