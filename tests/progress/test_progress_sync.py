"""Incremental sync misses nothing, even with writes committing while the reader pages."""

from __future__ import annotations

import asyncio
import random
from datetime import date

import sqlalchemy as sa

from app.db import run_before_commit
from app.models.enums import LinkStatus, ResultSource
from app.models.results import Result
from app.models.supplier_links import SupplierLink

WRITERS = 4
WRITES_EACH = 12
ENTERPRISES = 6


async def _write(database, enterprise_ids, writer: int, slow: bool) -> None:
    rng = random.Random(writer)
    for n in range(WRITES_EACH):
        async with database.sessionmaker() as session:
            year = 2000 + writer * WRITES_EACH + n  # a distinct period per write
            session.add(
                Result(
                    enterprise_id=rng.choice(enterprise_ids),
                    metric="water",
                    period_start=date(year, 1, 1),
                    period_end=date(year, 12, 31),
                    value=rng.uniform(1, 1000),
                    source=ResultSource.expert,
                )
            )
            if slow:
                # Hold the transaction open after the record is stamped, as a slow request would.
                await run_before_commit(session)
                await asyncio.sleep(rng.uniform(0.005, 0.03))
                await session.commit()
            else:
                await session.commit()
        await asyncio.sleep(rng.uniform(0, 0.01))


async def _pull(client, headers, since, copy) -> str | None:
    params = {"limit": 4}
    if since:
        params["updated_since"] = since
    highest = since
    while True:
        r = await client.get("/v1/progress", params=params, headers=headers)
        assert r.status_code == 200, r.text
        body = r.json()
        for item in body["items"]:
            copy[item["enterprise"]["id"]] = item
            highest = max(highest or item["updated_at"], item["updated_at"])
        if not body["next_cursor"]:
            return highest
        params["cursor"] = body["next_cursor"]


async def test_sync_reader_misses_nothing(live_client, live_factory, database):
    buyer = await live_factory.user("buyer")
    partner_org = await live_factory.org("partner")
    ids = []
    for i in range(ENTERPRISES):
        ent = await live_factory.enterprise(partner_org, name=f"e{i}", sector="10")
        await live_factory.save(
            SupplierLink(enterprise_id=ent.id, buyer_id=buyer.organisation_id, status=LinkStatus.active)
        )
        ids.append(ent.id)
    async with database.sessionmaker() as session:
        from app.services import progress

        await progress.refresh(session, ids)
        await session.commit()

    headers = live_factory.auth(buyer)
    copy: dict[str, dict] = {}
    since = await _pull(live_client, headers, None, copy)
    writers = [asyncio.create_task(_write(database, ids, w, slow=w % 2 == 0)) for w in range(WRITERS)]
    pulls = 0
    while not all(t.done() for t in writers):
        since = await _pull(live_client, headers, since, copy)
        pulls += 1
    await asyncio.gather(*writers)
    await _pull(live_client, headers, since, copy)

    truth: dict[str, dict] = {}
    await _pull(live_client, headers, None, truth)
    assert pulls > 3, "the reader should have synced while writers were running"
    assert set(copy) == set(truth) == {str(i) for i in ids}
    for eid, record in truth.items():
        assert copy[eid] == record, f"reader's copy of {eid} is stale"
    # And the truth itself is the database's: each enterprise's latest water result.
    async with database.sessionmaker() as session:
        rows = (
            await session.exec(
                sa.text(
                    "SELECT DISTINCT ON (enterprise_id) enterprise_id::text, value FROM results "
                    "ORDER BY enterprise_id, period_end DESC"
                )
            )
        ).all()
    assert len(rows) == ENTERPRISES
    for eid, value in rows:
        water = next(m for m in copy[eid]["metrics"] if m["metric"] == "water")
        assert water["latest"]["value"] == value
