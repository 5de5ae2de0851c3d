"""Lock order and transaction retry, on a real PostgreSQL with real commits.

- Many clients writing to ONE enterprise at once (enrollments, ideas and their transitions,
  visits, results, the enterprise itself, supplier links, expert assignments) never get a 5xx,
  meet no deadlock at all (the lock order of app/services/locking.py, not the retry, keeps
  them apart), and leave the data consistent.
- The deadlock found by the fuzzer, replayed step by step: `DELETE /v1/enrollments/{id}`
  waiting at commit for the progress lock while the holder of that lock inserts the same
  enterprise's first progress record.
- A deadlock or serialization failure that still happens is retried as a whole request on a
  fresh transaction, body and `Idempotency-Key` included; when the attempts run out the answer
  is 503 with `Retry-After`, never 500.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from uuid import UUID

import httpx
import orjson
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from pydantic import BaseModel
from sqlmodel import select

from app.db import Database
from app.deps import SessionDep
from app.errors import CONFLICT_DETAIL
from app.models.enums import LinkStatus, Module
from app.models.organisations import Organisation
from app.models.types import OrganisationKind
from app.services import progress_sql
from tests.factories import Factory
from tests.platform.test_faults import assert_503, client_for, own_app, plain_url, wait_until_quiet

CONFLICTS = "db_transaction_conflicts_total"


def conflicts(app: FastAPI, outcome: str | None = None) -> float:
    """Transaction conflicts the app has met so far (optionally only those with `outcome`)."""
    total = 0.0
    for metric in app.state.telemetry.registry.collect():
        for sample in metric.samples:
            if sample.name == CONFLICTS and outcome in (None, sample.labels["outcome"]):
                total += sample.value
    return total


async def backend_waits(url: str) -> list[tuple[str, str]]:
    """(wait_event_type, wait_event) of the app's connections that wait for a lock."""
    import asyncpg

    conn = await asyncpg.connect(plain_url(url), server_settings={"application_name": "lock-probe"})
    try:
        rows = await conn.fetch(
            "SELECT wait_event_type, wait_event FROM pg_stat_activity WHERE datname = current_database()"
            " AND application_name = 'score4climate-api' AND wait_event_type = 'Lock'"
        )
        return [(r["wait_event_type"], r["wait_event"]) for r in rows]
    finally:
        await conn.close()


async def until(condition: Callable[[], Awaitable[bool]], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not await condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {seconds} s")
        await asyncio.sleep(0.02)


# --- many clients, one enterprise ------------------------------------------------------------


WORKERS = 12
ROUNDS = 30
COMPLETED_AT = "2025-03-10T17:00:00Z"  # the trainings' start date (`Factory.training` in tests/factories.py)


@dataclass
class Seen:
    """What the clients were told: every status per operation, and the ids of 201s and 204s."""

    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    created: dict[str, set[str]] = field(default_factory=dict)
    deleted: dict[str, set[str]] = field(default_factory=dict)
    server_errors: list[str] = field(default_factory=list)

    def note(self, op: str, r: httpx.Response) -> None:
        self.statuses[(op, r.status_code)] += 1
        if r.status_code >= 500:
            self.server_errors.append(f"{op}: {r.status_code} {r.text}")


async def test_mixed_writes_on_one_enterprise_give_no_5xx_no_deadlock_and_consistent_data(
    app, live_client, live_factory, database
):
    f: Factory = live_factory
    partner_org = await f.org("partner")
    partner = await f.user("partner", organisation=partner_org)
    expert = await f.user("expert", organisation=partner_org)
    second_expert = await f.user("expert", organisation=partner_org)
    # Committed straight into the tables, as imported data would be: the enterprise has no
    # progress record yet; the first write that commits inserts it.
    ent = await f.enterprise(partner_org)
    await f.assign(ent, expert)
    sme = await f.user("sme", enterprise_id=ent.id)
    buyer_org = await f.org("buyer")
    buyer = await f.user("buyer", organisation=buyer_org)
    workshops = [await f.training(partner_org, Module.workplace_cooperation) for _ in range(3)]
    s4c = [await f.training(partner_org, Module.score4climate) for _ in range(3)]
    enrollments = [str((await f.enrollment(workshops[0], ent, completed=True)).id)]
    ideas = [str((await f.idea(ent)).id) for _ in range(4)]
    visits = [str((await f.visit(ent, expert)).id)]
    links = [str((await f.supplier_link(ent, buyer_org, LinkStatus.pending)).id)]
    results = [
        str((await f.result(ent, period_start=date(y, 1, 1), period_end=date(y, 12, 31))).id) for y in (2021, 2022)
    ]
    as_partner, as_expert, as_sme, as_buyer = f.auth(partner), f.auth(expert), f.auth(sme), f.auth(buyer)
    c = live_client
    seen = Seen()
    conflicts_before = conflicts(app)

    def created(kind: str, r: httpx.Response, into: list[str]) -> None:
        if r.status_code == 201:
            into.append(r.json()["id"])
            seen.created.setdefault(kind, set()).add(r.json()["id"])

    async def enrol(rng: random.Random) -> httpx.Response:
        training = rng.choice(workshops + s4c)
        body = {"enterprise_id": str(ent.id)}
        if training.module is Module.workplace_cooperation and rng.random() < 0.7:
            body["completed_at"] = COMPLETED_AT
        r = await c.post(f"/v1/trainings/{training.id}/enrollments", json=body, headers=as_partner)
        created("enrollment", r, enrollments)
        return r

    async def unenrol(rng: random.Random) -> httpx.Response:
        target = rng.choice(enrollments)
        r = await c.delete(f"/v1/enrollments/{target}", headers=as_partner)
        if r.status_code == 204:
            seen.deleted.setdefault("enrollment", set()).add(target)
        return r

    async def completion(rng: random.Random) -> httpx.Response:
        value = rng.choice([None, COMPLETED_AT])
        body = {"completed_at": value}
        return await c.patch(f"/v1/enrollments/{rng.choice(enrollments)}", json=body, headers=as_partner)

    async def new_idea(rng: random.Random) -> httpx.Response:
        body = {"enterprise_id": str(ent.id), "title": f"idea {rng.random()}", "category": "energy"}
        r = await c.post("/v1/ideas", json=body, headers=as_sme)
        created("idea", r, ideas)
        return r

    async def transition(rng: random.Random) -> httpx.Response:
        to = rng.choice(["approved", "in_progress", "implemented", "rejected"])
        return await c.post(f"/v1/ideas/{rng.choice(ideas)}/transitions", json={"to": to}, headers=as_expert)

    async def idea_to_visit(rng: random.Random) -> httpx.Response:
        body = {"visit_id": rng.choice(visits)}
        return await c.patch(f"/v1/ideas/{rng.choice(ideas)}", json=body, headers=as_expert)

    async def new_visit(rng: random.Random) -> httpx.Response:
        body = {
            "enterprise_id": str(ent.id),
            "scheduled_at": "2026-03-12T09:30:00Z",
            "kind": "consultation",
            "idea_ids": rng.sample(ideas, 2),
        }
        r = await c.post("/v1/visits", json=body, headers=as_expert)
        created("visit", r, visits)
        return r

    async def visit_ideas(rng: random.Random) -> httpx.Response:
        body = {"idea_ids": rng.sample(ideas, 2)}
        return await c.patch(f"/v1/visits/{rng.choice(visits)}", json=body, headers=as_expert)

    async def new_result(rng: random.Random) -> httpx.Response:
        year = rng.randint(1990, 2020)
        body = {
            "enterprise_id": str(ent.id),
            "metric": "water",
            "period_start": f"{year}-01-01",
            "period_end": f"{year}-12-31",
            "value": rng.uniform(1, 1000),
        }
        r = await c.post("/v1/results", json=body, headers=as_sme)
        created("result", r, results)
        return r

    async def drop_result(rng: random.Random) -> httpx.Response:
        target = rng.choice(results)
        r = await c.delete(f"/v1/results/{target}", headers=as_partner)
        if r.status_code == 204:
            seen.deleted.setdefault("result", set()).add(target)
        return r

    async def patch_enterprise(rng: random.Random) -> httpx.Response:
        body = {"employees_female": rng.randint(1, 500)}
        return await c.patch(f"/v1/enterprises/{ent.id}", json=body, headers=as_partner)

    async def invite(rng: random.Random) -> httpx.Response:
        r = await c.post("/v1/supplier-links", json={"enterprise_id": str(ent.id)}, headers=as_buyer)
        created("supplier_link", r, links)
        return r

    async def accept(rng: random.Random) -> httpx.Response:
        return await c.post(f"/v1/supplier-links/{rng.choice(links)}/accept", headers=as_sme)

    async def revoke(rng: random.Random) -> httpx.Response:
        return await c.post(f"/v1/supplier-links/{rng.choice(links)}/revoke", headers=as_buyer)

    async def assign_expert(rng: random.Random) -> httpx.Response:
        return await c.put(f"/v1/enterprises/{ent.id}/experts/{second_expert.id}", headers=as_partner)

    async def unassign_expert(rng: random.Random) -> httpx.Response:
        return await c.delete(f"/v1/enterprises/{ent.id}/experts/{second_expert.id}", headers=as_partner)

    operations: list[Callable[[random.Random], Awaitable[httpx.Response]]] = [
        enrol,
        unenrol,
        unenrol,
        completion,
        new_idea,
        transition,
        idea_to_visit,
        idea_to_visit,
        new_visit,
        visit_ideas,
        visit_ideas,
        new_result,
        drop_result,
        patch_enterprise,
        invite,
        accept,
        revoke,
        assign_expert,
        unassign_expert,
    ]

    async def client(n: int) -> None:
        rng = random.Random(n)
        for _ in range(ROUNDS):
            operation = rng.choice(operations)
            seen.note(operation.__name__, await operation(rng))

    async with asyncio.timeout(120):
        await asyncio.gather(*(client(n) for n in range(WORKERS)))

    assert seen.server_errors == [], seen.server_errors[:5]
    assert conflicts(app) == conflicts_before, "a deadlock happened (retried or not): the lock order has a gap"
    # Nearly every kind of write really wrote, not only refused. Which ones succeed depends on
    # the interleaving (an unenrolment can find every enrollment already gone), so two kinds
    # may go without a success in one run.
    wrote = {op for op, status in seen.statuses if status < 300}
    missing = [operation.__name__ for operation in operations if operation.__name__ not in wrote]
    assert len(missing) <= 2, (missing, seen.statuses)
    assert await wait_until_quiet(database.url) == []
    await assert_consistent(database, ent.id, buyer_org.id, seen)


async def assert_consistent(database: Database, enterprise_id: UUID, buyer_id: UUID, seen: Seen) -> None:
    async with database.engine.connect() as conn:

        async def rows(sql: str, **params: Any) -> list[Any]:
            return list((await conn.execute(sa.text(sql), params)).all())

        # The stored progress record is the record computed from the data as it is now.
        stored = await rows("SELECT record FROM progress_records WHERE enterprise_id = :id", id=enterprise_id)
        computed = await rows(
            f"SELECT record FROM ({progress_sql.COMPUTE}) c",  # noqa: S608 - the app's own SQL
            ids=[str(enterprise_id)],
        )
        assert len(stored) == 1 and len(computed) == 1
        record = dict(stored[0][0])
        assert record.pop("updated_at")
        assert record == computed[0][0]

        # The prerequisite rule: a score4climate enrollment only beside a completed prerequisite.
        modules = await rows(
            "SELECT t.module::text, e.completed_at IS NOT NULL FROM enrollments e JOIN trainings t"
            " ON t.id = e.training_id WHERE e.enterprise_id = :id",
            id=enterprise_id,
        )
        if any(module == "score4climate" for module, _ in modules):
            assert any(module != "score4climate" and completed for module, completed in modules), modules

        # At most one pending or active link per enterprise and buyer.
        open_links = await rows(
            "SELECT count(*) FROM supplier_links WHERE enterprise_id = :e AND buyer_id = :b AND status <> 'revoked'",
            e=enterprise_id,
            b=buyer_id,
        )
        assert open_links[0][0] <= 1

        # Every idea is where its chain of transitions led it, and the chain has no gap.
        steps: dict[UUID, list[tuple[str, str]]] = {}
        for idea_id, source, target in await rows(
            "SELECT idea_id, from_status::text, to_status::text FROM idea_transitions ORDER BY created_at, id"
        ):
            steps.setdefault(idea_id, []).append((source, target))
        for idea_id, status in await rows(
            "SELECT id, status::text FROM ideas WHERE enterprise_id = :id", id=enterprise_id
        ):
            chain = steps.get(idea_id, [])
            position = "proposed"
            for source, target in chain:
                assert source == position, (idea_id, chain)
                position = target
            assert status == position, (idea_id, status, chain)

        # What the clients were told is what happened: a row and a create event per 201, no
        # row and a delete event per 204.
        events = {
            (action, kind, str(object_id))
            for action, kind, object_id in await rows("SELECT action, object_type, object_id FROM audit_events")
        }
        for kind, ids in seen.created.items():
            for object_id in ids:
                assert ("create", kind, object_id) in events, (kind, object_id)
        for kind, ids in seen.deleted.items():
            for object_id in ids:
                assert ("delete", kind, object_id) in events, (kind, object_id)
                left = await rows(f"SELECT 1 FROM {kind}s WHERE id = :id", id=object_id)  # noqa: S608 - fixed names
                assert left == [], (kind, object_id)


# --- the fuzzer's deadlock, step by step -------------------------------------------------------


async def test_delete_enrollment_does_not_block_the_progress_refresh_of_another_write(
    app, live_client, live_factory, database
):
    """The other write's commit is played by a connection of the test: it holds the progress
    lock while the DELETE waits for it at commit, then inserts the enterprise's first progress
    record, as `progress.refresh` does. Its foreign-key check needs FOR KEY SHARE on the
    enterprise; the DELETE used to hold FOR UPDATE there: each waited for the other."""
    f: Factory = live_factory
    partner_org = await f.org("partner")
    partner = await f.user("partner", organisation=partner_org)
    ent = await f.enterprise(partner_org)  # no progress record yet
    first = await f.training(partner_org, Module.workplace_cooperation)
    second = await f.training(partner_org, Module.workplace_cooperation)
    doomed = await f.enrollment(first, ent, completed=True)
    await f.enrollment(second, ent, completed=True)
    conflicts_before = conflicts(app)

    async with asyncio.timeout(20), database.engine.connect() as other:
        await other.begin()
        await other.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": progress_sql.LOCK_KEY})
        delete = asyncio.create_task(live_client.delete(f"/v1/enrollments/{doomed.id}", headers=f.auth(partner)))

        async def delete_waits_for_progress_lock() -> bool:
            return ("Lock", "advisory") in await backend_waits(database.url)

        await until(delete_waits_for_progress_lock, 5, "the DELETE waiting for the progress lock")
        started = time.monotonic()
        await other.execute(sa.text(progress_sql.UPSERT), {"ids": [str(ent.id)]})
        inserted_after = time.monotonic() - started
        await other.commit()
        r = await delete

    assert r.status_code == 204, r.text
    assert inserted_after < 0.5, f"the refresh waited {inserted_after:.2f} s for the DELETE's lock"
    assert conflicts(app) == conflicts_before


# --- retry of the whole request -------------------------------------------------------------


class LockPair(BaseModel):
    first: UUID
    second: UUID


async def test_a_real_deadlock_is_retried_on_a_fresh_transaction(database_url):
    """A request and a connection of the test lock two rows in opposite orders: PostgreSQL
    aborts the request's transaction (deadlock_detected); the request runs again, body and all,
    and succeeds once the other transaction is gone."""
    async with own_app(database_url) as (app, database):
        runs: list[LockPair] = []

        @app.post("/_test/lock-pair")
        async def lock_pair(session: SessionDep, body: LockPair) -> dict[str, int]:
            runs.append(body)
            for org_id in (body.first, body.second):
                await session.exec(select(Organisation.id).where(Organisation.id == org_id).with_for_update())
            return {"runs": len(runs)}

        async with database.sessionmaker() as s:
            a, b = (Organisation(kind=OrganisationKind.partner, name=f"{n}-{uuid.uuid4().hex}") for n in "ab")
            s.add_all([a, b])
            await s.commit()

        async with asyncio.timeout(30), client_for(app) as c, database.engine.connect() as other:
            await other.begin()
            # The test's side must not be the one PostgreSQL picks: it checks for deadlocks later.
            await other.execute(sa.text("SET LOCAL deadlock_timeout = '20s'"))
            await other.execute(sa.text("SELECT 1 FROM organisations WHERE id = :id FOR UPDATE"), {"id": b.id})
            request = asyncio.create_task(c.post("/_test/lock-pair", json={"first": str(a.id), "second": str(b.id)}))

            async def request_waits() -> bool:
                return bool(await backend_waits(database.url))

            await until(request_waits, 5, "the request waiting for the second row")
            # Opposite order: a deadlock, which the request's backend detects after 1 s.
            await other.execute(sa.text("SELECT 1 FROM organisations WHERE id = :id FOR UPDATE"), {"id": a.id})
            await until(request_waits, 5, "the retried request waiting again")
            await other.rollback()
            r = await request

        assert r.status_code == 200, r.text
        assert r.json() == {"runs": 2}
        assert runs == [LockPair(first=a.id, second=b.id)] * 2  # the body was read again
        assert conflicts(app, "retried") == 1 and conflicts(app, "gave_up") == 0
        assert await wait_until_quiet(database_url) == []


INJECT = (
    "CREATE SEQUENCE test_conflict_attempts",
    """CREATE FUNCTION test_conflict() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF nextval('test_conflict_attempts') <= TG_ARGV[0]::int THEN
            RAISE EXCEPTION 'injected transaction conflict' USING ERRCODE = TG_ARGV[1];
        END IF;
        RETURN NEW;
    END $$""",
)


@dataclass
class Injector:
    """Makes PostgreSQL fail the first `times` inserts into ideas with `sqlstate` (a trigger),
    and counts the inserts tried (a sequence: not rolled back with the failed transactions)."""

    database: Database

    async def arm(self, times: int, sqlstate: str) -> None:
        async with self.database.engine.begin() as conn:
            await conn.execute(
                sa.text(
                    "CREATE TRIGGER test_conflict BEFORE INSERT ON ideas FOR EACH ROW "
                    f"EXECUTE FUNCTION test_conflict('{times}', '{sqlstate}')"
                )
            )

    async def disarm(self) -> None:
        async with self.database.engine.begin() as conn:
            await conn.execute(sa.text("DROP TRIGGER IF EXISTS test_conflict ON ideas"))

    async def attempts(self) -> int:
        async with self.database.engine.connect() as conn:
            value, called = (
                await conn.execute(sa.text("SELECT last_value, is_called FROM test_conflict_attempts"))
            ).one()
            return int(value) if called else 0


@pytest.fixture
async def injector(database: Database) -> AsyncIterator[Injector]:
    async with database.engine.begin() as conn:
        for statement in INJECT:
            await conn.execute(sa.text(statement))
    try:
        yield Injector(database)
    finally:
        async with database.engine.begin() as conn:
            await conn.execute(sa.text("DROP TRIGGER IF EXISTS test_conflict ON ideas"))
            await conn.execute(sa.text("DROP FUNCTION test_conflict()"))
            await conn.execute(sa.text("DROP SEQUENCE test_conflict_attempts"))


async def idea_rows(database: Database) -> dict[str, int]:
    async with database.engine.connect() as conn:
        counts = {}
        for table in ("ideas", "idempotency_keys", "audit_events"):
            counts[table] = int((await conn.execute(sa.text(f"SELECT count(*) FROM {table}"))).scalar_one())  # noqa: S608
        return counts


@pytest.mark.parametrize("sqlstate", ["40P01", "40001", "55P03"])
async def test_a_conflict_is_retried_and_the_idempotency_key_stays_right(
    app, live_client, live_factory, database, injector, sqlstate
):
    f: Factory = live_factory
    partner_org = await f.org("partner")
    ent = await f.enterprise(partner_org)
    sme = await f.user("sme", enterprise_id=ent.id)
    headers = {**f.auth(sme), "Idempotency-Key": f"retry-{sqlstate}"}
    body = {"enterprise_id": str(ent.id), "title": "Insulate the curing press", "category": "energy"}
    before = await idea_rows(database)
    retried_before = conflicts(app, "retried")
    await injector.arm(1, sqlstate)

    r = await live_client.post("/v1/ideas", json=body, headers=headers)

    assert r.status_code == 201, r.text
    assert r.json()["title"] == body["title"]
    assert await injector.attempts() == 2  # the first run failed, the second one wrote
    assert conflicts(app, "retried") == retried_before + 1
    after = await idea_rows(database)
    assert after["ideas"] == before["ideas"] + 1
    assert after["idempotency_keys"] == before["idempotency_keys"] + 1
    assert after["audit_events"] == before["audit_events"] + 1  # the failed run left nothing
    # The key remembers the answer of the run that committed.
    again = await live_client.post("/v1/ideas", json=body, headers=headers)
    assert again.status_code == 201 and again.headers.get("idempotent-replayed") == "true"
    assert orjson.loads(again.content) == r.json()
    assert (await idea_rows(database))["ideas"] == after["ideas"]


async def test_exhausted_retries_answer_503_with_retry_after_and_write_nothing(
    app, live_client, live_factory, database, injector
):
    f: Factory = live_factory
    partner_org = await f.org("partner")
    ent = await f.enterprise(partner_org)
    sme = await f.user("sme", enterprise_id=ent.id)
    headers = {**f.auth(sme), "Idempotency-Key": "always-conflicting"}
    body = {"enterprise_id": str(ent.id), "title": "Recover heat", "category": "energy"}
    before = await idea_rows(database)
    retried, gave_up = conflicts(app, "retried"), conflicts(app, "gave_up")
    await injector.arm(1_000_000, "40001")

    r = await live_client.post("/v1/ideas", json=body, headers=headers)

    assert_503(r)
    assert r.json()["detail"] == CONFLICT_DETAIL
    assert r.headers["retry-after"] == "1"
    assert "x-request-id" in r.headers
    assert await injector.attempts() == 3
    assert conflicts(app, "retried") == retried + 2 and conflicts(app, "gave_up") == gave_up + 1
    assert await idea_rows(database) == before
    # The key was not left claimed: once the conflicts stop, the same request goes through.
    await injector.disarm()
    r = await live_client.post("/v1/ideas", json=body, headers=headers)
    assert r.status_code == 201, r.text
