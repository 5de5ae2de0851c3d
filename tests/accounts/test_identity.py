"""Organisations, users and API clients per role (docs/permissions.md)."""

from __future__ import annotations

import pytest
from sqlmodel import select

from app.models.idempotency import IdempotencyRecord
from app.models.organisations import Organisation
from tests.factories import PASSWORD


async def _org(factory, user):
    return await factory.session.get(Organisation, user.organisation_id)


async def test_only_admins_create_organisations(client, factory):
    body = {"kind": "buyer", "name": "Acme Apparel", "country": "DE"}
    for role in ("partner", "expert", "sme", "buyer"):
        kw = {}
        if role == "sme":
            partner_org = await factory.org("partner")
            ent = await factory.enterprise(partner_org, name="e", sector="10")
            kw["enterprise_id"] = ent.id
        user = await factory.user(role, **kw)
        assert (await client.post("/v1/organisations", json=body, headers=factory.auth(user))).status_code == 403
    admin = await factory.user("admin")
    r = await client.post("/v1/organisations", json=body, headers=factory.auth(admin))
    assert r.status_code == 201
    assert r.json()["kind"] == "buyer"


async def test_organisation_visibility(client, factory):
    partner = await factory.user("partner")
    other_partner = await factory.org("partner")
    buyer_org = await factory.org("buyer")
    h = factory.auth(partner)
    assert (await client.get(f"/v1/organisations/{partner.organisation_id}", headers=h)).status_code == 200
    assert (await client.get(f"/v1/organisations/{buyer_org.id}", headers=h)).status_code == 200  # buyer directory
    assert (await client.get(f"/v1/organisations/{other_partner.id}", headers=h)).status_code == 404
    r = await client.patch(f"/v1/organisations/{partner.organisation_id}", json={"name": "x"}, headers=h)
    assert r.status_code == 403
    buyer = await factory.user("buyer")
    hb = factory.auth(buyer)
    assert (await client.get(f"/v1/organisations/{buyer.organisation_id}", headers=hb)).status_code == 200
    assert (await client.get(f"/v1/organisations/{buyer_org.id}", headers=hb)).status_code == 404


async def test_organisation_with_users_is_not_deleted(client, factory):
    admin = await factory.user("admin")
    partner = await factory.user("partner")
    r = await client.delete(f"/v1/organisations/{partner.organisation_id}", headers=factory.auth(admin))
    assert r.status_code == 409
    empty = await factory.org("buyer")
    assert (await client.delete(f"/v1/organisations/{empty.id}", headers=factory.auth(admin))).status_code == 204


async def test_partner_creates_experts_and_sme_users_of_own_only(client, factory):
    partner = await factory.user("partner")
    org = await _org(factory, partner)
    h = factory.auth(partner)
    expert = {
        "email": factory.unique("e") + "@example.org",
        "password": "long enough pw",
        "role": "expert",
        "certified_until": "2030-01-01",
    }
    r = await client.post("/v1/users", json=expert, headers=h)
    assert r.status_code == 201, r.text
    assert r.json()["organisation_id"] == str(org.id)
    assert "password" not in r.json() and "password_hash" not in r.json()
    r = await client.post("/v1/users", json={**expert, "email": "x" + expert["email"], "role": "partner"}, headers=h)
    assert r.status_code == 403
    own_ent = await factory.enterprise(org, name="own", sector="10")
    other_ent = await factory.enterprise(await factory.org(), name="other", sector="10")
    sme = {"email": factory.unique("s") + "@example.org", "password": "long enough pw", "role": "sme"}
    assert (
        await client.post("/v1/users", json={**sme, "enterprise_id": str(own_ent.id)}, headers=h)
    ).status_code == 201
    r = await client.post(
        "/v1/users", json={**sme, "email": "y" + sme["email"], "enterprise_id": str(other_ent.id)}, headers=h
    )
    assert r.status_code == 422


async def test_duplicate_email_is_409_and_case_insensitive(client, factory):
    admin = await factory.user("admin")
    body = {"email": "Dup@Example.org", "password": "long enough pw", "role": "admin"}
    assert (await client.post("/v1/users", json=body, headers=factory.auth(admin))).status_code == 201
    r = await client.post("/v1/users", json={**body, "email": "dup@example.org"}, headers=factory.auth(admin))
    assert r.status_code == 409


@pytest.mark.parametrize("field", ["id", "created_at", "auth_version", "password_hash", "role"])
async def test_user_update_rejects_read_only_fields(client, factory, field):
    admin = await factory.user("admin")
    target = await factory.user("buyer")
    r = await client.patch(f"/v1/users/{target.id}", json={field: "x"}, headers=factory.auth(admin))
    assert r.status_code == 422


async def test_users_see_only_themselves(client, factory):
    buyer = await factory.user("buyer")
    colleague = await factory.user("buyer")
    h = factory.auth(buyer)
    assert (await client.get(f"/v1/users/{buyer.id}", headers=h)).status_code == 200
    assert (await client.get(f"/v1/users/{colleague.id}", headers=h)).status_code == 404
    items = (await client.get("/v1/users", headers=h)).json()["items"]
    assert [u["id"] for u in items] == [str(buyer.id)]
    r = await client.patch(f"/v1/users/{buyer.id}", json={"is_active": False}, headers=h)
    assert r.status_code == 403
    r = await client.patch(f"/v1/users/{buyer.id}", json={"full_name": "Me"}, headers=h)
    assert r.status_code == 200


async def test_partner_cannot_see_other_partners_users(client, factory):
    a = await factory.user("partner")
    b_expert = await factory.user("expert")
    assert (await client.get(f"/v1/users/{b_expert.id}", headers=factory.auth(a))).status_code == 404


async def test_api_client_secret_shown_once(client, factory):
    buyer = await factory.user("buyer")
    h = factory.auth(buyer)
    r = await client.post("/v1/api-clients", json={"name": "Sourcing"}, headers=h)
    assert r.status_code == 201
    created = r.json()
    assert created["client_secret"].startswith(created["secret_prefix"])
    got = (await client.get(f"/v1/api-clients/{created['id']}", headers=h)).json()
    assert "client_secret" not in got and got["secret_prefix"] == created["secret_prefix"]
    listed = (await client.get("/v1/api-clients", headers=h)).json()["items"]
    assert all("client_secret" not in c for c in listed)
    other_buyer = await factory.user("buyer")
    assert (await client.get(f"/v1/api-clients/{created['id']}", headers=factory.auth(other_buyer))).status_code == 404
    expert = await factory.user("expert")
    assert (await client.get("/v1/api-clients", headers=factory.auth(expert))).status_code == 403
    assert (await client.post("/v1/api-clients", json={"name": "x"}, headers=factory.auth(expert))).status_code == 403


async def test_spaces_are_part_of_a_password(client, factory):
    user = await factory.user("buyer")
    r = await client.patch(
        f"/v1/users/{user.id}",
        json={"password": "   spaced out   ", "current_password": PASSWORD},
        headers=factory.auth(user),
    )
    assert r.status_code == 200, r.text
    login = {"grant_type": "password", "username": user.email}
    assert (await client.post("/v1/auth/token", data={**login, "password": "spaced out"})).status_code == 400
    assert (await client.post("/v1/auth/token", data={**login, "password": "   spaced out   "})).status_code == 200


async def test_client_secrets_are_not_kept_for_idempotent_replays(client, factory):
    buyer = await factory.user("buyer")
    headers = {**factory.auth(buyer), "Idempotency-Key": "create-sourcing-client"}
    first = await client.post("/v1/api-clients", json={"name": "sourcing"}, headers=headers)
    assert first.status_code == 201, first.text
    secret = first.json()["client_secret"]
    assert secret
    stored = (await factory.session.exec(select(IdempotencyRecord))).all()
    assert stored and all(secret.encode() not in (r.body or b"") for r in stored), "no plaintext secret at rest"
    replay = await client.post("/v1/api-clients", json={"name": "sourcing"}, headers=headers)
    assert replay.status_code == 201 and replay.headers["idempotent-replayed"] == "true"
    assert replay.json()["id"] == first.json()["id"]
    assert replay.json()["client_secret"] is None
    assert secret not in replay.text
    token = await client.post(
        "/v1/auth/token",
        data={"grant_type": "client_credentials", "client_id": first.json()["client_id"], "client_secret": secret},
    )
    assert token.status_code == 200, "the secret shown once still works"


async def test_a_partner_cannot_tell_whose_email_is_taken(client, factory):
    partner = await factory.user("partner")
    own_expert = await factory.user(
        "expert", organisation=await factory.session.get(Organisation, partner.organisation_id)
    )
    elsewhere = await factory.user("buyer")
    answers = []
    for email in (own_expert.email, elsewhere.email):
        body = {"email": email, "password": "long enough pw", "role": "expert"}
        r = await client.post("/v1/users", json=body, headers=factory.auth(partner))
        answers.append((r.status_code, r.json()["detail"]))
    assert answers[0] == answers[1] and answers[0][0] == 409, answers


async def test_repeated_taken_emails_are_throttled(client, factory, app):
    from app.ratelimit import MemoryRateLimiter

    # A frozen clock: no delay runs out while the machine hashes the passwords.
    saved, app.state.limiter = app.state.limiter, MemoryRateLimiter(clock=lambda: 7000.0)
    try:
        partner = await factory.user("partner")
        taken = [await factory.user("buyer") for _ in range(7)]
        statuses = []
        for user in taken:
            body = {"email": user.email, "password": "long enough pw", "role": "expert"}
            statuses.append((await client.post("/v1/users", json=body, headers=factory.auth(partner))).status_code)
        fresh = {"email": "fresh-person@example.org", "password": "long enough pw", "role": "expert"}
        after = await client.post("/v1/users", json=fresh, headers=factory.auth(partner))
    finally:
        app.state.limiter = saved
    assert statuses[:5] == [409] * 5 and set(statuses[5:]) == {429}, statuses
    assert after.status_code == 429, "the delay runs before any creation of this caller"
