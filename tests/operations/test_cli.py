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


async def test_load_demo_prints_logins_and_loads_once(worker_id_safe):
    """Into a database of its own (it commits): first start of `serve` loads the demo into an
    empty database; `load-demo` afterwards creates nothing and shows no secret again."""
    from app.cli import load_demo_data
    from app.services.demo import DEMO_PASSWORD
    from tests import dbsetup

    name = f"s4c_test_demo_{worker_id_safe}_{os.getpid()}"
    url = await asyncio.to_thread(dbsetup.fresh_database, name)
    try:
        await asyncio.to_thread(dbsetup_upgrade, url)
        first = await asyncio.to_thread(load_demo_data, url, True)
        assert first is not None and first.created and first.api_client_secret
        again = await asyncio.to_thread(load_demo_data, url, True)
        assert again is not None and not again.created, "described at a later start, not loaded again"
        assert again.api_client_secret is None and again.api_client_id == first.api_client_id

        result = await run_cli("load-demo", DATABASE_URL=url)
        assert "starting the embedded PostgreSQL" not in result.stdout
        assert "already present" in result.stdout
        assert DEMO_PASSWORD in result.stdout
        for role in ("admin", "partner", "expert", "sme", "buyer", "client"):
            assert f"  {role} " in result.stdout, role
        assert f"client_id={first.api_client_id}" in result.stdout
        assert first.api_client_secret not in result.stdout
        assert "sme.rubber@demo.example.org" in result.stdout

        refused = await asyncio.to_thread(
            subprocess.run,
            [str(SCRIPT), "load-demo"],
            cwd=ROOT,
            env={**os.environ, "DATABASE_URL": url, "ENVIRONMENT": "production", "SECRET_KEY": "x" * 40},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert refused.returncode != 0
        assert "production" in refused.stderr
    finally:
        await asyncio.to_thread(dbsetup.drop_database, name)


def dbsetup_upgrade(url: str) -> None:
    from alembic import command
    from tests import dbsetup

    command.upgrade(dbsetup.alembic_config(url), "heads")


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
