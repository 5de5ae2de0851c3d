"""Async engine, session factory and the one session type, whose commit runs the
before-commit hooks (and, once committed or rolled back, the steps registered for after)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass

import asyncpg
from fastapi import Request
from sqlalchemy import event
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.util import greenlet_spawn
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.orm.session import Session

from app.config import Settings

log = logging.getLogger("app.db")


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
        self.sessionmaker = async_sessionmaker(self.engine, class_=ProgrammeSession, expire_on_commit=False)

    async def dispose(self) -> None:
        await self.engine.dispose()


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
    such as progress records); it must return quickly when it has nothing to do. Registered
    at start-up (`create_app`, the CLI's `open_database`), never on import."""
    if hook not in _before_commit:
        _before_commit.append(hook)
    return hook


def before_commit_hooks() -> tuple[BeforeCommit, ...]:
    """The steps registered so far, in the order they run."""
    return tuple(_before_commit)


async def run_before_commit(session: AsyncSession) -> None:
    for hook in _before_commit:
        await hook(session)


AfterEnd = Callable[[], Awaitable[None]]
AFTER_COMMIT = "after_commit"
AFTER_ROLLBACK = "after_rollback"


def after_commit(session: AsyncSession, step: AfterEnd) -> None:
    """Run `step` once this session's transaction has committed (not if it rolls back): work
    outside the database that must only follow a committed change, such as removing an
    attachment's bytes from an object store. A failing step is logged, never raised."""
    session.info.setdefault(AFTER_COMMIT, []).append(step)


def after_rollback(session: AsyncSession, step: AfterEnd) -> None:
    """Run `step` if this session's transaction rolls back (not once it has committed): undo
    what was done outside the database for it, such as bytes already sent to an object store."""
    session.info.setdefault(AFTER_ROLLBACK, []).append(step)


async def _run_after(session: AsyncSession, which: str) -> None:
    steps: list[AfterEnd] = session.info.pop(which, [])
    session.info.pop(AFTER_ROLLBACK if which == AFTER_COMMIT else AFTER_COMMIT, None)
    for step in steps:
        try:
            await step()
        except Exception:  # the transaction's outcome stands; the step's failure is only logged
            log.exception("a step after the end of a transaction failed", extra={"after": which})


class ProgrammeSyncSession(Session):
    """The synchronous session under a `ProgrammeSession`: the class flush listeners of
    derived data (the progress records service) are registered on."""


class ProgrammeSession(AsyncSession):
    """The session type of the code base (requests, CLI, start-up, background tasks, tests):
    `commit()` runs the before-commit hooks first, so no commit skips derived data.
    tests/platform/test_sessions.py refuses any other session type in app/."""

    sync_session_class = ProgrammeSyncSession

    async def commit(self) -> None:
        await run_before_commit(self)
        await super().commit()
        await _run_after(self, AFTER_COMMIT)

    async def rollback(self) -> None:
        await super().rollback()
        await _run_after(self, AFTER_ROLLBACK)


async def get_session(request: Request) -> AsyncIterator[ProgrammeSession]:
    """One transaction per request: commit when the handler returned, roll back otherwise.

    Declared with `scope="function"` (see deps.py) so the commit happens before the
    response is sent: a failed commit becomes an error response, never a lost write. A
    transaction that loses to a concurrent one (a deadlock) is rolled back here and the whole
    request runs again on a new session (middleware.TransactionRetryMiddleware).
    """
    async with unit_of_work(request.app.state.db) as session:
        yield session


@dataclass(frozen=True, slots=True)
class ReadOnly:
    """What a read-only request works with: `connection`, the driver's connection of a pooled
    connection of the engine, used without a transaction block (no session, no BEGIN/COMMIT:
    each statement sees one snapshot, and the connection goes back clean); and `writing`, a
    regular transaction for the rare read that must write after all (a progress record never
    stored is computed and stored on first read)."""

    connection: asyncpg.Connection
    writing: Callable[[], AbstractAsyncContextManager[AsyncSession]]


Reads = Callable[[], AbstractAsyncContextManager[ReadOnly]]
"""How a request gets its `ReadOnly` (`app.state.reads`; tests put their transaction's)."""

READ_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)
"""What the driver raises when the database is away, slow or the connection dropped."""


@asynccontextmanager
async def unit_of_work(database: Database) -> AsyncIterator[ProgrammeSession]:
    """One transaction on a new session: committed (before-commit hooks included) when the
    block ends, rolled back on any error."""
    async with database.sessionmaker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


def transaction(database: Database) -> Callable[[], AbstractAsyncContextManager[AsyncSession]]:
    return lambda: unit_of_work(database)


def reads_of(database: Database) -> Reads:
    @asynccontextmanager
    async def read_only() -> AsyncIterator[ReadOnly]:
        """A connection of the engine's own pool (DB_POOL_SIZE, DB_POOL_TIMEOUT_SECONDS); on a
        driver error it is discarded rather than returned, as SQLAlchemy does on a disconnect."""
        raw = await database.engine.raw_connection()
        try:
            yield ReadOnly(raw.driver_connection, transaction(database))  # type: ignore[arg-type]
        except (asyncpg.InterfaceError, OSError, TimeoutError):
            raw.invalidate()
            raise
        finally:
            await greenlet_spawn(raw.close)

    return read_only


async def read_only(request: Request) -> AsyncIterator[ReadOnly]:
    """`app.state.reads` as a dependency (it marks an operation as one that reads the database)."""
    reads: Reads = request.app.state.reads
    async with reads() as found:
        yield found
