"""The attachment phase of `make bench` (issue 16): evidence files through the API.

Runs after the webhook phase in `bench/run.py`, or alone: `BENCH_ONLY=attachments make bench`
(about a minute, no big seed). It re-creates its own small database,
`s4c_bench_attachments`, with one enterprise and one idea, and serves the app with the
default PostgreSQL attachment store. Phases:

1. throughput of a 5 MB photo: `POST /v1/ideas/{id}/attachments` (multipart, streamed) and
   `GET /v1/attachments/{id}/content`, against a plain copy of the same bytes through the same
   PostgreSQL server (one `INSERT` of a `bytea` and one `SELECT` of it, asyncpg), rounds
   alternating, both in MB/s (10^6 bytes per second);
2. memory: the resident set of the server process sampled every 10 ms while 8 uploads run at
   once, first of 2 MB each, then of 20 MB each. A streamed upload holds a chunk per request,
   not the file: the peak must not grow with the file size.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from uuid import UUID

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DB_NAME = "s4c_bench_attachments"
PHOTO_BYTES = 5_000_000
ROUNDS = int(os.environ.get("BENCH_ATTACHMENT_ROUNDS", "3"))
PER_ROUND = 5
CONCURRENT = 8
SIZES = (2_000_000, 20_000_000)
BOUNDARY = "s4c-bench-boundary"
SEND_CHUNK = 256 * 1024

SEED = [
    "INSERT INTO organisations (id, created_at, updated_at, kind, name, country)"
    " VALUES (bench_uuid(1, 1), now(), now(), 'partner', 'Partner IN', 'IN')",
    """INSERT INTO users (id, created_at, updated_at, email, password_hash, role, full_name, is_active, auth_version)
       VALUES (bench_uuid(2, 1), now(), now(), 'admin@bench.example', 'x', 'admin', 'Bench admin', true, 1)""",
    """INSERT INTO enterprises (id, created_at, updated_at, name, country, sector, partner_id, employees_female,
                                employees_male, products, contact_email)
       VALUES (bench_uuid(3, 1), now(), now(), 'Enterprise 1', 'IN', '2219', bench_uuid(1, 1), 10, 20, 'products',
               'plant1@bench.example')""",
    """INSERT INTO ideas (id, created_at, updated_at, enterprise_id, title, category, status, owner_team)
       VALUES (bench_uuid(4, 1), now(), now(), bench_uuid(3, 1), 'Dust collectors', 'emissions', 'implemented',
               '[]'::jsonb)""",
    "CREATE TABLE bench_plain_copy (id serial PRIMARY KEY, data bytea NOT NULL)",
]


def photo(size: int) -> bytes:
    """`size` bytes that the server takes for a JPEG (its magic number), incompressible after it."""
    head = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"
    return head + os.urandom(size - len(head))


async def multipart(data: bytes, name: str) -> AsyncIterator[bytes]:
    """The request body, sent in 256 KiB pieces as a client streaming from a file would."""
    yield (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    for start in range(0, len(data), SEND_CHUNK):
        yield data[start : start + SEND_CHUNK]
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


class World:
    def __init__(self, port: int, token: str, idea: str) -> None:
        import httpx

        self.idea = idea
        self.client = httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=300,
            limits=httpx.Limits(max_connections=CONCURRENT * 2),
        )

    async def upload(self, data: bytes, name: str = "photo.jpg") -> str:
        response = await self.client.post(
            f"/v1/ideas/{self.idea}/attachments",
            content=multipart(data, name),
            headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
        )
        if response.status_code != 201:
            raise RuntimeError(f"upload: {response.status_code} {response.text[:300]}")
        body: dict[str, Any] = response.json()
        if body["sha256"] != hashlib.sha256(data).hexdigest() or body["size"] != len(data):
            raise RuntimeError(f"upload stored other bytes: {body}")
        return str(body["id"])

    async def download(self, attachment: str, size: int) -> None:
        received = 0
        async with self.client.stream("GET", f"/v1/attachments/{attachment}/content") as response:
            if response.status_code != 200:
                raise RuntimeError(f"download: {response.status_code}")
            async for chunk in response.aiter_raw():
                received += len(chunk)
        if received != size:
            raise RuntimeError(f"download: {received} bytes of {size}")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def throughput(world: World, dsn: str) -> dict[str, list[float]]:
    """MB/s per round: app upload, app download, plain INSERT, plain SELECT."""
    import asyncpg

    data = photo(PHOTO_BYTES)
    figures: dict[str, list[float]] = {"app upload": [], "app download": [], "plain insert": [], "plain select": []}
    conn = await asyncpg.connect(dsn)
    try:
        await world.download(await world.upload(data), PHOTO_BYTES)  # warm both paths
        await conn.execute("INSERT INTO bench_plain_copy (data) VALUES ($1)", data)
        for round_ in range(ROUNDS):
            t0 = time.perf_counter()
            ids = [await world.upload(data) for _ in range(PER_ROUND)]
            t1 = time.perf_counter()
            for attachment in ids:
                await world.download(attachment, PHOTO_BYTES)
            t2 = time.perf_counter()
            rows = [await conn.fetchval("INSERT INTO bench_plain_copy (data) VALUES ($1) RETURNING id", data)]
            rows += [
                await conn.fetchval("INSERT INTO bench_plain_copy (data) VALUES ($1) RETURNING id", data)
                for _ in range(PER_ROUND - 1)
            ]
            t3 = time.perf_counter()
            for row in rows:
                got = await conn.fetchval("SELECT data FROM bench_plain_copy WHERE id = $1", row)
                assert len(got) == PHOTO_BYTES
            t4 = time.perf_counter()
            mb = PER_ROUND * PHOTO_BYTES / 1e6
            for key, seconds in zip(figures, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
                figures[key].append(mb / seconds)
            print(
                f"  (1) round {round_ + 1}/{ROUNDS}: " + ", ".join(f"{k} {v[-1]:.0f} MB/s" for k, v in figures.items())
            )
    finally:
        await conn.close()
    return figures


async def memory(world: World, pid: int, size: int) -> tuple[int, int]:
    """(RSS before, peak RSS) in KiB while CONCURRENT uploads of `size` bytes run at once."""
    data = photo(size)
    before = rss_kib(pid)
    peak = before
    done = asyncio.Event()

    async def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, rss_kib(pid))
            await asyncio.sleep(0.01)

    sampler = asyncio.create_task(sample())
    try:
        await asyncio.gather(*(world.upload(data, f"photo-{n}.jpg") for n in range(CONCURRENT)))
    finally:
        done.set()
        await sampler
    return before, peak


async def create_database(admin_dsn: str, dsn: str, sa_url: str) -> None:
    from bench.run import small_database

    await small_database(admin_dsn, DB_NAME, SEED)


def admin_token(sa_url: str) -> str:
    from app.security import issue_token
    from bench import seed as S
    from bench.run import app_settings

    return issue_token(
        app_settings(sa_url),
        token_type="access",
        subject=UUID(S.bench_uuid(2, 1)),
        kind="user",
        role="admin",
        organisation_id=None,
        version=1,
        ttl_seconds=3600,
    )[0]


async def measure(admin_dsn: str) -> str:
    from app.embedded_db import with_database
    from bench import seed as S
    from bench.run import app_settings, start_server, stop_server

    dsn = with_database(admin_dsn, DB_NAME)
    sa_url = dsn.replace("postgresql://", "postgresql+asyncpg://", 1)
    print(f"\n== attachments: {DB_NAME} (PostgreSQL store, {PHOTO_BYTES / 1e6:g} MB photo)", flush=True)
    await create_database(admin_dsn, dsn, sa_url)
    os.environ["ATTACHMENT_MAX_BYTES"] = str(max(SIZES) + 1_000_000)
    proc: subprocess.Popen[bytes] | None = None
    try:
        secret = app_settings(sa_url).signing_key
        proc, port = await start_server("app-attachments", sa_url, dsn, secret, "app.main:create_app")
        world = World(port, admin_token(sa_url), S.bench_uuid(4, 1))
        fig: dict[str, Any] = {"throughput": await throughput(world, dsn), "memory": {}}
        for size in SIZES:
            before, peak = await memory(world, proc.pid, size)
            fig["memory"][size] = (before, peak)
            print(f"  (2) {CONCURRENT} x {size / 1e6:g} MB at once: RSS {before / 1024:.0f} → {peak / 1024:.0f} MiB")
        await world.client.aclose()
    finally:
        if proc is not None:
            stop_server(proc)
    return report(fig)


def report(fig: dict[str, Any]) -> str:
    from statistics import median

    t: dict[str, list[float]] = fig["throughput"]
    lines = [
        f"| {PHOTO_BYTES / 1e6:g} MB photo, {ROUNDS} rounds × {PER_ROUND} | app MB/s | plain PostgreSQL MB/s | app / plain |",
        "| --- | ---: | ---: | ---: |",
    ]
    for what, app_key, plain_key in (
        ("upload (app: multipart POST; plain: INSERT bytea)", "app upload", "plain insert"),
        ("download (app: GET content; plain: SELECT bytea)", "app download", "plain select"),
    ):
        app, plain = median(t[app_key]), median(t[plain_key])
        lines.append(f"| {what} | {app:.0f} | {plain:.0f} | {app / plain:.2f} |")
    lines += [
        "",
        f"| {CONCURRENT} uploads at once, each of | server RSS before | peak | growth |",
        "| ---: | ---: | ---: | ---: |",
    ]
    for size, (before, peak) in fig["memory"].items():
        lines.append(
            f"| {size / 1e6:g} MB | {before / 1024:.0f} MiB | {peak / 1024:.0f} MiB | {(peak - before) / 1024:.0f} MiB |"
        )
    small, large = (fig["memory"][s][1] - fig["memory"][s][0] for s in SIZES)
    total = CONCURRENT * max(SIZES) / 2**20
    lines += [
        "",
        f"Streamed: the growth with {max(SIZES) / 1e6:g} MB files is {large / 1024:.0f} MiB against "
        f"{small / 1024:.0f} MiB with {min(SIZES) / 1e6:g} MB files, while the uploads carry {total:.0f} MiB. "
        f"Medians of MB/s (10^6 bytes/s) over the rounds; client, server and PostgreSQL share {os.cpu_count()} CPUs.",
    ]
    return "\n".join(lines)


def main() -> None:
    from bench.run import run_phase

    run_phase(measure, "attachments", "Attachment benchmark (`bench/attachments.py`)")


if __name__ == "__main__":
    main()
