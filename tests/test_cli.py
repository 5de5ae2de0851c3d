"""The `score4climate` command line, run as a real subprocess."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from app import security
from app.cli import ROOT
from app.models.users import User

SCRIPT = Path(sys.executable).parent / "score4climate"


async def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **env}
    result = await asyncio.to_thread(
        subprocess.run,
        [str(SCRIPT), *args],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


async def test_export_openapi_writes_the_document(app, tmp_path):
    target = tmp_path / "openapi.json"
    result = await run_cli("export-openapi", "--output", str(target))
    assert str(target) in result.stdout
    assert json.loads(target.read_text()) == app.openapi()


async def test_load_demo_loads_an_empty_set(database_url):
    result = await run_cli("load-demo", DATABASE_URL=database_url)
    assert "empty set" in result.stdout
    assert "starting the embedded PostgreSQL" not in result.stdout


async def test_create_user_makes_an_admin(database_url, database):
    email = f"cli-admin-{os.getpid()}@example.org"
    password = "a long cli passphrase"
    try:
        result = await run_cli(
            "create-user",
            "--email",
            email.upper(),
            "--role",
            "admin",
            "--full-name",
            "CLI Admin",
            DATABASE_URL=database_url,
            S4C_PASSWORD=password,
        )
        assert "created user" in result.stdout
        async with database.engine.connect() as conn:
            row = (await conn.execute(sa.select(User.__table__).where(User.email == email))).one()
        assert result.stdout.strip().endswith(str(row.id))
        assert row.role == "admin"
        assert row.full_name == "CLI Admin"
        assert row.is_active
        assert security.verify_password(password, row.password_hash)
        assert not security.verify_password("wrong password", row.password_hash)
    finally:
        async with database.engine.begin() as conn:
            await conn.execute(sa.delete(User.__table__).where(User.email == email))
