"""Test databases: one fresh, migrated database per xdist worker, on the embedded server
or on the server of TEST_DATABASE_URL."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from app import embedded_db
from app.cli import ROOT

DATA_DIR = ROOT / ".data"


def server_url() -> str:
    """A plain `postgresql://` URL of a database on the test server (for admin commands)."""
    explicit = os.environ.get("TEST_DATABASE_URL")
    if explicit:
        return explicit.replace("postgresql+asyncpg://", "postgresql://")
    socket_dir, user = embedded_db.start(DATA_DIR, folder="test-pg")
    return f"postgresql://{user}@/postgres?host={socket_dir}"


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def asyncpg_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+asyncpg://", 1)


async def _recreate(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def fresh_database(name: str) -> str:
    """Create (or re-create) an empty database; returns its asyncpg SQLAlchemy URL."""
    admin = server_url()
    asyncio.run(_recreate(admin, name))
    return asyncpg_url(with_database(admin, name))


def alembic_config(url: str):  # type: ignore[no-untyped-def]
    from alembic.config import Config

    cfg = Config(str(Path(ROOT) / "alembic.ini"))
    cfg.set_main_option("script_location", str(Path(ROOT) / "alembic"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


async def _drop(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def drop_database(name: str) -> None:
    asyncio.run(_drop(server_url(), name))
