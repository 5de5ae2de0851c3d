"""`score4climate serve` started for real: what it prints, which accounts it creates, and two
instances starting together on an empty database."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path

import asyncpg
import pytest

from alembic import command
from app import security
from app.services.demo import DEMO_DOMAIN, DEMO_PARTNER_NAME, DEMO_PASSWORD
from tests import dbsetup
from tests.serve_process import ServeProcess, serve

DEMO_USERS = 8  # partner, 2 experts, 3 SMEs, 2 buyers


@pytest.fixture
def scratch_url(worker_id_safe: str) -> Iterator[str]:
    """An empty database (not migrated: `serve` migrates it)."""
    name = f"s4c_startup_{worker_id_safe}_{uuid.uuid4().hex[:10]}"
    url = dbsetup.fresh_database(name)
    yield url
    dbsetup.drop_database(name)


async def _fetch(url: str, sql: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


def fetch(url: str, sql: str, *args: object) -> list[asyncpg.Record]:
    return asyncio.run(_fetch(url, sql, *args))


def demo_users(url: str) -> int:
    return len(fetch(url, "SELECT id FROM users WHERE email LIKE $1", "%@" + DEMO_DOMAIN))


def admins(url: str) -> list[asyncpg.Record]:
    return fetch(url, "SELECT email, password_hash FROM users WHERE role = 'admin'")


@pytest.mark.parametrize("environment", ["production", "development"])
def test_start_prints_no_configured_password(environment, scratch_url, tmp_path):
    """FIRST_ADMIN_PASSWORD is a secret of the deployment: it never reaches stdout or the logs,
    in production nor in development."""
    password = "first admin " + uuid.uuid4().hex
    secret_key = "signing key " + uuid.uuid4().hex
    env = {
        "ENVIRONMENT": environment,
        "DATABASE_URL": scratch_url,
        "SECRET_KEY": secret_key,
        "FIRST_ADMIN_EMAIL": "ops@example.org",
        "FIRST_ADMIN_PASSWORD": password,
    }
    served = serve(tmp_path, env)
    assert served.ready, served.output
    assert "SCORE4Climate API on" in served.output
    assert password not in served.output
    assert secret_key not in served.output
    assert '-d password="$FIRST_ADMIN_PASSWORD"' in served.output  # named, not shown
    [admin] = admins(scratch_url)
    assert admin["email"] == "ops@example.org"
    assert security.verify_password(password, admin["password_hash"])


def test_development_admin_password_stays_in_its_file(scratch_url, tmp_path):
    """The development admin's generated password is in DATA_DIR, not in the output."""
    served = serve(tmp_path, {"ENVIRONMENT": "development", "DATABASE_URL": scratch_url})
    assert served.ready, served.output
    generated = (tmp_path / ".data" / "first_admin_password").read_text().strip()
    assert generated not in served.output
    assert '-d password="$(cat .data/first_admin_password)"' in served.output
    [admin] = admins(scratch_url)
    assert admin["email"] == "admin@score4climate.local"
    assert security.verify_password(generated, admin["password_hash"])


def test_development_loads_demo_only_when_asked(scratch_url, tmp_path):
    """Development against a server named by DATABASE_URL: no demo accounts by default;
    `--demo` or DEMO_DATA=true loads them. Every start that shows the demo logins says how to
    get a new client secret; the secret itself is shown only at the start that creates it."""
    env = {"ENVIRONMENT": "development", "DATABASE_URL": scratch_url}
    plain = serve(tmp_path, env)
    assert plain.ready, plain.output
    assert demo_users(scratch_url) == 0, plain.output
    assert "demo" not in plain.output.lower()

    first = serve(tmp_path, env, "--demo")
    assert first.ready, first.output
    assert demo_users(scratch_url) == DEMO_USERS
    assert "demo data loaded" in first.output
    assert DEMO_PASSWORD in first.output  # published in the README: not a secret of a deployment
    assert "client_secret=s4cs_" in first.output  # once, as it is created
    hint = f"curl -s -X POST http://127.0.0.1:{first.port}/v1/api-clients"
    assert hint in first.output

    again = serve(tmp_path, {**env, "DEMO_DATA": "true"})
    assert again.ready, again.output
    assert "demo data already present" in again.output
    assert "client_secret=s4cs_" not in again.output
    assert f"curl -s -X POST http://127.0.0.1:{again.port}/v1/api-clients" in again.output  # on every start
    assert demo_users(scratch_url) == DEMO_USERS
    assert len(fetch(scratch_url, "SELECT id FROM organisations WHERE name = $1", DEMO_PARTNER_NAME)) == 1


def test_demo_is_refused_in_production(scratch_url, tmp_path):
    env = {"ENVIRONMENT": "production", "DATABASE_URL": scratch_url, "SECRET_KEY": "k" * 40}
    for args, extra in ((("--demo",), {}), ((), {"DEMO_DATA": "true"})):
        served = serve(tmp_path, {**env, **extra}, *args)
        assert not served.ready
        assert served.returncode != 0
        assert "production" in served.output, served.output
    assert fetch(scratch_url, "SELECT to_regclass('users') AS t")[0]["t"] is None  # refused before migrating


def test_two_instances_start_together_on_an_empty_database(scratch_url, tmp_path):
    """Same settings, same data folder, started at once: both serve, one admin, one demo world,
    and the admin password in the data folder is the one the admin has."""
    env = {"ENVIRONMENT": "development", "DATABASE_URL": scratch_url}
    processes = [ServeProcess(tmp_path, env, "--demo") for _ in range(2)]
    results = [p.wait() for p in processes]
    for served in results:
        assert served.ready, served.output
    [admin] = admins(scratch_url)
    generated = (Path(tmp_path) / ".data" / "first_admin_password").read_text().strip()
    assert security.verify_password(generated, admin["password_hash"])
    assert len(fetch(scratch_url, "SELECT id FROM organisations WHERE name = $1", DEMO_PARTNER_NAME)) == 1
    assert demo_users(scratch_url) == DEMO_USERS
    assert sum("demo data loaded" in served.output for served in results) == 1


def test_demo_loaded_once_when_instances_load_it_at_once(scratch_url):
    """The start-up demo step of several instances at once on an empty, migrated database:
    no error, one demo world, created by exactly one of them."""
    from app.cli import load_demo_data

    command.upgrade(dbsetup.alembic_config(scratch_url), "heads")
    with ThreadPoolExecutor(3) as pool:
        futures = [pool.submit(load_demo_data, scratch_url, True) for _ in range(3)]
        wait(futures)
    errors = [f.exception() for f in futures if f.exception() is not None]
    assert errors == []
    summaries = [f.result() for f in futures]
    assert sum(1 for s in summaries if s is not None and s.created) == 1
    assert len(fetch(scratch_url, "SELECT id FROM organisations WHERE name = $1", DEMO_PARTNER_NAME)) == 1
    assert demo_users(scratch_url) == DEMO_USERS


def test_rejected_secret_settings_are_not_echoed(tmp_path):
    """A setting refused at start-up is named, not shown: a key or password too short is still
    a secret of the deployment, and the error goes to the logs."""
    short_password, short_key = "pw" + uuid.uuid4().hex[:5], "key" + uuid.uuid4().hex[:12]
    base = {"ENVIRONMENT": "production", "DATABASE_URL": "postgresql://nobody@127.0.0.1:9/none"}
    cases = (
        (
            {"FIRST_ADMIN_EMAIL": "ops@example.org", "FIRST_ADMIN_PASSWORD": short_password, "SECRET_KEY": "k" * 40},
            "FIRST_ADMIN_PASSWORD must be at least 8 characters",
        ),
        ({"SECRET_KEY": short_key}, "SECRET_KEY must be at least 32 characters"),
    )
    for env, message in cases:
        served = serve(tmp_path, {**base, **env})
        assert not served.ready and served.returncode != 0
        assert message in served.output, served.output
        assert short_password not in served.output
        assert short_key not in served.output
