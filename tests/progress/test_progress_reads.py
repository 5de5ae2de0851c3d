"""The progress reads (`GET /v1/enterprises/{id}/progress`, `GET /v1/progress`): the caller's
liveness and visibility are checked in the read's own statement, on a read-only connection;
errors are the usual problems; ETags come from the records' keys, not their bytes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import httpx
import pytest
import sqlalchemy as sa

from app.db import Database, ReadOnly
from app.ids import utcnow
from app.models.enums import LinkStatus
from app.models.supplier_links import SupplierLink
from app.services import progress
from tests.factories import PASSWORD, Factory
from tests.two_tenants import Tenant, build_tenant

ROLES = ("partner", "expert", "sme", "buyer")


async def tenants(factory: Factory) -> tuple[Tenant, Tenant]:
    a, b = await build_tenant(factory, "a"), await build_tenant(factory, "b")
    await progress.refresh_pending(factory.session)  # as at commit: nothing left to re-stamp later
    return a, b


def path(tenant: Tenant) -> str:
    return f"/v1/enterprises/{tenant.enterprise.id}/progress"


def problem(r: httpx.Response, status: int) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json" and "x-request-id" in r.headers


@pytest.mark.parametrize("role", ROLES)
async def test_own_record_and_404_for_another(client, factory, role):
    a, b = await tenants(factory)
    auth = factory.auth(a.users[role])
    r = await client.get(path(a), headers=auth)
    assert r.status_code == 200 and r.json()["enterprise"]["id"] == str(a.enterprise.id)
    assert r.headers["content-type"] == "application/json" and "x-request-id" in r.headers
    problem(await client.get(path(b), headers=auth), 404)


async def test_admin_and_api_clients_read_records(client, factory):
    a, _ = await tenants(factory)
    admin = await factory.user("admin")
    for who in (admin, a.api_client):
        r = await client.get(path(a), headers=factory.auth(who))
        assert r.status_code == 200 and r.json()["enterprise"]["id"] == str(a.enterprise.id)


async def test_record_etag_is_its_key_and_answers_304(client, factory, session):
    a, _ = await tenants(factory)
    auth = factory.auth(a.users["buyer"])
    first = await client.get(path(a), headers=auth)
    etag = first.headers["etag"]
    for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        r = await client.get(path(a), headers={**auth, "If-None-Match": header})
        assert (r.status_code, r.content, r.headers["etag"]) == (304, b"", etag)
    assert (await client.get(path(a), headers={**auth, "If-None-Match": '"stale"'})).status_code == 200
    # The same bytes under a new stamp are a new version: the ETag follows `updated_at`.
    await session.exec(
        sa.text(
            "UPDATE progress_records SET updated_at = updated_at + interval '1 second' WHERE enterprise_id = :id"
        ).bindparams(id=a.enterprise.id)
    )
    r = await client.get(path(a), headers={**auth, "If-None-Match": etag})
    assert r.status_code == 200 and r.headers["etag"] != etag


async def test_deactivation_and_password_change_end_access_at_once(client, factory):
    a, _ = await tenants(factory)
    admin = await factory.user("admin")
    buyer, partner = a.users["buyer"], a.users["partner"]
    buyer_auth, partner_auth = factory.auth(buyer), factory.auth(partner)
    for auth in (buyer_auth, partner_auth):
        assert (await client.get(path(a), headers=auth)).status_code == 200
        assert (await client.get("/v1/progress", headers=auth)).status_code == 200
    r = await client.patch(f"/v1/users/{buyer.id}", json={"is_active": False}, headers=factory.auth(admin))
    assert r.status_code == 200, r.text
    r = await client.patch(
        f"/v1/users/{partner.id}",
        json={"password": "a new long password", "current_password": PASSWORD},
        headers=partner_auth,
    )
    assert r.status_code == 200, r.text
    for auth in (buyer_auth, partner_auth):
        for url in (path(a), "/v1/progress"):
            r = await client.get(url, headers=auth)
            problem(r, 401)
            assert r.headers["www-authenticate"].startswith("Bearer")


async def test_an_ended_login_ends_its_access_tokens(client, factory):
    a, _ = await tenants(factory)
    buyer = a.users["buyer"]
    r = await client.post(
        "/v1/auth/token", data={"grant_type": "password", "username": buyer.email, "password": PASSWORD}
    )
    assert r.status_code == 200, r.text
    tokens = r.json()
    auth = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert (await client.get(path(a), headers=auth)).status_code == 200
    r = await client.post("/v1/auth/revoke", data={"token": tokens["refresh_token"]}, headers=auth)
    assert r.status_code == 200, r.text
    for url in (path(a), "/v1/progress"):
        problem(await client.get(url, headers=auth), 401)


async def test_revoked_link_hides_the_record_at_once(client, factory):
    a, _ = await tenants(factory)
    auth = factory.auth(a.users["buyer"])
    assert (await client.get(path(a), headers=auth)).status_code == 200
    a.link.status = LinkStatus.revoked
    await factory.save(a.link)
    problem(await client.get(path(a), headers=auth), 404)
    assert (await client.get("/v1/progress", headers=auth)).json()["items"] == []


async def test_bad_tokens_unknown_ids_and_other_spellings(client, factory):
    a, _ = await tenants(factory)
    auth = factory.auth(a.users["partner"])
    for headers in (
        {},
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": auth["Authorization"].replace("Bearer", "Basic")},
        {"Authorization": "Bearer " + factory.token(a.users["partner"], token_type="refresh")},
    ):
        for url in (path(a), "/v1/progress"):
            problem(await client.get(url, headers=headers), 401)
    problem(await client.get(f"/v1/enterprises/{a.visit.id}/progress", headers=auth), 404)  # no such enterprise
    r = await client.get(f"/v1/enterprises/{str(a.enterprise.id).replace('-', '')}/progress", headers=auth)
    assert r.status_code == 200 and r.json()["enterprise"]["id"] == str(a.enterprise.id)
    problem(await client.get("/v1/enterprises/not-a-uuid/progress", headers=auth), 422)
    problem(await client.post(path(a), headers=auth, json={}), 405)


async def test_a_record_never_stored_is_computed_on_first_read(client, factory, session):
    a, _ = await tenants(factory)
    auth = factory.auth(a.users["partner"])
    await session.exec(sa.text("DELETE FROM progress_records WHERE enterprise_id = :id").bindparams(id=a.enterprise.id))
    first = await client.get(path(a), headers=auth)
    assert first.status_code == 200 and first.json()["enterprise"]["id"] == str(a.enterprise.id)
    again = await client.get(path(a), headers=auth)
    assert (again.content, again.headers["etag"]) == (first.content, first.headers["etag"])


async def test_records_read_from_the_pool_with_committed_data(app, live_client, live_factory, database: Database):
    """Production wiring: a connection of the engine's pool, no transaction block."""
    a = await build_tenant(live_factory, "live")
    async with database.sessionmaker() as session:
        await progress.refresh(session, [a.enterprise.id])
        await session.commit()
    auth = live_factory.auth(a.users["buyer"])
    in_transaction: list[bool] = []
    production = app.state.reads

    class Watched:
        """The connection the reads got, telling after each statement whether a BEGIN was sent."""

        def __init__(self, connection: asyncpg.Connection) -> None:
            self.connection = connection

        async def fetch(self, *args: object) -> object:
            rows = await self.connection.fetch(*args)
            in_transaction.append(self.connection.is_in_transaction())
            return rows

        async def fetchrow(self, *args: object) -> object:
            row = await self.connection.fetchrow(*args)
            in_transaction.append(self.connection.is_in_transaction())
            return row

    @asynccontextmanager
    async def watched() -> AsyncIterator[ReadOnly]:
        async with production() as found:
            yield ReadOnly(Watched(found.connection), found.writing)  # type: ignore[arg-type]

    app.state.reads = watched
    try:
        first = await live_client.get(path(a), headers=auth)
        page = await live_client.get("/v1/progress", headers=auth)
    finally:
        app.state.reads = production
    assert first.status_code == 200 and first.json()["enterprise"]["id"] == str(a.enterprise.id)
    assert [item["enterprise"]["id"] for item in page.json()["items"]] == [str(a.enterprise.id)]
    assert in_transaction == [False, False, False]  # the record; the page's keys and text


# --- GET /v1/progress ------------------------------------------------------------------------


async def test_pages_follow_cursors_to_the_end(client, factory):
    a, b = await tenants(factory)
    auth = factory.auth(await factory.user("admin"))
    url = "/v1/progress?limit=1"
    first = await client.get(url, headers=auth)
    assert first.headers["link"].endswith('rel="next"')
    assert first.headers["x-next-cursor"] == first.json()["next_cursor"]
    seen = [item["enterprise"]["id"] for item in first.json()["items"]]
    cursor = first.json()["next_cursor"]
    while cursor:
        r = await client.get(f"{url}&cursor={cursor}", headers=auth)
        assert r.status_code == 200
        seen += [item["enterprise"]["id"] for item in r.json()["items"]]
        cursor = r.json()["next_cursor"]
    assert "link" not in r.headers and "x-next-cursor" not in r.headers
    whole = await client.get("/v1/progress?limit=500", headers=auth)
    assert seen == [item["enterprise"]["id"] for item in whole.json()["items"]]
    assert {str(a.enterprise.id), str(b.enterprise.id)} <= set(seen)


@pytest.mark.parametrize("role", ROLES)
async def test_page_shows_own_records_only(client, factory, role):
    a, b = await tenants(factory)
    r = await client.get("/v1/progress?limit=500", headers=factory.auth(a.users[role]))
    assert r.status_code == 200
    assert [item["enterprise"]["id"] for item in r.json()["items"]] == [str(a.enterprise.id)]
    assert r.json()["next_cursor"] is None and "link" not in r.headers


async def test_page_updated_since_is_inclusive(client, factory):
    await tenants(factory)
    auth = factory.auth(await factory.user("admin"))
    items = (await client.get("/v1/progress?limit=500", headers=auth)).json()["items"]
    newest = items[-1]["updated_at"]
    r = await client.get("/v1/progress", params={"updated_since": newest}, headers=auth)
    expected = [item for item in items if item["updated_at"] >= newest]
    assert r.json()["items"] == expected and expected


async def test_page_query_validation(client, factory):
    await tenants(factory)
    auth = factory.auth(await factory.user("admin"))
    cases = [
        ("/v1/progress?country=IN", 200),
        ("/v1/progress?sector=2219", 200),
        ("/v1/progress?limit=0", 422),
        ("/v1/progress?limit=501", 422),
        ("/v1/progress?limit=abc", 422),
        ("/v1/progress?limit=05", 200),
        ("/v1/progress?limit=5&limit=6", 200),
        ("/v1/progress?updated_since=yesterday", 422),
        ("/v1/progress?updated_since=2025-01-01T00:00:00", 422),  # no offset
        ("/v1/progress?cursor=forged.abc", 400),
        ("/v1/progress?other=1", 422),  # an unknown parameter is refused, never ignored
    ]
    for url, status in cases:
        r = await client.get(url, headers=auth)
        assert r.status_code == status, (url, r.text)
        if status >= 400:
            problem(r, status)


async def test_page_etag_follows_its_keys_and_answers_304(client, factory, session):
    a, b = await tenants(factory)
    auth = factory.auth(await factory.user("admin"))
    first = await client.get("/v1/progress?limit=500", headers=auth)
    etag = first.headers["etag"]
    same = await client.get("/v1/progress?limit=500", headers={**auth, "If-None-Match": etag})
    assert (same.status_code, same.content, same.headers["etag"]) == (304, b"", etag)
    csv = await client.get("/v1/progress?limit=500", headers={**auth, "Accept": "text/csv", "If-None-Match": etag})
    assert csv.status_code == 200 and csv.headers["etag"] != etag  # another representation
    other = await client.get("/v1/progress?limit=1", headers={**auth, "If-None-Match": etag})
    assert other.status_code == 200 and other.headers["etag"] != etag  # other records
    buyer = await client.get(
        "/v1/progress?limit=500", headers={**factory.auth(a.users["buyer"]), "If-None-Match": etag}
    )
    assert buyer.status_code == 200 and buyer.headers["etag"] != etag  # another caller
    await session.exec(
        sa.text(
            "UPDATE progress_records SET updated_at = updated_at + interval '1 second' WHERE enterprise_id = :id"
        ).bindparams(id=b.enterprise.id)
    )
    moved = await client.get("/v1/progress?limit=500", headers={**auth, "If-None-Match": etag})
    assert moved.status_code == 200 and moved.headers["etag"] != etag


class CountingLane(asyncio.Semaphore):
    """A semaphore that remembers how many took a turn."""

    def __init__(self) -> None:
        super().__init__(1)
        self.turns = 0

    async def acquire(self) -> bool:
        self.turns += 1
        return await super().acquire()


async def test_large_pages_take_turns(app, client, factory, monkeypatch):
    await tenants(factory)
    auth = factory.auth(await factory.user("admin"))
    monkeypatch.setattr(progress, "LARGE_PAGE", 1)  # two records make a large page
    lane = CountingLane()
    shared, app.state.large_pages = app.state.large_pages, lane  # (monkeypatch cannot undo on State)
    try:
        large = await client.get("/v1/progress?limit=2", headers=auth)
        assert (lane.turns, len(large.json()["items"])) == (1, 2)
        small = await client.get("/v1/progress?limit=1", headers=auth)
        assert (lane.turns, len(small.json()["items"])) == (1, 1)
    finally:
        app.state.large_pages = shared


async def test_a_large_page_does_not_wait_without_bound(app, client, factory, monkeypatch):
    await tenants(factory)
    auth = factory.auth(await factory.user("admin"))
    monkeypatch.setattr(progress, "LARGE_PAGE", 1)
    monkeypatch.setattr(progress, "LARGE_PAGE_WAIT_SECONDS", 0.05)
    busy = asyncio.Semaphore(0)  # every turn taken
    shared, app.state.large_pages = app.state.large_pages, busy
    try:
        r = await client.get("/v1/progress?limit=2", headers=auth)
    finally:
        app.state.large_pages = shared
    problem(r, 503)
    assert r.headers["retry-after"] == "1" and r.json()["type"].endswith("/service-unavailable")


async def test_a_record_restamped_while_a_page_is_read_waits_for_its_new_place(
    app, live_client, live_factory, database, monkeypatch
):
    """The page's keys are read first, then the text. If, in between, enterprise C joins the
    buyer's feed and record A is re-stamped after it, the page must not show A's newer stamp:
    a client keeping that stamp as its watermark would never receive C."""
    a = await build_tenant(live_factory, "race")
    b = await live_factory.enterprise(a.partner_org, name=live_factory.unique("b"))
    c = await live_factory.enterprise(a.partner_org, name=live_factory.unique("c"))
    await live_factory.supplier_link(b, a.buyer_org)
    async with database.sessionmaker() as session:
        await progress.refresh(session, [a.enterprise.id, b.id, c.id])
        await session.commit()
    auth = live_factory.auth(a.users["buyer"])
    bodies = progress._bodies
    interleaved = 0

    async def interleaving(connection: object, keys: list) -> list[bytes]:
        nonlocal interleaved
        interleaved += 1  # the keys are read: C joins the feed, then A is re-stamped
        async with database.sessionmaker() as session:
            session.add(
                SupplierLink(
                    enterprise_id=c.id, buyer_id=a.buyer_org.id, status=LinkStatus.active, accepted_at=utcnow()
                )
            )
            await session.commit()
        async with database.sessionmaker() as session:
            await progress.refresh(session, [a.enterprise.id])
            await session.commit()
        return await bodies(connection, keys)

    monkeypatch.setattr(progress, "_bodies", interleaving)
    page = await live_client.get("/v1/progress?limit=500", headers=auth)
    monkeypatch.setattr(progress, "_bodies", bodies)
    assert (page.status_code, interleaved) == (200, 1)
    seen = {item["enterprise"]["id"]: item["updated_at"] for item in page.json()["items"]}
    assert seen.keys() == {str(b.id)}  # A moved after the keys were read: not on this page
    again = await live_client.get("/v1/progress", params={"updated_since": max(seen.values())}, headers=auth)
    assert {item["enterprise"]["id"] for item in again.json()["items"]} == {str(a.enterprise.id), str(b.id), str(c.id)}


async def test_rate_limit_counts_each_request_once(live_client, live_factory, database, settings):
    """3 requests a minute: /v1/me, a record and a page, then 429 for both reads; each
    request counted once."""
    from app.main import create_app
    from tests.conftest import make_settings

    limited = create_app(make_settings(settings.database_url, rate_limit_per_minute=3), database=database)
    a = await build_tenant(live_factory, "limited")
    async with database.sessionmaker() as session:
        await progress.refresh(session, [a.enterprise.id])
        await session.commit()
    auth = live_factory.auth(a.users["buyer"])
    limited.state.limiter.clock = lambda: 6000.0  # one fixed one-minute window throughout
    transport = httpx.ASGITransport(app=limited)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        assert (await c.get("/v1/me", headers=auth)).status_code == 200
        for url in (path(a), "/v1/progress"):
            assert (await c.get(url, headers=auth)).status_code == 200
        for url in (path(a), "/v1/progress"):
            r = await c.get(url, headers=auth)
            problem(r, 429)
            assert r.headers["retry-after"]
    counts = limited.state.limiter._counts
    assert list(counts.values()) == [5], counts  # five requests of one caller, each counted once


async def test_metrics_and_access_log_name_the_route_template(app, client, factory):
    a, _ = await tenants(factory)
    auth = factory.auth(a.users["buyer"])
    registry = app.state.telemetry.registry

    def served(route: str, status: str) -> float:
        labels = {"method": "GET", "route": route, "status": status}
        return registry.get_sample_value("http_requests_total", labels) or 0.0

    before = served("/v1/enterprises/{enterprise_id}/progress", "200"), served("/v1/progress", "401")
    assert (await client.get(path(a), headers=auth)).status_code == 200
    assert (await client.get("/v1/progress")).status_code == 401
    after = served("/v1/enterprises/{enterprise_id}/progress", "200"), served("/v1/progress", "401")
    assert (after[0] - before[0], after[1] - before[1]) == (1.0, 1.0)
