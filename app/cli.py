"""`score4climate` command line: serve, migrate, create-user, export-openapi, load-demo."""

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
    from app.config import Settings

ROOT = Path(__file__).resolve().parent.parent


def _settings() -> Settings:
    from app.config import get_settings

    return get_settings()


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


def migrate(url: str) -> None:
    from alembic.config import Config

    from alembic import command

    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "alembic"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.upgrade(cfg, "heads")


def _development_admin() -> None:
    """In development, make sure there is an admin to log in as, and remember its password."""
    settings = _settings()
    if settings.environment == "production" or settings.first_admin_email:
        return
    path = settings.data_dir / "first_admin_password"
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_text(secrets.token_urlsafe(12))
        path.chmod(0o600)
    os.environ["FIRST_ADMIN_EMAIL"] = "admin@score4climate.local"
    os.environ["FIRST_ADMIN_PASSWORD"] = path.read_text().strip()
    from app.config import get_settings

    get_settings.cache_clear()


def cmd_serve(args: argparse.Namespace) -> None:
    import uvicorn

    url = resolve_database_url()
    migrate(url)
    _development_admin()
    settings = _settings()
    from app.main import create_app

    app = create_app(settings)
    host = args.host or settings.host
    port = args.port or settings.port
    base = f"http://{host}:{port}"
    print(f"\nSCORE4Climate API on {base}\n  docs:   {base}/docs   (ReDoc: {base}/redoc)", flush=True)
    if settings.first_admin_email and settings.first_admin_password is not None:
        print(
            f"  log in: curl -s {base}/v1/auth/token -d grant_type=password "
            f"-d username={settings.first_admin_email} -d password={settings.first_admin_password.get_secret_value()}\n",
            flush=True,
        )
    uvicorn.run(app, host=host, port=port, http="httptools", loop="uvloop", log_config=None, proxy_headers=True)


def cmd_migrate(_: argparse.Namespace) -> None:
    migrate(resolve_database_url())
    print("database migrated to the latest revision")


def cmd_create_user(args: argparse.Namespace) -> None:
    from app.db import Database
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
        database = Database(url, _settings())
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


def cmd_load_demo(_: argparse.Namespace) -> None:
    url = resolve_database_url()
    migrate(url)
    print("load-demo: the demo data set arrives with the integrator-experience issue; nothing was loaded (empty set).")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="score4climate", description="SCORE4Climate Programme API")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="migrate, then serve the API (embedded PostgreSQL if DATABASE_URL is unset)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.set_defaults(func=cmd_serve)

    sub.add_parser("migrate", help="apply database migrations").set_defaults(func=cmd_migrate)

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
