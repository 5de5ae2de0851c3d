"""`score4climate serve` as a real process, run the way an operator starts it: from a folder of
its own, with only the environment given here. It is stopped once it answers /readyz (or
when it has exited by itself), and everything it wrote to stdout and stderr is kept."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.live_server import free_port

SCRIPT = Path(sys.executable).parent / "score4climate"
# Settings a test process may carry that would change what `serve` does.
CLEARED = (
    "DATABASE_URL",
    "DATA_DIR",
    "DEMO_DATA",
    "ENVIRONMENT",
    "FIRST_ADMIN_EMAIL",
    "FIRST_ADMIN_PASSWORD",
    "REDIS_URL",
    "SECRET_KEY",
)


@dataclass
class Served:
    port: int
    ready: bool  # answered /readyz (and was then stopped); False: exited before that
    returncode: int
    output: str  # stdout and stderr, interleaved


class ServeProcess:
    """`ca`: the server speaks HTTPS (given --ssl-keyfile/--ssl-certfile) with a certificate
    this authority signs; readiness is then asked over HTTPS."""

    def __init__(self, workdir: Path, env: dict[str, str], *args: str, ca: Path | None = None) -> None:
        self.port = free_port()
        self.verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=str(ca)) if ca else True
        self.base_url = f"{'https' if ca else 'http'}://127.0.0.1:{self.port}"
        self.log = workdir / f"serve-{self.port}.log"
        full_env = {key: value for key, value in os.environ.items() if key.upper() not in CLEARED}
        full_env.update(env)
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [str(SCRIPT), "serve", "--host", "127.0.0.1", "--port", str(self.port), *args],
                cwd=workdir,
                env=full_env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def wait(self, timeout: float = 120) -> Served:
        """Until ready (then stop it) or exited."""
        ready = self.until_ready(timeout)
        return self.stop(ready)

    def until_ready(self, timeout: float = 120) -> bool:
        """Wait until it answers /readyz (True), exits or `timeout` passes (False)."""
        deadline = time.monotonic() + timeout
        ready = False
        while self.proc.poll() is None and not ready:
            if time.monotonic() > deadline:
                break
            try:
                ready = httpx.get(f"{self.base_url}/readyz", timeout=1, verify=self.verify).status_code == 200
            except httpx.TransportError:
                time.sleep(0.1)
        return ready

    def stop(self, ready: bool) -> Served:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return Served(self.port, ready, self.proc.returncode, self.log.read_text(errors="replace"))


def serve(workdir: Path, env: dict[str, str], *args: str) -> Served:
    return ServeProcess(workdir, env, *args).wait()
