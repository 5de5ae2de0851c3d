"""`updated_at` of a progress record moves whenever anything that feeds it changes (issue 4)."""

from __future__ import annotations

from app.services import progress
from tests.worlds import site


async def test_every_feeding_write_moves_updated_at(client, factory, session):
    s = await site(factory)
    buyer = await factory.user("buyer")
    admin = factory.auth(await factory.user("admin"))
    await progress.refresh(session, [s.enterprise.id])
    seen: list[str] = []

    async def stamp(what: str) -> None:
        r = await client.get(f"/v1/enterprises/{s.enterprise.id}/progress", headers=admin)
        assert r.status_code == 200
        now = r.json()["updated_at"]
        assert not seen or now > seen[-1], f"{what} did not move updated_at"
        seen.append(now)

    async def ok(r, status=(200, 201)):
        assert r.status_code in status, r.text
        return r.json()

    ent = str(s.enterprise.id)
    hx, hp, hs = factory.auth(s.expert), factory.auth(s.partner), factory.auth(s.sme)
    await stamp("start")
    await ok(
        await client.post(
            "/v1/results",
            headers=hx,
            json={
                "enterprise_id": ent,
                "metric": "water",
                "period_start": "2023-01-01",
                "period_end": "2023-12-31",
                "value": 1200,
                "is_baseline": True,
            },
        )
    )
    await stamp("a result")
    later = await ok(
        await client.post(
            "/v1/results",
            headers=hs,
            json={
                "enterprise_id": ent,
                "metric": "water",
                "period_start": "2025-06-01",
                "period_end": "2025-06-30",
                "value": 25,
            },
        )
    )
    await stamp("an SME's result")
    await ok(await client.post(f"/v1/results/{later['id']}/verify", headers=hx))
    await stamp("a verification")
    idea = await ok(
        await client.post(
            "/v1/ideas", headers=hs, json={"enterprise_id": ent, "title": "Reuse rinse water", "category": "water"}
        )
    )
    await stamp("an idea")
    await ok(await client.post(f"/v1/ideas/{idea['id']}/transitions", headers=hx, json={"to": "approved"}))
    await stamp("an idea transition")
    await ok(
        await client.post(
            "/v1/visits",
            headers=hx,
            json={"enterprise_id": ent, "scheduled_at": "2025-07-01T09:00:00Z", "kind": "consultation"},
        )
    )
    await stamp("a visit")
    training = await ok(
        await client.post(
            "/v1/trainings",
            headers=hp,
            json={
                "module": "workplace_cooperation",
                "title": "WC 1",
                "start_date": "2025-01-10",
                "end_date": "2025-01-11",
            },
        )
    )
    await ok(
        await client.post(
            f"/v1/trainings/{training['id']}/enrollments",
            headers=hp,
            json={"enterprise_id": ent, "attended": True, "completed_at": "2025-01-11T17:00:00Z"},
        )
    )
    await stamp("an enrollment")
    link = await ok(await client.post("/v1/supplier-links", headers=factory.auth(buyer), json={"enterprise_id": ent}))
    await stamp("an invitation")
    await ok(await client.post(f"/v1/supplier-links/{link['id']}/accept", headers=hs))
    await stamp("a supplier link becoming active")
    await ok(await client.patch(f"/v1/enterprises/{ent}", headers=hs, json={"name": "Renamed Ltd"}))
    await stamp("a profile change")

    record = (await client.get(f"/v1/enterprises/{ent}/progress", headers=admin)).json()
    assert record["programme"]["modules_completed"] == ["workplace_cooperation"]
    assert record["ideas"]["by_status"]["approved"] == 1
    assert record["enterprise"]["name"] == "Renamed Ltd"
    water = next(m for m in record["metrics"] if m["metric"] == "water")
    assert water["latest"]["verified"] is True and water["change_pct"] == -74.65
