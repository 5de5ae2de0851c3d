"""Fixtures: a real, migrated PostgreSQL per worker; each test in a rolled-back transaction."""

from __future__ import annotations

import os

os.environ.setdefault("ENVIRONMENT", "test")

from collections.abc import AsyncIterator, Iterator  # noqa: E402
from contextlib import asynccontextmanager  # noqa: E402

import httpx  # noqa: E402
import pytest  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from fastapi import FastAPI  # noqa: E402
from sqlmodel.ext.asyncio.session import AsyncSession  # noqa: E402

from alembic import command  # noqa: E402
from app.config import Settings  # noqa: E402
from app.db import Database, ProgrammeSession, ReadOnly, get_session, run_before_commit  # noqa: E402
from app.main import create_app  # noqa: E402
from app.models import metadata  # noqa: E402
from app.services import events, progress  # noqa: E402
from tests import dbsetup  # noqa: E402
from tests.factories import Factory  # noqa: E402


@pytest.fixture(scope="session")
def worker_id_safe(worker_id: str) -> str:
    return worker_id if worker_id != "master" else "main"


@pytest.fixture(scope="session")
def database_url(worker_id_safe: str) -> Iterator[str]:
    name = f"s4c_test_{worker_id_safe}_{os.getpid()}"
    url = dbsetup.fresh_database(name)
    command.upgrade(dbsetup.alembic_config(url), "heads")
    yield url
    dbsetup.drop_database(name)


def make_settings(database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "environment": "test",
        "database_url": database_url,
        "data_dir": dbsetup.DATA_DIR,
        "rate_limit_per_minute": 1_000_000,
        "token_rate_limit_per_minute": 1_000_000,
        # Every test client shares one address; the throttle's own tests set a real limit.
        "login_failures_per_address": 1_000_000,
        "log_level": "WARNING",
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@pytest.fixture(scope="session")
async def database(settings: Settings) -> AsyncIterator[Database]:
    assert settings.database_url
    progress.install()  # as create_app and the CLI do at start-up
    events.install()
    db = Database(settings.database_url, settings)
    yield db
    await db.dispose()


@pytest.fixture(scope="session")
def app(settings: Settings, database: Database) -> FastAPI:
    return create_app(settings, database=database)


@pytest.fixture
async def session(database: Database) -> AsyncIterator[AsyncSession]:
    """A session inside an outer transaction that is rolled back after the test."""
    async with database.engine.connect() as conn:
        outer = await conn.begin()
        async with ProgrammeSession(bind=conn, expire_on_commit=False, join_transaction_mode="create_savepoint") as s:
            yield s
        await outer.rollback()


def _client(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.fixture
async def client(app: FastAPI, session: AsyncSession) -> AsyncIterator[httpx.AsyncClient]:
    """HTTP client whose requests share the test's rolled-back transaction."""

    async def test_session() -> AsyncIterator[AsyncSession]:
        # Each request runs in its own savepoint: its failure undoes only its own work,
        # never the test's set-up, as a real request's rollback would.
        nested = await session.begin_nested()
        try:
            yield session
            await run_before_commit(session)
            await nested.commit()
        except BaseException:
            await nested.rollback()
            raise

    app.dependency_overrides[get_session] = test_session
    # Read-only requests run their statements on the test's connection too (inside its
    # transaction), and write, when they must, in a savepoint of the test's session.
    writing = asynccontextmanager(test_session)

    @asynccontextmanager
    async def test_reads() -> AsyncIterator[ReadOnly]:
        raw = await (await session.connection()).get_raw_connection()
        yield ReadOnly(raw.driver_connection, writing)  # type: ignore[arg-type]

    default_reads, app.state.reads = app.state.reads, test_reads
    default_sessions, app.state.sessions = app.state.sessions, writing  # a download's reads
    async with _client(app) as c:
        yield c
    app.dependency_overrides.clear()
    app.state.reads = default_reads
    app.state.sessions = default_sessions


@pytest.fixture
def factory(session: AsyncSession, settings: Settings) -> Factory:
    return Factory(session, settings)


@pytest.fixture
async def live_client(app: FastAPI, database: Database) -> AsyncIterator[httpx.AsyncClient]:
    """HTTP client with real commits (for races and concurrency); tables are emptied after."""
    async with _client(app) as c:
        yield c
    async with database.engine.begin() as conn:
        seeded = {"metrics", "emission_factors"}  # reference data from the migration stays
        tables = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables if t.name not in seeded)
        await conn.execute(sa.text(f"TRUNCATE {tables} CASCADE"))


@pytest.fixture
async def live_factory(database: Database, settings: Settings) -> AsyncIterator[Factory]:
    """A factory that commits, for use with `live_client`."""
    async with database.sessionmaker() as s:
        yield Factory(s, settings, commit=True)


@pytest.fixture(scope="session")
def anyio_backend() -> Iterator[str]:
    yield "asyncio"
