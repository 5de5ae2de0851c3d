"""The event feed misses nothing, even with writes committing while the reader pages.

Proven as the progress feed is (test_progress_sync.py): concurrent writers, some holding their
transaction open after their events are numbered, a reader paging with small pages and
resuming from its cursor, and at the end the reader's copy compared with the database. The
second test removes the mechanism that makes it hold (the commit-order lock) and shows the
reader then loses an event.
"""

from __future__ import annotations

import asyncio
import random
from datetime import date
from uuid import UUID

import pytest
import sqlalchemy as sa

from app.db import run_before_commit
from app.models.enums import LinkStatus, ResultSource
from app.models.results import Result
from app.models.supplier_links import SupplierLink
from app.services import locking

WRITERS = 4
WRITES_EACH = 10
ENTERPRISES = 6


def _result(enterprise_id: UUID, year: int, value: float) -> Result:
    return Result(
        enterprise_id=enterprise_id,
        metric="water",
        period_start=date(year, 1, 1),
        period_end=date(year, 12, 31),
        value=value,
        source=ResultSource.expert,
    )


async def _write(database, enterprise_ids, writer: int, slow: bool) -> None:
    rng = random.Random(writer)
    for n in range(WRITES_EACH):
        async with database.sessionmaker() as session:
            session.add(_result(rng.choice(enterprise_ids), 1900 + writer * WRITES_EACH + n, rng.uniform(1, 1000)))
            if slow:  # numbered, then held open, as a slow request would
                await run_before_commit(session)
                await asyncio.sleep(rng.uniform(0.005, 0.03))
            await session.commit()
        await asyncio.sleep(rng.uniform(0, 0.01))


async def _follow(client, headers, cursor, seen: list[str]) -> str:
    """Page through the feed from `cursor` to its current end; returns where to resume."""
    while True:
        params = {"limit": 3}
        if cursor:
            params["after"] = cursor
        r = await client.get("/v1/events", params=params, headers=headers)
        assert r.status_code == 200, r.text
        body = r.json()
        seen.extend(item["id"] for item in body["items"])
        cursor = body["next_cursor"]
        assert r.headers["X-Next-Cursor"] == cursor
        if "link" not in r.headers:
            return cursor


async def _linked_enterprises(live_factory, buyer, count: int) -> list[UUID]:
    partner_org = await live_factory.org("partner")
    ids = []
    for i in range(count):
        ent = await live_factory.enterprise(partner_org, name=f"e{i}", sector="10")
        await live_factory.save(
            SupplierLink(enterprise_id=ent.id, buyer_id=buyer.organisation_id, status=LinkStatus.active)
        )
        ids.append(ent.id)
    return ids


async def _events_of(database, recipient: UUID) -> list[str]:
    async with database.sessionmaker() as session:
        query = sa.text(
            "SELECT e.id::text FROM events e JOIN event_recipients r ON r.seq = e.seq "
            "WHERE r.recipient = :recipient ORDER BY e.seq"
        ).bindparams(recipient=recipient)
        return list((await session.exec(query)).scalars().all())


async def test_event_reader_misses_nothing(live_client, live_factory, database):
    buyer = await live_factory.user("buyer")
    ids = await _linked_enterprises(live_factory, buyer, ENTERPRISES)
    headers = live_factory.auth(buyer)
    seen: list[str] = []
    cursor = await _follow(live_client, headers, None, seen)
    writers = [asyncio.create_task(_write(database, ids, w, slow=w % 2 == 0)) for w in range(WRITERS)]
    follows = 0
    while not all(t.done() for t in writers):
        cursor = await _follow(live_client, headers, cursor, seen)
        follows += 1
    await asyncio.gather(*writers)
    await _follow(live_client, headers, cursor, seen)

    assert follows > 3, "the reader should have followed the feed while writers were running"
    truth = await _events_of(database, buyer.organisation_id)
    assert len(truth) >= WRITERS * WRITES_EACH, "every committed result is at least one progress.updated event"
    assert seen == truth, "the reader's events differ from the log: missed, repeated or out of order"


@pytest.mark.parametrize("ordered", [True, False], ids=["with-the-lock", "without-the-lock"])
async def test_without_the_commit_order_lock_a_reader_loses_events(
    ordered, live_client, live_factory, database, monkeypatch
):
    """A transaction numbered first but committing last: with the lock the later writer waits
    for it, so a reader never sees a number past one still to commit."""
    if not ordered:

        async def no_lock(_session) -> None:
            return None

        monkeypatch.setattr(locking, "commit_order_lock", no_lock)
    buyer = await live_factory.user("buyer")
    first_ent, second_ent = await _linked_enterprises(live_factory, buyer, 2)
    headers = live_factory.auth(buyer)
    seen: list[str] = []
    cursor = await _follow(live_client, headers, None, seen)

    async with database.sessionmaker() as slow:
        slow.add(_result(first_ent, 2020, 1.0))
        await run_before_commit(slow)  # numbered; not committed yet

        async def fast_writer() -> None:
            async with database.sessionmaker() as fast:
                fast.add(_result(second_ent, 2020, 2.0))
                await fast.commit()

        fast = asyncio.create_task(fast_writer())
        await asyncio.sleep(0.3)  # the fast writer commits now, unless it waits for the slow one
        assert fast.done() == (not ordered)
        cursor = await _follow(live_client, headers, cursor, seen)
        await slow.commit()
    await fast
    await _follow(live_client, headers, cursor, seen)

    truth = await _events_of(database, buyer.organisation_id)
    missed = set(truth) - set(seen)
    assert bool(missed) == (not ordered), f"missed: {missed}"
