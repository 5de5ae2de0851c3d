"""Async engine, session factory and the one place that commits."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
from fastapi import Request
from sqlalchemy import event
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from app.config import Settings


class Database:
    """An engine plus its session factory. One per process (and one per test database)."""

    def __init__(self, url: str, settings: Settings) -> None:
        self.url = url
        self.server_settings = {
            "statement_timeout": str(settings.db_statement_timeout_ms),
            "idle_in_transaction_session_timeout": str(max(settings.db_statement_timeout_ms * 2, 10_000)),
            "application_name": "score4climate-api",
        }
        self.engine: AsyncEngine = create_async_engine(
            url,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            pool_timeout=settings.db_pool_timeout_seconds,
            pool_pre_ping=settings.db_pool_pre_ping,
            connect_args={"server_settings": self.server_settings, "timeout": 5},
        )
        event.listen(self.engine.sync_engine, "handle_error", _detect_dropped_connection)
        self.sessionmaker = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)
        self.read_pool_size = settings.db_read_pool_size
        self.read_timeout = settings.db_pool_timeout_seconds
        self._read_pool: ReadPool | None = None
        self._read_pool_failed_at = 0.0
        self._read_pool_lock = asyncio.Lock()

    async def read_pool(self) -> ReadPool:
        """A plain asyncpg pool for single read-only statements outside the ORM (the lean
        progress read): no session, no transaction block, one round trip. Opened on first use,
        with the engine's own connection arguments; after a failure to open it, callers get
        `ConnectionError` at once for a second instead of queueing behind new attempts."""
        if self._read_pool is not None:
            return self._read_pool
        if time.monotonic() - self._read_pool_failed_at < 1.0:
            raise ConnectionError("the read pool could not be opened a moment ago")
        async with self._read_pool_lock:
            if self._read_pool is None:
                _, options = self.engine.dialect.create_connect_args(self.engine.url)
                try:
                    pool = await asyncpg.create_pool(
                        **options,
                        min_size=1,
                        max_size=self.read_pool_size,
                        server_settings=self.server_settings,
                        timeout=5,
                        reset=_keep,
                    )
                except Exception:
                    self._read_pool_failed_at = time.monotonic()
                    raise
                self._read_pool = ReadPool(pool, self.read_timeout)
        return self._read_pool

    async def dispose(self) -> None:
        async with self._read_pool_lock:
            if self._read_pool is not None:
                pool, self._read_pool = self._read_pool, None
                await pool.pool.close()
        await self.engine.dispose()


class ReadPool:
    """`fetchrow`/`fetch` on a pooled connection, waiting at most `timeout` seconds for one
    (as the engine's pool does: DB_POOL_TIMEOUT_SECONDS)."""

    def __init__(self, pool: Any, timeout: float) -> None:
        self.pool = pool
        self.timeout = timeout

    async def fetchrow(self, sql: str, *args: Any) -> Any:
        async with self.pool.acquire(timeout=self.timeout) as connection:
            return await connection.fetchrow(sql, *args)

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        async with self.pool.acquire(timeout=self.timeout) as connection:
            rows: list[Any] = await connection.fetch(sql, *args)
            return rows


async def _keep(_: Any) -> None:
    """Released read connections need no reset: they only ever run single read-only
    statements (no session state, locks or LISTEN), so asyncpg's reset round trip is skipped."""


# How asyncpg reports a connection the server has just terminated (a restart, a failover,
# `pg_terminate_backend`) before its socket is seen closed: the server's unsolicited FATAL puts
# the protocol in its error-consuming state (2) and the next statement fails with one of these.
_DROPPED = ("another operation (2) is in progress", "protocol is in an unexpected state")


def _detect_dropped_connection(context: ExceptionContext) -> None:
    """Tell SQLAlchemy that such an error is a disconnect, so the connection is discarded (not
    returned to the pool), the pool renews its older connections, and the error answers 503
    (see errors.py)."""
    if context.is_disconnect:
        return
    error = context.original_exception
    if type(error).__name__ == "InternalClientError" and any(marker in str(error) for marker in _DROPPED):
        context.is_disconnect = True


def require_url(settings: Settings) -> str:
    if not settings.database_url:
        raise RuntimeError(
            "DATABASE_URL is not set. Use `score4climate serve` (which starts an embedded "
            "PostgreSQL for development) or point DATABASE_URL at a PostgreSQL server."
        )
    return settings.database_url


BeforeCommit = Callable[[AsyncSession], Awaitable[None]]
_before_commit: list[BeforeCommit] = []


def before_commit(hook: BeforeCommit) -> BeforeCommit:
    """Register a step that runs in every transaction right before it commits (derived data
    such as progress records); it must return quickly when it has nothing to do."""
    if hook not in _before_commit:
        _before_commit.append(hook)
    return hook


async def run_before_commit(session: AsyncSession) -> None:
    for hook in _before_commit:
        await hook(session)


async def finish(session: AsyncSession) -> None:
    """The one way a transaction ends successfully: derived data first, then commit."""
    await run_before_commit(session)
    await session.commit()


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request: commit when the handler returned, roll back otherwise.

    Declared with `scope="function"` (see deps.py) so the commit happens before the
    response is sent: a failed commit becomes an error response, never a lost write. A
    transaction that loses to a concurrent one (a deadlock) is rolled back here and the whole
    request runs again on a new session (middleware.TransactionRetryMiddleware).
    """
    database: Database = request.app.state.db
    async with database.sessionmaker() as session:
        try:
            yield session
            await finish(session)
        except BaseException:
            await session.rollback()
            raise
