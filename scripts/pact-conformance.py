#!/usr/bin/env python3
"""Run the official PACT conformance suite (wbcsd/pact-conformance-service) against this
service, on this machine, over HTTPS. Not part of CI; see docs/pact-conformance.md.

Given a local copy of the suite (a git checkout kept outside this project, `npm ci` done or
done here), it:

1. writes a self-signed certificate for 127.0.0.1 and has Node trust it (NODE_EXTRA_CA_CERTS);
2. creates two fresh databases on the local PostgreSQL: one for this service, one for the suite,
   and runs the suite's own migrations on the latter;
3. starts `score4climate serve --demo` over HTTPS on the first, with the embedded delivery
   worker and the suite's callback credentials in PACT_OUTBOUND_CREDENTIALS;
4. as the administrator, finds the demo buyer with the most active suppliers and creates an
   API client for it;
5. starts the suite in service mode (its HTTP server, which receives the PACT callbacks on
   /3/events), bound to 127.0.0.1 only, and asks it for a V3.0 test run against
   https://127.0.0.1:<port>/pact with that client;
6. waits for the asynchronous tests (the callbacks), prints every test's outcome and the
   totals, writes them as JSON, then stops both servers and drops the databases.

The run is judged by those statistics: the exit status is 0 when every mandatory test passed,
1 when one failed or is still pending, 2 when the run could not be made.

Uses the standard library, httpx and the project's own modules (run it with the project's
virtualenv: `.venv/bin/python scripts/pact-conformance.py --suite /path/to/suite`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.devcert import self_signed  # noqa: E402

SUITE_CLIENT = {"client_id": "test_client_id", "client_secret": "test_client_secret"}  # fixed by the suite
# Node preload: a server that listens without naming an address listens on 127.0.0.1 only
# (the suite's HTTP server listens on every interface and has no setting for it).
BIND_LOOPBACK_JS = """\
const net = require("net");
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  const first = args[0];
  const isPort = typeof first === "number" || (typeof first === "string" && /^\\d+$/.test(first));
  if (isPort && typeof args[1] !== "string") {
    args.splice(1, 0, "127.0.0.1");
  } else if (first && typeof first === "object" && first.host === undefined && first.path === undefined) {
    args[0] = { ...first, host: "127.0.0.1" };
  }
  return listen.apply(this, args);
};
"""


def step(message: str) -> None:
    print(f"[pact-conformance] {message}", flush=True)


class RunError(Exception):
    """The run could not be made (not a failing test)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def database_url(admin_url: str, name: str) -> str:
    parts = urlsplit(admin_url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


async def _execute(admin_url: str, sql: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextmanager
def fresh_database(admin_url: str, name: str, keep: bool) -> Iterator[str]:
    asyncio.run(_execute(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    asyncio.run(_execute(admin_url, f'CREATE DATABASE "{name}"'))
    try:
        yield database_url(admin_url, name)
    finally:
        if not keep:
            asyncio.run(_execute(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextmanager
def process(name: str, argv: list[str], cwd: Path, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A child process in its own process group, stopped (the whole group) on the way out."""
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            step(f"stopping {name}")
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def wait_until(
    name: str, url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float, verify: ssl.SSLContext | bool = True
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RunError(f"{name} exited with {proc.returncode}; its output is in {log}:\n{tail(log)}")
        try:
            if httpx.get(url, timeout=2, verify=verify).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RunError(f"{name} did not answer {url} within {timeout:.0f} s; its output is in {log}:\n{tail(log)}")
        time.sleep(0.3)


def tail(log: Path, lines: int = 30) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.exists() else ""


def suite_commit(suite: Path) -> str:
    done = subprocess.run(["git", "-C", str(suite), "rev-parse", "HEAD"], capture_output=True, text=True, check=False)
    return done.stdout.strip() if done.returncode == 0 else "unknown (not a git checkout)"


def listening_addresses(port: int) -> list[str]:
    """The local addresses with a TCP socket listening on `port` (from /proc, Linux only)."""
    found = []
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            address, port_hex = fields[1].split(":")
            if fields[3] == "0A" and int(port_hex, 16) == port:  # 0A: LISTEN
                found.append(address if len(address) == width else "?")
    return found


def on_every_interface(addresses: list[str]) -> bool:
    """Whether one of these /proc addresses is the IPv4 or IPv6 wildcard."""
    return any(address in ("0" * 8, "0" * 32) for address in addresses)


@dataclass(frozen=True)
class Options:
    suite: Path
    admin_url: str
    work: Path
    keep: bool
    callback_timeout: float
    test_cases: str | None
    report: Path


def parse_args(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", type=Path, required=True, help="local checkout of wbcsd/pact-conformance-service")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("PACT_RUN_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
        help="a PostgreSQL URL allowed to create databases (default: postgres on 127.0.0.1:5432; PACT_RUN_DATABASE_URL)",
    )
    parser.add_argument(
        "--work", type=Path, help="folder for the certificate, logs and report (default: a new temporary one)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the two databases afterwards")
    parser.add_argument(
        "--callback-timeout", type=float, default=90, help="seconds to wait for the asynchronous tests (default 90)"
    )
    parser.add_argument("--test-cases", help="only these suite test numbers, e.g. 1-5,12 (default: all)")
    parser.add_argument("--report", type=Path, help="where to write the JSON report (default: WORK/report.json)")
    args = parser.parse_args(argv)
    work = (args.work or Path(tempfile.mkdtemp(prefix="pact-conformance-"))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    return Options(
        suite=args.suite.resolve(),
        admin_url=args.database_url,
        work=work,
        keep=args.keep,
        callback_timeout=args.callback_timeout,
        test_cases=args.test_cases,
        report=(args.report or work / "report.json").resolve(),
    )


def check_suite(suite: Path) -> None:
    if not (suite / "package.json").is_file() or not (suite / "src" / "server.ts").is_file():
        raise RunError(f"{suite} is not a copy of the conformance suite (no package.json / src/server.ts)")
    if ROOT in suite.parents or suite == ROOT:
        raise RunError("keep the suite outside this project")
    if shutil.which("node") is None or shutil.which("npm") is None:
        raise RunError("Node.js and npm are needed to run the suite")
    if not (suite / "node_modules" / ".bin" / "ts-node").exists():
        step(f"installing the suite's dependencies (npm ci in {suite})")
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=suite, check=True)


def suite_env(options: Options, db_url: str, port: int, ca: Path) -> dict[str, str]:
    preload = options.work / "bind-loopback.js"
    preload.write_text(BIND_LOOPBACK_JS)
    env = {key: value for key, value in os.environ.items() if not key.startswith(("npm_", "NODE_"))}
    env.update(
        NODE_ENV="development",
        NODE_OPTIONS=f"--require {preload}",
        NODE_EXTRA_CA_CERTS=str(ca),
        PORT=str(port),
        DB_CONNECTION_STRING=db_url,
        CONFORMANCE_API=f"http://127.0.0.1:{port}",
        LOG_OUTPUT="console",
        JWT_SECRET=secrets.token_urlsafe(32),
        TESTCASE_TIMEOUT="10000",
    )
    return env


def server_env(options: Options, db_url: str, suite_port: int, admin: tuple[str, str]) -> dict[str, str]:
    cleared = (
        "DATABASE_URL",
        "DATA_DIR",
        "DEMO_DATA",
        "ENVIRONMENT",
        "FIRST_ADMIN_",
        "REDIS_URL",
        "SECRET_KEY",
        "SSL_",
    )
    env = {key: value for key, value in os.environ.items() if not key.upper().startswith(cleared)}
    env.update(
        ENVIRONMENT="development",
        DATABASE_URL=db_url,
        DATA_DIR=str(options.work / "data"),
        SECRET_KEY=secrets.token_urlsafe(48),
        FIRST_ADMIN_EMAIL=admin[0],
        FIRST_ADMIN_PASSWORD=admin[1],
        WORKER="embedded",
        OUTBOUND_ALLOW_PRIVATE="true",
        PACT_OUTBOUND_CREDENTIALS=json.dumps({f"http://127.0.0.1:{suite_port}": SUITE_CLIENT}),
        RATE_LIMIT_PER_MINUTE="100000",
        TOKEN_RATE_LIMIT_PER_MINUTE="100000",
    )
    return env


def buyer_client(base: str, verify: ssl.SSLContext, admin: tuple[str, str]) -> tuple[str, str, str]:
    """(buyer organisation name, client_id, client_secret) for the demo buyer with the most
    active suppliers."""
    with httpx.Client(base_url=base, verify=verify, timeout=30) as api:
        token = api.post("/v1/auth/token", data={"grant_type": "password", "username": admin[0], "password": admin[1]})
        if token.status_code != 200:
            raise RunError(f"administrator login failed: {token.status_code} {token.text}")
        api.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        links: Counter[str] = Counter()
        cursor: str | None = None
        while True:
            params: dict[str, str | int] = {"status": "active", "limit": 500}
            if cursor is not None:
                params["cursor"] = cursor
            page = api.get("/v1/supplier-links", params=params)
            page.raise_for_status()
            links.update(link["buyer_id"] for link in page.json()["items"])
            cursor = page.json()["next_cursor"]
            if cursor is None:
                break
        if not links:
            raise RunError("the demo world has no buyer with an active supplier")
        buyer_id, suppliers = links.most_common(1)[0]
        buyer = api.get(f"/v1/organisations/{buyer_id}")
        buyer.raise_for_status()
        made = api.post("/v1/api-clients", json={"name": "PACT conformance suite", "organisation_id": buyer_id})
        if made.status_code != 201:
            raise RunError(f"creating the buyer's API client failed: {made.status_code} {made.text}")
        step(f"buyer {buyer.json()['name']!r}: {suppliers} active suppliers; API client {made.json()['client_id']}")
        return buyer.json()["name"], made.json()["client_id"], made.json()["client_secret"]


def run_tests(suite_base: str, params: dict[str, Any], options: Options) -> dict[str, Any]:
    """Start the test run (the suite answers once the synchronous tests are done), then poll it
    until no test is pending or the callback timeout passes."""
    with httpx.Client(base_url=suite_base, timeout=600) as suite:
        started = suite.post("/testruns/", json=params)
        if started.status_code != 200:
            raise RunError(f"the suite refused the test run: {started.status_code} {started.text}")
        run: dict[str, Any] = started.json()
        run_id = run["testRunId"]
        step(f"test run {run_id}: {len(run.get('results', []))} results so far; waiting for the callbacks")
        deadline = time.monotonic() + options.callback_timeout
        while pending(run) and time.monotonic() < deadline:
            time.sleep(2)
            polled = suite.get(f"/testruns/{run_id}")
            polled.raise_for_status()
            run = polled.json()
        return run


def pending(run: dict[str, Any]) -> list[str]:
    return [result["testKey"] for result in run.get("results", []) if result["status"] == "PENDING"]


def test_number(result: dict[str, Any]) -> tuple[int, str]:
    key = result["testKey"].removeprefix("TESTCASE#")
    digits = "".join(ch for ch in key if ch.isdigit())
    return (int(digits) if digits else 0, key)


def summarise(run: dict[str, Any], commit: str) -> tuple[dict[str, Any], bool]:
    results = sorted(run.get("results", []), key=test_number)
    counts = Counter(result["status"] for result in results)
    mandatory = [result for result in results if result.get("mandatory")]
    mandatory_counts = Counter(result["status"] for result in mandatory)
    print()
    print(f"PACT conformance suite {commit}, test run {run.get('testRunId')}, version {run.get('techSpecVersion')}")
    for result in results:
        flag = "" if result.get("mandatory") else " (optional)"
        print(f"  {result['status']:<8} {result['testKey']:<14} {result['name']}{flag}")
        if result["status"] != "SUCCESS" and result.get("errorMessage"):
            print(f"           {result['errorMessage'][:600]}")
    print()
    print(
        f"{len(results)} tests: {counts['SUCCESS']} passed, {counts['FAILURE']} failed, {counts['PENDING']} pending; "
        f"mandatory {len(mandatory)}: {mandatory_counts['SUCCESS']} passed, {mandatory_counts['FAILURE']} failed, "
        f"{mandatory_counts['PENDING']} pending. Suite verdict: {run.get('status')} ({run.get('passingPercentage')} %)"
    )
    passed = bool(mandatory) and mandatory_counts["SUCCESS"] == len(mandatory)
    summary = {
        "suite_commit": commit,
        "test_run_id": run.get("testRunId"),
        "suite_status": run.get("status"),
        "passing_percentage": run.get("passingPercentage"),
        "counts": dict(counts),
        "mandatory_counts": dict(mandatory_counts),
        "results": results,
    }
    return summary, passed


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    step(f"work folder {options.work}")
    try:
        check_suite(options.suite)
        commit = suite_commit(options.suite)
        step(f"suite {options.suite} at commit {commit}")
        with ExitStack() as stack:
            return run(options, commit, stack)
    except (RunError, subprocess.CalledProcessError, httpx.HTTPError, OSError, asyncpg.PostgresError) as exc:
        step(f"the run could not be made: {exc}")
        return 2


def run(options: Options, commit: str, stack: ExitStack) -> int:
    pair = self_signed(options.work / "tls")
    verify = ssl.create_default_context(cafile=str(pair.certfile))
    step(f"self-signed certificate for 127.0.0.1: {pair.certfile}")

    tag = f"{os.getpid()}_{secrets.token_hex(3)}"
    server_db = stack.enter_context(fresh_database(options.admin_url, f"s4c_pact_run_{tag}", options.keep))
    suite_db = stack.enter_context(fresh_database(options.admin_url, f"pact_suite_{tag}", options.keep))
    step(f"databases created: {urlsplit(server_db).path[1:]} (service), {urlsplit(suite_db).path[1:]} (suite)")

    port, suite_port = free_port(), free_port()
    env = suite_env(options, suite_db, suite_port, pair.certfile)
    step("running the suite's migrations")
    ts_node = [str(options.suite / "node_modules" / ".bin" / "ts-node"), "--transpile-only"]
    migrated = subprocess.run(
        [*ts_node, "src/data/migrate.ts", "latest"],
        cwd=options.suite,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    (options.work / "suite-migrate.log").write_text(migrated.stdout + migrated.stderr)
    if migrated.returncode != 0 or "Failed to migrate" in migrated.stderr:
        raise RunError(f"the suite's migrations failed:\n{migrated.stdout}{migrated.stderr}")

    admin = ("admin@pact-run.example", "admin " + secrets.token_urlsafe(12))
    base = f"https://127.0.0.1:{port}"
    server_log = options.work / "server.log"
    step(f"starting score4climate serve --demo on {base} (log: {server_log})")
    server = stack.enter_context(
        process(
            "score4climate serve",
            [
                str(Path(sys.executable).parent / "score4climate"),
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--demo",
                "--ssl-keyfile",
                str(pair.keyfile),
                "--ssl-certfile",
                str(pair.certfile),
            ],
            options.work,
            server_env(options, server_db, suite_port, admin),
            server_log,
        )
    )
    wait_until("score4climate serve", f"{base}/readyz", server, server_log, 180, verify)
    organisation, client_id, client_secret = buyer_client(base, verify, admin)

    suite_log = options.work / "suite.log"
    suite_base = f"http://127.0.0.1:{suite_port}"
    step(f"starting the suite in service mode on {suite_base} (log: {suite_log})")
    suite = stack.enter_context(process("the suite", [*ts_node, "src/server.ts"], options.suite, env, suite_log))
    wait_until("the suite", f"{suite_base}/health-check", suite, suite_log, 180)
    addresses = listening_addresses(suite_port)
    step(f"the suite listens on {suite_port} at {', '.join(addresses) or '?'} (0100007F = 127.0.0.1)")
    if on_every_interface(addresses):
        raise RunError("the suite listens on every interface; the loopback preload did not apply")

    params: dict[str, Any] = {
        "baseUrl": f"{base}/pact",
        "clientId": client_id,
        "clientSecret": client_secret,
        "version": "V3.0",
        "organizationName": organisation,
        "adminEmail": "pact-run@example.org",
        "adminName": "PACT conformance run",
    }
    if options.test_cases:
        params["testCaseNumbers"] = parse_numbers(options.test_cases)
    step(f"starting the V3.0 test run against {params['baseUrl']}")
    result = run_tests(suite_base, params, options)
    summary, passed = summarise(result, commit)
    summary["base_url"] = params["baseUrl"]
    options.report.write_text(json.dumps(summary, indent=2))
    step(f"report written to {options.report}; logs in {options.work}")
    return 0 if passed else 1


def parse_numbers(text: str) -> list[int]:
    numbers: set[int] = set()
    for part in filter(None, (piece.strip() for piece in text.split(","))):
        low, _, high = part.partition("-")
        numbers.update(range(int(low), int(high or low) + 1))
    return sorted(numbers)


if __name__ == "__main__":
    sys.exit(main())
