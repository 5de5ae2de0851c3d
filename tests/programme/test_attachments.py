"""Attachments: upload, list, read, download (ETag, 304, ranges, 416), delete; hostile uploads;
who may read and change them; their audit and events."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.config import Settings
from app.db import run_before_commit
from app.ids import utcnow
from app.models.attachments import ATTACHMENT_CHUNKS, Attachment
from app.models.audit import AuditEvent
from app.models.events import EVENT_RECIPIENTS, EVENTS
from app.services.blobs_postgres import CHUNK_BYTES
from app.services.uploads import clean_filename
from tests.factories import PNG, Factory
from tests.two_tenants import Tenant, build_tenant

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x42" * 5000
PDF = b"%PDF-1.7\n" + b"0123456789" * 100
WEBP = b"RIFF\x10\x00\x00\x00WEBPVP8 " + b"\x00" * 100
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 200


@pytest.fixture
async def tenant(factory: Factory) -> Tenant:
    return await build_tenant(factory, "att")


async def upload(
    client: httpx.AsyncClient,
    factory: Factory,
    who: Any,
    path: str,
    data: bytes = PNG,
    filename: str = "meter.png",
    description: str | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    form = {} if description is None else {"description": description}
    return await client.post(
        path,
        files={"file": (filename, data, "application/octet-stream")},
        data=form,
        headers={**factory.auth(who), **(headers or {})},
    )


def raw_multipart(parts: list[tuple[str, str | None, bytes]], *, close: bool = True) -> tuple[bytes, str]:
    """A hand-made multipart body: (name, filename or None, bytes) per part."""
    boundary = "testboundary7MA4YWxk"
    out = b""
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
        out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data + b"\r\n"
    if close:
        out += f"--{boundary}--\r\n".encode()
    return out, f"multipart/form-data; boundary={boundary}"


# --- the round trip ----------------------------------------------------------------------------


async def test_upload_list_get_download_delete(client: httpx.AsyncClient, factory: Factory, tenant: Tenant) -> None:
    expert = tenant.users["expert"]
    r = await upload(client, factory, expert, f"/v1/visits/{tenant.visit.id}/attachments", JPEG, "line2.jpg", "Leak")
    assert r.status_code == 201, r.text
    body = r.json()
    assert r.headers["location"] == f"/v1/attachments/{body['id']}"
    assert body["parent_type"] == "visit" and body["parent_id"] == str(tenant.visit.id)
    assert body["filename"] == "line2.jpg" and body["content_type"] == "image/jpeg"
    assert body["size"] == len(JPEG) and body["sha256"] == hashlib.sha256(JPEG).hexdigest()
    assert body["description"] == "Leak" and body["created_by"] == f"user:{expert.id}"
    assert {"created_at", "updated_at", "enterprise_id"} <= body.keys()

    listed = await client.get(f"/v1/visits/{tenant.visit.id}/attachments", headers=factory.auth(expert))
    assert [item["id"] for item in listed.json()["items"]] == [body["id"]]
    one = await client.get(f"/v1/attachments/{body['id']}", headers=factory.auth(expert))
    assert one.status_code == 200 and one.json() == body and one.headers["etag"]
    again = await client.get(
        f"/v1/attachments/{body['id']}", headers={**factory.auth(expert), "If-None-Match": one.headers["etag"]}
    )
    assert again.status_code == 304

    content = await client.get(f"/v1/attachments/{body['id']}/content", headers=factory.auth(expert))
    assert content.status_code == 200 and content.content == JPEG
    assert content.headers["content-type"] == "image/jpeg"
    assert content.headers["etag"] == f'"{body["sha256"]}"'
    assert content.headers["accept-ranges"] == "bytes"
    assert content.headers["content-disposition"] == "attachment; filename=\"line2.jpg\"; filename*=UTF-8''line2.jpg"

    gone = await client.delete(f"/v1/attachments/{body['id']}", headers=factory.auth(expert))
    assert gone.status_code == 204
    assert (await client.get(f"/v1/attachments/{body['id']}", headers=factory.auth(expert))).status_code == 404
    chunks = await factory.session.exec(  # type: ignore[call-overload]
        sa.select(sa.func.count()).select_from(ATTACHMENT_CHUNKS).where(ATTACHMENT_CHUNKS.c.attachment_id == body["id"])
    )
    assert chunks.one()[0] == 0


@pytest.mark.parametrize(("data", "media_type"), [(PNG, "image/png"), (PDF, "application/pdf"), (WEBP, "image/webp")])
async def test_each_accepted_type_is_recognised(
    client: httpx.AsyncClient, factory: Factory, tenant: Tenant, data: bytes, media_type: str
) -> None:
    r = await upload(client, factory, tenant.users["sme"], f"/v1/ideas/{tenant.idea.id}/attachments", data, "x.bin")
    assert r.status_code == 201, r.text
    assert r.json()["content_type"] == media_type


async def test_a_large_file_is_stored_in_chunks_and_ranges_read_only_what_they_need(
    client: httpx.AsyncClient, factory: Factory, tenant: Tenant
) -> None:
    data = b"%PDF-1.4\n" + bytes(i % 251 for i in range(3 * CHUNK_BYTES + 1000))
    r = await upload(
        client, factory, tenant.users["partner"], f"/v1/results/{tenant.result.id}/attachments", data, "a.pdf"
    )
    assert r.status_code == 201, r.text
    key = r.json()["id"]
    offsets = await factory.session.exec(  # type: ignore[call-overload]
        sa.select(ATTACHMENT_CHUNKS.c.offset).where(ATTACHMENT_CHUNKS.c.attachment_id == key).order_by("offset")
    )
    assert [row[0] for row in offsets.all()] == [0, CHUNK_BYTES, 2 * CHUNK_BYTES, 3 * CHUNK_BYTES]
    url, auth = f"/v1/attachments/{key}/content", factory.auth(tenant.users["partner"])
    assert (await client.get(url, headers=auth)).content == data
    start, end = CHUNK_BYTES - 10, 2 * CHUNK_BYTES + 10  # across three chunks
    part = await client.get(url, headers={**auth, "Range": f"bytes={start}-{end}"})
    assert part.status_code == 206
    assert part.content == data[start : end + 1]
    assert part.headers["content-range"] == f"bytes {start}-{end}/{len(data)}"
    assert part.headers["content-length"] == str(end + 1 - start)


async def test_ranges_etag_and_416(client: httpx.AsyncClient, factory: Factory, tenant: Tenant) -> None:
    attachment = await factory.attachment(tenant.idea, PNG)
    url, auth = f"/v1/attachments/{attachment.id}/content", factory.auth(tenant.users["sme"])
    size = len(PNG)
    cases = {
        "bytes=0-9": (206, PNG[:10], f"bytes 0-9/{size}"),
        "bytes=10-": (206, PNG[10:], f"bytes 10-{size - 1}/{size}"),
        "bytes=-5": (206, PNG[-5:], f"bytes {size - 5}-{size - 1}/{size}"),
        f"bytes=5-{size + 100}": (206, PNG[5:], f"bytes 5-{size - 1}/{size}"),
        "bytes=0-1,4-5": (200, PNG, None),  # several ranges: the whole file
        "bytes=9-3": (200, PNG, None),  # not a valid range: ignored
        "items=0-1": (200, PNG, None),
    }
    for header, (status, content, content_range) in cases.items():
        r = await client.get(url, headers={**auth, "Range": header})
        assert (r.status_code, r.content, r.headers.get("content-range")) == (status, content, content_range), header
    for header in (f"bytes={size}-", "bytes=-0", f"bytes={size + 10}-{size + 20}"):
        r = await client.get(url, headers={**auth, "Range": header})
        assert r.status_code == 416, header
        assert r.headers["content-range"] == f"bytes */{size}"
        assert r.json()["type"].endswith("/range-not-satisfiable")
    etag = f'"{attachment.sha256}"'
    assert (await client.get(url, headers={**auth, "If-None-Match": etag})).status_code == 304
    assert (await client.get(url, headers={**auth, "If-None-Match": '"other"'})).status_code == 200
    stale = await client.get(url, headers={**auth, "Range": "bytes=0-1", "If-Range": '"other"'})
    assert stale.status_code == 200 and stale.content == PNG
    fresh = await client.get(url, headers={**auth, "Range": "bytes=0-1", "If-Range": etag})
    assert fresh.status_code == 206 and fresh.content == PNG[:2]


async def test_list_is_paginated(client: httpx.AsyncClient, factory: Factory, tenant: Tenant) -> None:
    made = [await factory.attachment(tenant.visit, filename=f"{i}.png") for i in range(3)]
    auth = factory.auth(tenant.users["partner"])
    first = await client.get(f"/v1/visits/{tenant.visit.id}/attachments?limit=2", headers=auth)
    assert [i["id"] for i in first.json()["items"]] == [str(a.id) for a in made[:2]]
    assert first.headers["x-next-cursor"] and 'rel="next"' in first.headers["link"]
    cursor = first.json()["next_cursor"]
    second = await client.get(f"/v1/visits/{tenant.visit.id}/attachments?limit=2&cursor={cursor}", headers=auth)
    assert [i["id"] for i in second.json()["items"]] == [str(made[2].id)]
    assert second.json()["next_cursor"] is None
    other = await client.get(f"/v1/ideas/{tenant.idea.id}/attachments?limit=2&cursor={cursor}", headers=auth)
    assert other.status_code == 400


# --- hostile uploads ---------------------------------------------------------------------------


async def test_a_program_named_like_a_photo_is_415(client: httpx.AsyncClient, factory: Factory, tenant: Tenant) -> None:
    r = await upload(
        client, factory, tenant.users["expert"], f"/v1/visits/{tenant.visit.id}/attachments", EXE, "photo.jpg"
    )
    assert r.status_code == 415, r.text
    assert r.json()["type"].endswith("/unsupported-media-type")
    assert await _count(factory.session) == 0


async def test_a_type_left_out_of_attachment_types_is_415(
    app: FastAPI, client: httpx.AsyncClient, factory: Factory, tenant: Tenant
) -> None:
    settings: Settings = app.state.settings
    original = settings.attachment_types
    settings.attachment_types = ["image/jpeg"]
    try:
        r = await upload(client, factory, tenant.users["expert"], f"/v1/visits/{tenant.visit.id}/attachments", PNG)
    finally:
        settings.attachment_types = original
    assert r.status_code == 415
    assert "image/png" in r.json()["detail"]


async def test_too_large_is_413(app: FastAPI, client: httpx.AsyncClient, factory: Factory, tenant: Tenant) -> None:
    settings: Settings = app.state.settings
    original = settings.attachment_max_bytes
    settings.attachment_max_bytes = 1000
    try:
        path = f"/v1/visits/{tenant.visit.id}/attachments"
        r = await upload(client, factory, tenant.users["expert"], path, PNG[:1001])
        exact = await upload(client, factory, tenant.users["expert"], path, PNG[:1000])
    finally:
        settings.attachment_max_bytes = original
    assert r.status_code == 413, r.text
    assert r.json()["type"].endswith("/payload-too-large")
    assert exact.status_code == 201


async def test_a_body_beyond_the_upload_allowance_is_413_before_it_is_read(
    client: httpx.AsyncClient, factory: Factory, tenant: Tenant
) -> None:
    headers = {
        **factory.auth(tenant.users["expert"]),
        "Content-Type": "multipart/form-data; boundary=x",
        "Content-Length": str(30_000_000),
    }
    r = await client.post(f"/v1/visits/{tenant.visit.id}/attachments", content=b"--x", headers=headers)
    assert r.status_code == 413


async def test_larger_than_a_json_body_may_be(client: httpx.AsyncClient, factory: Factory, tenant: Tenant) -> None:
    """Uploads get their own allowance: bigger than MAX_BODY_BYTES (1 MiB)."""
    data = b"\xff\xd8\xff" + b"\x01" * 1_500_000
    r = await upload(client, factory, tenant.users["expert"], f"/v1/visits/{tenant.visit.id}/attachments", data)
    assert r.status_code == 201, r.text
    assert r.json()["size"] == len(data)


@pytest.mark.parametrize(
    ("parts", "close", "where"),
    [
        ([("file", "empty.png", b"")], True, "file"),  # zero bytes
        ([("description", None, b"no file")], True, "file"),  # the file part is missing
        ([("file", "a.png", PNG), ("note", None, b"x")], True, "note"),  # an unknown part
        ([("file", "a.png", PNG), ("file", "b.png", PNG)], True, "file"),  # two files
        ([("file", "a.png", PNG)], False, None),  # truncated: no closing boundary
        ([("file", "a.png", PNG), ("description", None, b"x" * 2001)], True, "description"),
        ([("file", "a.png", PNG), ("description", None, b"\xff\xfe")], True, "description"),
        ([("file", "a.png", PNG), ("description", None, b"a\x00b")], True, "description"),
    ],
)
async def test_malformed_uploads_are_422(
    client: httpx.AsyncClient,
    factory: Factory,
    tenant: Tenant,
    parts: list[tuple[str, str | None, bytes]],
    close: bool,
    where: str | None,
) -> None:
    body, content_type = raw_multipart(parts, close=close)
    headers = {**factory.auth(tenant.users["expert"]), "Content-Type": content_type}
    r = await client.post(f"/v1/visits/{tenant.visit.id}/attachments", content=body, headers=headers)
    assert r.status_code == 422, r.text
    problem = r.json()
    assert problem["type"].endswith("/validation-error") and problem["detail"]
    if where is not None:
        assert problem["errors"][0]["loc"] == ["body", where]
    assert await _count(factory.session) == 0


async def test_garbage_and_json_bodies(client: httpx.AsyncClient, factory: Factory, tenant: Tenant) -> None:
    path, auth = f"/v1/visits/{tenant.visit.id}/attachments", factory.auth(tenant.users["expert"])
    as_json = await client.post(path, json={"file": "x"}, headers=auth)
    assert as_json.status_code == 415
    no_boundary = await client.post(path, content=b"x", headers={**auth, "Content-Type": "multipart/form-data"})
    assert no_boundary.status_code == 422
    garbage = await client.post(
        path, content=b"\x00" * 100, headers={**auth, "Content-Type": "multipart/form-data; boundary=abc"}
    )
    assert garbage.status_code == 422


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("../../etc/passwd.png", "passwd.png"),
        ("C:\\Users\\asha\\Desktop\\meter.png", "meter.png"),
        ("dir/sub\\mixed/name.png", "name.png"),
        ("bad\x01name\x7f.png", "badname.png"),
        ("..", "attachment"),
        ("", "attachment"),
        ("Zählerstand ✓.png", "Zählerstand ✓.png"),
        ("a" * 300 + ".png", "a" * 251 + ".png"),
    ],
)
def test_clean_filename(sent: str, kept: str) -> None:
    assert clean_filename(sent) == kept


async def test_path_separators_never_reach_the_stored_name(
    client: httpx.AsyncClient, factory: Factory, tenant: Tenant
) -> None:
    r = await upload(
        client,
        factory,
        tenant.users["expert"],
        f"/v1/visits/{tenant.visit.id}/attachments",
        PNG,
        "..\\..\\evil/../x.png",
    )
    assert r.status_code == 201 and r.json()["filename"] == "x.png"
    download = await client.get(
        f"/v1/attachments/{r.json()['id']}/content", headers=factory.auth(tenant.users["expert"])
    )
    assert "/" not in download.headers["content-disposition"].split("filename=")[1].split(";")[0]


# --- who may -----------------------------------------------------------------------------------


async def test_buyers_read_attachments_of_verified_results_and_ideas_only(
    client: httpx.AsyncClient, factory: Factory, tenant: Tenant
) -> None:
    verified = await factory.result(tenant.enterprise, metric="electricity", verified_at=utcnow())
    of_verified = await factory.attachment(verified)
    of_unverified = await factory.attachment(tenant.result)
    of_idea = await factory.attachment(tenant.idea)
    of_visit = await factory.attachment(tenant.visit)
    auth = factory.auth(tenant.users["buyer"])
    for seen in (of_verified, of_idea):
        assert (await client.get(f"/v1/attachments/{seen.id}", headers=auth)).status_code == 200
        assert (await client.get(f"/v1/attachments/{seen.id}/content", headers=auth)).content == PNG
        assert (await client.delete(f"/v1/attachments/{seen.id}", headers=auth)).status_code == 403
    for hidden in (of_unverified, of_visit):
        assert (await client.get(f"/v1/attachments/{hidden.id}", headers=auth)).status_code == 404
        assert (await client.get(f"/v1/attachments/{hidden.id}/content", headers=auth)).status_code == 404
        assert (await client.delete(f"/v1/attachments/{hidden.id}", headers=auth)).status_code == 404
    listed = await client.get(f"/v1/results/{verified.id}/attachments", headers=auth)
    assert [i["id"] for i in listed.json()["items"]] == [str(of_verified.id)]
    unverified = await client.get(f"/v1/results/{tenant.result.id}/attachments", headers=auth)
    assert unverified.status_code == 200 and unverified.json()["items"] == []
    assert (await client.get(f"/v1/visits/{tenant.visit.id}/attachments", headers=auth)).status_code == 404
    refused = await upload(client, factory, tenant.users["buyer"], f"/v1/ideas/{tenant.idea.id}/attachments")
    assert refused.status_code == 403


async def test_a_buyer_without_an_active_link_sees_nothing(
    client: httpx.AsyncClient, factory: Factory, tenant: Tenant
) -> None:
    verified = await factory.result(tenant.enterprise, metric="electricity", verified_at=utcnow())
    attachment = await factory.attachment(verified)
    stranger = await factory.user("buyer", organisation=await factory.org("buyer"))
    assert (await client.get(f"/v1/attachments/{attachment.id}", headers=factory.auth(stranger))).status_code == 404


async def test_an_sme_no_longer_changes_the_attachments_of_a_verified_result(
    client: httpx.AsyncClient, factory: Factory, tenant: Tenant
) -> None:
    verified = await factory.result(tenant.enterprise, metric="electricity", verified_at=utcnow())
    attachment = await factory.attachment(verified)
    sme = factory.auth(tenant.users["sme"])
    assert (
        await upload(client, factory, tenant.users["sme"], f"/v1/results/{verified.id}/attachments")
    ).status_code == 403
    assert (await client.delete(f"/v1/attachments/{attachment.id}", headers=sme)).status_code == 403
    assert (await client.get(f"/v1/attachments/{attachment.id}", headers=sme)).status_code == 200
    expert = await upload(client, factory, tenant.users["expert"], f"/v1/results/{verified.id}/attachments")
    assert expert.status_code == 201


async def test_smes_read_but_do_not_change_visit_attachments(
    client: httpx.AsyncClient, factory: Factory, tenant: Tenant
) -> None:
    attachment = await factory.attachment(tenant.visit)
    sme = factory.auth(tenant.users["sme"])
    assert (await client.get(f"/v1/attachments/{attachment.id}/content", headers=sme)).status_code == 200
    assert (
        await upload(client, factory, tenant.users["sme"], f"/v1/visits/{tenant.visit.id}/attachments")
    ).status_code == 403
    assert (await client.delete(f"/v1/attachments/{attachment.id}", headers=sme)).status_code == 403


async def test_a_parent_with_attachments_is_not_deleted(
    client: httpx.AsyncClient, factory: Factory, tenant: Tenant
) -> None:
    idea = await factory.idea(tenant.enterprise)
    attachment = await factory.attachment(idea)
    auth = factory.auth(tenant.users["partner"])
    refused = await client.delete(f"/v1/ideas/{idea.id}", headers=auth)
    assert refused.status_code == 409, refused.text
    assert refused.json()["type"].endswith("/conflict")
    assert (await client.delete(f"/v1/attachments/{attachment.id}", headers=auth)).status_code == 204
    assert (await client.delete(f"/v1/ideas/{idea.id}", headers=auth)).status_code == 204


# --- idempotency, audit, events ----------------------------------------------------------------


async def test_idempotency_key_replays_an_upload(client: httpx.AsyncClient, factory: Factory, tenant: Tenant) -> None:
    path, expert = f"/v1/ideas/{tenant.idea.id}/attachments", tenant.users["expert"]
    key = {"Idempotency-Key": "upload-1"}
    first = await upload(client, factory, expert, path, PNG, "a.png", "one", headers=key)
    again = await upload(client, factory, expert, path, PNG, "a.png", "one", headers=key)  # another boundary
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    assert again.headers["location"] == first.headers["location"]
    assert await _count(factory.session) == 1
    other = await upload(client, factory, expert, path, JPEG, "a.jpg", "one", headers=key)
    assert other.status_code == 422 and other.json()["type"].endswith("/idempotency-key-reused")
    assert await _count(factory.session) == 1


async def test_audit_and_events(
    client: httpx.AsyncClient, factory: Factory, tenant: Tenant, session: AsyncSession
) -> None:
    verified = await factory.result(tenant.enterprise, metric="electricity", verified_at=utcnow())
    await run_before_commit(session)  # the set-up's own progress events
    progress = sa.select(sa.func.count()).select_from(EVENTS).where(EVENTS.c.type == "progress.updated")
    progress_before = (await session.exec(progress)).one()[0]  # type: ignore[call-overload]
    expert = tenant.users["expert"]
    made = {}
    for parent, path in (
        (verified, f"/v1/results/{verified.id}/attachments"),  # first: the buyers' condition is per result
        (tenant.result, f"/v1/results/{tenant.result.id}/attachments"),
        (tenant.visit, f"/v1/visits/{tenant.visit.id}/attachments"),
        (tenant.idea, f"/v1/ideas/{tenant.idea.id}/attachments"),
    ):
        r = await upload(client, factory, expert, path)
        made[parent.id] = r.json()["id"]
    deleted = made[tenant.visit.id]
    assert (await client.delete(f"/v1/attachments/{deleted}", headers=factory.auth(expert))).status_code == 204

    actions = (
        await session.exec(
            select(AuditEvent.action).where(AuditEvent.object_type == "attachment").order_by(AuditEvent.id)
        )
    ).all()
    assert actions == ["create"] * 4 + ["delete"]

    async def recipients_of(event_type: str, subject: str) -> set[Any]:
        query = (
            sa.select(EVENT_RECIPIENTS.c.recipient)
            .join(EVENTS, EVENTS.c.seq == EVENT_RECIPIENTS.c.seq)
            .where(EVENTS.c.type == event_type, EVENTS.c.subject_id == subject)
        )
        return {row[0] for row in (await session.exec(query)).all()}  # type: ignore[call-overload]

    buyer, partner = tenant.buyer_org.id, tenant.partner_org.id
    for parent_id, buyer_sees in (
        (tenant.result.id, False),
        (tenant.visit.id, False),
        (verified.id, True),
        (tenant.idea.id, True),
    ):
        heard = await recipients_of("attachment.created", made[parent_id])
        assert {partner, expert.id, tenant.enterprise.id} <= heard
        assert (buyer in heard) is buyer_sees, parent_id
    removed = await recipients_of("attachment.deleted", deleted)
    assert partner in removed and buyer not in removed
    progress_after = (await session.exec(progress)).one()[0]  # type: ignore[call-overload]
    assert progress_after == progress_before, "attachments do not change progress records"


async def _count(session: AsyncSession) -> int:
    return int((await session.exec(select(sa.func.count()).select_from(Attachment))).one())
