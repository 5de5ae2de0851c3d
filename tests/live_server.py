"""The real server for end-to-end tests: uvicorn in a subprocess, on a free port, on a fresh
migrated database, with a first administrator. Used by test_sdks.py and test_docs_browser.py."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from alembic import command
from app.cli import ROOT
from tests import dbsetup


@dataclass(frozen=True)
class LiveServer:
    base_url: str
    admin_email: str
    admin_password: str
    log: Path

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:]) if self.log.exists() else ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def live_server(name: str, log_dir: Path) -> Iterator[LiveServer]:
    """A migrated database named `name` (dropped afterwards) and a uvicorn serving it."""
    db_name = f"s4c_{name}_{os.getpid()}"
    url = dbsetup.fresh_database(db_name)
    command.upgrade(dbsetup.alembic_config(url), "heads")
    port = free_port()
    admin_email, admin_password = "admin@sdk-tests.example", "admin " + uuid.uuid4().hex
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "ENVIRONMENT": "test",
        "FIRST_ADMIN_EMAIL": admin_email,
        "FIRST_ADMIN_PASSWORD": admin_password,
        "DATA_DIR": str(dbsetup.DATA_DIR),
        "LOG_LEVEL": "WARNING",
        "RATE_LIMIT_PER_MINUTE": "100000",
        "TOKEN_RATE_LIMIT_PER_MINUTE": "100000",
    }
    env.pop("REDIS_URL", None)  # in-process rate limits: nothing else to start
    log = log_dir / f"{name}-server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "app.main:create_app",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--no-access-log",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = LiveServer(f"http://127.0.0.1:{port}", admin_email, admin_password, log)
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited with {proc.returncode}:\n{server.log_tail()}")
            try:
                if httpx.get(server.base_url + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not become ready in 30 s:\n{server.log_tail()}")
            time.sleep(0.1)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        dbsetup.drop_database(db_name)
