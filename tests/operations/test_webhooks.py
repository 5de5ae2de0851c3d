"""Webhook delivery, end to end: real commits, real workers, a real HTTP receiver on 127.0.0.1.

Signatures are checked with the Standard Webhooks reference library, as a receiver would.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import uvicorn
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.requests import Request
from starlette.responses import Response

from app import outbound
from app.config import Settings
from app.db import Database
from app.ids import utcnow
from app.models.webhooks import DELIVERIES, WebhookEndpoint
from app.observability import Telemetry
from app.services.delivery import Worker
from tests.conftest import make_settings
from tests.factories import Factory
from tests.live_server import free_port
from tests.two_tenants import Tenant, build_tenant

# --- a receiver --------------------------------------------------------------------------------


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Answers POSTs with the statuses queued in `answers` (then 200), and keeps what came."""

    url: str = ""
    received: list[Received] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)
    delay: float = 0.0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        request = Request(scope, receive)
        body = await request.body()
        if self.delay:
            await asyncio.sleep(self.delay)
        self.received.append(Received(dict(request.headers), body))
        status = self.answers.pop(0) if self.answers else 200
        await Response(status_code=status)(scope, receive, send)

    def ids(self) -> list[str]:
        return [r.headers["webhook-id"] for r in self.received]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    hook = Receiver()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(hook, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.01)
    hook.url = f"http://127.0.0.1:{port}/hook"
    yield hook
    server.should_exit = True
    await task


@pytest.fixture
async def world(live_factory: Factory) -> Tenant:
    return await build_tenant(live_factory, "w")


def worker_settings(settings: Settings, **overrides: Any) -> Settings:
    return make_settings(str(settings.database_url), **overrides)


async def _endpoint(client, factory: Factory, who, url: str, types: list[str]) -> dict[str, Any]:
    r = await client.post("/v1/webhook-endpoints", json={"url": url, "event_types": types}, headers=factory.auth(who))
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def _idea(client, factory: Factory, tenant: Tenant, title: str = "Insulate the steam lines") -> httpx.Response:
    body = {"enterprise_id": str(tenant.enterprise.id), "title": title, "category": "energy"}
    r = await client.post("/v1/ideas", json=body, headers=factory.auth(tenant.users["partner"]))
    assert r.status_code == 201, r.text
    return r


async def _drain(*workers: Worker) -> int:
    """Run the workers until nothing is due."""
    total = 0
    while sent := sum(await asyncio.gather(*(w.run_once() for w in workers))):
        total += sent
    return total


async def _deliver_all(database: Database, settings: Settings, series: Any = None) -> int:
    """One worker, run until nothing is due, then closed."""
    worker = Worker(database, settings, series)
    try:
        return await _drain(worker)
    finally:
        await worker.close()


async def _make_due(database: Database) -> None:
    async with database.sessionmaker() as session:
        await session.exec(  # type: ignore[call-overload]
            sa.update(DELIVERIES).where(DELIVERIES.c.status == "pending").values(next_attempt_at=sa.func.now())
        )
        await session.commit()


async def _deliveries(client, factory: Factory, who, endpoint_id: str) -> list[dict[str, Any]]:
    r = await client.get(f"/v1/webhook-endpoints/{endpoint_id}/deliveries", headers=factory.auth(who))
    assert r.status_code == 200, r.text
    return r.json()["items"]  # type: ignore[no-any-return]


# --- the endpoint's life -----------------------------------------------------------------------


async def test_the_secret_is_shown_once(live_client, live_factory, world, receiver):
    buyer = world.users["buyer"]
    h = {**live_factory.auth(buyer), "Idempotency-Key": "create-hook-1"}
    body = {"url": receiver.url, "event_types": ["progress.updated"]}
    first = await live_client.post("/v1/webhook-endpoints", json=body, headers=h)
    assert first.status_code == 201, first.text
    created = first.json()
    assert created["secret"].startswith("whsec_") and created["secret"].startswith(created["secret_prefix"])
    assert created["organisation_id"] == str(world.buyer_org.id)
    replay = await live_client.post("/v1/webhook-endpoints", json=body, headers=h)
    assert replay.status_code == 201 and replay.headers.get("idempotent-replayed") == "true"
    assert replay.json()["secret"] is None and replay.json()["id"] == created["id"]
    got = await live_client.get(f"/v1/webhook-endpoints/{created['id']}", headers=live_factory.auth(buyer))
    assert "secret" not in got.json()
    async with live_factory.session as session:
        stored = await session.get(WebhookEndpoint, created["id"])
        assert stored is not None and created["secret"] not in stored.secret, "stored sealed, not in plaintext"


async def test_unknown_event_types_and_bad_urls_are_422(live_client, live_factory, world):
    h = live_factory.auth(world.users["buyer"])
    for body in (
        {"url": "https://hooks.example.com/x", "event_types": ["idea.exploded"]},
        {"url": "https://hooks.example.com/x", "event_types": []},
        {"url": "ftp://hooks.example.com/x", "event_types": ["progress.updated"]},
        {"url": "https://user:pw@hooks.example.com/x", "event_types": ["progress.updated"]},
        {"url": "not a url at all", "event_types": ["progress.updated"]},
    ):
        r = await live_client.post("/v1/webhook-endpoints", json=body, headers=h)
        assert r.status_code == 422, (body, r.text)


# --- delivery ----------------------------------------------------------------------------------


async def test_a_write_is_delivered_signed_and_verifiable(
    live_client, live_factory, world, receiver, settings, database
):
    buyer = world.users["buyer"]
    endpoint = await _endpoint(live_client, live_factory, buyer, receiver.url, ["idea.created"])
    write = await _idea(live_client, live_factory, world)
    telemetry = Telemetry()
    assert await _deliver_all(database, worker_settings(settings), telemetry.webhooks) == 1
    [got] = receiver.received
    payload = Webhook(endpoint["secret"]).verify(got.body, got.headers)
    assert payload["type"] == "idea.created" and payload["subject"]["id"] == write.json()["id"]
    assert got.headers["webhook-id"] == payload["id"]
    assert got.headers["content-type"] == "application/json"
    feed = (
        await live_client.get("/v1/events", params={"types": "idea.created"}, headers=live_factory.auth(buyer))
    ).json()
    assert [i for i in feed["items"] if i["id"] == payload["id"]] == [payload], "the same event as in the feed"
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "A" * 43 + "=").verify(got.body, got.headers)
    [delivery] = await _deliveries(live_client, live_factory, buyer, endpoint["id"])
    assert delivery["status"] == "delivered" and delivery["event_id"] == payload["id"]
    assert [a["status_code"] for a in delivery["attempts"]] == [200]
    exposed = telemetry.registry.get_sample_value("webhook_deliveries_total", {"outcome": "delivered"})
    assert exposed == 1.0
    assert telemetry.registry.get_sample_value("webhook_delivery_latency_seconds_count") == 1.0


async def test_failures_are_retried_with_the_same_id_then_failed_then_retried_by_hand(
    live_client, live_factory, world, receiver, settings, database
):
    partner = world.users["partner"]
    endpoint = await _endpoint(live_client, live_factory, partner, receiver.url, ["idea.created"])
    await _idea(live_client, live_factory, world)
    receiver.answers = [500, 503, 410]
    worker = Worker(database, worker_settings(settings, webhook_retry_schedule=[60, 60]), None)
    try:
        assert await worker.run_once() == 1
        assert await worker.run_once() == 0, "the retry is not due yet"
        [delivery] = await _deliveries(live_client, live_factory, partner, endpoint["id"])
        assert delivery["status"] == "pending" and delivery["next_attempt_at"] is not None
        await _make_due(database)
        assert await worker.run_once() == 1
        await _make_due(database)
        assert await worker.run_once() == 1  # the third attempt: the schedule had two retries
        [delivery] = await _deliveries(live_client, live_factory, partner, endpoint["id"])
        assert delivery["status"] == "failed" and delivery["next_attempt_at"] is None
        assert [a["status_code"] for a in delivery["attempts"]] == [500, 503, 410]
        assert all(a["duration_ms"] >= 0 for a in delivery["attempts"])
        got = await live_client.get(f"/v1/webhook-endpoints/{endpoint['id']}", headers=live_factory.auth(partner))
        assert got.json()["failing_since"] is not None

        url = f"/v1/webhook-endpoints/{endpoint['id']}/deliveries/{delivery['id']}/retry"
        r = await live_client.post(url, headers=live_factory.auth(partner))
        assert r.status_code == 202 and r.json()["status"] == "pending"
        assert await worker.run_once() == 1
    finally:
        await worker.close()
    assert len(set(receiver.ids())) == 1 and len(receiver.ids()) == 4, "every attempt carries the same webhook-id"
    [delivery] = await _deliveries(live_client, live_factory, partner, endpoint["id"])
    assert delivery["status"] == "delivered"
    got = await live_client.get(f"/v1/webhook-endpoints/{endpoint['id']}", headers=live_factory.auth(partner))
    assert got.json()["failing_since"] is None, "a success ends the run of failures"


async def test_after_a_rotation_both_secrets_verify_for_a_day(
    live_client, live_factory, world, receiver, settings, database
):
    buyer = world.users["buyer"]
    endpoint = await _endpoint(live_client, live_factory, buyer, receiver.url, ["idea.created"])
    r = await live_client.post(
        f"/v1/webhook-endpoints/{endpoint['id']}/rotate-secret", headers=live_factory.auth(buyer)
    )
    assert r.status_code == 200, r.text
    rotated = r.json()
    assert rotated["secret"] != endpoint["secret"] and rotated["previous_secret_expires_at"] is not None
    await _idea(live_client, live_factory, world)
    worker = Worker(database, worker_settings(settings), None)
    try:
        assert await _drain(worker) == 1
        [got] = receiver.received
        assert len(got.headers["webhook-signature"].split(" ")) == 2
        Webhook(rotated["secret"]).verify(got.body, got.headers)
        Webhook(endpoint["secret"]).verify(got.body, got.headers)
        async with database.sessionmaker() as session:  # a day later
            await session.exec(  # type: ignore[call-overload]
                sa.update(WebhookEndpoint)
                .where(WebhookEndpoint.id == endpoint["id"])  # type: ignore[arg-type]
                .values(previous_secret_expires_at=utcnow() - timedelta(seconds=1))
            )
            await session.commit()
        await _idea(live_client, live_factory, world, "Another idea")
        assert await _drain(worker) == 1
    finally:
        await worker.close()
    later = receiver.received[1]
    assert len(later.headers["webhook-signature"].split(" ")) == 1
    Webhook(rotated["secret"]).verify(later.body, later.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(endpoint["secret"]).verify(later.body, later.headers)


async def test_an_endpoint_failing_for_days_is_disabled_and_says_why(
    live_client, live_factory, world, receiver, settings, database
):
    buyer = world.users["buyer"]
    endpoint = await _endpoint(live_client, live_factory, buyer, receiver.url, ["idea.created"])
    async with database.sessionmaker() as session:
        await session.exec(  # type: ignore[call-overload]
            sa.update(WebhookEndpoint)
            .where(WebhookEndpoint.id == endpoint["id"])  # type: ignore[arg-type]
            .values(failing_since=utcnow() - timedelta(days=5, minutes=1))
        )
        await session.commit()
    await _idea(live_client, live_factory, world)
    receiver.answers = [500]
    telemetry = Telemetry()
    worker = Worker(database, worker_settings(settings), telemetry.webhooks)
    try:
        assert await worker.run_once() == 1
        got = (
            await live_client.get(f"/v1/webhook-endpoints/{endpoint['id']}", headers=live_factory.auth(buyer))
        ).json()
        assert got["enabled"] is False
        assert "5 days" in got["disabled_reason"] and "500" in got["disabled_reason"]
        assert telemetry.registry.get_sample_value("webhook_endpoints_disabled_total") == 1.0
        await _make_due(database)
        await _idea(live_client, live_factory, world, "While disabled")
        assert await worker.run_once() == 0, "a disabled endpoint gets nothing: no new deliveries, no retries"

        r = await live_client.patch(
            f"/v1/webhook-endpoints/{endpoint['id']}", json={"enabled": True}, headers=live_factory.auth(buyer)
        )
        assert r.status_code == 200 and r.json()["disabled_reason"] is None and r.json()["failing_since"] is None
        assert await worker.run_once() == 1, "re-enabled: the pending retry goes out"
    finally:
        await worker.close()
    assert len(receiver.received) == 2
    deliveries = await _deliveries(live_client, live_factory, buyer, endpoint["id"])
    assert len(deliveries) == 1, "the event written while disabled was not queued for it"


async def test_ping_reaches_only_that_endpoint_and_no_feed(
    live_client, live_factory, world, receiver, settings, database
):
    buyer = world.users["buyer"]
    endpoint = await _endpoint(live_client, live_factory, buyer, receiver.url, ["progress.updated"])
    r = await live_client.post(f"/v1/webhook-endpoints/{endpoint['id']}/ping", headers=live_factory.auth(buyer))
    assert r.status_code == 202, r.text
    assert await _deliver_all(database, worker_settings(settings), None) == 1
    [got] = receiver.received
    payload = Webhook(endpoint["secret"]).verify(got.body, got.headers)
    assert payload["type"] == "webhook.ping" and payload["id"] == r.json()["event_id"]
    feed = (await live_client.get("/v1/events", headers=live_factory.auth(buyer))).json()["items"]
    assert all(i["type"] != "webhook.ping" for i in feed)


# --- workers -----------------------------------------------------------------------------------


async def test_two_workers_never_send_the_same_delivery(live_client, live_factory, world, receiver, settings, database):
    partner = world.users["partner"]
    await _endpoint(live_client, live_factory, partner, receiver.url, ["idea.created"])
    for n in range(40):
        await _idea(live_client, live_factory, world, f"Idea {n}")
    receiver.delay = 0.01
    options = worker_settings(settings, webhook_concurrency=16, webhook_endpoint_concurrency=16)
    first, second = Worker(database, options, None), Worker(database, options, None)
    try:
        assert await _drain(first, second) == 40
    finally:
        await first.close()
        await second.close()
    counts = Counter(receiver.ids())
    assert len(counts) == 40 and set(counts.values()) == {1}, "each delivery sent exactly once"


async def test_a_running_worker_records_every_outcome(live_client, live_factory, world, receiver, settings, database):
    """`run`: deliveries finish while earlier ones are being recorded; each outcome is recorded once."""
    partner = world.users["partner"]
    endpoint = await _endpoint(live_client, live_factory, partner, receiver.url, ["idea.created"])
    receiver.delay = 0.02
    worker = Worker(database, worker_settings(settings, webhook_endpoint_concurrency=16), None)
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    try:
        for n in range(30):
            await _idea(live_client, live_factory, world, f"Idea {n}")
        for _ in range(200):
            async with database.sessionmaker() as session:
                query = sa.select(sa.func.count()).where(DELIVERIES.c.status == "delivered")
                if (await session.exec(query)).one()[0] == 30:  # type: ignore[call-overload]
                    break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await running
    deliveries = await _deliveries(live_client, live_factory, partner, endpoint["id"])
    assert [d["status"] for d in deliveries] == ["delivered"] * 30
    assert all(len(d["attempts"]) == 1 for d in deliveries)
    assert sorted(Counter(receiver.ids()).values()) == [1] * 30


async def test_a_worker_that_dies_mid_delivery_loses_nothing(
    live_client, live_factory, world, receiver, settings, database
):
    """It claimed and sent, but never recorded the outcome (killed): when its lease runs out,
    another worker sends the delivery again, with the same webhook-id."""
    partner = world.users["partner"]
    endpoint = await _endpoint(live_client, live_factory, partner, receiver.url, ["idea.created"])
    await _idea(live_client, live_factory, world)
    dying = Worker(database, worker_settings(settings), None, lease_seconds=1.0)
    survivor = Worker(database, worker_settings(settings), None)
    try:
        [job] = await dying.claim(10)
        await dying.send(job)  # ... and the process is killed here
        assert await survivor.run_once() == 0, "claimed by a live lease: not taken over yet"
        await asyncio.sleep(1.2)
        assert await survivor.run_once() == 1
    finally:
        await dying.close()
        await survivor.close()
    ids = receiver.ids()
    assert len(ids) == 2 and ids[0] == ids[1], "sent again with the same webhook-id: the receiver drops it"
    [delivery] = await _deliveries(live_client, live_factory, partner, endpoint["id"])
    assert delivery["status"] == "delivered" and len(delivery["attempts"]) == 1


async def test_the_worker_command_delivers_and_stops_on_sigterm(live_client, live_factory, world, receiver, settings):
    partner = world.users["partner"]
    await _endpoint(live_client, live_factory, partner, receiver.url, ["idea.created"])
    await _idea(live_client, live_factory, world)
    env = {**os.environ, "DATABASE_URL": str(settings.database_url), "ENVIRONMENT": "test", "LOG_LEVEL": "INFO"}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app.cli",
        "worker",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        for _ in range(300):
            if receiver.received:
                break
            await asyncio.sleep(0.05)
        assert len(receiver.received) == 1, "the worker process delivered the event"
    finally:
        process.send_signal(signal.SIGTERM)
        raw, _ = await asyncio.wait_for(process.communicate(), timeout=30)
    output = raw.decode()
    assert process.returncode == 0, output
    assert "delivery worker stopped" in output


async def test_serve_runs_an_embedded_worker_when_asked(live_client, live_factory, world, receiver, settings, database):
    from app.main import create_app, lifespan

    partner = world.users["partner"]
    await _endpoint(live_client, live_factory, partner, receiver.url, ["idea.created"])
    embedded = create_app(
        worker_settings(settings, worker="embedded"), database=Database(str(settings.database_url), settings)
    )
    async with lifespan(embedded):
        await _idea(live_client, live_factory, world)
        for _ in range(200):
            if receiver.received:
                break
            await asyncio.sleep(0.05)
    assert len(receiver.received) == 1
    assert worker_settings(settings, environment="development").embedded_worker
    assert not worker_settings(settings).embedded_worker


async def test_deliveries_log_the_request_id_of_the_write(
    live_client, live_factory, world, receiver, settings, database, caplog
):
    partner = world.users["partner"]
    await _endpoint(live_client, live_factory, partner, receiver.url, ["idea.created"])
    write = await _idea(live_client, live_factory, world)
    with caplog.at_level(logging.INFO, logger="app.webhooks"):
        assert await _deliver_all(database, worker_settings(settings)) == 1
    [line] = [r for r in caplog.records if r.getMessage() == "webhook delivery"]
    assert line.request_id == write.headers["x-request-id"]  # type: ignore[attr-defined]
    assert line.outcome == "delivered"  # type: ignore[attr-defined]


# --- the outbound policy -----------------------------------------------------------------------


def production_policy(settings: Settings) -> Settings:
    return worker_settings(settings, outbound_allow_private=False)


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.com/x",  # not https
        "https://127.0.0.1/x",
        "https://localhost/x",
        "https://10.1.2.3/x",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/x",
        "https://[::ffff:127.0.0.1]/x",
        "https://[fd00::1]/x",
    ],
)
async def test_the_policy_refuses_private_targets(url, settings):
    with pytest.raises(outbound.OutboundRefused):
        await outbound.check(url, production_policy(settings))


async def test_the_policy_allows_public_addresses(settings):
    assert await outbound.check("https://8.8.8.8/x", production_policy(settings)) == "https://8.8.8.8/x"


async def test_production_refuses_private_urls_through_the_api(app, live_factory, world, settings):
    strict = production_policy(settings)
    previous, app.state.settings = app.state.settings, strict
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            body = {"url": "https://127.0.0.1:8443/hook", "event_types": ["progress.updated"]}
            r = await client.post("/v1/webhook-endpoints", json=body, headers=live_factory.auth(world.users["buyer"]))
    finally:
        app.state.settings = previous
    assert r.status_code == 422, r.text
    assert "OUTBOUND_ALLOW_PRIVATE" in r.text


async def test_the_address_is_checked_again_at_delivery(live_client, live_factory, world, receiver, settings, database):
    """Saved while allowed (or resolving elsewhere then): at delivery time the worker resolves
    again under the policy, and refuses (DNS rebinding)."""
    partner = world.users["partner"]
    endpoint = await _endpoint(live_client, live_factory, partner, receiver.url, ["idea.created"])
    await _idea(live_client, live_factory, world)
    worker = Worker(database, production_policy(settings), None)
    try:
        assert await worker.run_once() == 1
    finally:
        await worker.close()
    assert receiver.received == [], "nothing was sent"
    [delivery] = await _deliveries(live_client, live_factory, partner, endpoint["id"])
    [attempt] = delivery["attempts"]
    assert attempt["status_code"] is None and "outbound policy" in attempt["error"]


# --- the development receiver ------------------------------------------------------------------


async def test_the_development_receiver_checks_signatures(
    live_client, live_factory, world, receiver, settings, database
):
    from app.webhook_receiver import describe

    partner = world.users["partner"]
    endpoint = await _endpoint(live_client, live_factory, partner, receiver.url, ["idea.created"])
    write = await _idea(live_client, live_factory, world)
    assert await _deliver_all(database, worker_settings(settings), None) == 1
    [got] = receiver.received
    line = describe(got.body, got.headers, endpoint["secret"])
    assert line.startswith("verified ") and "idea.created" in line and write.json()["id"] in line
    assert describe(got.body, got.headers, "whsec_" + "A" * 43 + "=").startswith("REJECTED")
    assert describe(got.body, got.headers, None).startswith("unchecked ")
