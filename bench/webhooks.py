"""The webhook phase of `make bench` (issue 13): the write path with the outbox, and delivery by
one `score4climate worker` process to a local receiver. Runs after the progress pull in
`bench/run.py`, or alone: `python bench/webhooks.py` (about two minutes, no big seed).

It re-creates its own small database, `s4c_bench_webhooks`, on the bench's server: 50 buyers,
each linked to the same 100 enterprises. Every `POST /v1/results` then makes a `result.created`
event for all 50 buyers. Phases:

1. write path: `POST /v1/results` latency, sequential on one connection, alternating the app
   without the outbox (events neither noted nor published), the app with it and no endpoints,
   and (after step 2) the app with 50 subscribed endpoints;
2. one endpoint per buyer on the receiver; the writes of (1) leave a backlog;
3. throughput: one worker process drains the backlog; deliveries per second;
4. fan-out: single writes to an idle worker, time until all 50 are delivered;
5. steady stream at half the target rate (150 deliveries/s), p50/p99 commit to 2xx;
6. the same with one receiver refusing connections and one never answering.

Commit time is the event's `occurred_at` (stamped right before commit); delivery time is when
the receiver answers 2xx. Both are this machine's clock.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from uuid import UUID

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DB_NAME = "s4c_bench_webhooks"
BUYERS = 50
ENTERPRISES = 100
WRITES = int(os.environ.get("BENCH_WEBHOOK_WRITES", "100"))
"""Sequential writes per app variant and round of the write-path phase (2 rounds)."""
STREAM_SECONDS = float(os.environ.get("BENCH_WEBHOOK_STREAM", "20"))
HALF_RATE = 150.0
"""Deliveries per second of the steady stream: half of the 300/s target."""
FAN_OUTS = 10

# --- the receiver (a bare ASGI app, served by uvicorn in its own process) ---------------------

ARRIVALS: list[tuple[str, float, str]] = []


async def receiver(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """POST: note (webhook-id, time of the 2xx, path) and answer 200; `/hang…` never answers.
    GET /arrivals?from=N: the notes from the N-th on, as JSON."""
    path: str = scope["path"]
    if scope["method"] == "GET":
        start = int(scope["query_string"].decode().partition("=")[2] or 0)
        body = json.dumps(ARRIVALS[start:]).encode()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(body))]})
        await send({"type": "http.response.body", "body": body})
        return
    while (await receive()).get("more_body"):
        pass
    if path.startswith("/hang"):
        await asyncio.sleep(3600)
    hook_id = next((v.decode() for k, v in scope["headers"] if k == b"webhook-id"), "")
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"0")]})
    ARRIVALS.append((hook_id, time.time(), path))
    await send({"type": "http.response.body", "body": b""})


# --- helpers ---------------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    from bench.run import pct as percentile

    return percentile(values, q) if values else float("nan")


def start_process(name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    from bench.run import DATA_DIR

    log = open(DATA_DIR / f"bench-webhooks-{name}.log", "wb")
    full = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    return subprocess.Popen(args, cwd=ROOT, env=full, stdout=log, stderr=subprocess.STDOUT)


async def start_receiver() -> tuple[subprocess.Popen[bytes], int]:
    from bench.run import UVICORN, Conn, free_port

    port = free_port()
    args = [UVICORN, "bench.webhooks:receiver", "--host", "127.0.0.1", "--port", str(port), "--lifespan", "off"]
    args += ["--http", "httptools", "--loop", "uvloop", "--no-access-log", "--log-level", "warning"]
    proc = start_process("receiver", args + ["--timeout-graceful-shutdown", "1"], {})
    for _ in range(100):
        try:
            conn = Conn(port)
            await conn.get("/arrivals", {})
            conn.close()
            return proc, port
        except OSError:
            await asyncio.sleep(0.1)
    raise RuntimeError("the receiver did not start")


async def arrivals(port: int, start: int = 0) -> list[tuple[str, float, str]]:
    from bench.run import Conn

    conn = Conn(port)
    _, _, body = await conn.get(f"/arrivals?from={start}", {})
    conn.close()
    return [tuple(a) for a in json.loads(body)]  # type: ignore[misc]


def app_without_outbox() -> Any:
    """The app as it was before the event log: no event noted by audited writes, nothing
    published before commit (the `before` of the write-path figures)."""
    from app import db
    from app.main import create_app
    from app.services import events

    app = create_app()

    async def nothing(*_: Any, **__: Any) -> None:
        return None

    events.note_change = nothing  # type: ignore[assignment]
    db._before_commit.remove(events.publish_pending)
    return app


SEED = [
    "INSERT INTO organisations (id, created_at, updated_at, kind, name, country)"
    " VALUES (bench_uuid(1, 1), now(), now(), 'partner', 'Partner IN', 'IN')",
    f"""INSERT INTO organisations (id, created_at, updated_at, kind, name)
        SELECT bench_uuid(1, 100 + b), now(), now(), 'buyer', 'Lead buyer ' || b FROM generate_series(0, {BUYERS - 1}) b""",
    """INSERT INTO users (id, created_at, updated_at, email, password_hash, role, full_name, is_active, auth_version)
       VALUES (bench_uuid(2, 1), now(), now(), 'admin@bench.example', 'x', 'admin', 'Bench admin', true, 1)""",
    f"""INSERT INTO users (id, created_at, updated_at, email, password_hash, role, full_name, organisation_id,
                           is_active, auth_version)
        SELECT bench_uuid(2, 2000 + b), now(), now(), 'buyer' || b || '@bench.example', 'x', 'buyer', 'Buyer ' || b,
               bench_uuid(1, 100 + b), true, 1
        FROM generate_series(0, {BUYERS - 1}) b""",
    f"""INSERT INTO enterprises (id, created_at, updated_at, name, country, sector, partner_id, employees_female,
                                 employees_male, products, contact_email)
        SELECT bench_uuid(3, n), now(), now(), 'Enterprise ' || n, 'IN', '2219', bench_uuid(1, 1), 10, 20,
               'products', 'plant' || n || '@bench.example'
        FROM generate_series(1, {ENTERPRISES}) n""",
    f"""INSERT INTO supplier_links (id, created_at, updated_at, enterprise_id, buyer_id, status, accepted_at)
        SELECT gen_random_uuid(), now(), now(), bench_uuid(3, n), bench_uuid(1, 100 + b), 'active', now()
        FROM generate_series(0, {BUYERS - 1}) b, generate_series(1, {ENTERPRISES}) n""",
]


class World:
    """The database, the tokens and the writes."""

    def __init__(self, dsn: str, sa_url: str) -> None:
        from app.security import issue_token
        from bench import seed as S
        from bench.run import app_settings

        self.dsn, self.sa_url = dsn, sa_url
        self.settings = app_settings(sa_url)
        self.written = 0

        def token(user: int, role: str, org: int | None) -> str:
            return issue_token(
                self.settings,
                token_type="access",
                subject=UUID(S.bench_uuid(2, user)),
                kind="user",
                role=role,
                organisation_id=UUID(S.bench_uuid(1, org)) if org else None,
                version=1,
                ttl_seconds=3 * 3600,
            )[0]

        self.admin = token(1, "admin", None)
        self.buyers = [token(2000 + b, "buyer", 100 + b) for b in range(BUYERS)]
        self.enterprises = [S.bench_uuid(3, n) for n in range(1, ENTERPRISES + 1)]

    def result_body(self) -> bytes:
        """A new daily electricity result, round-robin over the enterprises (never a duplicate)."""
        from datetime import date, timedelta

        n = self.written
        self.written += 1
        day = (date(2020, 1, 1) + timedelta(days=n // ENTERPRISES)).isoformat()
        body = {"enterprise_id": self.enterprises[n % ENTERPRISES], "metric": "electricity"}
        return json.dumps({**body, "period_start": day, "period_end": day, "value": 100.0 + n % 50}).encode()

    async def write(self, conn: Any) -> float:
        """One `POST /v1/results`; its latency in ms."""
        start = time.perf_counter()
        status, _, body = await conn.request(
            "POST", "/v1/results", {"Authorization": f"Bearer {self.admin}"}, self.result_body()
        )
        if status != 201:
            raise RuntimeError(f"POST /v1/results: {status} {body[:300]!r}")
        return (time.perf_counter() - start) * 1000


async def create_database(admin_dsn: str, dsn: str, sa_url: str) -> None:
    from bench.run import small_database

    await small_database(admin_dsn, DB_NAME, SEED, analyze=True)


async def occurred(dsn: str) -> dict[str, float]:
    """Every event's id → its occurred_at (epoch seconds)."""
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT id::text, extract(epoch FROM occurred_at)::float8 FROM events")
    finally:
        await conn.close()
    return {r[0]: r[1] for r in rows}


async def delivery_counts(dsn: str) -> dict[str, int]:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT status::text, count(*) FROM webhook_deliveries GROUP BY 1")
    finally:
        await conn.close()
    return {r[0]: r[1] for r in rows}


# --- the phases ------------------------------------------------------------------------------


async def write_path(world: World, ports: dict[str, int], figures: dict[str, list[float]]) -> None:
    """Sequential writes on one keep-alive connection per server, alternating servers."""
    from bench.run import Conn

    for _ in range(2):
        for kind, port in ports.items():
            conn = Conn(port)
            for _ in range(10):  # warm the connection and the server's pool
                await world.write(conn)
            figures.setdefault(kind, []).extend([await world.write(conn) for _ in range(WRITES)])
            conn.close()
            f = figures[kind]
            print(f"  {kind:26} POST /v1/results p50 {pct(f, 50):6.2f} ms  p99 {pct(f, 99):6.2f} ms", flush=True)


async def drain(world: World, receiver_port: int, expected: int, start: int) -> tuple[float, int]:
    """Wait until `expected` deliveries arrived after the `start`-th; deliveries/s from the
    first arrival to the last, and how many arrived."""
    got: list[tuple[str, float, str]] = []
    last_change, last_count = time.monotonic(), -1
    while len(got) < expected and time.monotonic() - last_change < 15:
        await asyncio.sleep(2)
        got = await arrivals(receiver_port, start)
        if len(got) != last_count:
            last_change, last_count = time.monotonic(), len(got)
        print(f"    {len(got):,} of {expected:,} delivered", flush=True)
    times = [a[1] for a in got]
    rate = (len(times) - 1) / (max(times) - min(times)) if len(times) > 1 else float("nan")
    return rate, len(got)


async def stream(world: World, app_port: int, receiver_port: int, seconds: float) -> list[float]:
    """Writes at HALF_RATE / BUYERS per second, spread evenly (open loop); the commit-to-2xx
    latencies (ms) of their deliveries to the buyers' own receiver paths."""
    from bench.run import Conn

    start_index = len(await arrivals(receiver_port))
    interval = BUYERS / HALF_RATE
    conns = [Conn(app_port) for _ in range(4)]
    free: asyncio.Queue[Any] = asyncio.Queue()
    for conn in conns:
        free.put_nowait(conn)

    async def one() -> None:
        conn = await free.get()
        try:
            await world.write(conn)
        finally:
            free.put_nowait(conn)

    tasks = []
    begin = time.perf_counter()
    for k in range(int(seconds / interval)):
        await asyncio.sleep(max(0.0, begin + k * interval - time.perf_counter()))
        tasks.append(asyncio.create_task(one()))
    await asyncio.gather(*tasks)
    await asyncio.sleep(3)  # the last deliveries
    for conn in conns:
        conn.close()
    got = [a for a in await arrivals(receiver_port, start_index) if a[2].startswith("/hook")]
    stamps = await occurred(world.dsn)
    return [(t - stamps[i]) * 1000 for i, t, _ in got if i in stamps]


async def fan_out(world: World, app_port: int, receiver_port: int) -> list[float]:
    """Single writes to an idle worker: ms from commit until the last of the 50 deliveries."""
    from bench.run import Conn

    conn = Conn(app_port)
    spans: list[float] = []
    for _ in range(FAN_OUTS):
        start = len(await arrivals(receiver_port))
        await world.write(conn)
        got: list[tuple[str, float, str]] = []
        for _ in range(100):
            await asyncio.sleep(0.1)
            got = [a for a in await arrivals(receiver_port, start) if a[2].startswith("/hook")]
            if len(got) >= BUYERS:
                break
        stamps = await occurred(world.dsn)
        if len(got) < BUYERS:
            raise RuntimeError(f"fan-out: {len(got)} of {BUYERS} delivered")
        spans.append((max(t for _, t, _ in got) - stamps[got[0][0]]) * 1000)
        await asyncio.sleep(0.5)
    conn.close()
    return spans


async def endpoints(world: World, app_port: int, urls: list[tuple[int, str]]) -> None:
    from bench.run import Conn

    conn = Conn(app_port)
    for buyer, url in urls:
        body = json.dumps({"url": url, "event_types": ["result.created"]}).encode()
        auth = {"Authorization": f"Bearer {world.buyers[buyer]}"}
        status, _, text = await conn.request("POST", "/v1/webhook-endpoints", auth, body)
        if status != 201:
            raise RuntimeError(f"endpoint: {status} {text[:300]!r}")
    conn.close()


def start_worker(world: World) -> subprocess.Popen[bytes]:
    from bench.run import DATA_DIR

    env = {"DATABASE_URL": world.sa_url, "ENVIRONMENT": "test", "DATA_DIR": str(DATA_DIR)}
    profile = os.environ.get("BENCH_WORKER_PROFILE")  # a file: the worker runs under cProfile
    python = [sys.executable] + (["-m", "cProfile", "-o", profile] if profile else [])
    return start_process("worker", python + ["-m", "app.cli", "worker"], env)


async def measure(admin_dsn: str) -> str:
    from app.embedded_db import with_database
    from bench.run import free_port, start_server, stop_server

    dsn = with_database(admin_dsn, DB_NAME)
    sa_url = dsn.replace("postgresql://", "postgresql+asyncpg://", 1)
    print(f"\n== webhooks: {DB_NAME} ({BUYERS} buyers x {ENTERPRISES} enterprises)", flush=True)
    await create_database(admin_dsn, dsn, sa_url)
    world = World(dsn, sa_url)
    procs: list[subprocess.Popen[bytes]] = []
    fig: dict[str, Any] = {}
    try:
        rec, rport = await start_receiver()
        procs.append(rec)
        secret = world.settings.signing_key
        before, bport = await start_server("app-no-outbox", sa_url, dsn, secret, "bench.webhooks:app_without_outbox")
        procs.append(before)
        app, aport = await start_server("app", sa_url, dsn, secret)
        procs.append(app)

        print("  (1) write path, no endpoints", flush=True)
        writes: dict[str, list[float]] = {}
        await write_path(world, {"without outbox": bport, "with outbox, no endpoints": aport}, writes)
        await endpoints(world, aport, [(b, f"http://127.0.0.1:{rport}/hook/{b}") for b in range(BUYERS)])
        print("  (1) write path, 50 endpoints subscribed (no worker: the backlog of (3))", flush=True)
        await write_path(world, {"without outbox": bport, "with outbox, 50 endpoints": aport}, writes)
        fig["writes"] = writes
        backlog = (await delivery_counts(dsn)).get("pending", 0)

        print(f"  (3) one worker drains {backlog:,} deliveries", flush=True)
        worker = start_worker(world)
        procs.append(worker)
        fig["rate"], fig["drained"] = await drain(world, rport, backlog, 0)
        fig["backlog"] = backlog
        print(f"  (3) {fig['rate']:.0f} deliveries/s by one worker", flush=True)

        print(f"  (4) fan-out: {FAN_OUTS} single writes, each to {BUYERS} endpoints", flush=True)
        fig["fan_out"] = await fan_out(world, aport, rport)
        print(f"  (4) all {BUYERS} delivered {pct(fig['fan_out'], 50):.0f} ms after commit (median)", flush=True)

        print(f"  (5) steady stream: {HALF_RATE / BUYERS:g} writes/s ({HALF_RATE:g} deliveries/s)", flush=True)
        fig["steady"] = await stream(world, aport, rport, STREAM_SECONDS)
        print(f"  (5) p50 {pct(fig['steady'], 50):.0f} ms, p99 {pct(fig['steady'], 99):.0f} ms", flush=True)

        down = [(0, f"http://127.0.0.1:{free_port()}/refused"), (1, f"http://127.0.0.1:{rport}/hang")]
        await endpoints(world, aport, down)
        print("  (6) the same with two more endpoints: connection refused, and never answering", flush=True)
        fig["down"] = await stream(world, aport, rport, STREAM_SECONDS)
        print(f"  (6) p50 {pct(fig['down'], 50):.0f} ms, p99 {pct(fig['down'], 99):.0f} ms", flush=True)
        fig["counts"] = await delivery_counts(dsn)
    finally:
        for proc in reversed(procs):
            stop_server(proc)
    return report(fig)


def report(fig: dict[str, Any]) -> str:
    writes: dict[str, list[float]] = fig["writes"]
    base = writes["without outbox"]
    lines = [
        "| `POST /v1/results`, sequential | writes | p50 ms | p99 ms | p50 / without outbox |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for kind, values in writes.items():
        ratio = pct(values, 50) / pct(base, 50)
        lines.append(f"| {kind} | {len(values)} | {pct(values, 50):.2f} | {pct(values, 99):.2f} | {ratio:.2f} |")
    rate, steady, down, spans = fig["rate"], fig["steady"], fig["down"], fig["fan_out"]
    targets = [
        ("one worker ≥ 300 deliveries/s", f"{rate:.0f}/s ({fig['drained']:,} of {fig['backlog']:,})", rate >= 300),
        (
            f"p99 commit → 2xx < 500 ms at {HALF_RATE:g}/s",
            f"p50 {pct(steady, 50):.0f} ms, p99 {pct(steady, 99):.0f} ms ({len(steady):,})",
            pct(steady, 99) < 500,
        ),
        (
            "a receiver down does not slow the others",
            f"p50 {pct(down, 50):.0f} ms, p99 {pct(down, 99):.0f} ms ({len(down):,})",
            pct(down, 99) < max(500, 1.5 * pct(steady, 99)),
        ),
    ]
    lines += ["", "| webhook target | measured | result |", "| --- | ---: | --- |"]
    lines += [f"| {name} | {value} | {'pass' if ok else 'FAIL'} |" for name, value, ok in targets]
    lines += [
        "",
        f"Fan-out of one write to {BUYERS} endpoints, commit to the last 2xx, {len(spans)} writes to an idle "
        f"worker: median {pct(spans, 50):.0f} ms, max {max(spans):.0f} ms. Deliveries at the end: {fig['counts']}. "
        f"{os.cpu_count()} CPUs shared by PostgreSQL, the app, one `score4climate worker`, the receiver "
        "(uvicorn, httptools) and the bench.",
    ]
    return "\n".join(lines)


def main() -> None:
    from bench.run import run_phase

    run_phase(measure, "webhooks", "Webhook benchmark (`bench/webhooks.py`)")


if __name__ == "__main__":
    main()
