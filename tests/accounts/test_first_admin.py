"""FIRST_ADMIN_EMAIL / FIRST_ADMIN_PASSWORD: the first administrator is created on start-up, once."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import sqlalchemy as sa

from app.db import Database
from app.main import create_app
from app.models.users import User
from tests.conftest import make_settings


async def test_first_admin_is_created_once_and_can_log_in(database_url):
    email = f"first-admin-{uuid.uuid4().hex[:8]}@example.org"
    password = "first admin passphrase"
    settings = make_settings(database_url, first_admin_email=email.upper(), first_admin_password=password)
    assert settings.database_url
    bookkeeping = Database(settings.database_url, settings)

    async def admins() -> list[sa.Row]:
        async with bookkeeping.engine.connect() as conn:
            return list((await conn.execute(sa.select(User.__table__).where(User.email == email))).all())

    try:
        for _ in range(2):  # a second start-up finds the admin and leaves it alone
            app = create_app(settings, database=Database(settings.database_url, settings))
            async with app.router.lifespan_context(app):
                pass
            found = await admins()
            assert len(found) == 1
            assert found[0].role == "admin"
            assert found[0].is_active

        first_id = found[0].id
        app = create_app(settings, database=Database(settings.database_url, settings))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
                r = await c.post(
                    "/v1/auth/token", data={"grant_type": "password", "username": email, "password": password}
                )
                assert r.status_code == 200, r.text
                me = await c.get("/v1/me", headers={"Authorization": f"Bearer {r.json()['access_token']}"})
                assert me.status_code == 200, me.text
                assert me.json()["id"] == str(first_id)
                assert me.json()["role"] == "admin"
                assert me.json()["email"] == email
        assert [row.id for row in await admins()] == [first_id]
    finally:
        async with bookkeeping.engine.begin() as conn:
            await conn.execute(sa.delete(User.__table__).where(User.email == email))
        await bookkeeping.dispose()


async def test_no_first_admin_without_settings(database_url):
    settings = make_settings(database_url, first_admin_email="nobody-configured@example.org")
    assert settings.database_url
    database = Database(settings.database_url, settings)
    app = create_app(settings, database=database)
    async with app.router.lifespan_context(app):
        pass
    checker = Database(settings.database_url, settings)
    try:
        async with checker.engine.connect() as conn:
            count = (
                await conn.execute(
                    sa.select(sa.func.count())
                    .select_from(User.__table__)
                    .where(User.email == "nobody-configured@example.org")
                )
            ).scalar_one()
        assert count == 0
    finally:
        await checker.dispose()


async def test_instances_starting_together_create_one_admin(database_url):
    """Several instances with the same FIRST_ADMIN_* start at once on a database without that
    admin: every start-up succeeds and there is exactly one admin."""
    email = f"together-{uuid.uuid4().hex[:8]}@example.org"
    settings = make_settings(database_url, first_admin_email=email, first_admin_password="started together")
    assert settings.database_url
    apps = [create_app(settings, database=Database(settings.database_url, settings)) for _ in range(4)]

    async def start(app) -> None:
        async with app.router.lifespan_context(app):
            pass

    checker = Database(settings.database_url, settings)
    try:
        results = await asyncio.gather(*(start(app) for app in apps), return_exceptions=True)
        assert [r for r in results if isinstance(r, BaseException)] == []
        async with checker.engine.connect() as conn:
            found = (await conn.execute(sa.select(User.__table__.c.role).where(User.email == email))).all()
        assert [row.role for row in found] == ["admin"]
    finally:
        async with checker.engine.begin() as conn:
            await conn.execute(sa.delete(User.__table__).where(User.email == email))
        await checker.dispose()
