"""`score4climate` command line: serve, worker, receive-webhooks, migrate, create-user, export-openapi,
load-demo."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import secrets
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING
from uuid import UUID

if TYPE_CHECKING:
    from alembic.config import Config

    from app.config import Settings
    from app.db import Database
    from app.services.demo import DemoSummary

ROOT = Path(__file__).resolve().parent.parent


def _settings() -> Settings:
    from app.config import get_settings

    return get_settings()


def open_database(url: str) -> Database:
    """The CLI's set-up for commands that write: the before-commit hooks the server installs
    (progress records kept current), then the database at `url`."""
    from app.db import Database
    from app.services import events, progress

    progress.install()
    events.install()
    return Database(url, _settings())


def resolve_database_url() -> str:
    """DATABASE_URL when set; otherwise start the embedded server (not in production)."""
    from app.config import get_settings

    settings = get_settings()
    if settings.database_url:
        return settings.database_url
    if settings.environment == "production":
        raise SystemExit("DATABASE_URL is required when ENVIRONMENT=production")
    from app import embedded_db

    print("DATABASE_URL is not set: starting the embedded PostgreSQL under", settings.data_dir / "pg", flush=True)
    url = embedded_db.database_url(settings.data_dir)
    os.environ["DATABASE_URL"] = url
    get_settings.cache_clear()
    return url


def migration_scripts() -> Path:
    """The Alembic scripts: `app/migrations` in an installed package (setup.py puts them
    there), else `alembic/` of the checkout (also what an editable install uses)."""
    packaged = Path(__file__).resolve().parent / "migrations"
    return packaged if (packaged / "env.py").is_file() else ROOT / "alembic"


def alembic_config(url: str) -> Config:
    """Alembic's configuration for the database at `url` (wherever the command runs from);
    an installed package has no alembic.ini and needs none to migrate."""
    from alembic.config import Config

    ini = ROOT / "alembic.ini"
    cfg = Config(str(ini) if ini.is_file() else None)
    cfg.set_main_option("script_location", str(migration_scripts()))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(url: str) -> None:
    """Apply the migrations, then rebuild the progress records an older formula built."""
    from alembic import command

    command.upgrade(alembic_config(url), "heads")
    asyncio.run(rebuild_outdated_records(url))


async def rebuild_outdated_records(url: str, chunk: int = 500) -> int:
    """Recompute, a chunk per transaction, every progress record that an older version of the
    computation built (a migration that changes what a record holds leaves them so). Each chunk
    goes through the normal refresh, so buyers' incremental sync sees the new records."""
    from app.db import unit_of_work
    from app.services import progress

    database = open_database(url)
    done = 0
    try:
        while True:
            async with unit_of_work(database) as session:
                ids = await progress.outdated(session, chunk)
                if not ids:
                    break
                await progress.refresh(session, ids)
            done += len(ids)
            print(f"rebuilding progress records with the current formula: {done} done", flush=True)
    finally:
        await database.dispose()
    return done


def _development_admin() -> Path | None:
    """In development, make sure there is an admin to log in as, and remember its password.
    Returns the file that keeps the password, when this made the admin's settings."""
    settings = _settings()
    if settings.environment == "production" or settings.first_admin_email:
        return None
    from app.local_secrets import read_or_create

    path = settings.data_dir / "first_admin_password"
    os.environ["FIRST_ADMIN_EMAIL"] = "admin@score4climate.local"
    os.environ["FIRST_ADMIN_PASSWORD"] = read_or_create(path, lambda: secrets.token_urlsafe(12))
    from app.config import get_settings

    get_settings.cache_clear()
    return path


def demo_wanted(settings: Settings, *, embedded: bool, asked: bool) -> bool:
    """Whether `serve` loads the demo world, whose users share a published password: only
    where that cannot reach a real deployment, i.e. development on the embedded database, or
    when asked for (`--demo`, DEMO_DATA=true); never in production."""
    if settings.environment == "production":
        return False
    return asked or settings.demo_data or (settings.environment == "development" and embedded)


def tls_files(args: argparse.Namespace, settings: Settings) -> tuple[str | None, str | None]:
    """The key and certificate `serve` speaks HTTPS with (the flags over SSL_KEYFILE and
    SSL_CERTFILE), both or neither, each a readable file; (None, None): plain HTTP."""
    keyfile = args.ssl_keyfile or settings.ssl_keyfile
    certfile = args.ssl_certfile or settings.ssl_certfile
    if (keyfile is None) != (certfile is None):
        raise SystemExit(
            "--ssl-keyfile and --ssl-certfile (SSL_KEYFILE, SSL_CERTFILE) are given together or not at all"
        )
    for name, path in (("key", keyfile), ("certificate", certfile)):
        if path is not None and not Path(path).is_file():
            raise SystemExit(f"the TLS {name} file {path} does not exist")
    return (str(keyfile), str(certfile)) if keyfile and certfile else (None, None)


def cmd_serve(args: argparse.Namespace) -> None:
    import uvicorn

    from app import banner

    if args.demo and _settings().environment == "production":
        raise SystemExit("--demo is refused when ENVIRONMENT=production: demo users share a published password")
    keyfile, certfile = tls_files(args, _settings())
    embedded = _settings().database_url is None
    url = resolve_database_url()
    migrate(url)
    password_file = _development_admin()
    settings = _settings()
    from app.main import create_app

    app = create_app(settings)
    host = args.host or settings.host
    port = args.port or settings.port
    base = f"{'https' if certfile else 'http'}://{host}:{port}"
    demo = load_demo_data(url, at_start=True) if demo_wanted(settings, embedded=embedded, asked=args.demo) else None
    if demo is not None:
        print_demo_logins(demo, base, password_file)
    admin_email = settings.first_admin_email if settings.first_admin_password is not None else None
    print("\n".join(banner.server_lines(base, admin_email, password_file)), flush=True)
    uvicorn.run(
        app,
        host=host,
        port=port,
        http="httptools",
        loop="uvloop",
        log_config=None,
        proxy_headers=False,  # the app applies TRUSTED_PROXIES itself (app/main.py)
        timeout_keep_alive=30,
        ssl_keyfile=keyfile,
        ssl_certfile=certfile,
    )


def cmd_worker(args: argparse.Namespace) -> None:
    """Deliver webhooks until SIGTERM or Ctrl-C (in-flight deliveries are finished first)."""
    import signal

    from prometheus_client import start_http_server

    from app.observability import Telemetry, configure_logging
    from app.services.delivery import Worker

    settings = _settings()
    configure_logging(settings.log_level)
    url = resolve_database_url()
    port = args.metrics_port or settings.worker_metrics_port
    telemetry = Telemetry()
    if port:
        start_http_server(port, addr=settings.host, registry=telemetry.registry)
        print(f"worker metrics on http://{settings.host}:{port}/metrics", flush=True)

    async def run() -> None:
        database = open_database(url)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        print("delivery worker running (SIGTERM or Ctrl-C stops it)", flush=True)
        try:
            await Worker(database, settings, telemetry.webhooks).run(stop)
        finally:
            await database.dispose()

    asyncio.run(run())
    print("delivery worker stopped", flush=True)


def cmd_receive_webhooks(args: argparse.Namespace) -> None:
    import uvicorn

    from app.webhook_receiver import receiver

    secret = args.secret or os.environ.get("WEBHOOK_SECRET")
    print(
        f"receiving webhooks on http://{args.host}:{args.port}/ "
        + ("(checking signatures)" if secret else "(no secret given: signatures not checked)"),
        flush=True,
    )
    app = receiver(secret, lambda line: print(line, flush=True))
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", lifespan="off")


def cmd_migrate(_: argparse.Namespace) -> None:
    migrate(resolve_database_url())
    print("database migrated to the latest revision")


def cmd_create_user(args: argparse.Namespace) -> None:
    from app.models.types import Role
    from app.models.users import UserCreate
    from app.principal import Principal
    from app.services import users

    url = resolve_database_url()
    migrate(url)
    password = args.password or os.environ.get("S4C_PASSWORD") or getpass.getpass("password: ")
    data = UserCreate(
        email=args.email,
        password=password,
        role=Role(args.role),
        full_name=args.full_name,
        organisation_id=UUID(args.organisation_id) if args.organisation_id else None,
        enterprise_id=UUID(args.enterprise_id) if args.enterprise_id else None,
        certified_until=date.fromisoformat(args.certified_until) if args.certified_until else None,
    )
    system = Principal(kind="user", id=UUID(int=0), role=Role.admin)

    async def run() -> str:
        database = open_database(url)
        try:
            async with database.sessionmaker() as session:
                user = await users.create_user(session, system, data)
                await session.commit()
                return str(user.id)
        finally:
            await database.dispose()

    print("created user", asyncio.run(run()))


def cmd_export_openapi(args: argparse.Namespace) -> None:
    from app.config import get_settings
    from app.main import create_app

    settings = get_settings().model_copy(update={"database_url": "postgresql+asyncpg://export@localhost/unused"})
    from app.openapi import export

    export(create_app(settings), Path(args.output))
    print("wrote", args.output)


def load_demo_data(url: str, at_start: bool = False) -> DemoSummary | None:
    """Load the demo world and commit. `at_start`: as `serve` does, only into a database
    without enterprises (None for any other), describing a demo world already there."""
    from app.services import demo

    demo.refuse_in_production(_settings().environment)

    async def run() -> DemoSummary | None:
        database = open_database(url)
        try:
            async with database.sessionmaker() as session:
                summary = await (demo.load_demo_at_start(session) if at_start else demo.load_demo(session))
                await session.commit()
                return summary
        finally:
            await database.dispose()

    return asyncio.run(run())


def print_demo_logins(
    summary: DemoSummary, base: str = "http://127.0.0.1:8000", password_file: Path | None = None
) -> None:
    from app import banner

    settings = _settings()
    development = settings.environment == "development"
    admin = banner.admin_row(settings.first_admin_email, password_file, development, settings.data_dir)
    print("\n".join(banner.demo_lines(summary, admin, base)), flush=True)


def cmd_load_demo(_: argparse.Namespace) -> None:
    from app.services.demo import DemoRefused

    url = resolve_database_url()
    migrate(url)
    try:
        summary = load_demo_data(url)
    except DemoRefused as exc:
        raise SystemExit(str(exc)) from None
    assert summary is not None
    print_demo_logins(summary)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="score4climate", description="SCORE4Climate Programme API")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="migrate, then serve the API (embedded PostgreSQL if DATABASE_URL is unset)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--ssl-keyfile", type=Path, help="serve HTTPS with this private key, PEM (SSL_KEYFILE)")
    serve.add_argument("--ssl-certfile", type=Path, help="serve HTTPS with this certificate chain, PEM (SSL_CERTFILE)")
    serve.add_argument(
        "--demo",
        action="store_true",
        help="load the demo world into a database without enterprises (not in production; as DEMO_DATA=true)",
    )
    serve.set_defaults(func=cmd_serve)

    sub.add_parser("migrate", help="apply database migrations").set_defaults(func=cmd_migrate)

    worker = sub.add_parser("worker", help="deliver webhooks from the queue in PostgreSQL (run as many as you like)")
    worker.add_argument("--metrics-port", type=int, help="serve Prometheus metrics on this port (WORKER_METRICS_PORT)")
    worker.set_defaults(func=cmd_worker)

    hooks = sub.add_parser("receive-webhooks", help="a local webhook receiver that prints what arrives (development)")
    hooks.add_argument("--host", default="127.0.0.1")
    hooks.add_argument("--port", type=int, default=9000)
    hooks.add_argument("--secret", help="the endpoint's secret (or WEBHOOK_SECRET): signatures are checked")
    hooks.set_defaults(func=cmd_receive_webhooks)

    create = sub.add_parser("create-user", help="create a user (password from --password, $S4C_PASSWORD or a prompt)")
    create.add_argument("--email", required=True)
    create.add_argument("--role", required=True, choices=["admin", "partner", "expert", "sme", "buyer"])
    create.add_argument("--password")
    create.add_argument("--full-name")
    create.add_argument("--organisation-id")
    create.add_argument("--enterprise-id")
    create.add_argument("--certified-until", help="experts: YYYY-MM-DD")
    create.set_defaults(func=cmd_create_user)

    export = sub.add_parser("export-openapi", help="write the OpenAPI document")
    export.add_argument("--output", default=str(ROOT / "openapi.json"))
    export.set_defaults(func=cmd_export_openapi)

    sub.add_parser("load-demo", help="load the demo data set").set_defaults(func=cmd_load_demo)

    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main(sys.argv[1:])
