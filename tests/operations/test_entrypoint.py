"""The container entrypoint runs migrations, then the server; with arguments it runs those."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

ENTRYPOINT = Path(__file__).resolve().parents[2] / "docker" / "entrypoint.sh"


def _fake_cli(tmp_path: Path, fail_migrate: bool = False) -> Path:
    log = tmp_path / "calls.log"
    fake = tmp_path / "bin" / "score4climate"
    fake.parent.mkdir()
    exit_code = 'if [ "$1" = migrate ]; then exit 3; fi' if fail_migrate else ""
    fake.write_text(f'#!/bin/sh\necho "$@" >> {log}\n{exit_code}\nexit 0\n')
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    return log


def _run(tmp_path: Path, *args: str, port: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}"}
    env.pop("PORT", None)
    if port:
        env["PORT"] = port
    return subprocess.run(["sh", str(ENTRYPOINT), *args], env=env, capture_output=True, text=True, timeout=30)


def test_migrates_then_serves(tmp_path):
    log = _fake_cli(tmp_path)
    assert _run(tmp_path, port="9000").returncode == 0
    assert log.read_text().splitlines() == ["migrate", "serve --host 0.0.0.0 --port 9000"]


def test_default_port_and_failed_migration_stops_start(tmp_path):
    log = _fake_cli(tmp_path, fail_migrate=True)
    result = _run(tmp_path)
    assert result.returncode == 3
    assert log.read_text().splitlines() == ["migrate"]  # no server on a half-migrated database


def test_arguments_run_instead(tmp_path):
    log = _fake_cli(tmp_path)
    assert _run(tmp_path, "score4climate", "create-user", "--email", "a@b.org").returncode == 0
    assert log.read_text().splitlines() == ["create-user --email a@b.org"]


def test_dockerfile_runs_the_entrypoint_as_non_root_with_a_healthcheck():
    dockerfile = (ENTRYPOINT.parent.parent / "Dockerfile").read_text()
    assert "HEALTHCHECK" in dockerfile and "USER " in dockerfile and "entrypoint.sh" in dockerfile
    assert dockerfile.count("FROM ") >= 2  # multi-stage
