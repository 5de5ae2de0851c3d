"""Trainings and enrollments: rules, prerequisite, certification and access per role."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import event

from app.models.enums import Module

START = date(2025, 3, 10)
BODY = {
    "module": "workplace_cooperation",
    "title": "Workplace cooperation, Pune",
    "start_date": "2025-03-10",
    "end_date": "2025-03-11",
    "place": "Pune",
}


@pytest.fixture
async def world(factory):
    partner_org, other_partner_org = await factory.org("partner"), await factory.org("partner")
    buyer_org = await factory.org("buyer")
    ent = await factory.enterprise(partner_org)
    ent2 = await factory.enterprise(partner_org)
    other_ent = await factory.enterprise(other_partner_org)
    w = {
        "partner_org": partner_org,
        "other_partner_org": other_partner_org,
        "buyer_org": buyer_org,
        "ent": ent,
        "ent2": ent2,
        "other_ent": other_ent,
        "admin": await factory.user("admin"),
        "partner": await factory.user("partner", organisation=partner_org),
        "other_partner": await factory.user("partner", organisation=other_partner_org),
        "expert": await factory.user("expert", organisation=partner_org),
        "other_expert": await factory.user("expert", organisation=other_partner_org),
        "lapsed_expert": await factory.user("expert", organisation=partner_org, certified_until=date(2025, 3, 9)),
        "sme": await factory.user("sme", enterprise_id=ent.id),
        "sme2": await factory.user("sme", enterprise_id=ent2.id),
        "buyer": await factory.user("buyer", organisation=buyer_org),
    }
    await factory.assign(ent, w["expert"])
    return w


def auth(factory, world, who):
    return factory.auth(world[who])


# --- trainings: create and validation -------------------------------------------------------


async def test_partner_creates_training_with_trainers(client, factory, world):
    body = {**BODY, "trainer_ids": [str(world["expert"].id)]}
    r = await client.post("/v1/trainings", json=body, headers=auth(factory, world, "partner"))
    assert r.status_code == 201, r.text
    t = r.json()
    assert t["partner_id"] == str(world["partner_org"].id)
    assert t["status"] == "planned"
    assert t["trainer_ids"] == [str(world["expert"].id)]
    assert r.headers["location"] == f"/v1/trainings/{t['id']}"
    got = await client.get(r.headers["location"], headers=auth(factory, world, "partner"))
    assert got.json() == t
    assert got.headers["etag"] == r.headers["etag"]


async def test_partner_cannot_create_for_another_partner(client, factory, world):
    body = {**BODY, "partner_id": str(world["other_partner_org"].id)}
    r = await client.post("/v1/trainings", json=body, headers=auth(factory, world, "partner"))
    assert r.status_code == 422, r.text


async def test_admin_must_name_a_partner(client, factory, world):
    admin = auth(factory, world, "admin")
    assert (await client.post("/v1/trainings", json=BODY, headers=admin)).status_code == 422
    r = await client.post("/v1/trainings", json={**BODY, "partner_id": str(world["buyer_org"].id)}, headers=admin)
    assert r.status_code == 422
    r = await client.post("/v1/trainings", json={**BODY, "partner_id": str(world["partner_org"].id)}, headers=admin)
    assert r.status_code == 201, r.text
    assert r.json()["partner_id"] == str(world["partner_org"].id)


async def test_end_before_start_is_422(client, factory, world):
    r = await client.post(
        "/v1/trainings", json={**BODY, "end_date": "2025-03-09"}, headers=auth(factory, world, "partner")
    )
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["loc"] == ["body", "end_date"]


@pytest.mark.parametrize(
    "extra",
    [
        {"id": "01930000-0000-7000-8000-000000000001"},
        {"created_at": "2025-01-01T00:00:00Z"},
        {"colour": "red"},
        {"module": "advanced_welding"},
        {"status": "postponed"},
        {"title": ""},
        {"start_date": "10/03/2025"},
    ],
)
async def test_bad_or_unknown_fields_are_422(client, factory, world, extra):
    r = await client.post("/v1/trainings", json={**BODY, **extra}, headers=auth(factory, world, "partner"))
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"


async def test_lapsed_trainer_is_409(client, factory, world):
    body = {**BODY, "trainer_ids": [str(world["lapsed_expert"].id)]}
    r = await client.post("/v1/trainings", json=body, headers=auth(factory, world, "partner"))
    assert r.status_code == 409, r.text
    assert r.json()["type"].endswith("/certification-lapsed")
    # certified until 2025-03-09: fine for a training that starts on that day
    ok = {**body, "start_date": "2025-03-09"}
    assert (await client.post("/v1/trainings", json=ok, headers=auth(factory, world, "partner"))).status_code == 201


@pytest.mark.parametrize("who", ["other_expert", "partner", "sme"])
async def test_trainer_must_be_an_expert_of_the_partner(client, factory, world, who):
    body = {**BODY, "trainer_ids": [str(world[who].id)]}
    r = await client.post("/v1/trainings", json=body, headers=auth(factory, world, "partner"))
    assert r.status_code == 422, r.text
    issue = r.json()["errors"][0]
    assert (issue["loc"], issue["pointer"]) == (["body", "trainer_ids", "0"], "/trainer_ids/0")


# --- trainings: access per role -------------------------------------------------------------


@pytest.mark.parametrize("who", ["expert", "sme", "buyer"])
async def test_read_only_roles_cannot_create(client, factory, world, who):
    assert (await client.post("/v1/trainings", json=BODY, headers=auth(factory, world, who))).status_code == 403


@pytest.mark.parametrize(
    ("who", "get", "patch", "delete"),
    [
        ("admin", 200, 200, 409),  # 409: allowed, but the training has an enrollment
        ("partner", 200, 200, 409),
        ("other_partner", 404, 404, 404),
        ("expert", 200, 403, 403),
        ("other_expert", 404, 404, 404),
        ("sme", 200, 403, 403),  # its enterprise is enrolled
        ("sme2", 404, 404, 404),  # not enrolled
        ("buyer", 404, 404, 404),
    ],
)
async def test_training_access(client, factory, world, who, get, patch, delete):
    training = await factory.training(world["partner_org"])
    await factory.enrollment(training, world["ent"])
    headers = auth(factory, world, who)
    url = f"/v1/trainings/{training.id}"
    assert (await client.get(url, headers=headers)).status_code == get
    r = await client.patch(url, json={"place": "Nashik"}, headers=headers)
    assert r.status_code == patch
    if patch == 200:
        assert r.json()["place"] == "Nashik"
    assert (await client.delete(url, headers=headers)).status_code == delete


@pytest.mark.parametrize("who", ["admin", "partner"])
async def test_delete_training(client, factory, world, who):
    training = await factory.training(world["partner_org"], trainers=[world["expert"]])
    headers = auth(factory, world, who)
    assert (await client.delete(f"/v1/trainings/{training.id}", headers=headers)).status_code == 204
    assert (await client.get(f"/v1/trainings/{training.id}", headers=headers)).status_code == 404


async def test_buyer_cannot_list_trainings(client, factory, world):
    assert (await client.get("/v1/trainings", headers=auth(factory, world, "buyer"))).status_code == 403


async def test_delete_with_enrollments_is_409(client, factory, world):
    training = await factory.training(world["partner_org"])
    await factory.enrollment(training, world["ent"])
    r = await client.delete(f"/v1/trainings/{training.id}", headers=auth(factory, world, "partner"))
    assert r.status_code == 409, r.text


async def test_list_is_scoped_filtered_and_shows_trainers(client, factory, world):
    wc = await factory.training(world["partner_org"], trainers=[world["expert"]])
    s4c = await factory.training(world["partner_org"], Module.score4climate, start_date=date(2025, 6, 1))
    foreign = await factory.training(world["other_partner_org"])

    async def items(who, **params):
        r = await client.get("/v1/trainings", params=params, headers=auth(factory, world, who))
        assert r.status_code == 200, r.text
        return {item["id"]: item for item in r.json()["items"]}

    mine = await items("partner")
    assert set(mine) == {str(wc.id), str(s4c.id)}
    assert mine[str(wc.id)]["trainer_ids"] == [str(world["expert"].id)]
    assert mine[str(s4c.id)]["trainer_ids"] == []
    assert set(await items("expert")) == {str(wc.id), str(s4c.id)}
    assert set(await items("other_partner")) == {str(foreign.id)}
    assert set(await items("partner", module="score4climate")) == {str(s4c.id)}
    assert set(await items("partner", **{"from": "2025-04-01"})) == {str(s4c.id)}
    assert set(await items("partner", to="2025-04-01")) == {str(wc.id)}
    assert set(await items("partner", status="cancelled")) == set()
    assert set(await items("admin", partner_id=str(world["other_partner_org"].id))) == {str(foreign.id)}
    assert set(await items("sme")) == set()
    assert set(await items("partner", updated_since="2999-01-01T00:00:00Z")) == set()


async def test_trainers_of_a_page_are_loaded_in_one_query(client, factory, world, session):
    for _ in range(4):
        await factory.training(world["partner_org"], trainers=[world["expert"]])
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        if "training_trainers" in statement:
            statements.append(statement)

    engine = session.bind.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        r = await client.get("/v1/trainings", headers=auth(factory, world, "partner"))
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert r.status_code == 200
    assert len(r.json()["items"]) == 4
    assert all(item["trainer_ids"] == [str(world["expert"].id)] for item in r.json()["items"])
    assert len(statements) == 1, statements


async def test_pagination_walks_every_training_once(client, factory, world):
    created = {str((await factory.training(world["partner_org"])).id) for _ in range(5)}
    headers = auth(factory, world, "partner")
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        r = await client.get("/v1/trainings", params=params, headers=headers)
        assert r.status_code == 200, r.text
        pages += 1
        assert len(r.json()["items"]) <= 2
        seen += [item["id"] for item in r.json()["items"]]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            assert "link" not in r.headers
            break
        assert 'rel="next"' in r.headers["link"]
    assert pages == 3
    assert len(seen) == len(set(seen)) == 5
    assert set(seen) == created


# --- trainings: update ----------------------------------------------------------------------


async def test_patch_replaces_trainers_and_moves_etag(client, factory, world):
    second = await factory.user("expert", organisation=world["partner_org"])
    training = await factory.training(world["partner_org"], trainers=[world["expert"]])
    headers = auth(factory, world, "partner")
    url = f"/v1/trainings/{training.id}"
    etag = (await client.get(url, headers=headers)).headers["etag"]
    r = await client.patch(url, json={"trainer_ids": [str(second.id)]}, headers={**headers, "If-Match": etag})
    assert r.status_code == 200, r.text
    assert r.json()["trainer_ids"] == [str(second.id)]
    assert r.headers["etag"] != etag
    assert (await client.get(url, headers=headers)).json()["trainer_ids"] == [str(second.id)]
    stale = await client.patch(url, json={"title": "Renamed"}, headers={**headers, "If-Match": etag})
    assert stale.status_code == 412


async def test_patch_dates_are_checked(client, factory, world):
    training = await factory.training(world["partner_org"], trainers=[world["expert"]])
    headers = auth(factory, world, "partner")
    url = f"/v1/trainings/{training.id}"
    r = await client.patch(url, json={"end_date": "2025-03-01"}, headers=headers)
    assert r.status_code == 422
    r = await client.patch(url, json={"title": None}, headers=headers)
    assert r.status_code == 422
    r = await client.patch(url, json={"partner_id": str(world["other_partner_org"].id)}, headers=headers)
    assert r.status_code == 422
    r = await client.patch(url, json={"status": "completed", "end_date": "2025-03-12"}, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "completed" and r.json()["end_date"] == "2025-03-12"


async def test_moving_start_date_past_a_trainers_certification_is_409(client, factory, world):
    expert = await factory.user("expert", organisation=world["partner_org"], certified_until=date(2025, 4, 30))
    training = await factory.training(world["partner_org"], trainers=[expert])
    r = await client.patch(
        f"/v1/trainings/{training.id}",
        json={"start_date": "2025-05-02", "end_date": "2025-05-03"},
        headers=auth(factory, world, "partner"),
    )
    assert r.status_code == 409, r.text
    assert r.json()["type"].endswith("/certification-lapsed")


# --- enrollments ----------------------------------------------------------------------------


def enrol_url(training):
    return f"/v1/trainings/{training.id}/enrollments"


async def test_partner_enrols_own_enterprise(client, factory, world):
    training = await factory.training(world["partner_org"])
    participants = [{"role": "manager", "gender": "female", "name": "Priya"}, {"role": "worker", "gender": "male"}]
    body = {"enterprise_id": str(world["ent"].id), "participants": participants}
    r = await client.post(enrol_url(training), json=body, headers=auth(factory, world, "partner"))
    assert r.status_code == 201, r.text
    e = r.json()
    assert e["training_id"] == str(training.id)
    assert e["participants"] == [participants[0], {**participants[1], "name": None}]
    assert e["attended"] is False and e["completed_at"] is None
    assert r.headers["location"] == f"/v1/enrollments/{e['id']}"
    got = await client.get(r.headers["location"], headers=auth(factory, world, "partner"))
    assert got.status_code == 200 and got.json() == e

    again = await client.post(enrol_url(training), json=body, headers=auth(factory, world, "partner"))
    assert again.status_code == 409, "one enrollment per training and enterprise"


async def test_score4climate_needs_a_completed_prerequisite(client, factory, world):
    partner = auth(factory, world, "partner")
    wc = await factory.training(world["partner_org"], Module.workplace_cooperation)
    s4c = await factory.training(world["partner_org"], Module.score4climate, start_date=date(2025, 6, 1))
    body = {"enterprise_id": str(world["ent"].id)}

    r = await client.post(enrol_url(s4c), json=body, headers=partner)
    assert r.status_code == 409, r.text
    assert r.json()["type"].endswith("/prerequisite-not-met")
    assert "workplace_cooperation" in r.json()["detail"] and "score_basics" in r.json()["detail"]

    r = await client.post(enrol_url(wc), json=body, headers=partner)
    assert r.status_code == 201
    wc_enrollment = r.json()["id"]
    r = await client.post(enrol_url(s4c), json=body, headers=partner)
    assert r.status_code == 409, "enrolled but not completed is not enough"

    r = await client.patch(
        f"/v1/enrollments/{wc_enrollment}",
        json={"attended": True, "completed_at": "2025-03-11T16:00:00Z"},
        headers=partner,
    )
    assert r.status_code == 200, r.text
    r = await client.post(enrol_url(s4c), json=body, headers=partner)
    assert r.status_code == 201, r.text

    # another enterprise's completion does not count
    r = await client.post(enrol_url(s4c), json={"enterprise_id": str(world["ent2"].id)}, headers=partner)
    assert r.status_code == 409


async def test_score_basics_also_counts_as_prerequisite(client, factory, world):
    basics = await factory.training(world["partner_org"], Module.score_basics)
    await factory.enrollment(basics, world["ent"], completed=True)
    s4c = await factory.training(world["partner_org"], Module.score4climate, start_date=date(2025, 6, 1))
    r = await client.post(
        enrol_url(s4c), json={"enterprise_id": str(world["ent"].id)}, headers=auth(factory, world, "partner")
    )
    assert r.status_code == 201, r.text


async def test_completed_s4c_does_not_count_as_prerequisite(client, factory, world):
    earlier = await factory.training(world["partner_org"], Module.score4climate)
    await factory.enrollment(earlier, world["ent"], completed=True)
    s4c = await factory.training(world["partner_org"], Module.score4climate, start_date=date(2025, 6, 1))
    r = await client.post(
        enrol_url(s4c), json={"enterprise_id": str(world["ent"].id)}, headers=auth(factory, world, "admin")
    )
    assert r.status_code == 409


async def test_completed_at_before_start_is_422(client, factory, world):
    training = await factory.training(world["partner_org"])
    partner = auth(factory, world, "partner")
    body = {"enterprise_id": str(world["ent"].id), "completed_at": "2025-03-09T23:00:00Z"}
    r = await client.post(enrol_url(training), json=body, headers=partner)
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["loc"] == ["body", "completed_at"]
    enrollment = await factory.enrollment(training, world["ent"])
    r = await client.patch(
        f"/v1/enrollments/{enrollment.id}", json={"completed_at": "2025-03-01T10:00:00Z"}, headers=partner
    )
    assert r.status_code == 422
    r = await client.patch(
        f"/v1/enrollments/{enrollment.id}", json={"completed_at": "2025-03-10T10:00:00Z"}, headers=partner
    )
    assert r.status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"participants": [{"role": "owner", "gender": "female"}]},
        {"participants": [{"role": "worker", "gender": "robot"}]},
        {"participants": [{"role": "worker", "gender": "male", "age": 30}]},
        {"participants": [{"role": "worker", "gender": "male"}] * 501},
        {"training_id": "01930000-0000-7000-8000-000000000001"},
        {"colour": "red"},
        {"completed_at": "2025-03-11T10:00:00"},  # no offset
    ],
)
async def test_bad_enrollment_bodies_are_422(client, factory, world, body):
    training = await factory.training(world["partner_org"])
    r = await client.post(
        enrol_url(training),
        json={"enterprise_id": str(world["ent"].id), **body},
        headers=auth(factory, world, "partner"),
    )
    assert r.status_code == 422, r.text


async def test_500_participants_are_accepted(client, factory, world):
    training = await factory.training(world["partner_org"])
    body = {"enterprise_id": str(world["ent"].id), "participants": [{"role": "worker", "gender": "other"}] * 500}
    r = await client.post(enrol_url(training), json=body, headers=auth(factory, world, "partner"))
    assert r.status_code == 201, r.text
    assert len(r.json()["participants"]) == 500


async def test_partner_cannot_enrol_other_partners_enterprise_or_use_their_training(client, factory, world):
    own_training = await factory.training(world["partner_org"])
    foreign_training = await factory.training(world["other_partner_org"])
    partner = auth(factory, world, "partner")
    r = await client.post(enrol_url(own_training), json={"enterprise_id": str(world["other_ent"].id)}, headers=partner)
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == ["body", "enterprise_id"]
    r = await client.post(enrol_url(foreign_training), json={"enterprise_id": str(world["ent"].id)}, headers=partner)
    assert r.status_code == 404
    assert (await client.get(enrol_url(foreign_training), headers=partner)).status_code == 404


@pytest.mark.parametrize("who", ["expert", "sme"])
async def test_read_only_roles_cannot_write_enrollments(client, factory, world, who):
    training = await factory.training(world["partner_org"])
    enrollment = await factory.enrollment(training, world["ent"])
    headers = auth(factory, world, who)
    url = f"/v1/enrollments/{enrollment.id}"
    assert (await client.get(url, headers=headers)).status_code == 200
    assert (await client.patch(url, json={"attended": True}, headers=headers)).status_code == 403
    assert (await client.delete(url, headers=headers)).status_code == 403
    r = await client.post(enrol_url(training), json={"enterprise_id": str(world["ent"].id)}, headers=headers)
    assert r.status_code == 403


@pytest.mark.parametrize(
    ("who", "status"), [("other_partner", 404), ("sme2", 404), ("buyer", 404), ("other_expert", 404)]
)
async def test_others_do_not_see_an_enrollment(client, factory, world, who, status):
    await factory.supplier_link(world["ent"], world["buyer_org"])  # buyers see the enterprise, not its enrollments
    training = await factory.training(world["partner_org"])
    enrollment = await factory.enrollment(training, world["ent"])
    headers = auth(factory, world, who)
    url = f"/v1/enrollments/{enrollment.id}"
    assert (await client.get(url, headers=headers)).status_code == status
    assert (await client.patch(url, json={"attended": True}, headers=headers)).status_code == status
    assert (await client.delete(url, headers=headers)).status_code == status


async def test_enrollment_list_is_scoped_per_role(client, factory, world):
    training = await factory.training(world["partner_org"])
    mine = await factory.enrollment(training, world["ent"], attended=True)
    other = await factory.enrollment(training, world["ent2"])

    async def ids(who, **params):
        r = await client.get(enrol_url(training), params=params, headers=auth(factory, world, who))
        assert r.status_code == 200, r.text
        return {item["id"] for item in r.json()["items"]}

    assert await ids("partner") == {str(mine.id), str(other.id)}
    assert await ids("partner", attended="true") == {str(mine.id)}
    assert await ids("partner", enterprise_id=str(world["ent2"].id)) == {str(other.id)}
    assert await ids("expert") == {str(mine.id)}, "an expert sees only assigned enterprises"
    assert await ids("sme") == {str(mine.id)}
    assert await ids("sme2") == {str(other.id)}
    assert await ids("partner", updated_since="2999-01-01T00:00:00Z") == set()
    r = await client.get(enrol_url(training), headers=auth(factory, world, "buyer"))
    assert r.status_code == 404


async def test_patch_and_delete_enrollment(client, factory, world):
    training = await factory.training(world["partner_org"])
    enrollment = await factory.enrollment(training, world["ent"])
    partner = auth(factory, world, "partner")
    url = f"/v1/enrollments/{enrollment.id}"
    first = await client.get(url, headers=partner)
    etag = first.headers["etag"]
    assert (await client.get(url, headers={**partner, "If-None-Match": etag})).status_code == 304
    participants = [{"role": "worker", "gender": "undisclosed", "name": "A. Worker"}]
    r = await client.patch(
        url, json={"participants": participants, "attended": True}, headers={**partner, "If-Match": etag}
    )
    assert r.status_code == 200, r.text
    assert r.json()["participants"] == participants and r.json()["attended"] is True
    assert (await client.patch(url, json={"attended": False}, headers={**partner, "If-Match": etag})).status_code == 412
    assert (await client.patch(url, json={"participants": None}, headers=partner)).status_code == 422
    assert (await client.patch(url, json={"enterprise_id": str(world["ent2"].id)}, headers=partner)).status_code == 422
    assert (await client.delete(url, headers=partner)).status_code == 204
    assert (await client.get(url, headers=partner)).status_code == 404


async def test_sme_sees_the_training_it_is_enrolled_in(client, factory, world):
    training = await factory.training(world["partner_org"])
    headers = auth(factory, world, "sme")
    assert (await client.get(f"/v1/trainings/{training.id}", headers=headers)).status_code == 404
    await factory.enrollment(training, world["ent"])
    r = await client.get("/v1/trainings", headers=headers)
    assert [item["id"] for item in r.json()["items"]] == [str(training.id)]


async def test_the_prerequisite_cannot_be_bypassed_afterwards(client, factory):
    """Found in review: changing a training's module, or un-completing/deleting the only
    prerequisite, would leave a score4climate enrollment without its prerequisite."""
    partner = await factory.user("partner")
    from app.models.organisations import Organisation

    org = await factory.session.get(Organisation, partner.organisation_id)
    ent = await factory.enterprise(org)
    h = factory.auth(partner)
    plain = await factory.training(org)  # workplace cooperation
    other = await factory.enterprise(org)
    await factory.enrollment(plain, other)  # not completed: no prerequisite for `other`
    r = await client.patch(f"/v1/trainings/{plain.id}", json={"module": "score4climate"}, headers=h)
    assert r.status_code == 409, r.text
    empty = await factory.training(org)
    assert (
        await client.patch(f"/v1/trainings/{empty.id}", json={"module": "score_basics"}, headers=h)
    ).status_code == 200

    prerequisite = await factory.enrollment(await factory.training(org), ent, completed=True)
    await factory.enrollment(await factory.training(org, module="score4climate"), ent)
    r = await client.patch(f"/v1/enrollments/{prerequisite.id}", json={"completed_at": None}, headers=h)
    assert r.status_code == 409, r.text
    assert (await client.delete(f"/v1/enrollments/{prerequisite.id}", headers=h)).status_code == 409
    second = await factory.enrollment(await factory.training(org, module="score_basics"), ent, completed=True)
    assert (await client.delete(f"/v1/enrollments/{prerequisite.id}", headers=h)).status_code == 204
    assert (await client.delete(f"/v1/enrollments/{second.id}", headers=h)).status_code == 409
