"""Ideas: shape, origin rules, life cycle, and who may see and change them."""

from __future__ import annotations

import asyncio
import itertools
from datetime import date, timedelta

import pytest
from sqlmodel import select

from app.models.audit import AuditEvent
from app.models.enums import IdeaStatus, LinkStatus, Module, TrainingStatus
from app.models.ideas import Idea, IdeaTransition
from app.models.organisations import Organisation
from app.services.ideas import TRANSITIONS
from tests.worlds import world

S = IdeaStatus
LEGAL = {
    (S.proposed, S.approved),
    (S.approved, S.in_progress),
    (S.in_progress, S.implemented),
    (S.implemented, S.verified),
    (S.proposed, S.rejected),
    (S.approved, S.rejected),
    (S.in_progress, S.rejected),
}
ALL_PAIRS = list(itertools.product(list(S), list(S)))


def body(ent, **kw):
    values = {
        "enterprise_id": str(ent.id),
        "title": "Recover heat from the curing press",
        "category": "energy",
        "description": "Insulate the platens.",
        "expected_annual_savings": {"amount": 250000.5, "currency": "INR"},
        "investment": {"amount": 400000, "currency": "INR"},
        "expected_effect": {"metric": "electricity", "change": -18000},
        "owner_team": [{"role": "manager", "name": "R. Shah", "gender": "male"}, {"role": "worker"}],
    }
    values.update(kw)
    return values


def test_transition_table_matches_the_contract():
    table = {(a, b) for a, targets in TRANSITIONS.items() for b in targets}
    assert table == LEGAL


async def test_sme_records_idea_with_nested_fields(client, factory):
    w = await world(factory)
    r = await client.post("/v1/ideas", json=body(w.ent_a), headers=factory.auth(w.sme_a))
    assert r.status_code == 201, r.text
    idea = r.json()
    assert r.headers["location"] == f"/v1/ideas/{idea['id']}"
    assert r.headers["etag"]
    assert idea["status"] == "proposed"
    assert idea["expected_annual_savings"] == {"amount": 250000.5, "currency": "INR"}
    assert idea["investment"] == {"amount": 400000.0, "currency": "INR"}
    assert idea["expected_effect"] == {"metric": "electricity", "change": -18000.0}
    assert idea["owner_team"] == [
        {"role": "manager", "name": "R. Shah", "gender": "male"},
        {"role": "worker", "name": None, "gender": None},
    ]
    stored = await factory.session.get(Idea, idea["id"])
    assert (stored.savings_amount, stored.savings_currency) == (250000.5, "INR")
    assert (stored.effect_metric, stored.effect_change) == ("electricity", -18000)

    got = await client.get(f"/v1/ideas/{idea['id']}", headers=factory.auth(w.sme_a))
    assert got.status_code == 200
    assert got.json() == idea
    again = await client.get(
        f"/v1/ideas/{idea['id']}", headers={**factory.auth(w.sme_a), "If-None-Match": got.headers["etag"]}
    )
    assert again.status_code == 304


async def test_idea_without_optional_objects(client, factory):
    w = await world(factory)
    r = await client.post(
        "/v1/ideas",
        json={"enterprise_id": str(w.ent_a.id), "title": "Collect rubber offcuts", "category": "waste"},
        headers=factory.auth(w.expert),
    )
    assert r.status_code == 201, r.text
    assert r.json()["expected_annual_savings"] is None
    assert r.json()["expected_effect"] is None
    assert r.json()["owner_team"] == []


# `id` is taken on creation: a client-chosen id (tests/programme/test_client_ids.py).
@pytest.mark.parametrize("field", ["status", "created_at", "updated_at", "savings_amount", "colour"])
async def test_mass_assignment_is_refused(client, factory, field):
    w = await world(factory)
    value = "verified" if field == "status" else "2020-01-01T00:00:00Z"
    r = await client.post("/v1/ideas", json=body(w.ent_a, **{field: value}), headers=factory.auth(w.admin))
    assert r.status_code == 422, r.text
    assert field in {issue["loc"][-1] for issue in r.json()["errors"]}
    assert (await factory.session.exec(select(Idea).where(Idea.enterprise_id == w.ent_a.id))).first() is None


async def test_status_cannot_be_patched(client, factory):
    w = await world(factory)
    idea = await factory.idea(w.ent_a)
    for field, value in (
        ("status", "approved"),
        ("id", str(w.ent_b.id)),
        ("created_at", "2020-01-01T00:00:00Z"),
        ("enterprise_id", str(w.ent_b.id)),
    ):
        r = await client.patch(f"/v1/ideas/{idea.id}", json={field: value}, headers=factory.auth(w.admin))
        assert r.status_code == 422, (field, r.text)
    await factory.session.refresh(idea)
    assert idea.status is S.proposed and idea.enterprise_id == w.ent_a.id


@pytest.mark.parametrize(
    ("field", "value", "loc"),
    [
        ("expected_effect", {"metric": "unicorns", "change": 1}, "metric"),
        ("expected_effect", {"metric": "electricity"}, "change"),
        ("expected_annual_savings", {"amount": -1, "currency": "INR"}, "amount"),
        ("expected_annual_savings", {"amount": 1.234, "currency": "INR"}, "amount"),
        ("expected_annual_savings", {"amount": 1e17, "currency": "INR"}, "amount"),
        ("investment", {"amount": 10, "currency": "XYZ"}, "currency"),
        ("investment", {"amount": 10, "currency": "inr"}, "currency"),
        ("investment", {"amount": 10}, "currency"),
        ("owner_team", [{"role": "boss"}], "role"),
        ("owner_team", [{"role": "worker", "gender": "x"}], "gender"),
        ("owner_team", [{"role": "worker", "age": 30}], "age"),
        ("owner_team", [{"role": "worker"}] * 51, "owner_team"),
        ("category", "magic", "category"),
        ("title", "", "title"),
    ],
)
async def test_idea_validation(client, factory, field, value, loc):
    w = await world(factory)
    r = await client.post("/v1/ideas", json=body(w.ent_a, **{field: value}), headers=factory.auth(w.partner))
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert loc in {str(part) for issue in r.json()["errors"] for part in issue["loc"]}


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
async def test_non_finite_amounts_are_422(client, factory, literal):
    w = await world(factory)
    raw = (
        b'{"enterprise_id": "' + str(w.ent_a.id).encode() + b'", "title": "t", "category": "water", '
        b'"investment": {"amount": ' + literal + b', "currency": "INR"}}'
    )
    r = await client.post(
        "/v1/ideas", content=raw, headers={**factory.auth(w.partner), "Content-Type": "application/json"}
    )
    assert r.status_code == 422, r.text


async def test_origin_training_must_be_one_the_enterprise_is_enrolled_in(client, factory):
    w = await world(factory)
    held = {"start_date": date(2026, 3, 1), "end_date": date(2026, 3, 2), "status": TrainingStatus.completed}
    workshop = await factory.training(w.partner_org, Module.score4climate, **held)
    other_workshop = await factory.training(w.partner_org, Module.score4climate, **held)
    await factory.enrollment(workshop, w.ent_a)
    await factory.enrollment(other_workshop, w.ent_b)
    ok = await client.post("/v1/ideas", json=body(w.ent_a, training_id=str(workshop.id)), headers=factory.auth(w.sme_a))
    assert ok.status_code == 201, ok.text
    assert ok.json()["training_id"] == str(workshop.id)
    bad = await client.post(
        "/v1/ideas", json=body(w.ent_a, training_id=str(other_workshop.id)), headers=factory.auth(w.sme_a)
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["loc"] == ["body", "training_id"]
    patched = await client.patch(
        f"/v1/ideas/{ok.json()['id']}", json={"training_id": str(other_workshop.id)}, headers=factory.auth(w.sme_a)
    )
    assert patched.status_code == 422


async def test_origin_visit_of_another_enterprise_is_422(client, factory):
    w = await world(factory)
    expert_b = await factory.user("expert", organisation=w.partner_org)
    await factory.assign(w.ent_b, expert_b)
    visit_a = await factory.visit(w.ent_a, w.expert)
    visit_b = await factory.visit(w.ent_b, expert_b)
    bad = await client.post("/v1/ideas", json=body(w.ent_a, visit_id=str(visit_b.id)), headers=factory.auth(w.admin))
    assert bad.status_code == 422, bad.text
    assert bad.json()["errors"][0]["loc"] == ["body", "visit_id"]
    ok = await client.post("/v1/ideas", json=body(w.ent_a, visit_id=str(visit_a.id)), headers=factory.auth(w.admin))
    assert ok.status_code == 201, ok.text
    listed = await client.get(f"/v1/ideas?visit_id={visit_a.id}", headers=factory.auth(w.admin))
    assert [i["id"] for i in listed.json()["items"]] == [ok.json()["id"]]


async def test_idea_for_an_enterprise_the_caller_cannot_see_is_422(client, factory):
    w = await world(factory)
    r = await client.post("/v1/ideas", json=body(w.ent_b), headers=factory.auth(w.sme_a))
    assert r.status_code == 422
    r = await client.post("/v1/ideas", json=body(w.ent_b), headers=factory.auth(w.expert))
    assert r.status_code == 422


# --- life cycle ------------------------------------------------------------------------------


@pytest.mark.parametrize(("source", "target"), ALL_PAIRS, ids=[f"{a.value}-{b.value}" for a, b in ALL_PAIRS])
async def test_every_transition(client, factory, source, target):
    w = await world(factory)
    idea = await factory.idea(w.ent_a, status=source)
    before = idea.updated_at
    r = await client.post(
        f"/v1/ideas/{idea.id}/transitions", json={"to": target.value, "note": "checked"}, headers=factory.auth(w.expert)
    )
    history = (await factory.session.exec(select(IdeaTransition).where(IdeaTransition.idea_id == idea.id))).all()
    await factory.session.refresh(idea)
    if (source, target) in LEGAL:
        assert r.status_code == 200, r.text
        assert r.json()["status"] == target.value
        assert idea.status is target
        assert idea.updated_at > before
        assert [(t.from_status, t.to_status, t.actor, t.note) for t in history] == [
            (source, target, f"user:{w.expert.id}", "checked")
        ]
        events = (
            await factory.session.exec(
                select(AuditEvent).where(AuditEvent.object_id == idea.id, AuditEvent.action == "transition")
            )
        ).all()
        assert [e.changes["status"] for e in events] == [[source.value, target.value]]
        listed = await client.get(f"/v1/ideas/{idea.id}/transitions", headers=factory.auth(w.sme_a))
        assert listed.status_code == 200
        [item] = listed.json()["items"]
        assert (item["from"], item["to"], item["actor"]) == (source.value, target.value, f"user:{w.expert.id}")
        assert item["at"]
    else:
        assert r.status_code == 409, r.text
        assert r.json()["type"].endswith("/invalid-transition")
        assert idea.status is source
        assert idea.updated_at == before
        assert history == []


async def test_full_life_cycle_is_recorded_in_order(client, factory):
    w = await world(factory)
    created = await client.post("/v1/ideas", json=body(w.ent_a), headers=factory.auth(w.sme_a))
    idea_id = created.json()["id"]
    path = [("approved", w.sme_a), ("in_progress", w.sme_a), ("implemented", w.sme_a), ("verified", w.expert)]
    for status, who in path:
        r = await client.post(f"/v1/ideas/{idea_id}/transitions", json={"to": status}, headers=factory.auth(who))
        assert r.status_code == 200, r.text
    listed = await client.get(f"/v1/ideas/{idea_id}/transitions", headers=factory.auth(w.partner))
    steps = [(i["from"], i["to"], i["actor"]) for i in listed.json()["items"]]
    assert steps == [
        ("proposed", "approved", f"user:{w.sme_a.id}"),
        ("approved", "in_progress", f"user:{w.sme_a.id}"),
        ("in_progress", "implemented", f"user:{w.sme_a.id}"),
        ("implemented", "verified", f"user:{w.expert.id}"),
    ]
    page = await client.get(f"/v1/ideas/{idea_id}/transitions?limit=3", headers=factory.auth(w.partner))
    assert len(page.json()["items"]) == 3 and page.json()["next_cursor"]
    by_status = await client.get(f"/v1/ideas?status=verified&enterprise_id={w.ent_a.id}", headers=factory.auth(w.sme_a))
    assert [i["id"] for i in by_status.json()["items"]] == [idea_id]


async def test_sme_cannot_verify(client, factory):
    w = await world(factory)
    idea = await factory.idea(w.ent_a, status=S.implemented)
    r = await client.post(f"/v1/ideas/{idea.id}/transitions", json={"to": "verified"}, headers=factory.auth(w.sme_a))
    assert r.status_code == 403, r.text
    await factory.session.refresh(idea)
    assert idea.status is S.implemented
    history = (await factory.session.exec(select(IdeaTransition).where(IdeaTransition.idea_id == idea.id))).all()
    assert history == []


@pytest.mark.parametrize("role", ["partner", "admin"])
async def test_partner_and_admin_verify(client, factory, role):
    w = await world(factory)
    idea = await factory.idea(w.ent_a, status=S.implemented)
    who = w.partner if role == "partner" else w.admin
    r = await client.post(f"/v1/ideas/{idea.id}/transitions", json={"to": "verified"}, headers=factory.auth(who))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "verified"


async def test_transition_body_is_strict(client, factory):
    w = await world(factory)
    idea = await factory.idea(w.ent_a)
    for payload in ({"to": "done"}, {}, {"to": "approved", "actor": "someone"}):
        r = await client.post(f"/v1/ideas/{idea.id}/transitions", json=payload, headers=factory.auth(w.expert))
        assert r.status_code == 422, payload


async def test_transition_retry_with_idempotency_key_replays(client, factory):
    w = await world(factory)
    idea = await factory.idea(w.ent_a)
    headers = {**factory.auth(w.expert), "Idempotency-Key": "move-1"}
    first = await client.post(f"/v1/ideas/{idea.id}/transitions", json={"to": "approved"}, headers=headers)
    second = await client.post(f"/v1/ideas/{idea.id}/transitions", json={"to": "approved"}, headers=headers)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    history = (await factory.session.exec(select(IdeaTransition).where(IdeaTransition.idea_id == idea.id))).all()
    assert len(history) == 1


async def test_concurrent_transitions_only_one_wins(live_client, live_factory):
    w = await world(live_factory)
    idea = await live_factory.idea(w.ent_a)
    url = f"/v1/ideas/{idea.id}/transitions"
    results = await asyncio.gather(
        *(live_client.post(url, json={"to": "approved"}, headers=live_factory.auth(w.expert)) for _ in range(6))
    )
    codes = sorted(r.status_code for r in results)
    assert codes == [200, 409, 409, 409, 409, 409], [r.text for r in results]
    listed = await live_client.get(url, headers=live_factory.auth(w.expert))
    assert [(i["from"], i["to"]) for i in listed.json()["items"]] == [("proposed", "approved")]


# --- who may see and change ------------------------------------------------------------------


async def test_sme_cannot_read_or_change_another_enterprises_ideas(client, factory):
    w = await world(factory)
    idea_b = await factory.idea(w.ent_b)
    own = await factory.idea(w.ent_a)
    headers = factory.auth(w.sme_a)
    assert (await client.get(f"/v1/ideas/{idea_b.id}", headers=headers)).status_code == 404
    assert (await client.get(f"/v1/ideas/{idea_b.id}/transitions", headers=headers)).status_code == 404
    assert (await client.patch(f"/v1/ideas/{idea_b.id}", json={"title": "x"}, headers=headers)).status_code == 404
    r = await client.post(f"/v1/ideas/{idea_b.id}/transitions", json={"to": "approved"}, headers=headers)
    assert r.status_code == 404
    listed = await client.get("/v1/ideas", headers=headers)
    assert [i["id"] for i in listed.json()["items"]] == [str(own.id)]
    filtered = await client.get(f"/v1/ideas?enterprise_id={w.ent_b.id}", headers=headers)
    assert filtered.json()["items"] == []


async def test_sme_updates_but_cannot_delete_own_idea(client, factory):
    w = await world(factory)
    idea = await factory.idea(w.ent_a)
    got = await client.get(f"/v1/ideas/{idea.id}", headers=factory.auth(w.sme_a))
    stale = got.headers["etag"]
    r = await client.patch(
        f"/v1/ideas/{idea.id}",
        json={"title": "Reuse rinse water", "expected_annual_savings": {"amount": 1200, "currency": "USD"}},
        headers={**factory.auth(w.sme_a), "If-Match": stale},
    )
    assert r.status_code == 200, r.text
    assert r.json()["title"] == "Reuse rinse water"
    assert r.json()["expected_annual_savings"] == {"amount": 1200.0, "currency": "USD"}
    assert r.headers["etag"] != stale
    conflict = await client.patch(
        f"/v1/ideas/{idea.id}", json={"title": "again"}, headers={**factory.auth(w.sme_a), "If-Match": stale}
    )
    assert conflict.status_code == 412
    cleared = await client.patch(
        f"/v1/ideas/{idea.id}", json={"expected_annual_savings": None}, headers=factory.auth(w.sme_a)
    )
    assert cleared.json()["expected_annual_savings"] is None
    assert (
        await client.patch(f"/v1/ideas/{idea.id}", json={"title": None}, headers=factory.auth(w.sme_a))
    ).status_code == 422
    assert (await client.delete(f"/v1/ideas/{idea.id}", headers=factory.auth(w.sme_a))).status_code == 403
    assert (await client.delete(f"/v1/ideas/{idea.id}", headers=factory.auth(w.expert))).status_code == 204
    assert (await client.get(f"/v1/ideas/{idea.id}", headers=factory.auth(w.expert))).status_code == 404


async def test_expert_sees_only_assigned_and_loses_access_on_unassignment(client, factory):
    w = await world(factory)
    idea_a = await factory.idea(w.ent_a)
    idea_b = await factory.idea(w.ent_b)
    headers = factory.auth(w.expert)
    assert (await client.get(f"/v1/ideas/{idea_a.id}", headers=headers)).status_code == 200
    assert (await client.get(f"/v1/ideas/{idea_b.id}", headers=headers)).status_code == 404
    listed = await client.get("/v1/ideas", headers=headers)
    assert [i["id"] for i in listed.json()["items"]] == [str(idea_a.id)]

    r = await client.delete(f"/v1/enterprises/{w.ent_a.id}/experts/{w.expert.id}", headers=factory.auth(w.partner))
    assert r.status_code == 204, r.text
    assert (await client.get(f"/v1/ideas/{idea_a.id}", headers=headers)).status_code == 404
    assert (await client.get("/v1/ideas", headers=headers)).json()["items"] == []
    r = await client.post(f"/v1/ideas/{idea_a.id}/transitions", json={"to": "approved"}, headers=headers)
    assert r.status_code == 404


async def test_buyer_reads_ideas_only_with_an_active_link(client, factory):
    w = await world(factory)
    buyer = await factory.user("buyer")
    idea_a = await factory.idea(w.ent_a)
    idea_b = await factory.idea(w.ent_b)
    buyer_org = await factory.session.get(Organisation, buyer.organisation_id)
    await factory.supplier_link(w.ent_a, buyer_org, accepted_at=None)
    await factory.supplier_link(w.ent_b, buyer_org, status=LinkStatus.pending)
    headers = factory.auth(buyer)
    assert (await client.get(f"/v1/ideas/{idea_a.id}", headers=headers)).status_code == 200
    assert (await client.get(f"/v1/ideas/{idea_a.id}/transitions", headers=headers)).status_code == 200
    assert (await client.get(f"/v1/ideas/{idea_b.id}", headers=headers)).status_code == 404
    listed = await client.get("/v1/ideas", headers=headers)
    assert [i["id"] for i in listed.json()["items"]] == [str(idea_a.id)]
    assert (await client.post("/v1/ideas", json=body(w.ent_a), headers=headers)).status_code == 403
    assert (await client.patch(f"/v1/ideas/{idea_a.id}", json={"title": "x"}, headers=headers)).status_code == 403
    r = await client.post(f"/v1/ideas/{idea_a.id}/transitions", json={"to": "approved"}, headers=headers)
    assert r.status_code == 403
    assert (await client.delete(f"/v1/ideas/{idea_a.id}", headers=headers)).status_code == 403


async def test_updated_since_and_category_filters(client, factory):
    w = await world(factory)
    old = await factory.idea(w.ent_a, category="water")
    new = await factory.idea(w.ent_a, category="waste")
    r = await client.post(f"/v1/ideas/{new.id}/transitions", json={"to": "approved"}, headers=factory.auth(w.expert))
    since = r.json()["updated_at"]
    listed = await client.get("/v1/ideas", params={"updated_since": since}, headers=factory.auth(w.expert))
    assert [i["id"] for i in listed.json()["items"]] == [str(new.id)]
    by_category = await client.get("/v1/ideas?category=water", headers=factory.auth(w.expert))
    assert [i["id"] for i in by_category.json()["items"]] == [str(old.id)]


async def test_lapsed_expert_cannot_verify_an_idea(client, factory):
    w = await world(factory)
    idea = await factory.idea(w.ent_a, status=S.implemented)
    w.expert.certified_until = date.today() - timedelta(days=1)
    await factory.save(w.expert)
    r = await client.post(f"/v1/ideas/{idea.id}/transitions", json={"to": "verified"}, headers=factory.auth(w.expert))
    assert r.status_code == 409, r.text
    assert r.json()["type"].endswith("/certification-lapsed")
    await factory.session.refresh(idea)
    assert idea.status is S.implemented
