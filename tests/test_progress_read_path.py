"""The lean read path for `GET /v1/enterprises/{id}/progress` (app/readpath.py): it answers
exactly as the route does, only where the caller may see the record, and passes everything
else on. Counters tell which way each request went."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
import sqlalchemy as sa

from app.db import Database, finish
from app.ids import utcnow
from app.models.enterprises import Enterprise
from app.models.enums import LinkStatus
from app.models.supplier_links import SupplierLink
from app.readpath import enterprise_in
from app.services import progress
from tests.factories import PASSWORD, Factory
from tests.factories_supplier_links import make_link
from tests.two_tenants import Tenant, build_tenant

ROLES = ("partner", "expert", "sme", "buyer")


def counts(app) -> tuple[float, float]:
    registry = app.state.metrics.registry
    served = registry.get_sample_value("progress_read_path_total", {"outcome": "served"}) or 0.0
    passed = registry.get_sample_value("progress_read_path_total", {"outcome": "passed"}) or 0.0
    return served, passed


class Ways:
    """Which way each request went, from the counters' movement."""

    def __init__(self, app) -> None:
        self.app = app
        self.last = counts(app)

    def went(self) -> str:
        now = counts(self.app)
        moved = (now[0] - self.last[0], now[1] - self.last[1])
        self.last = now
        return {(1.0, 0.0): "lean", (0.0, 1.0): "route", (0.0, 0.0): "neither"}.get(moved, f"both {moved}")


async def tenants(factory: Factory) -> tuple[Tenant, Tenant]:
    a, b = await build_tenant(factory, "a"), await build_tenant(factory, "b")
    await progress.refresh_pending(factory.session)  # as at commit: nothing left to re-stamp later
    return a, b


async def known(client, factory: Factory, who) -> dict[str, str]:
    """Auth headers of a caller this process has resolved once (so the lean path can serve it)."""
    auth = factory.auth(who)
    assert (await client.get("/v1/me", headers=auth)).status_code == 200
    return auth


def path(tenant: Tenant) -> str:
    return f"/v1/enterprises/{tenant.enterprise.id}/progress"


def without_request_id(headers) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k != "x-request-id"}


@pytest.mark.parametrize("role", ROLES)
async def test_same_answer_as_the_route_for_own_and_404_for_other(app, client, factory, role):
    a, b = await tenants(factory)
    auth = factory.auth(a.users[role])
    ways = Ways(app)
    first = await client.get(path(a), headers=auth)  # principal not yet known here: the route
    assert (first.status_code, ways.went()) == (200, "route")
    lean = await client.get(path(a), headers=auth)
    assert (lean.status_code, ways.went()) == (200, "lean")
    assert lean.content == first.content
    assert without_request_id(lean.headers) == without_request_id(first.headers)
    assert lean.headers["content-type"] == "application/json" and "x-request-id" in lean.headers
    other = await client.get(path(b), headers=auth)  # hidden: passed on, and the route says 404
    assert (other.status_code, ways.went()) == (404, "route")
    assert other.headers["content-type"] == "application/problem+json"


async def test_admin_and_api_clients_are_served(app, client, factory):
    a, _ = await tenants(factory)
    admin = await factory.user("admin")
    ways = Ways(app)
    for who in (admin, a.api_client):
        await client.get(path(a), headers=factory.auth(who))
        ways.went()
        r = await client.get(path(a), headers=factory.auth(who))  # a new token, same principal
        assert (r.status_code, ways.went()) == (200, "lean")
        assert r.json()["enterprise"]["id"] == str(a.enterprise.id)


async def test_if_none_match_answers_304_like_the_route(app, client, factory):
    a, _ = await tenants(factory)
    auth = factory.auth(a.users["buyer"])
    ways = Ways(app)
    etag = (await client.get(path(a), headers=auth)).headers["etag"]
    ways.went()
    for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        r = await client.get(path(a), headers={**auth, "If-None-Match": header})
        assert (r.status_code, r.content, r.headers["etag"], ways.went()) == (304, b"", etag, "lean")
    r = await client.get(path(a), headers={**auth, "If-None-Match": '"stale"'})
    assert (r.status_code, ways.went()) == (200, "lean")


async def test_deactivation_and_password_change_end_access_at_once(app, client, factory):
    a, _ = await tenants(factory)
    admin = await factory.user("admin")
    buyer, partner = a.users["buyer"], a.users["partner"]
    buyer_auth, partner_auth = await known(client, factory, buyer), await known(client, factory, partner)
    ways = Ways(app)
    for auth in (buyer_auth, partner_auth):
        r = await client.get(path(a), headers=auth)
        assert (r.status_code, ways.went()) == (200, "lean")
    r = await client.patch(f"/v1/users/{buyer.id}", json={"is_active": False}, headers=factory.auth(admin))
    assert r.status_code == 200, r.text
    r = await client.patch(
        f"/v1/users/{partner.id}",
        json={"password": "a new long password", "current_password": PASSWORD},
        headers=partner_auth,
    )
    assert r.status_code == 200, r.text
    ways.went()
    for auth in (buyer_auth, partner_auth):
        r = await client.get(path(a), headers=auth)
        assert (r.status_code, ways.went()) == (401, "route")


async def test_revoked_link_hides_the_record_at_once(app, client, factory):
    a, _ = await tenants(factory)
    auth = await known(client, factory, a.users["buyer"])
    assert (await client.get(path(a), headers=auth)).status_code == 200
    a.link.status = LinkStatus.revoked
    await factory.save(a.link)
    ways = Ways(app)
    r = await client.get(path(a), headers=auth)
    assert (r.status_code, ways.went()) == (404, "route")


async def test_what_it_cannot_serve_goes_to_the_route(app, client, factory):
    a, _ = await tenants(factory)
    auth = await known(client, factory, a.users["partner"])
    ways = Ways(app)
    cases = [
        ({}, 401),  # no token
        ({"Authorization": "Bearer not-a-token"}, 401),
        ({"Authorization": auth["Authorization"].replace("Bearer", "Basic")}, 401),
        ({"Authorization": "Bearer " + factory.token(a.users["partner"], token_type="refresh")}, 401),
    ]
    for headers, status in cases:
        r = await client.get(path(a), headers=headers)
        assert (r.status_code, ways.went()) == (status, "route")
    missing = f"/v1/enterprises/{a.visit.id}/progress"  # a real id, but no such enterprise
    r = await client.get(missing, headers=auth)
    assert (r.status_code, ways.went()) == (404, "route")
    for odd in (str(a.enterprise.id).replace("-", ""), "not-a-uuid"):
        r = await client.get(f"/v1/enterprises/{odd}/progress", headers=auth)
        assert ways.went() == "neither" and r.status_code in (200, 422)  # not its spelling: the route's
    # other methods never enter it
    r = await client.post(path(a), headers=auth, json={})
    assert (r.status_code, ways.went()) == (405, "neither")


async def test_a_record_never_stored_is_computed_by_the_route(app, client, factory):
    a, _ = await tenants(factory)
    auth = await known(client, factory, a.users["partner"])
    await factory.session.exec(
        sa.text("DELETE FROM progress_records WHERE enterprise_id = :id").bindparams(id=a.enterprise.id)
    )
    ways = Ways(app)
    r = await client.get(path(a), headers=auth)
    assert (r.status_code, ways.went()) == (200, "route")
    assert (await client.get(path(a), headers=auth)).status_code == 200
    assert ways.went() == "lean"


async def test_database_trouble_is_left_to_the_route(app, client, factory):
    a, _ = await tenants(factory)
    auth = await known(client, factory, a.users["buyer"])

    class Broken:
        async def fetchrow(self, sql: str, *args: object) -> object:
            raise OSError("connection refused")

        async def fetch(self, sql: str, *args: object) -> object:
            raise TimeoutError  # no free connection in time

    async def broken() -> Broken:
        return Broken()

    working, app.state.reader = app.state.reader, broken
    try:
        ways = Ways(app)
        r = await client.get(path(a), headers=auth)  # the route's own session still works here
        assert (r.status_code, ways.went()) == (200, "route")
        r = await client.get("/v1/progress", headers=auth)
        assert (r.status_code, ways.went(), len(r.json()["items"])) == (200, "route", 1)
    finally:
        app.state.reader = working


async def test_served_from_the_real_pool_with_committed_data(app, live_client, live_factory, database: Database):
    """Production wiring: the asyncpg read pool, outside any test transaction."""
    a = await build_tenant(live_factory, "live")
    async with database.sessionmaker() as session:
        await progress.refresh(session, [a.enterprise.id])
        await session.commit()
    auth = live_factory.auth(a.users["buyer"])
    ways = Ways(app)
    first = await live_client.get(path(a), headers=auth)
    assert (first.status_code, ways.went()) == (200, "route")
    second = await live_client.get(path(a), headers=auth)
    assert (second.status_code, ways.went()) == (200, "lean")
    assert second.content == first.content and second.headers["etag"] == first.headers["etag"]


def test_only_canonical_ids_are_taken():
    uid = "0196a4c2-7a4e-7d2b-9c1e-3f0a5b6c7d8e"
    assert enterprise_in(f"/v1/enterprises/{uid}/progress") == uid
    assert enterprise_in(f"/v1/enterprises/{uid.upper()}/progress") is not None
    for other in (
        f"/v1/enterprises/{uid.replace('-', '')}/progress",
        f"/v1/enterprises/{{{uid}}}/progress",
        f"/v1/enterprises/{uid}/progress/",
        f"/v1/enterprises/{uid}",
        f"/v1/enterprises/{uid}/story",
        "/v1/progress",
        f"/v1/enterprises/{uid[:-1]}x/progress",
    ):
        assert enterprise_in(other) is None, other


# --- GET /v1/progress ------------------------------------------------------------------------


async def test_page_same_answer_as_the_route_and_cursors_interchange(app, client, factory):
    a, b = await tenants(factory)
    admin = await factory.user("admin")
    auth = factory.auth(admin)
    ways = Ways(app)
    url = "/v1/progress?limit=1"
    first = await client.get(url, headers=auth)
    assert (first.status_code, ways.went()) == (200, "route")
    lean = await client.get(url, headers=auth)
    assert (lean.status_code, ways.went()) == (200, "lean")
    assert lean.content == first.content  # the same next_cursor: the route's cursor is the lean one
    assert without_request_id(lean.headers) == without_request_id(first.headers)
    assert lean.headers["link"].endswith('rel="next"') and list(lean.headers)[0] == "link"
    seen = [item["enterprise"]["id"] for item in lean.json()["items"]]
    cursor = lean.json()["next_cursor"]
    while cursor:
        r = await client.get(f"{url}&cursor={cursor}", headers=auth)
        assert (r.status_code, ways.went()) == (200, "lean")
        seen += [item["enterprise"]["id"] for item in r.json()["items"]]
        cursor = r.json()["next_cursor"]
    routed = await client.get("/v1/progress?limit=500&sector=2219", headers=auth)  # a filter: the route
    assert ways.went() == "route"
    assert seen == [item["enterprise"]["id"] for item in routed.json()["items"]]
    assert {str(a.enterprise.id), str(b.enterprise.id)} <= set(seen)


@pytest.mark.parametrize("role", ROLES)
async def test_page_shows_own_records_only(app, client, factory, role):
    a, b = await tenants(factory)
    auth = factory.auth(a.users[role])
    await client.get("/v1/me", headers=auth)
    ways = Ways(app)
    r = await client.get("/v1/progress?limit=500", headers=auth)
    assert (r.status_code, ways.went()) == (200, "lean")
    assert [item["enterprise"]["id"] for item in r.json()["items"]] == [str(a.enterprise.id)]
    assert r.json()["next_cursor"] is None and "link" not in r.headers


async def test_page_updated_since_is_inclusive_like_the_route(app, client, factory):
    a, b = await tenants(factory)
    auth = await known(client, factory, await factory.user("admin"))
    items = (await client.get("/v1/progress?limit=500", headers=auth)).json()["items"]
    newest = items[-1]["updated_at"]
    ways = Ways(app)
    r = await client.get("/v1/progress", params={"updated_since": newest}, headers=auth)
    assert (r.status_code, ways.went()) == (200, "lean")
    expected = [item for item in items if item["updated_at"] >= newest]
    assert r.json()["items"] == expected and expected


async def test_page_requests_it_leaves_to_the_route(app, client, factory):
    a, _ = await tenants(factory)
    auth = await known(client, factory, await factory.user("admin"))
    ways = Ways(app)
    cases = [
        ("/v1/progress?country=IN", {}, 200),
        ("/v1/progress?sector=2219", {}, 200),
        ("/v1/progress", {"Accept": "text/csv"}, 200),
        ("/v1/progress?limit=0", {}, 422),
        ("/v1/progress?limit=501", {}, 422),
        ("/v1/progress?limit=abc", {}, 422),
        ("/v1/progress?limit=05", {}, 200),
        ("/v1/progress?limit=5&limit=6", {}, 200),
        ("/v1/progress?updated_since=yesterday", {}, 422),
        ("/v1/progress?updated_since=2025-01-01T00:00:00", {}, 422),  # no offset
        ("/v1/progress?cursor=forged.abc", {}, 400),
        ("/v1/progress?other=1", {}, 200),
        ("/v1/progress", {"Origin": "https://partner.example"}, 200),
    ]
    for url, headers, status in cases:
        r = await client.get(url, headers={**auth, **headers})
        assert (r.status_code, ways.went()) == (status, "route"), url
    r = await client.get("/v1/progress", headers={**auth, "Accept": "application/json, text/csv"})
    assert (r.status_code, ways.went()) == (200, "lean")


async def test_page_of_a_caller_no_longer_live_goes_to_the_route(app, client, factory):
    a, _ = await tenants(factory)
    admin = await factory.user("admin")
    buyer_auth = factory.auth(a.users["buyer"])
    assert (await client.get("/v1/progress", headers=buyer_auth)).status_code == 200
    r = await client.patch(f"/v1/users/{a.users['buyer'].id}", json={"is_active": False}, headers=factory.auth(admin))
    assert r.status_code == 200
    ways = Ways(app)
    r = await client.get("/v1/progress", headers=buyer_auth)
    assert (r.status_code, ways.went()) == (401, "route")


class CountingLane(asyncio.Semaphore):
    """A semaphore that remembers how many took a turn."""

    def __init__(self) -> None:
        super().__init__(1)
        self.turns = 0

    async def acquire(self) -> bool:
        self.turns += 1
        return await super().acquire()


async def test_large_pages_take_turns_on_both_paths(app, client, factory, monkeypatch):
    a, b = await tenants(factory)
    auth = factory.auth(await factory.user("admin"))
    monkeypatch.setattr(progress, "LARGE_PAGE", 1)  # two records make a large page
    lane = CountingLane()
    shared, app.state.large_pages = app.state.large_pages, lane  # (monkeypatch cannot undo on State)
    try:
        ways = Ways(app)
        routed = await client.get("/v1/progress?limit=2", headers=auth)
        assert (ways.went(), lane.turns, len(routed.json()["items"])) == ("route", 1, 2)
        lean = await client.get("/v1/progress?limit=2", headers=auth)
        assert (ways.went(), lane.turns, lean.content) == ("lean", 2, routed.content)
        small = await client.get("/v1/progress?limit=1", headers=auth)
        assert (ways.went(), lane.turns, len(small.json()["items"])) == ("lean", 2, 1)
    finally:
        app.state.large_pages = shared


async def test_a_record_restamped_while_a_page_is_read_waits_for_its_new_place(
    app, live_client, live_factory, database
):
    """The page's keys are read first, then the text. If, in between, enterprise C joins the
    buyer's feed and record A is re-stamped after it, the page must not show A's newer stamp:
    a client keeping that stamp as its watermark would never receive C."""
    a = await build_tenant(live_factory, "race")
    b = await live_factory.save(
        Enterprise(name=live_factory.unique("b"), country="IN", sector="2219", partner_id=a.partner_org.id)
    )
    c = await live_factory.save(
        Enterprise(name=live_factory.unique("c"), country="IN", sector="2219", partner_id=a.partner_org.id)
    )
    await make_link(live_factory, b, a.buyer_org)
    async with database.sessionmaker() as session:
        await progress.refresh(session, [a.enterprise.id, b.id, c.id])
        await session.commit()
    auth = await known(live_client, live_factory, a.users["buyer"])
    pool = await database.read_pool()

    class Interleaving:
        reads = 0

        async def fetchrow(self, sql: str, *args: object) -> object:
            return await pool.fetchrow(sql, *args)

        async def fetch(self, sql: str, *args: object) -> object:
            rows = await pool.fetch(sql, *args)
            self.reads += 1
            if self.reads == 1:  # the keys are read: C joins the feed, then A is re-stamped
                async with database.sessionmaker() as session:
                    session.add(
                        SupplierLink(
                            enterprise_id=c.id, buyer_id=a.buyer_org.id, status=LinkStatus.active, accepted_at=utcnow()
                        )
                    )
                    await finish(session)
                async with database.sessionmaker() as session:
                    await progress.refresh(session, [a.enterprise.id])
                    await session.commit()
            return rows

    reader = Interleaving()

    async def interleaving() -> Interleaving:
        return reader

    real, app.state.reader = app.state.reader, interleaving
    ways = Ways(app)
    try:
        page = await live_client.get("/v1/progress?limit=500", headers=auth)
    finally:
        app.state.reader = real
    assert (page.status_code, ways.went(), reader.reads) == (200, "lean", 2)
    seen = {item["enterprise"]["id"]: item["updated_at"] for item in page.json()["items"]}
    assert seen.keys() == {str(b.id)}  # A moved after the keys were read: not on this page
    again = await live_client.get("/v1/progress", params={"updated_since": max(seen.values())}, headers=auth)
    assert {item["enterprise"]["id"] for item in again.json()["items"]} == {str(a.enterprise.id), str(b.id), str(c.id)}


async def test_rate_limit_counts_each_request_once_on_either_path(live_client, live_factory, database, settings):
    """3 requests a minute: /v1/me (route), two lean reads, then 429 from the stack for a
    request the lean path counted and handed over; the count never doubles."""
    from app.main import create_app
    from tests.conftest import make_settings

    limited = create_app(make_settings(settings.database_url, rate_limit_per_minute=3), database=database)
    a = await build_tenant(live_factory, "limited")
    async with database.sessionmaker() as session:
        await progress.refresh(session, [a.enterprise.id])
        await session.commit()
    auth = live_factory.auth(a.users["buyer"])
    transport = httpx.ASGITransport(app=limited)
    if time.time() % 60 > 57:  # stay inside one fixed one-minute window
        await asyncio.sleep(61 - time.time() % 60)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        ways = Ways(limited)
        assert (await c.get("/v1/me", headers=auth)).status_code == 200
        for url in (path(a), "/v1/progress"):
            r = await c.get(url, headers=auth)
            assert (r.status_code, ways.went()) == (200, "lean")
        for url in (path(a), "/v1/progress"):
            r = await c.get(url, headers=auth)
            assert (r.status_code, ways.went()) == (429, "route")
            assert r.headers["retry-after"] and r.headers["content-type"] == "application/problem+json"
    counts = limited.state.limiter._counts
    assert list(counts.values()) == [5], counts  # five requests of one caller, each counted once


async def test_a_large_page_on_the_route_does_not_wait_without_bound(app, client, factory, monkeypatch):
    await tenants(factory)
    auth = await known(client, factory, await factory.user("admin"))
    monkeypatch.setattr(progress, "LARGE_PAGE", 1)
    monkeypatch.setattr(progress, "LARGE_PAGE_WAIT_SECONDS", 0.05)
    busy = asyncio.Semaphore(0)  # every turn taken
    shared, app.state.large_pages = app.state.large_pages, busy
    try:
        r = await client.get("/v1/progress?limit=2&sector=2219", headers=auth)  # a filter: the route
    finally:
        app.state.large_pages = shared
    assert (r.status_code, r.headers["retry-after"]) == (503, "1")
    assert r.json()["type"].endswith("/service-unavailable")
