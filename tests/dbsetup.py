"""Test databases: one fresh, migrated database per xdist worker, on the embedded server
or on the server of TEST_DATABASE_URL."""

from __future__ import annotations

import asyncio
import os

from app import embedded_db
from app.cli import ROOT, alembic_config
from app.embedded_db import with_database

__all__ = [
    "DATA_DIR",
    "alembic_config",
    "asyncpg_url",
    "drop_database",
    "fresh_database",
    "server_url",
    "with_database",
]

DATA_DIR = ROOT / ".data"


def server_url() -> str:
    """A plain `postgresql://` URL of a database on the test server (for admin commands)."""
    explicit = os.environ.get("TEST_DATABASE_URL")
    if explicit:
        return explicit.replace("postgresql+asyncpg://", "postgresql://")
    socket_dir, user = embedded_db.start(DATA_DIR, folder="test-pg")
    return f"postgresql://{user}@/postgres?host={socket_dir}"


def asyncpg_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+asyncpg://", 1)


def fresh_database(name: str) -> str:
    """Create (or re-create) an empty database; returns its asyncpg SQLAlchemy URL."""
    admin = server_url()
    asyncio.run(embedded_db.recreate_database(admin, name))
    return asyncpg_url(with_database(admin, name))


def drop_database(name: str) -> None:
    asyncio.run(embedded_db.recreate_database(server_url(), name, drop_only=True))
