"""`score4climate serve` started for real: what it prints, which accounts it creates, and two
instances starting together on an empty database."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, wait

import asyncpg
import pytest

from alembic import command
from app.services.demo import DEMO_DOMAIN, DEMO_PARTNER_NAME
from tests import dbsetup

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
