async def test_healthz(client):
    r = await client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}
    assert r.headers["x-request-id"]


async def test_me(client, factory):
    admin = await factory.user("admin")
    r = await client.get("/v1/me", headers=factory.auth(admin))
    assert r.status_code == 200, r.text
    assert r.json()["email"] == admin.email
