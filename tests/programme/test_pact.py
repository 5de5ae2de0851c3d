"""The PACT v3 host system under `/pact` (docs/pact.md): discovery, token, footprints (schema,
every filter, paging by absolute `Link`), PACT error bodies, consent, deprecation, and events
answered later by the delivery worker through a real local receiver."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import httpx
import jsonschema
import orjson
import pytest
import sqlalchemy as sa
import uvicorn
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.models.enums import LinkStatus, OutputUnit
from app.models.pact import OUTBOX
from app.models.results import Result
from app.models.types import OrganisationKind
from app.services.delivery import Worker
from tests.conftest import make_settings
from tests.factories import Factory
from tests.live_server import free_port

Y2023 = (date(2023, 1, 1), date(2023, 12, 31))
Y2025 = (date(2025, 1, 1), date(2025, 12, 31))
CREATED = "org.wbcsd.pact.ProductFootprint.RequestCreatedEvent.3"
FULFILLED = "org.wbcsd.pact.ProductFootprint.RequestFulfilledEvent.3"
REJECTED = "org.wbcsd.pact.ProductFootprint.RequestRejectedEvent.3"
PUBLISHED = "org.wbcsd.pact.ProductFootprint.PublishedEvent.3"

DECIMAL = {"type": "string", "pattern": r"^-?\d+(\.\d+)?$"}
URN_LIST = {"type": "array", "minItems": 1, "items": {"type": "string", "pattern": "^[uU][rR][nN]:"}}
INSTANT = {"type": "string", "format": "date-time"}
FOOTPRINT_SCHEMA: dict[str, Any] = {
    # Our own statement of what PACT v3 requires of a ProductFootprint and its CarbonFootprint.
    "type": "object",
    "required": [
        "id",
        "specVersion",
        "created",
        "status",
        "companyName",
        "companyIds",
        "productDescription",
        "productIds",
        "productNameCompany",
        "pcf",
    ],
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "specVersion": {"type": "string", "pattern": r"^3\.\d+\.\d+$"},
        "created": INSTANT,
        "status": {"enum": ["Active", "Deprecated"]},
        "validityPeriodStart": INSTANT,
        "validityPeriodEnd": INSTANT,
        "companyName": {"type": "string", "minLength": 1},
        "companyIds": URN_LIST,
        "productIds": URN_LIST,
        "productClassifications": URN_LIST,
        "productNameCompany": {"type": "string", "minLength": 1},
        "precedingPfIds": {"type": "array", "minItems": 1, "items": {"type": "string", "format": "uuid"}},
        "pcf": {
            "type": "object",
            "required": [
                "declaredUnitOfMeasurement",
                "declaredUnitAmount",
                "productMassPerDeclaredUnit",
                "referencePeriodStart",
                "referencePeriodEnd",
                "pcfExcludingBiogenicUptake",
                "pcfIncludingBiogenicUptake",
                "fossilGhgEmissions",
                "fossilCarbonContent",
                "ipccCharacterizationFactors",
                "crossSectoralStandards",
                "exemptedEmissionsPercent",
            ],
            "properties": {
                "declaredUnitOfMeasurement": {
                    "enum": [
                        "liter",
                        "kilogram",
                        "cubic meter",
                        "kilowatt hour",
                        "megajoule",
                        "ton kilometer",
                        "square meter",
                        "piece",
                        "hour",
                        "megabit second",
                    ]
                },
                "declaredUnitAmount": DECIMAL,
                "productMassPerDeclaredUnit": DECIMAL,
                "referencePeriodStart": INSTANT,
                "referencePeriodEnd": INSTANT,
                "geographyCountry": {"type": "string", "pattern": "^[A-Z]{2}$"},
                "pcfExcludingBiogenicUptake": DECIMAL,
                "pcfIncludingBiogenicUptake": DECIMAL,
                "fossilGhgEmissions": DECIMAL,
                "fossilCarbonContent": DECIMAL,
                "exemptedEmissionsPercent": DECIMAL,
                "primaryDataShare": DECIMAL,
                "ipccCharacterizationFactors": {
                    "type": "array",
                    "minItems": 1,
                    "items": {"type": "string", "pattern": r"^AR\d+$"},
                },
                "crossSectoralStandards": {"type": "array", "minItems": 1, "items": {"type": "string"}},
                "secondaryEmissionFactorSources": {
                    "type": "array",
                    "items": {"type": "object", "required": ["name", "version"]},
                },
            },
        },
    },
}
VALIDATOR = jsonschema.Draft202012Validator(FOOTPRINT_SCHEMA, format_checker=jsonschema.FormatChecker())


def assert_valid(footprint: dict[str, Any]) -> None:
    errors = sorted(VALIDATOR.iter_errors(footprint), key=str)
    assert not errors, [e.message for e in errors]
    assert all(value is not None for value in footprint.values())
    assert all(value is not None for value in footprint["pcf"].values())


@dataclass
class World:
    buyer: Any
    client: Any
    secret: str
    suppliers: list[Any]
    other: Any  # a supplier of another buyer
    revoked: Any  # a former supplier


async def _supplier(factory: Factory, partner: Any, name: str, country: str, unit: OutputUnit | None) -> Any:
    ent = await factory.enterprise(partner, name=name, country=country, output_unit=unit, products="rubber mats")
    for metric, base, latest in (("electricity", 100_000, 80_000), ("production_output", 50_000, 55_000)):
        await factory.expert_result(ent, metric, base, Y2023, True, False)
        await factory.expert_result(ent, metric, latest, Y2025, False, True)
    return ent


@pytest.fixture
async def world(live_factory: Factory) -> World:
    f = live_factory
    partner = await f.org("partner")
    buyer = await f.org(OrganisationKind.buyer)
    rival = await f.org(OrganisationKind.buyer)
    client, secret = await f.api_client(buyer)
    first = await _supplier(f, partner, "Shree Rubber", "IN", OutputUnit.piece)
    second = await _supplier(f, partner, "Kaveri Foods", "TH", OutputUnit.tonne)
    other = await _supplier(f, partner, "Someone Else's", "VN", OutputUnit.kilogram)
    revoked = await _supplier(f, partner, "Former Supplier", "IN", OutputUnit.liter)
    await _supplier(f, partner, "No Unit", "IN", None)
    await f.supplier_link(first, buyer)
    await f.supplier_link(second, buyer)
    await f.supplier_link(other, rival)
    await f.supplier_link(revoked, buyer, LinkStatus.revoked)
    return World(buyer, client, secret, [first, second], other, revoked)


def _basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


async def _token(http: Any, world: World) -> dict[str, str]:
    r = await http.post(
        "/pact/auth/token",
        data={"grant_type": "client_credentials"},
        headers=_basic(world.client.client_id, world.secret),
    )
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


# --- discovery and token


async def test_discovery_names_the_token_endpoint_as_reached(live_client):
    r = await live_client.get("/pact/.well-known/openid-configuration", headers={"host": "pact.example:8443"})
    assert r.status_code == 200
    assert r.json()["token_endpoint"] == "http://pact.example:8443/pact/auth/token"
    assert "client_credentials" in r.json()["grant_types_supported"]


async def test_token_basic_ok_bad_secret_and_wrong_grant(live_client, world):
    ok = await live_client.post(
        "/pact/auth/token",
        data={"grant_type": "client_credentials"},
        headers=_basic(world.client.client_id, world.secret),
    )
    assert ok.status_code == 200 and ok.json()["token_type"] == "Bearer" and ok.json()["expires_in"] > 0
    form = await live_client.post(
        "/pact/auth/token",
        data={"grant_type": "client_credentials", "client_id": world.client.client_id, "client_secret": world.secret},
    )
    assert form.status_code == 200
    bad = await live_client.post(
        "/pact/auth/token", data={"grant_type": "client_credentials"}, headers=_basic(world.client.client_id, "nope")
    )
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_client"
    wrong = await live_client.post(
        "/pact/auth/token", data={"grant_type": "password"}, headers=_basic(world.client.client_id, world.secret)
    )
    assert wrong.status_code == 400 and wrong.json()["error"] == "unsupported_grant_type"
    none = await live_client.post("/pact/auth/token", data={"grant_type": "client_credentials"})
    assert none.status_code == 401 and none.json()["error"] == "invalid_client"


# --- footprints


async def test_consent_a_buyer_sees_exactly_its_active_suppliers(live_client, world):
    auth = await _token(live_client, world)
    r = await live_client.get("/pact/3/footprints", headers=auth)
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    data = r.json()["data"]
    assert len(data) == 4  # two suppliers, baseline and latest each
    for footprint in data:
        assert_valid(footprint)
    companies = {fp["companyIds"][0] for fp in data}
    assert companies == {f"urn:score4climate:enterprise:{e.id}" for e in world.suppliers}
    hidden = f"urn:score4climate:enterprise:{world.other.id}"
    r = await live_client.get("/pact/3/footprints", params={"companyId": hidden}, headers=auth)
    assert r.json() == {"data": []}


async def test_mapping_intensity_units_and_primary_share(live_client, world):
    auth = await _token(live_client, world)
    data = (await live_client.get("/pact/3/footprints", headers=auth)).json()["data"]
    first = {fp["pcf"]["referencePeriodStart"][:4]: fp for fp in data if fp["companyName"] == "Shree Rubber"}
    # India's grid factor 0.716 kg/kWh: 100,000 kWh x 0.716 = 71.6 t over 50,000 pieces = 1.43 kg a piece
    assert first["2023"]["pcf"]["pcfExcludingBiogenicUptake"] == "1.43"
    assert first["2023"]["pcf"]["declaredUnitOfMeasurement"] == "piece"
    assert first["2023"]["pcf"]["geographyCountry"] == "IN"
    assert first["2023"]["pcf"]["referencePeriodEnd"] == "2024-01-01T00:00:00Z"
    assert "primaryDataShare" not in first["2023"]["pcf"]
    assert first["2025"]["pcf"]["primaryDataShare"] == "100"
    tonnes = [fp for fp in data if fp["companyName"] == "Kaveri Foods"]
    assert {fp["pcf"]["declaredUnitOfMeasurement"] for fp in tonnes} == {"kilogram"}
    assert all(float(fp["pcf"]["pcfExcludingBiogenicUptake"]) < 0.01 for fp in tonnes)  # per kg, not per tonne


async def test_every_filter(live_client, world):
    auth = await _token(live_client, world)
    first = world.suppliers[0]

    async def ids(**params: Any) -> set[str]:
        r = await live_client.get("/pact/3/footprints", params=params, headers=auth)
        assert r.status_code == 200, r.text
        return {fp["id"] for fp in r.json()["data"]}

    everything = await ids()
    theirs = await ids(productId=f"URN:score4climate:product:{first.id}")  # case-insensitive
    assert len(theirs) == 2 and theirs < everything
    assert await ids(companyId=[f"urn:score4climate:enterprise:{first.id}", "urn:x:nobody"]) == theirs
    assert await ids(geography="in") == theirs
    assert await ids(geography=["IN", "TH"]) == everything
    assert len(await ids(classification=f"urn:score4climate:isic4:{first.sector}")) >= 2
    assert len(await ids(validOn="2025-06-01T00:00:00Z")) == 2  # the baselines (valid 2024-2027)
    assert len(await ids(validAfter="2025-06-01T00:00:00Z")) == 2  # the latest ones (from 2026)
    assert len(await ids(validBefore="2027-06-01T00:00:00Z")) == 2  # the baselines end on 2027-01-01
    assert await ids(status="active") == everything
    assert await ids(status="Deprecated") == set()
    assert await ids(productId=f"urn:score4climate:product:{first.id}", geography="TH") == set()
    for bogus in (
        {"productId": "urn:bogus:1"},
        {"companyId": "urn:bogus:2"},
        {"geography": "XX"},
        {"classification": "urn:bogus:3"},
        {"validOn": "1900-01-01T00:00:00Z"},
        {"validAfter": "2099-12-31T23:59:59Z"},
        {"validBefore": "1900-01-01T00:00:00Z"},
        {"status": "BogusStatus"},
    ):
        assert await ids(**bogus) == set(), bogus
    assert await ids(**{"x-acme-invoice": "1"}) == everything
    r = await live_client.get("/pact/3/footprints", params={"validOn": "yesterday"}, headers=auth)
    assert r.status_code == 400 and r.json()["code"] == "BadRequest"
    r = await live_client.get("/pact/3/footprints", params={"$filter": "created ge 'x'"}, headers=auth)
    assert r.status_code == 400 and r.json()["code"] == "BadRequest"


async def test_paging_by_absolute_link_loses_nothing(live_client, world):
    auth = await _token(live_client, world)
    everything = {fp["id"] for fp in (await live_client.get("/pact/3/footprints", headers=auth)).json()["data"]}
    seen: list[str] = []
    target = "/pact/3/footprints?limit=1&geography=IN&geography=TH"
    pages = 0
    while target:
        r = await live_client.get(target, headers={**auth, "host": "buyer-proxy.example:8443"})
        assert r.status_code == 200, r.text
        assert len(r.json()["data"]) == 1
        seen += [fp["id"] for fp in r.json()["data"]]
        link = r.headers.get("link")
        target = ""
        if link:
            assert link.startswith("<http://buyer-proxy.example:8443/pact/3/footprints?")
            url = httpx.URL(link.split(">")[0].lstrip("<"))
            assert url.params.get_list("geography") == ["IN", "TH"]
            target = url.raw_path.decode()
        pages += 1
    assert pages == 4 and len(seen) == len(set(seen)) and set(seen) == everything


async def test_link_is_absolute_with_the_request_origin(live_client, world):
    auth = await _token(live_client, world)
    r = await live_client.get("/pact/3/footprints?limit=1", headers={**auth, "host": "api.buyer.example:9443"})
    assert r.headers["link"].startswith("<http://api.buyer.example:9443/pact/3/footprints?")
    assert r.headers["link"].endswith('>; rel="next"') and "limit=1" in r.headers["link"]


async def test_get_one_and_pact_errors(live_client, live_factory, world):
    auth = await _token(live_client, world)
    data = (await live_client.get("/pact/3/footprints", headers=auth)).json()["data"]
    one = await live_client.get(f"/pact/3/footprints/{data[0]['id']}", headers=auth)
    assert one.status_code == 200 and one.json()["data"] == data[0]
    missing = await live_client.get("/pact/3/footprints/00000000-0000-0000-0000-000000000000", headers=auth)
    assert missing.status_code == 404 and missing.json()["code"] == "NotFound"
    assert missing.headers["content-type"] == "application/json"
    bad_id = await live_client.get("/pact/3/footprints/non-existent-id", headers=auth)
    assert bad_id.status_code == 400 and bad_id.json()["code"] == "BadRequest"
    for path in ("/pact/3/footprints", f"/pact/3/footprints/{data[0]['id']}"):
        r = await live_client.get(path, headers={"Authorization": "Bearer very-invalid"})
        assert r.status_code == 401 and r.json()["code"] == "BadRequest" and set(r.json()) == {"code", "message"}
    expired = live_factory.token(world.client, ttl_seconds=-10)
    r = await live_client.get("/pact/3/footprints", headers={"Authorization": f"Bearer {expired}"})
    assert r.status_code == 401 and r.json()["code"] == "TokenExpired"
    # another buyer cannot read this buyer's supplier's footprint: 404, as if it did not exist
    rival_client, rival_secret = await live_factory.api_client(await live_factory.org(OrganisationKind.buyer))
    rival = World(world.buyer, rival_client, rival_secret, [], None, None)
    r = await live_client.get(f"/pact/3/footprints/{data[0]['id']}", headers=await _token(live_client, rival))
    assert r.status_code == 404 and r.json()["code"] == "NotFound"
    # a partner's client may get a token but not read footprints
    partner_client, partner_secret = await live_factory.api_client(await live_factory.org("partner"))
    partner = World(world.buyer, partner_client, partner_secret, [], None, None)
    r = await live_client.get("/pact/3/footprints", headers=await _token(live_client, partner))
    assert r.status_code == 403 and r.json()["code"] == "AccessDenied"
    # the rest of the API keeps problem details
    r = await live_client.get("/v1/enterprises", headers={"Authorization": "Bearer very-invalid"})
    assert r.headers["content-type"] == "application/problem+json"


async def test_changed_figures_deprecate_the_footprint(live_client, live_factory, world):
    auth = await _token(live_client, world)
    first = world.suppliers[0]
    before = (await live_client.get("/pact/3/footprints", headers=auth)).json()["data"]
    old = next(
        fp for fp in before if fp["companyName"] == "Shree Rubber" and fp["pcf"]["referencePeriodStart"][:4] == "2025"
    )
    again = (await live_client.get("/pact/3/footprints", headers=auth)).json()["data"]
    assert {fp["id"] for fp in again} == {fp["id"] for fp in before}  # stable ids
    session = live_factory.session
    await session.exec(  # type: ignore[call-overload]
        sa.update(Result)
        .where(Result.enterprise_id == first.id, Result.metric == "production_output", Result.is_baseline.is_(False))  # type: ignore[arg-type,attr-defined]
        .values(value=60_000)
    )
    from app.services import progress

    await progress.refresh(session, [first.id])
    await session.commit()
    after = (await live_client.get("/pact/3/footprints", headers=auth)).json()["data"]
    assert len(after) == 5
    gone = next(fp for fp in after if fp["id"] == old["id"])
    assert gone["status"] == "Deprecated"
    new = next(fp for fp in after if fp.get("precedingPfIds") == [old["id"]])
    assert new["status"] == "Active" and new["pcf"]["referencePeriodStart"] == old["pcf"]["referencePeriodStart"]
    deprecated = await live_client.get("/pact/3/footprints", params={"status": "Deprecated"}, headers=auth)
    assert [fp["id"] for fp in deprecated.json()["data"]] == [old["id"]]


# --- events


@dataclass
class Requester:
    """A PACT data recipient: issues tokens to the credentials it gave us, records events."""

    base: str = ""
    tokens: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    authorizations: list[str] = field(default_factory=list)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        answer: Response
        if request.url.path == "/auth/token":
            form = await request.form()
            ok = request.headers.get("authorization") == _basic("recipient-id", "recipient-secret")["Authorization"]
            if ok and form.get("grant_type") == "client_credentials":
                self.tokens += 1
                answer = JSONResponse({"access_token": f"tok-{self.tokens}", "token_type": "Bearer"})
            else:
                answer = JSONResponse({"error": "invalid_client"}, status_code=401)
        elif request.url.path == "/3/events" and request.method == "POST":
            self.authorizations.append(request.headers.get("authorization", ""))
            self.events.append(orjson.loads(await request.body()))
            answer = Response(status_code=200)
        else:
            answer = Response(status_code=404)
        await answer(scope, receive, send)


@pytest.fixture
async def requester() -> AsyncIterator[Requester]:
    app = Requester()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.01)
    app.base = f"http://127.0.0.1:{port}"
    yield app
    server.should_exit = True
    await task


def _event(kind: str, source: str, data: dict[str, Any], event_id: str = "run-1/12") -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": source,
        "time": "2026-01-01T00:00:00Z",
        "type": kind,
        "data": data,
    }


async def _post(http: Any, auth: dict[str, str], event: dict[str, Any]) -> Any:
    return await http.post(
        "/pact/3/events",
        content=orjson.dumps(event),
        headers={**auth, "content-type": "application/cloudevents+json; charset=UTF-8"},
    )


async def test_request_is_answered_later_by_the_worker(live_client, world, requester, settings, database):
    auth = await _token(live_client, world)
    first = world.suppliers[0]
    asked = _event(CREATED, requester.base, {"productId": [f"urn:score4climate:product:{first.id}"]})
    r = await _post(live_client, auth, asked)
    assert r.status_code == 200 and r.content == b""
    rejected = _event(CREATED, requester.base + "/", {"productId": ["urn:pact:null"]}, "run-1/14.A")
    assert (await _post(live_client, auth, rejected)).status_code == 200
    assert requester.events == []  # answered later, not during the request

    worker_settings = make_settings(
        str(settings.database_url),
        pact_outbound_credentials={
            requester.base + "/": {"client_id": "recipient-id", "client_secret": "recipient-secret"}
        },
    )
    worker = Worker(database, worker_settings)
    try:
        assert await worker.run_once() == 2
    finally:
        await worker.close()
    by_request = {e["data"]["requestEventId"]: e for e in requester.events}
    fulfilled = by_request["run-1/12"]
    assert fulfilled["type"] == FULFILLED and fulfilled["specversion"] == "1.0"
    assert len(fulfilled["data"]["pfs"]) == 2
    for footprint in fulfilled["data"]["pfs"]:
        assert_valid(footprint)
        assert footprint["productIds"] == [f"urn:score4climate:product:{first.id}"]
    assert by_request["run-1/14.A"]["type"] == REJECTED
    assert by_request["run-1/14.A"]["data"]["error"]["code"] == "NotFound"
    assert requester.tokens == 2 and all(a.startswith("Bearer tok-") for a in requester.authorizations)
    async with database.sessionmaker() as s:
        statuses = (await s.exec(sa.select(OUTBOX.c.status))).scalars().all()  # type: ignore[call-overload]
    assert statuses == ["delivered", "delivered"]


async def test_a_refused_callback_is_retried_on_the_webhook_schedule(live_client, world, requester, settings, database):
    auth = await _token(live_client, world)
    assert (await _post(live_client, auth, _event(CREATED, requester.base, {}))).status_code == 200
    worker = Worker(database, make_settings(str(settings.database_url)))  # no credentials for it
    try:
        assert await worker.run_once() == 1
    finally:
        await worker.close()
    async with database.sessionmaker() as s:
        row = (await s.exec(sa.select(OUTBOX))).mappings().one()  # type: ignore[call-overload]
    assert row["status"] == "pending" and row["attempts"] == 1
    assert "PACT_OUTBOUND_CREDENTIALS" in row["last_error"]
    assert row["next_attempt_at"] > row["created_at"]


async def test_published_accepted_and_malformed_events_400(live_client, world):
    auth = await _token(live_client, world)
    ok = _event(PUBLISHED, "https://buyer.example", {"pfIds": ["3a6c14a7-4deb-498a-b5ea-16ce2535b576"]})
    assert (await _post(live_client, auth, ok)).status_code == 200
    for broken in (
        _event(PUBLISHED, "https://buyer.example", {"pfIds": ["urn:gtin:4712345060507"]}),
        {**ok, "specversion": "0.3"},
        {k: v for k, v in ok.items() if k != "id"},
        _event("org.example.Unknown", "https://buyer.example", {}),
        _event(CREATED, "not a url", {}),
        _event(CREATED, "https://buyer.example", {"productId": "not-a-list"}),
    ):
        r = await _post(live_client, auth, broken)
        assert r.status_code == 400 and r.json()["code"] == "BadRequest", broken
    r = await live_client.post("/pact/3/events", content=b"{not json", headers=auth)
    assert r.status_code == 400 and r.json()["code"] == "BadRequest"
    r = await _post(live_client, {"Authorization": "Bearer very-invalid"}, ok)
    assert r.status_code == 401 and r.json()["code"] == "BadRequest"


async def test_the_demo_buyer_client_has_footprints_to_read(live_client, database):
    """The conformance run needs data: the demo world's client reads its suppliers' footprints."""
    from app.services import demo

    async with database.sessionmaker() as s:
        summary = await demo.load_demo(s)
        await s.commit()
    assert summary.api_client_id and summary.api_client_secret
    r = await live_client.post(
        "/pact/auth/token",
        data={"grant_type": "client_credentials"},
        headers=_basic(summary.api_client_id, summary.api_client_secret),
    )
    auth = {"Authorization": f"Bearer {r.json()['access_token']}"}
    data = (await live_client.get("/pact/3/footprints", headers=auth)).json()["data"]
    assert len(data) >= 2
    for footprint in data:
        assert_valid(footprint)
    r = await live_client.get("/pact/3/footprints?limit=1", headers=auth)
    assert 'rel="next"' in r.headers["link"]
