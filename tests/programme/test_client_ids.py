"""Client-chosen ids (offline capture): `POST` of ideas, visits, results and enrollments with an
`id` in the body; retries, conflicts, concurrency, and the deletions an offline client learns of
from the event feed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest
import sqlalchemy as sa
from sqlmodel import SQLModel

from app.config import Settings
from app.db import run_before_commit
from app.errors import IdConflict
from app.ids import utcnow, uuid7
from app.models.audit import AuditEvent
from app.models.client_ids import ClientIdClaim
from app.models.enums import Module
from app.models.ideas import Idea
from app.models.results import Result
from app.models.trainings import Enrollment, Training
from app.models.visits import Visit
from tests.factories import Factory
from tests.two_tenants import Tenant, build_tenant

ID_CONFLICT = {
    "type": "https://score4climate.dev/problems/id-conflict",
    "title": "Conflict",
    "status": 409,
    "detail": IdConflict.DETAIL,
}


@dataclass(frozen=True)
class Kind:
    """How to create one kind of object: its path and the n-th of several distinct valid bodies."""

    name: str
    model: type[SQLModel]
    path: Callable[[Tenant, Training], str]
    body: Callable[[Tenant, int], dict[str, Any]]
    location: str

    def post_path(self, side: Side) -> str:
        return self.path(side.tenant, side.training)


def _idea(t: Tenant, n: int) -> dict[str, Any]:
    return {"enterprise_id": str(t.enterprise.id), "title": f"Reuse rinse water {n}", "category": "water"}


def _visit(t: Tenant, n: int) -> dict[str, Any]:
    return {
        "enterprise_id": str(t.enterprise.id),
        "expert_id": str(t.users["expert"].id),
        "scheduled_at": "2026-06-01T09:00:00Z",
        "kind": "consultation",
        "findings": f"Compressed-air leaks on line {n}",
    }


def _result(t: Tenant, n: int) -> dict[str, Any]:
    year = 2020 + n
    return {
        "enterprise_id": str(t.enterprise.id),
        "metric": "water",
        "period_start": f"{year}-01-01",
        "period_end": f"{year}-12-31",
        "value": 100 + n,
    }


def _enrollment(t: Tenant, n: int) -> dict[str, Any]:
    return {"enterprise_id": str(t.enterprise.id), "participants": [{"role": "worker", "gender": "female"}] * n}


KINDS = {
    "idea": Kind("idea", Idea, lambda t, tr: "/v1/ideas", _idea, "/v1/ideas/"),
    "visit": Kind("visit", Visit, lambda t, tr: "/v1/visits", _visit, "/v1/visits/"),
    "result": Kind("result", Result, lambda t, tr: "/v1/results", _result, "/v1/results/"),
    "enrollment": Kind(
        "enrollment", Enrollment, lambda t, tr: f"/v1/trainings/{tr.id}/enrollments", _enrollment, "/v1/enrollments/"
    ),
}
OTHER = {"idea": "visit", "visit": "result", "result": "enrollment", "enrollment": "idea"}


@dataclass
class Side:
    tenant: Tenant
    training: Training  # a training the enterprise is not enrolled in yet


async def _side(factory: Factory, label: str) -> Side:
    tenant = await build_tenant(factory, label)
    training = await factory.training(tenant.partner_org, Module.score_basics)
    return Side(tenant, training)


@pytest.fixture
async def sides(factory: Factory, session) -> tuple[Side, Side]:
    pair = await _side(factory, "a"), await _side(factory, "b")
    await run_before_commit(session)
    return pair


async def _post(client, factory: Factory, kind: Kind, side: Side, body: dict[str, Any], **headers: str):
    who = side.tenant.users["partner"]
    return await client.post(kind.post_path(side), json=body, headers={**factory.auth(who), **headers})


async def _rows(session, model: type[SQLModel], object_id: UUID | str) -> int:
    query = sa.select(sa.func.count()).select_from(model).where(model.id == UUID(str(object_id)))  # type: ignore[attr-defined]
    return int((await session.exec(query)).one()[0])


def _with_id(body: dict[str, Any], object_id: UUID | str) -> dict[str, Any]:
    return {"id": str(object_id), **body}


# --- per kind: create, retry, conflicts -------------------------------------------------------


@pytest.mark.parametrize("name", KINDS)
async def test_created_with_the_clients_id_and_a_retry_answers_as_the_first_time(client, factory, session, sides, name):
    kind, (a, _) = KINDS[name], sides
    object_id = uuid7()
    body = _with_id(kind.body(a.tenant, 1), object_id)
    first = await _post(client, factory, kind, a, body)
    assert first.status_code == 201, first.text
    assert first.json()["id"] == str(object_id)
    assert first.headers["location"] == f"{kind.location}{object_id}"

    reordered = dict(reversed(list(body.items())))  # the same body, written differently
    again = await _post(client, factory, kind, a, reordered)
    assert again.status_code == 201, again.text
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["etag"] == first.headers["etag"]
    assert await _rows(session, kind.model, object_id) == 1
    created = sa.select(sa.func.count()).where(AuditEvent.action == "create", AuditEvent.object_id == object_id)
    assert (await session.exec(created)).one()[0] == 1, "the retry wrote nothing"


@pytest.mark.parametrize("name", KINDS)
async def test_the_same_id_with_another_body_is_an_id_conflict(client, factory, session, sides, name):
    kind, (a, _) = KINDS[name], sides
    object_id = uuid7()
    assert (await _post(client, factory, kind, a, _with_id(kind.body(a.tenant, 1), object_id))).status_code == 201
    r = await _post(client, factory, kind, a, _with_id(kind.body(a.tenant, 2), object_id))
    assert r.status_code == 409, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json() == ID_CONFLICT
    assert await _rows(session, kind.model, object_id) == 1


@pytest.mark.parametrize("name", KINDS)
async def test_an_id_of_an_object_the_caller_cannot_see_is_the_same_conflict(client, factory, session, sides, name):
    kind, (a, b) = KINDS[name], sides
    # Chosen by the other tenant's client ...
    theirs = uuid7()
    assert (await _post(client, factory, kind, b, _with_id(kind.body(b.tenant, 1), theirs))).status_code == 201
    r = await _post(client, factory, kind, a, _with_id(kind.body(a.tenant, 1), theirs))
    assert (r.status_code, r.json()) == (409, ID_CONFLICT), r.text
    # ... or drawn by the server for the other tenant's object.
    hidden = {"idea": b.tenant.idea, "visit": b.tenant.visit, "result": b.tenant.result}.get(name, b.tenant.enrollment)
    r = await _post(client, factory, kind, a, _with_id(kind.body(a.tenant, 1), hidden.id))
    assert (r.status_code, r.json()) == (409, ID_CONFLICT), r.text
    assert await _rows(session, kind.model, theirs) == 1


@pytest.mark.parametrize("name", KINDS)
async def test_an_id_used_by_another_kind_of_object_is_the_same_conflict(client, factory, session, sides, name):
    kind, other, (a, _) = KINDS[name], KINDS[OTHER[name]], sides
    object_id = uuid7()
    assert (await _post(client, factory, other, a, _with_id(other.body(a.tenant, 1), object_id))).status_code == 201
    r = await _post(client, factory, kind, a, _with_id(kind.body(a.tenant, 1), object_id))
    assert (r.status_code, r.json()) == (409, ID_CONFLICT), r.text
    assert await _rows(session, kind.model, object_id) == 0
    # A visible object the server created, of another kind, keeps its id too.
    own = a.tenant.visit if name != "visit" else a.tenant.idea
    r = await _post(client, factory, kind, a, _with_id(kind.body(a.tenant, 1), own.id))
    assert (r.status_code, r.json()) == (409, ID_CONFLICT), r.text


@pytest.mark.parametrize("name", KINDS)
async def test_an_id_of_an_object_the_server_created_is_a_conflict_even_for_a_caller_who_sees_it(
    client, factory, sides, name
):
    kind, (a, _) = KINDS[name], sides
    own = {"idea": a.tenant.idea, "visit": a.tenant.visit, "result": a.tenant.result}.get(name, a.tenant.enrollment)
    r = await _post(client, factory, kind, a, _with_id(kind.body(a.tenant, 1), own.id))
    assert (r.status_code, r.json()) == (409, ID_CONFLICT), r.text


@pytest.mark.parametrize("name", KINDS)
async def test_another_caller_retrying_with_the_same_id_and_body_gets_the_conflict(client, factory, sides, name):
    """A retry is the same caller's: an id stays its creator's even when another caller sees the object."""
    kind, (a, _) = KINDS[name], sides
    body = _with_id(kind.body(a.tenant, 1), uuid7())
    assert (await _post(client, factory, kind, a, body)).status_code == 201
    admin = await factory.user("admin")
    r = await client.post(kind.post_path(a), json=body, headers=factory.auth(admin))
    assert (r.status_code, r.json()) == (409, ID_CONFLICT), r.text


@pytest.mark.parametrize("name", KINDS)
@pytest.mark.parametrize("bad", ["not-a-uuid", 12345, "00000000-0000-0000-0000-000000000000", "f" * 32, None])
async def test_an_id_that_is_not_a_usable_uuid_is_422(client, factory, session, sides, name, bad):
    kind, (a, _) = KINDS[name], sides
    before = (await session.exec(sa.select(sa.func.count()).select_from(kind.model))).one()[0]
    body = {**kind.body(a.tenant, 1), "id": bad}
    r = await _post(client, factory, kind, a, body)
    if bad is None:  # null is the same as leaving it out: the server draws the id
        assert r.status_code == 201, r.text
        return
    assert r.status_code == 422, r.text
    assert [e["pointer"] for e in r.json()["errors"]] == ["/id"]
    assert (await session.exec(sa.select(sa.func.count()).select_from(kind.model))).one()[0] == before


@pytest.mark.parametrize("name", KINDS)
async def test_a_failed_creation_leaves_the_id_free(client, factory, session, sides, name):
    kind, (a, _) = KINDS[name], sides
    object_id = uuid7()
    broken = {**kind.body(a.tenant, 1), "enterprise_id": str(uuid7())}
    r = await _post(client, factory, kind, a, _with_id(broken, object_id))
    assert r.status_code == 422, r.text
    assert await session.get(ClientIdClaim, object_id) is None
    r = await _post(client, factory, kind, a, _with_id(kind.body(a.tenant, 1), object_id))
    assert r.status_code == 201, r.text


async def test_a_deleted_objects_id_is_not_given_again(client, factory, sides):
    kind, (a, _) = KINDS["idea"], sides
    body = _with_id(kind.body(a.tenant, 1), uuid7())
    created = await _post(client, factory, kind, a, body)
    assert created.status_code == 201
    partner = factory.auth(a.tenant.users["partner"])
    assert (await client.delete(created.headers["location"], headers=partner)).status_code == 204
    r = await _post(client, factory, kind, a, body)
    assert (r.status_code, r.json()) == (409, ID_CONFLICT), "a late retry must not bring a deleted idea back"


async def test_idempotency_key_and_client_id_together(client, factory, session, sides):
    kind, (a, _) = KINDS["idea"], sides
    object_id = uuid7()
    body = _with_id(kind.body(a.tenant, 1), object_id)
    first = await _post(client, factory, kind, a, body, **{"Idempotency-Key": "device-42-op-1"})
    assert first.status_code == 201, first.text
    same_key = await _post(client, factory, kind, a, body, **{"Idempotency-Key": "device-42-op-1"})
    assert same_key.status_code == 201 and same_key.headers["idempotent-replayed"] == "true"
    assert same_key.json() == first.json()
    new_key = await _post(client, factory, kind, a, body, **{"Idempotency-Key": "device-42-op-1-retry"})
    assert new_key.status_code == 201 and new_key.json() == first.json()
    no_key = await _post(client, factory, kind, a, body)
    assert no_key.status_code == 201 and no_key.json() == first.json()
    other_body = await _post(
        client, factory, kind, a, _with_id(kind.body(a.tenant, 1), uuid7()), **{"Idempotency-Key": "device-42-op-1"}
    )
    assert other_body.status_code == 422 and other_body.json()["type"].endswith("/idempotency-key-reused")
    assert await _rows(session, Idea, object_id) == 1


def test_idempotency_keys_are_kept_at_least_seven_days_by_default():
    assert Settings.model_fields["idempotency_ttl_hours"].default >= 7 * 24


# --- offline order: an idea and the visit that names it --------------------------------------


async def test_an_idea_captured_offline_is_named_by_a_visit_captured_offline(client, factory, sides):
    a, _ = sides
    idea_id, visit_id = uuid7(), uuid7()
    r = await _post(client, factory, KINDS["idea"], a, _with_id(_idea(a.tenant, 1), idea_id))
    assert r.status_code == 201, r.text
    visit = {**_visit(a.tenant, 1), "idea_ids": [str(idea_id)]}
    r = await _post(client, factory, KINDS["visit"], a, _with_id(visit, visit_id))
    assert r.status_code == 201, r.text
    assert r.json()["idea_ids"] == [str(idea_id)]
    # Sent again (the device did not hear the answers), in the same order: the same answers.
    again = await _post(client, factory, KINDS["visit"], a, _with_id(visit, visit_id))
    assert again.status_code == 201 and again.json() == r.json()


async def test_a_visit_captured_first_is_the_origin_of_an_idea_captured_after(client, factory, sides):
    a, _ = sides
    visit_id, idea_id = uuid7(), uuid7()
    r = await _post(client, factory, KINDS["visit"], a, _with_id(_visit(a.tenant, 1), visit_id))
    assert r.status_code == 201, r.text
    idea = {**_idea(a.tenant, 1), "visit_id": str(visit_id)}
    r = await _post(client, factory, KINDS["idea"], a, _with_id(idea, idea_id))
    assert r.status_code == 201, r.text
    assert r.json()["visit_id"] == str(visit_id)


# --- concurrency -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", KINDS)
async def test_concurrent_creations_with_one_id_make_one_object(live_client, live_factory, database, name):
    kind = KINDS[name]
    side = await _side(live_factory, "live")
    object_id = uuid7()
    body = _with_id(kind.body(side.tenant, 1), object_id)
    answers = await asyncio.gather(*(_post(live_client, live_factory, kind, side, body) for _ in range(5)))
    assert [r.status_code for r in answers] == [201] * 5, [r.text for r in answers]
    assert {r.text for r in answers} == {answers[0].text}
    others = [_with_id(kind.body(side.tenant, n), uuid7()) for n in (2, 3)]
    clash = [{**other, "id": str(object_id)} for other in others]
    answers = await asyncio.gather(*(_post(live_client, live_factory, kind, side, b) for b in clash))
    assert [r.status_code for r in answers] == [409, 409]
    async with database.sessionmaker() as s:
        assert await _rows(s, kind.model, object_id) == 1


async def test_concurrent_creations_with_one_id_and_different_bodies_one_wins(live_client, live_factory, database):
    kind = KINDS["idea"]
    side = await _side(live_factory, "live")
    object_id = uuid7()
    bodies = [_with_id(kind.body(side.tenant, n), object_id) for n in range(6)]
    answers = await asyncio.gather(*(_post(live_client, live_factory, kind, side, b) for b in bodies))
    codes = sorted(r.status_code for r in answers)
    assert codes == [201, 409, 409, 409, 409, 409], [r.text for r in answers]
    assert all(r.json() == ID_CONFLICT for r in answers if r.status_code == 409)
    async with database.sessionmaker() as s:
        assert await _rows(s, Idea, object_id) == 1


# --- deletions through the event feed --------------------------------------------------------


async def _feed(client, factory: Factory, who) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    query: dict[str, Any] = {"limit": 200}
    while True:
        r = await client.get("/v1/events", params=query, headers=factory.auth(who))
        assert r.status_code == 200, r.text
        items += r.json()["items"]
        if "link" not in r.headers:
            return items
        query["after"] = r.json()["next_cursor"]


def _of(items: list[dict[str, Any]], event_type: str, subject_id: Any) -> list[dict[str, Any]]:
    return [i for i in items if i["type"] == event_type and i["subject"]["id"] == str(subject_id)]


DELETED_AUDIENCE = {
    # kind: (the object of the tenant, roles that see it)
    "idea": ("idea", ("partner", "expert", "sme", "buyer")),
    "visit": ("visit", ("partner", "expert", "sme")),
    "result": ("result", ("partner", "expert", "sme", "buyer")),
    "enrollment": ("enrollment", ("partner", "expert", "sme")),
}


@pytest.mark.parametrize("name", KINDS)
async def test_a_deletion_reaches_everyone_who_saw_the_object_and_no_one_else(client, factory, sides, name):
    a, b = sides
    obj = getattr(a.tenant, DELETED_AUDIENCE[name][0])
    url = f"{KINDS[name].location}{obj.id}"
    r = await client.delete(url, headers=factory.auth(a.tenant.users["partner"]))
    assert r.status_code == 204, r.text
    roles = DELETED_AUDIENCE[name][1]
    for role in ("partner", "expert", "sme", "buyer"):
        found = _of(await _feed(client, factory, a.tenant.users[role]), f"{name}.deleted", obj.id)
        assert len(found) == (1 if role in roles else 0), role
        assert _of(await _feed(client, factory, b.tenant.users[role]), f"{name}.deleted", obj.id) == [], role
    assert (await client.get(url, headers=factory.auth(a.tenant.users["partner"]))).status_code == 404


async def test_deleting_an_idea_updates_the_visits_that_named_it(client, factory, session, sides):
    a, _ = sides
    partner = factory.auth(a.tenant.users["partner"])
    before = (await client.get(f"/v1/visits/{a.tenant.visit.id}", headers=partner)).json()
    assert before["idea_ids"] == [str(a.tenant.idea.id)]
    since = (utcnow() - timedelta(microseconds=1)).isoformat()
    r = await client.delete(f"/v1/ideas/{a.tenant.idea.id}", headers=partner)
    assert r.status_code == 204, r.text

    after = (await client.get(f"/v1/visits/{a.tenant.visit.id}", headers=partner)).json()
    assert after["idea_ids"] == []
    assert after["updated_at"] > before["updated_at"]
    listed = await client.get("/v1/visits", params={"updated_since": since}, headers=partner)
    assert [v["id"] for v in listed.json()["items"]] == [str(a.tenant.visit.id)]
    for role in ("partner", "expert", "sme", "buyer"):
        updated = _of(await _feed(client, factory, a.tenant.users[role]), "visit.updated", a.tenant.visit.id)
        assert len(updated) == (0 if role == "buyer" else 1), role
    trail = sa.select(AuditEvent.changes).where(
        AuditEvent.object_id == a.tenant.visit.id, AuditEvent.action == "update"
    )
    assert (await session.exec(trail)).one()[0] == {"idea_ids": [[str(a.tenant.idea.id)], []]}
