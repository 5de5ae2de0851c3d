"""`make bench`: seed a realistic data set, serve the app and a bare-ASGI ceiling, and measure
the progress pull over HTTP on loopback (issue 4). Prints a table and writes it to
.data/bench-results.md.

Environment:
  BENCH_DATABASE_URL  a PostgreSQL server to use (any database on it; `s4c_bench` is re-created
                      there). Unset: the embedded server under .data/bench-pg.
  BENCH_DURATION      seconds per load phase (default 8).
  BENCH_SKIP_SEED=1   reuse an already seeded `s4c_bench` (iterate on the app quickly).
  BENCH_ONLY=webhooks only the webhook phase (bench/webhooks.py, its own small database).
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote
from uuid import UUID

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app import embedded_db  # noqa: E402
from app.embedded_db import with_database  # noqa: E402
from bench import seed as S  # noqa: E402

DATA_DIR = ROOT / ".data"
DB_NAME = "s4c_bench"
DURATION = float(os.environ.get("BENCH_DURATION", "8"))
UVICORN = str(Path(sys.executable).parent / "uvicorn")
PAGE_CONCURRENCY = 8
SINGLE_CONCURRENCY = 16
PACED_CONNECTIONS = 32


# --- database -------------------------------------------------------------------------------


def server_dsn() -> str:
    """Plain asyncpg DSN of the server's `postgres` database."""
    explicit = os.environ.get("BENCH_DATABASE_URL")
    if explicit:
        url = explicit.replace("postgresql+asyncpg://", "postgresql://", 1)
        return with_database(url, "postgres")
    socket_dir, user = embedded_db.start(DATA_DIR, folder="bench-pg")
    return f"postgresql://{user}@/postgres?host={socket_dir}"


async def recreate(admin_dsn: str) -> None:
    await embedded_db.recreate_database(admin_dsn, DB_NAME)


def migrate(sa_url: str) -> None:
    from app.cli import migrate as apply_migrations

    apply_migrations(sa_url)


def app_settings(sa_url: str):  # type: ignore[no-untyped-def]
    from app.config import Settings

    return Settings(
        database_url=sa_url, data_dir=DATA_DIR, environment="test", db_statement_timeout_ms=600_000, log_level="WARNING"
    )


async def refresh_progress(sa_url: str, ids: list[UUID], chunk: int = 1000) -> None:
    from app.db import Database
    from app.services import progress

    db = Database(sa_url, app_settings(sa_url))
    try:
        async with db.sessionmaker() as session:
            for start in range(0, len(ids), chunk):
                await progress.refresh(session, ids[start : start + chunk])
                await session.commit()
    finally:
        await db.dispose()


# --- a small HTTP/1.1 client (keep-alive, Content-Length or chunked) -------------------------


class Conn:
    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, target: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        return await self.request("GET", target, headers)

    async def request(
        self, method: str, target: str, headers: dict[str, str], body: bytes | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port, limit=1 << 20)
        assert self.reader is not None
        if body is not None:
            headers = {**headers, "Content-Type": "application/json", "Content-Length": str(len(body))}
        lines = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        head = f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n{lines}\r\n".encode()
        self.writer.write(head + (body or b""))
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        hdrs = {}
        for line in header_lines:
            if ":" in line:
                k, v = line.split(":", 1)
                hdrs[k.strip().lower()] = v.strip()
        if "content-length" in hdrs:
            body = await self.reader.readexactly(int(hdrs["content-length"]))
        elif hdrs.get("transfer-encoding") == "chunked":
            parts = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                parts.append(await self.reader.readexactly(size + 2))
                if size == 0:
                    break
            body = b"".join(p[:-2] for p in parts)
        else:
            body = b""
        return status, hdrs, body

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


SYNC_BYTES = [0, 0]
"""Body bytes and records seen by full_sync, for the average progress record size."""


def next_cursor_of(body: bytes) -> str | None:
    tail = body[body.rfind(b'"next_cursor":') + 14 :].rstrip(b"}").strip()
    return None if tail == b"null" else tail.strip(b'"').decode()


async def full_sync(port: int, token: str, extra: str = "") -> tuple[float, int, int]:
    """Follow next_cursor to the end; returns (seconds, records, pages). Adds the body bytes
    and records to SYNC_BYTES (for the average record size)."""
    conn = Conn(port)
    auth = {"Authorization": f"Bearer {token}"}
    start = time.perf_counter()
    cursor, records, pages = None, 0, 0
    while True:
        target = "/v1/progress?limit=500" + extra + (f"&cursor={cursor}" if cursor else "")
        status, _, body = await conn.get(target, auth)
        if status != 200:
            raise RuntimeError(f"{target}: {status} {body[:300]!r}")
        records += body.count(b'"enterprise": {')
        SYNC_BYTES[0] += len(body)
        SYNC_BYTES[1] += body.count(b'"enterprise": {')
        pages += 1
        cursor = next_cursor_of(body)
        if cursor is None:
            break
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed, records, pages


def record_bytes() -> float:
    return SYNC_BYTES[0] / SYNC_BYTES[1] if SYNC_BYTES[1] else float("nan")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


# --- load with wrk ---------------------------------------------------------------------------


def ensure_wrk() -> str:
    path = shutil.which("wrk")
    if path:
        return path
    print("wrk is missing: installing it (apt-get install -y wrk)", flush=True)
    subprocess.run(["apt-get", "update", "-qq"], check=False)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True)
    path = shutil.which("wrk")
    if not path:
        raise SystemExit("wrk could not be installed")
    return path


def lua_paths(name: str, paths: list[str], delay_ms: int | None = None) -> Path:
    """A wrk script requesting random paths; with `delay_ms`, each connection pauses on average
    that long between requests (paced load: connections x 1000 / delay_ms requests per second at
    most). The pause is drawn uniformly from 0..2 x delay_ms so that the connections do not fire
    in lock-step bursts, which would measure the burst rather than the rate."""
    script = DATA_DIR / f"bench-{name}.lua"
    body = ",\n".join(f'"{p}"' for p in paths)
    pace = f"delay = function() return math.random(0, {2 * delay_ms}) end\n" if delay_ms is not None else ""
    script.write_text(
        f"local paths = {{\n{body}\n}}\n"
        "math.randomseed(os.time())\n"
        'request = function() return wrk.format("GET", paths[math.random(#paths)]) end\n' + pace
    )
    return script


def wrk_cmd(port: int, token: str, target: str, conns: int, duration: float, script: Path | None = None) -> list[str]:
    cmd = [ensure_wrk(), "-t1", f"-c{conns}", f"-d{int(duration)}s", "--latency"]
    cmd += ["-H", f"Authorization: Bearer {token}"]
    if script is not None:
        cmd += ["-s", str(script)]
    return cmd + [f"http://127.0.0.1:{port}{target}"]


UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def parse_wrk(output: str) -> dict[str, float]:
    """Requests/s and the latency percentiles (ms) of a `wrk --latency` run."""
    match = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if not match:
        raise RuntimeError("wrk output without Requests/sec:\n" + output)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if bad:
        print(f"    ! wrk saw {bad.group(1)} non-2xx answers", flush=True)
    result = {"rps": float(match.group(1))}
    for q, value, unit in re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.M):
        result[f"p{q}"] = float(value) * UNITS[unit]
    return result


async def run_wrk(cmd: list[str]) -> dict[str, float]:
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    return parse_wrk(out.decode())


# --- servers ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def start_server(
    kind: str, sa_url: str, dsn: str, secret: str, factory: str | None = None
) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": sa_url,
        "ENVIRONMENT": "test",
        "DATA_DIR": str(DATA_DIR),
        "RATE_LIMIT_PER_MINUTE": "100000000",
        "CEILING_DSN": dsn,
        "CEILING_SECRET": secret,
    }
    factory = factory or ("app.main:create_app" if kind == "app" else "bench.ceiling:create_app")
    log = open(DATA_DIR / f"bench-{kind}.log", "wb")
    proc = subprocess.Popen(
        [UVICORN, "--factory", factory, "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
        + ["--http", "httptools", "--loop", "uvloop", "--no-access-log", "--log-level", "warning"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{kind} server exited; see {log.name}")
        try:
            conn = Conn(port)
            status, _, _ = await conn.get("/healthz", {})
            conn.close()
            if status == 200:
                return proc, port
        except OSError:
            pass
        await asyncio.sleep(0.2)
    proc.terminate()
    raise RuntimeError(f"{kind} server did not start; see {log.name}")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


# --- the measurements ------------------------------------------------------------------------


@dataclass
class Figures:
    values: dict[str, float] = field(default_factory=dict)


@dataclass
class Ctx:
    sa_url: str
    dsn: str
    buyer_token: str
    admin_token: str
    enterprise_paths: list[str]
    buyer_suppliers: list[UUID]


async def touch(ctx: Ctx, ids: list[UUID]) -> str:
    """Re-run the refresh of `ids` so their updated_at moves; returns updated_since just before."""
    conn = await asyncpg.connect(ctx.dsn)
    try:
        before = await conn.fetchval("SELECT max(updated_at) FROM progress_records")
    finally:
        await conn.close()
    await refresh_progress(ctx.sa_url, ids)
    return quote((before + timedelta(microseconds=1)).isoformat())


ROUNDS = 2
"""Load phases alternate app and ceiling this many times (each DURATION / ROUNDS seconds) and
report the mean, so that drift of a shared, noisy machine falls on both alike."""


async def alternate(ports: dict[str, int], run: Any) -> dict[str, list[dict[str, float]]]:
    out: dict[str, list[dict[str, float]]] = {kind: [] for kind in ports}
    for _ in range(ROUNDS):
        for kind, port in ports.items():
            out[kind].append(await run(kind, port))
    return out


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


async def measure(ctx: Ctx, ports: dict[str, int]) -> dict[str, dict[str, float]]:
    f: dict[str, dict[str, float]] = {kind: {} for kind in ports}
    buyer, admin = ctx.buyer_token, ctx.admin_token
    part = DURATION / ROUNDS
    # (2) full sync, cold (first requests after start) then warm.
    for run in ("cold", "warm"):
        for kind, port in ports.items():
            for who, token, expected in (("buyer", buyer, 2000), ("admin", admin, S.ENTERPRISES)):
                seconds, records, pages = await full_sync(port, token)
                if records != expected:
                    raise RuntimeError(f"{kind} {who} sync got {records} records, expected {expected}")
                f[kind][f"sync_{who}_{run}"] = seconds
                print(
                    f"  {kind:8} full sync {who:5} {run}: {seconds:6.3f} s ({records} records, {pages} pages)",
                    flush=True,
                )

    print(f"  average progress record in a page: {record_bytes():,.0f} B", flush=True)

    # (1) page throughput: the buyer's first page, authenticated.
    async def pages(kind: str, port: int) -> dict[str, float]:
        return await run_wrk(wrk_cmd(port, buyer, "/v1/progress?limit=500", PAGE_CONCURRENCY, part))

    for kind, runs in (await alternate(ports, pages)).items():
        f[kind]["pages_per_s"] = mean([r["rps"] for r in runs])
        print(f"  {kind:8} page throughput: {f[kind]['pages_per_s']:.1f} pages/s", flush=True)

    # (3) single record: max requests/s over random enterprises (admin), then p50/p99 at 70 %.
    script = lua_paths("single", ctx.enterprise_paths)

    async def single(kind: str, port: int) -> dict[str, float]:
        return await run_wrk(wrk_cmd(port, admin, "/", SINGLE_CONCURRENCY, part, script))

    for kind, runs in (await alternate(ports, single)).items():
        f[kind]["single_rps"] = mean([r["rps"] for r in runs])

    async def paced(kind: str, port: int) -> dict[str, float]:
        rate = 0.7 * f[kind]["single_rps"]
        delay = max(1, round(PACED_CONNECTIONS * 1000 / rate))
        pacing = lua_paths(f"single-paced-{kind}", ctx.enterprise_paths, delay_ms=delay)
        return await run_wrk(wrk_cmd(port, admin, "/", PACED_CONNECTIONS, part, pacing))

    for kind, runs in (await alternate(ports, paced)).items():
        f[kind]["single_paced_rps"] = mean([r["rps"] for r in runs])
        f[kind]["single_p50_ms"] = mean([r["p50"] for r in runs])
        f[kind]["single_p99_ms"] = mean([r["p99"] for r in runs])
        print(
            f"  {kind:8} single record: {f[kind]['single_rps']:.0f} req/s max; at {f[kind]['single_paced_rps']:.0f}"
            f" req/s p50 {f[kind]['single_p50_ms']:.2f} ms, p99 {f[kind]['single_p99_ms']:.2f} ms",
            flush=True,
        )

    # (4) incremental sync: 100 changed records pulled with updated_since while (1) runs.
    for kind, port in ports.items():
        changed = random.sample(ctx.buyer_suppliers, 100)
        since = await touch(ctx, changed)
        load = asyncio.create_task(
            run_wrk(wrk_cmd(port, buyer, "/v1/progress?limit=500", PAGE_CONCURRENCY, DURATION + 1))
        )
        await asyncio.sleep(0.5)
        pulls: list[float] = []
        deadline = time.perf_counter() + DURATION - 0.5
        while time.perf_counter() < deadline:
            seconds, records, _ = await full_sync(port, buyer, f"&updated_since={since}")
            if records != 100:
                raise RuntimeError(f"{kind} incremental pull got {records} records, expected 100")
            pulls.append(seconds)
        g = f[kind]
        g["pages_per_s_during_incremental"] = (await load)["rps"]
        g["incr_p50_ms"], g["incr_p99_ms"] = pct(pulls, 50) * 1000, pct(pulls, 99) * 1000
        print(
            f"  {kind:8} incremental pull (100 records, {len(pulls)} pulls under page load): "
            f"p50 {g['incr_p50_ms']:.2f} ms, p99 {g['incr_p99_ms']:.2f} ms",
            flush=True,
        )
    return f


async def same_bytes(app_port: int, ceiling_port: int, ctx: Ctx) -> bool:
    ok = True
    for target, token in (
        ("/v1/progress?limit=500", ctx.buyer_token),
        ("/v1/progress?limit=500", ctx.admin_token),
        (ctx.enterprise_paths[0], ctx.admin_token),
    ):
        a, c = Conn(app_port), Conn(ceiling_port)
        auth = {"Authorization": f"Bearer {token}"}
        (sa, _, ba), (sc, _, bc) = await a.get(target, auth), await c.get(target, auth)
        cursor = next_cursor_of(ba) if target.startswith("/v1/progress") else None
        if cursor:  # and the second page, through the cursor
            (_, _, ba2), (_, _, bc2) = (
                await a.get(f"{target}&cursor={cursor}", auth),
                await c.get(f"{target}&cursor={cursor}", auth),
            )
            ba, bc = ba + ba2, bc + bc2
        a.close()
        c.close()
        if sa != 200 or sc != 200 or ba != bc:
            print(f"  ! {target}: app {sa} ({len(ba)} B) and ceiling {sc} ({len(bc)} B) differ", flush=True)
            ok = False
    return ok


# --- report ----------------------------------------------------------------------------------

ROWS = [
    # key, label, unit, higher is better
    ("pages_per_s", "(1) page throughput, buyer, limit=500", "pages/s", True),
    ("sync_buyer_cold", "(2) full sync buyer (2,000), cold", "s", False),
    ("sync_buyer_warm", "(2) full sync buyer (2,000), warm", "s", False),
    ("sync_admin_cold", "(2) full sync admin (10,000), cold", "s", False),
    ("sync_admin_warm", "(2) full sync admin (10,000), warm", "s", False),
    ("single_rps", "(3) single record, max", "req/s", True),
    ("single_paced_rps", "(3) single record, paced at 70 % of max", "req/s", True),
    ("single_p50_ms", "(3) single record p50 at 70 % of max", "ms", False),
    ("single_p99_ms", "(3) single record p99 at 70 % of max", "ms", False),
    ("incr_p50_ms", "(4) incremental pull of 100, p50, under (1)", "ms", False),
    ("incr_p99_ms", "(4) incremental pull of 100, p99, under (1)", "ms", False),
    ("pages_per_s_during_incremental", "(1) page throughput during (4)", "pages/s", True),
]


def report(app: dict[str, float], ceiling: dict[str, float], seed_seconds: float, identical: bool) -> str:
    def fmt(v: float) -> str:
        return f"{v:,.3f}" if v < 10 else f"{v:,.1f}"

    lines = [
        "| figure | unit | app | ceiling | app/ceiling |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for key, label, unit, higher in ROWS:
        a, c = app[key], ceiling[key]
        ratio = (a / c if higher else c / a) if a and c else float("nan")
        lines.append(f"| {label} | {unit} | {fmt(a)} | {fmt(c)} | {ratio:.2f} |")
    page_ratio = app["pages_per_s"] / ceiling["pages_per_s"]
    single_ratio = app["single_rps"] / ceiling["single_rps"]
    app_spread = app["single_p99_ms"] / app["single_p50_ms"]
    ceiling_spread = ceiling["single_p99_ms"] / ceiling["single_p50_ms"]
    targets = [
        ("page throughput ≥ 0.9 of ceiling", f"{page_ratio:.2f}", page_ratio >= 0.9),
        ("single record ≥ 0.6 of ceiling", f"{single_ratio:.2f}", single_ratio >= 0.6),
        ("full sync of all 10,000 < 0.5 s warm", f"{app['sync_admin_warm']:.3f} s", app["sync_admin_warm"] < 0.5),
        ("incremental-sync p99 < 50 ms", f"{app['incr_p99_ms']:.1f} ms", app["incr_p99_ms"] < 50),
        (
            "p99/p50 at 70 % load ≤ 1.3 × the ceiling's",
            f"{app_spread:.2f} vs {ceiling_spread:.2f}",
            app_spread <= 1.3 * ceiling_spread,
        ),
    ]
    lines += ["", "| target (app) | measured | result |", "| --- | ---: | --- |"]
    lines += [f"| {name} | {value} | {'pass' if ok else 'FAIL'} |" for name, value, ok in targets]
    lines += [
        "",
        f"Ratios are app/ceiling for rates and ceiling/app for times (1.00 = as fast as the ceiling). "
        f"Seeding took {seed_seconds:.0f} s. Average progress record in a page: {record_bytes():,.0f} B. Same bytes from app and ceiling: {'yes' if identical else 'NO'}. "
        f"{os.cpu_count()} CPUs, {DURATION:.0f} s per load phase and server, in {ROUNDS} alternating "
        f"app/ceiling runs (mean), wrk -t1 -c{PAGE_CONCURRENCY} (pages) / "
        f"-c{SINGLE_CONCURRENCY} (single), 70 % load paced by a wrk script ({PACED_CONNECTIONS} connections, "
        "each pausing between requests; latencies as wrk measures them).",
    ]
    return "\n".join(lines)


# --- main ------------------------------------------------------------------------------------


async def seeded_context(sa_url: str, dsn: str) -> Ctx:
    from app.security import issue_token

    settings = app_settings(sa_url)

    def token(user: int, role: str, org: str | None) -> str:
        return issue_token(
            settings,
            token_type="access",
            subject=UUID(S.bench_uuid(S.K_USER, user)),
            kind="user",
            role=role,
            organisation_id=UUID(org) if org else None,
            version=1,
            ttl_seconds=3 * 3600,
        )[0]

    rng = random.Random(4)
    enterprise_ids = [UUID(S.bench_uuid(S.K_ENT, n)) for n in rng.sample(range(1, S.ENTERPRISES + 1), 2000)]
    conn = await asyncpg.connect(dsn)
    try:
        suppliers = [
            r[0]
            for r in await conn.fetch(
                "SELECT enterprise_id FROM supplier_links WHERE buyer_id = $1 AND status = 'active'",
                UUID(S.bench_uuid(S.K_ORG, S.buyer_org(0))),
            )
        ]
    finally:
        await conn.close()
    return Ctx(
        sa_url=sa_url,
        dsn=dsn,
        buyer_token=token(S.buyer_user(0), "buyer", S.bench_uuid(S.K_ORG, S.buyer_org(0))),
        admin_token=token(S.ADMIN_USER, "admin", None),
        enterprise_paths=[f"/v1/enterprises/{i}/progress" for i in enterprise_ids],
        buyer_suppliers=suppliers,
    )


async def async_main(sa_url: str, dsn: str, seed_seconds: float, admin_dsn: str) -> None:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        pass
    ensure_wrk()
    ctx = await seeded_context(sa_url, dsn)
    secret = app_settings(sa_url).signing_key
    procs: dict[str, subprocess.Popen[bytes]] = {}
    ports: dict[str, int] = {}
    try:
        for kind in ("app", "ceiling"):
            procs[kind], ports[kind] = await start_server(kind, sa_url, dsn, secret)
        print("\n== app and ceiling, served side by side", flush=True)
        results = await measure(ctx, ports)
        identical = await same_bytes(ports["app"], ports["ceiling"], ctx)
    finally:
        for proc in procs.values():
            stop_server(proc)
    table = report(results["app"], results["ceiling"], seed_seconds, identical)
    print("\n" + table)
    out = DATA_DIR / "bench-results.md"
    out.write_text("# Benchmark results (`make bench`)\n\n" + table + "\n")
    from bench import webhooks

    hooks = await webhooks.measure(admin_dsn)
    print("\n" + hooks)
    out.write_text("# Benchmark results (`make bench`)\n\n" + table + "\n\n## Webhooks\n\n" + hooks + "\n")
    from bench import attachments

    files = await attachments.measure(admin_dsn)
    print("\n" + files)
    with out.open("a") as report_file:
        report_file.write("\n## Attachments\n\n" + files + "\n")
    print(f"\nwritten to {out.relative_to(ROOT)}")


async def small_database(admin_dsn: str, name: str, seed_sql: list[str], *, analyze: bool = False) -> None:
    """Re-create the database `name` of a phase, migrate it and run its seed statements (with the
    `bench_uuid` helper function available while they run)."""
    await embedded_db.recreate_database(admin_dsn, name)
    dsn = with_database(admin_dsn, name)
    await asyncio.to_thread(migrate, dsn.replace("postgresql://", "postgresql+asyncpg://", 1))
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(S.FUNCTION)
        for sql in seed_sql:
            await conn.execute(sql)
        await conn.execute("DROP FUNCTION bench_uuid(int, bigint)")
        if analyze:
            await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()


def run_phase(measure: Callable[[str], Awaitable[str]], name: str, title: str) -> None:
    """One phase alone (`BENCH_ONLY=name`): measure on the bench's server, print the table and
    write it to `.data/bench-{name}.md`."""
    DATA_DIR.mkdir(exist_ok=True)
    import uvloop

    table = uvloop.run(measure(server_dsn()))
    print("\n" + table)
    out = DATA_DIR / f"bench-{name}.md"
    out.write_text(f"# {title}\n\n" + table + "\n")
    print(f"\nwritten to {out.relative_to(ROOT)}")


def main() -> None:
    started = time.perf_counter()
    DATA_DIR.mkdir(exist_ok=True)
    if os.environ.get("BENCH_ONLY") == "webhooks":
        from bench import webhooks

        return webhooks.main()
    if os.environ.get("BENCH_ONLY") == "attachments":
        from bench import attachments

        return attachments.main()
    admin = server_dsn()
    dsn = with_database(admin, DB_NAME)
    sa_url = dsn.replace("postgresql://", "postgresql+asyncpg://", 1)
    seed_seconds = 0.0
    if os.environ.get("BENCH_SKIP_SEED") != "1":
        print(f"seeding {DB_NAME} ...", flush=True)
        t0 = time.perf_counter()
        asyncio.run(recreate(admin))
        migrate(sa_url)
        print(f"  {'migrations':<44} {time.perf_counter() - t0:7.2f} s", flush=True)
        asyncio.run(S.seed(dsn))
        t1 = time.perf_counter()
        ids = [UUID(S.bench_uuid(S.K_ENT, n)) for n in range(1, S.ENTERPRISES + 1)]
        asyncio.run(refresh_progress(sa_url, ids))
        print(f"  {'progress records (progress.refresh)':<44} {time.perf_counter() - t1:7.2f} s", flush=True)
        asyncio.run(S.finish(dsn))
        seed_seconds = time.perf_counter() - t0
        print(f"seeded in {seed_seconds:.1f} s", flush=True)
    import uvloop

    uvloop.run(async_main(sa_url, dsn, seed_seconds, admin))
    print(f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
