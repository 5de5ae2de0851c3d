"""Visits: certified, assigned experts record them; SMEs read their own; buyers never see them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlmodel import select

from app.models.audit import AuditEvent
from app.models.enums import VisitKind, VisitStatus
from app.models.organisations import Organisation
from app.models.visits import Visit, VisitIdea
from tests.worlds import world


def body(ent, *ideas, **kw):
    values = {
        "enterprise_id": str(ent.id),
        "scheduled_at": "2026-04-01T09:30:00+05:30",
        "kind": "consultation",
        "findings": "Compressed-air leaks on line 2.",
        "idea_ids": [str(i.id) for i in ideas],
    }
    values.update(kw)
    return values


async def test_expert_records_own_visit(client, factory):
    w = await world(factory)
    idea1 = await factory.idea(w.ent_a)
    idea2 = await factory.idea(w.ent_a)
    r = await client.post("/v1/visits", json=body(w.ent_a, idea2, idea1, idea2), headers=factory.auth(w.expert))
    assert r.status_code == 201, r.text
    visit = r.json()
    assert r.headers["location"] == f"/v1/visits/{visit['id']}"
    assert visit["expert_id"] == str(w.expert.id)
    assert visit["status"] == "scheduled"
    assert visit["scheduled_at"] in ("2026-04-01T04:00:00Z", "2026-04-01T04:00:00+00:00")
    assert visit["idea_ids"] == sorted([str(idea1.id), str(idea2.id)])
    rows = (await factory.session.exec(select(VisitIdea).where(VisitIdea.visit_id == visit["id"]))).all()
    assert {row.idea_id for row in rows} == {idea1.id, idea2.id}
    got = await client.get(f"/v1/visits/{visit['id']}", headers=factory.auth(w.sme_a))
    assert got.status_code == 200
    assert got.json() == visit
    assert got.headers["etag"]
    created = (
        await factory.session.exec(
            select(AuditEvent).where(AuditEvent.object_id == visit["id"], AuditEvent.action == "create")
        )
    ).all()
    assert len(created) == 1


async def test_expert_cannot_record_a_visit_for_another_expert(client, factory):
    w = await world(factory)
    colleague = await factory.user("expert", organisation=w.partner_org)
    await factory.assign(w.ent_a, colleague)
    r = await client.post("/v1/visits", json=body(w.ent_a, expert_id=str(colleague.id)), headers=factory.auth(w.expert))
    assert r.status_code == 403, r.text
    own = await client.post(
        "/v1/visits", json=body(w.ent_a, expert_id=str(w.expert.id)), headers=factory.auth(w.expert)
    )
    assert own.status_code == 201, own.text


async def test_partner_names_an_assigned_expert(client, factory):
    w = await world(factory)
    unassigned = await factory.user("expert", organisation=w.partner_org)
    headers = factory.auth(w.partner)
    missing = await client.post("/v1/visits", json=body(w.ent_a), headers=headers)
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["loc"] == ["body", "expert_id"]
    r = await client.post("/v1/visits", json=body(w.ent_a, expert_id=str(unassigned.id)), headers=headers)
    assert r.status_code == 422
    r = await client.post("/v1/visits", json=body(w.ent_a, expert_id=str(w.sme_a.id)), headers=headers)
    assert r.status_code == 422
    ok = await client.post(
        "/v1/visits", json=body(w.ent_a, expert_id=str(w.expert.id), status="completed"), headers=headers
    )
    assert ok.status_code == 201, ok.text
    assert ok.json()["status"] == "completed"


async def test_lapsed_expert_cannot_record_a_visit(client, factory):
    w = await world(factory)
    w.expert.certified_until = date.today() - timedelta(days=1)
    await factory.save(w.expert)
    r = await client.post("/v1/visits", json=body(w.ent_a), headers=factory.auth(w.expert))
    assert r.status_code == 409, r.text
    assert r.json()["type"].endswith("/certification-lapsed")
    r = await client.post("/v1/visits", json=body(w.ent_a, expert_id=str(w.expert.id)), headers=factory.auth(w.partner))
    assert r.status_code == 409
    assert (await factory.session.exec(select(Visit).where(Visit.enterprise_id == w.ent_a.id))).first() is None


async def test_idea_ids_must_be_of_the_same_enterprise(client, factory):
    w = await world(factory)
    idea_b = await factory.idea(w.ent_b)
    r = await client.post("/v1/visits", json=body(w.ent_a, idea_b), headers=factory.auth(w.expert))
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["loc"] == ["body", "idea_ids"]
    r = await client.post(
        "/v1/visits",
        json=body(w.ent_a, idea_ids=["01930000-0000-7000-8000-000000000001"]),
        headers=factory.auth(w.expert),
    )
    assert r.status_code == 422


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("id", "not-a-uuid"),  # a client-chosen id must be a UUID (tests/programme/test_client_ids.py)
        ("created_at", "2020-01-01T00:00:00Z"),
        ("updated_at", "2020-01-01T00:00:00Z"),
        ("kind", "party"),
        ("status", "done"),
        ("scheduled_at", "2026-04-01T09:30:00"),
        ("idea_ids", "not-a-list"),
    ],
)
async def test_visit_validation_and_mass_assignment(client, factory, field, value):
    w = await world(factory)
    r = await client.post("/v1/visits", json=body(w.ent_a, **{field: value}), headers=factory.auth(w.expert))
    assert r.status_code == 422, r.text
    assert field in {str(part) for issue in r.json()["errors"] for part in issue["loc"]}


async def test_patch_refuses_read_only_fields_and_replaces_ideas(client, factory):
    w = await world(factory)
    idea1 = await factory.idea(w.ent_a)
    idea2 = await factory.idea(w.ent_a)
    visit = await factory.visit(w.ent_a, w.expert, idea1)
    headers = factory.auth(w.expert)
    for field, value in (
        ("id", str(idea1.id)),
        ("enterprise_id", str(w.ent_b.id)),
        ("created_at", "2020-01-01T00:00:00Z"),
    ):
        assert (await client.patch(f"/v1/visits/{visit.id}", json={field: value}, headers=headers)).status_code == 422
    assert (await client.patch(f"/v1/visits/{visit.id}", json={"status": None}, headers=headers)).status_code == 422
    etag = (await client.get(f"/v1/visits/{visit.id}", headers=headers)).headers["etag"]
    r = await client.patch(
        f"/v1/visits/{visit.id}",
        json={"status": "completed", "findings": "Leaks fixed.", "idea_ids": [str(idea2.id)]},
        headers={**headers, "If-Match": etag},
    )
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["findings"], r.json()["idea_ids"]) == (
        "completed",
        "Leaks fixed.",
        [str(idea2.id)],
    )
    stale = await client.patch(f"/v1/visits/{visit.id}", json={"findings": "x"}, headers={**headers, "If-Match": etag})
    assert stale.status_code == 412
    only_ideas = await client.patch(f"/v1/visits/{visit.id}", json={"idea_ids": []}, headers=headers)
    assert only_ideas.json()["idea_ids"] == []
    assert only_ideas.json()["updated_at"] > r.json()["updated_at"]
    events = (
        await factory.session.exec(
            select(AuditEvent).where(AuditEvent.object_id == visit.id, AuditEvent.action == "update")
        )
    ).all()
    assert any("idea_ids" in e.changes for e in events) and any("status" in e.changes for e in events)


async def test_sme_reads_own_visits_only_and_cannot_write(client, factory):
    w = await world(factory)
    expert_b = await factory.user("expert", organisation=w.partner_org)
    await factory.assign(w.ent_b, expert_b)
    visit_a = await factory.visit(w.ent_a, w.expert)
    visit_b = await factory.visit(w.ent_b, expert_b)
    headers = factory.auth(w.sme_a)
    assert (await client.get(f"/v1/visits/{visit_a.id}", headers=headers)).status_code == 200
    assert (await client.get(f"/v1/visits/{visit_b.id}", headers=headers)).status_code == 404
    listed = await client.get("/v1/visits", headers=headers)
    assert [v["id"] for v in listed.json()["items"]] == [str(visit_a.id)]
    assert (await client.post("/v1/visits", json=body(w.ent_a), headers=headers)).status_code == 403
    assert (await client.patch(f"/v1/visits/{visit_a.id}", json={"findings": "x"}, headers=headers)).status_code == 403
    assert (await client.patch(f"/v1/visits/{visit_b.id}", json={"findings": "x"}, headers=headers)).status_code == 404
    assert (await client.delete(f"/v1/visits/{visit_a.id}", headers=headers)).status_code == 403


async def test_buyer_never_sees_visits(client, factory):
    w = await world(factory)
    buyer = await factory.user("buyer")
    buyer_org = await factory.session.get(Organisation, buyer.organisation_id)
    await factory.supplier_link(w.ent_a, buyer_org, accepted_at=None)
    visit = await factory.visit(w.ent_a, w.expert)
    headers = factory.auth(buyer)
    assert (await client.get(f"/v1/visits/{visit.id}", headers=headers)).status_code == 404
    assert (await client.get("/v1/visits", headers=headers)).status_code == 403
    assert (await client.post("/v1/visits", json=body(w.ent_a), headers=headers)).status_code == 403
    assert (await client.get(f"/v1/enterprises/{w.ent_a.id}", headers=headers)).status_code == 200


async def test_expert_loses_access_on_unassignment(client, factory):
    w = await world(factory)
    colleague = await factory.user("expert", organisation=w.partner_org)
    await factory.assign(w.ent_b, colleague)
    visit_a = await factory.visit(w.ent_a, w.expert)
    visit_b = await factory.visit(w.ent_b, colleague)
    headers = factory.auth(w.expert)
    assert (await client.get(f"/v1/visits/{visit_a.id}", headers=headers)).status_code == 200
    assert (await client.get(f"/v1/visits/{visit_b.id}", headers=headers)).status_code == 404
    assert [v["id"] for v in (await client.get("/v1/visits", headers=headers)).json()["items"]] == [str(visit_a.id)]
    r = await client.delete(f"/v1/enterprises/{w.ent_a.id}/experts/{w.expert.id}", headers=factory.auth(w.partner))
    assert r.status_code == 204
    assert (await client.get(f"/v1/visits/{visit_a.id}", headers=headers)).status_code == 404
    assert (await client.get("/v1/visits", headers=headers)).json()["items"] == []
    assert (await client.post("/v1/visits", json=body(w.ent_a), headers=headers)).status_code == 422


async def test_list_filters_and_idea_ids_per_row(client, factory):
    w = await world(factory)
    idea = await factory.idea(w.ent_a)
    t0 = datetime(2026, 5, 1, tzinfo=UTC)
    early = await factory.visit(w.ent_a, w.expert, idea, scheduled_at=t0)
    late = await factory.visit(
        w.ent_a,
        w.expert,
        scheduled_at=t0 + timedelta(days=10),
        kind=VisitKind.monitoring,
        status=VisitStatus.completed,
    )
    headers = factory.auth(w.partner)

    async def ids(**params):
        r = await client.get("/v1/visits", params=params, headers=headers)
        assert r.status_code == 200, r.text
        return [v["id"] for v in r.json()["items"]]

    assert await ids() == [str(early.id), str(late.id)]
    assert await ids(**{"from": (t0 + timedelta(days=1)).isoformat()}) == [str(late.id)]
    assert await ids(to=(t0 + timedelta(days=1)).isoformat()) == [str(early.id)]
    assert await ids(kind=VisitKind.monitoring) == [str(late.id)]
    assert await ids(status="scheduled") == [str(early.id)]
    assert await ids(expert_id=str(w.expert.id), enterprise_id=str(w.ent_a.id)) == [str(early.id), str(late.id)]
    assert await ids(enterprise_id=str(w.ent_b.id)) == []
    items = (await client.get("/v1/visits", headers=headers)).json()["items"]
    assert [v["idea_ids"] for v in items] == [[str(idea.id)], []]
    page = await client.get("/v1/visits?limit=1", headers=headers)
    assert len(page.json()["items"]) == 1 and page.json()["next_cursor"]


async def test_delete_visit_that_is_an_ideas_origin_is_409(client, factory):
    w = await world(factory)
    visit = await factory.visit(w.ent_a, w.expert)
    await factory.idea(w.ent_a, visit_id=visit.id)
    assert (await client.delete(f"/v1/visits/{visit.id}", headers=factory.auth(w.expert))).status_code == 409
    other = await factory.visit(w.ent_a, w.expert)
    assert (await client.delete(f"/v1/visits/{other.id}", headers=factory.auth(w.expert))).status_code == 204


async def test_expert_may_delete_only_own_visits(client, factory):
    w = await world(factory)
    colleague = await factory.user("expert", organisation=w.partner_org)
    await factory.assign(w.ent_a, colleague)
    theirs = await factory.visit(w.ent_a, colleague)
    mine = await factory.visit(w.ent_a, w.expert)
    h = factory.auth(w.expert)
    assert (await client.delete(f"/v1/visits/{theirs.id}", headers=h)).status_code == 403
    assert (await client.get(f"/v1/visits/{theirs.id}", headers=h)).status_code == 200
    assert (await client.delete(f"/v1/visits/{mine.id}", headers=h)).status_code == 204
