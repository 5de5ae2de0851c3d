"""The integrator's first hour, through the generated Python SDK (openapi-python-client).

An admin creates an implementing partner and one of its staff; the partner logs in with the
password grant, enrols an enterprise, records an idea and moves it to `implemented`, records
a baseline and a later result, and reads the enterprise's progress record.

Then the expert's mobile app: the partner adds a certified expert and assigns them to the
enterprise; offline, the app captures an idea and a visit under ids it chose itself; back
online it syncs them (a retry after a lost answer changes nothing), attaches a photo of the
visit as evidence and reads it back, whole and by range.

Run against a live server, with the generated `score4climate_client` package importable:

    python flow.py --base-url http://127.0.0.1:8000 --admin-email admin@example.org --admin-password ...

Nothing here touches HTTP directly: every call goes through the generated code.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import io
import math
import sys
import uuid
from typing import Any

from score4climate_client import AuthenticatedClient, Client
from score4climate_client.api.attachments import (
    attachments_create_for_visit,
    attachments_download,
    attachments_list_for_visit,
)
from score4climate_client.api.auth import auth_token
from score4climate_client.api.enterprises import enterprises_assign_expert, enterprises_create
from score4climate_client.api.ideas import ideas_create, ideas_list_transitions, ideas_transition
from score4climate_client.api.me import me_get
from score4climate_client.api.organisations import organisations_create
from score4climate_client.api.progress import progress_get
from score4climate_client.api.results import results_create
from score4climate_client.api.users import users_create
from score4climate_client.api.visits import visits_create
from score4climate_client.models import (
    AttachmentUpload,
    EnterpriseCreate,
    GrantType,
    IdeaCategory,
    IdeaCreate,
    IdeaStatus,
    MetricDirection,
    OrganisationCreate,
    OrganisationKind,
    Problem,
    ProgressRecordPublic,
    ResultCreate,
    Role,
    TokenRequest,
    TransitionRequest,
    UserCreate,
    VisitCreate,
    VisitKind,
    VisitStatus,
)
from score4climate_client.types import File, Response

# A small PNG: the server recognises the type from these bytes, whatever the file is called.
PHOTO = (
    bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000")
    + bytes.fromhex("1f15c4890000000d49444154789c6300010000050001")
    + bytes.fromhex("0d0a2db40000000049454e44ae426082")
)


def expect(response: Response[Any], status: int, what: str) -> Any:
    """The parsed body of a response with the expected status; a readable failure otherwise."""
    if response.status_code != status:
        detail = response.parsed.detail if isinstance(response.parsed, Problem) else response.content[:500]
        raise SystemExit(f"{what}: expected {status}, got {int(response.status_code)}: {detail!r}")
    return response.parsed


def log_in(base_url: str, email: str, password: str) -> AuthenticatedClient:
    anonymous = Client(base_url=base_url, raise_on_unexpected_status=True)
    form = TokenRequest(grant_type=GrantType.PASSWORD, username=email, password=password)
    token = expect(auth_token.sync_detailed(client=anonymous, body=form), 200, f"log in as {email}")
    assert token.token_type.lower() == "bearer"
    return AuthenticatedClient(base_url=base_url, token=token.access_token, raise_on_unexpected_status=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--admin-email", required=True)
    parser.add_argument("--admin-password", required=True)
    args = parser.parse_args(argv)
    run = uuid.uuid4().hex[:8]  # the flow can run twice against the same database

    # 1. The programme administrator sets up a partner and a partner user.
    admin = log_in(args.base_url, args.admin_email, args.admin_password)
    partner_org = expect(
        organisations_create.sync_detailed(
            client=admin,
            body=OrganisationCreate(
                kind=OrganisationKind.PARTNER, name=f"National Productivity Council {run}", country="IN"
            ),
        ),
        201,
        "create the partner organisation",
    )
    partner_email, partner_password = f"asha.{run}@npc.example", "correct horse battery staple"
    expect(
        users_create.sync_detailed(
            client=admin,
            body=UserCreate(
                email=partner_email,
                password=partner_password,
                role=Role.PARTNER,
                full_name="Asha Rao",
                organisation_id=partner_org.id,
            ),
        ),
        201,
        "create the partner user",
    )

    # 2. The partner logs in with the password grant.
    partner = log_in(args.base_url, partner_email, partner_password)
    me = expect(me_get.sync_detailed(client=partner), 200, "who am I")
    assert me.role == Role.PARTNER, me

    # 3. An enterprise and an idea from the workshop.
    enterprise = expect(
        enterprises_create.sync_detailed(
            client=partner,
            body=EnterpriseCreate(
                name=f"Sunrise Rubber Products {run}",
                country="IN",
                sector="2219",
                employees_female=48,
                employees_male=72,
            ),
            idempotency_key=f"enterprise-{run}",
        ),
        201,
        "create the enterprise",
    )
    assert enterprise.partner_id == partner_org.id
    idea = expect(
        ideas_create.sync_detailed(
            client=partner,
            body=IdeaCreate(
                enterprise_id=enterprise.id,
                title="Sell rubber trimmings to reclaimers",
                category=IdeaCategory.WASTE,
            ),
        ),
        201,
        "create the idea",
    )
    assert idea.status == IdeaStatus.PROPOSED

    # 4. The idea moves through its life cycle.
    for step in (IdeaStatus.APPROVED, IdeaStatus.IN_PROGRESS, IdeaStatus.IMPLEMENTED):
        idea = expect(
            ideas_transition.sync_detailed(idea.id, client=partner, body=TransitionRequest(to=step)),
            200,
            f"move the idea to {step}",
        )
        assert idea.status == step
    history = expect(ideas_list_transitions.sync_detailed(idea.id, client=partner), 200, "idea history")
    assert [t.to for t in history.items] == [IdeaStatus.APPROVED, IdeaStatus.IN_PROGRESS, IdeaStatus.IMPLEMENTED]

    # 5. Results: a yearly baseline and a later month, for a level and a flow metric.
    year_2024, june_2025 = (dt.date(2024, 1, 1), dt.date(2024, 12, 31)), (dt.date(2025, 6, 1), dt.date(2025, 6, 30))
    for metric, (start, end), value, baseline in (
        ("yield_rate", year_2024, 78.0, True),
        ("yield_rate", june_2025, 95.0, False),
        ("water", year_2024, 1464.0, True),
        ("water", june_2025, 30.0, False),
    ):
        expect(
            results_create.sync_detailed(
                client=partner,
                body=ResultCreate(
                    enterprise_id=enterprise.id,
                    metric=metric,
                    period_start=start,
                    period_end=end,
                    value=value,
                    is_baseline=baseline,
                    idea_id=idea.id if not baseline else None,
                ),
            ),
            201,
            f"record {metric} {start}",
        )

    # 6. The progress record, with numbers computed by the server.
    record: ProgressRecordPublic = expect(
        progress_get.sync_detailed(enterprise.id, client=partner), 200, "read the progress record"
    )
    assert record.enterprise.id == enterprise.id
    by_metric = {m.metric: m for m in record.metrics}
    yield_rate, water = by_metric["yield_rate"], by_metric["water"]
    # Level metric: compared directly, 78 % -> 95 %.
    assert yield_rate.direction == MetricDirection.INCREASE
    assert yield_rate.change_abs is not None and math.isclose(yield_rate.change_abs, 17.0), yield_rate
    assert yield_rate.change_pct is not None and math.isclose(yield_rate.change_pct, 17 / 78 * 100, rel_tol=1e-3)
    assert yield_rate.improved is True
    # Flow metric: annualised. 1,464 m3 over 2024 (366 days) = 1,460 m3/yr; 30 m3 in June = 365 m3/yr.
    assert water.baseline is not None and water.latest is not None
    assert math.isclose(float(water.baseline.per_year), 1460.0, rel_tol=1e-6), water.baseline
    assert math.isclose(float(water.latest.per_year), 365.0, rel_tol=1e-6), water.latest
    assert water.change_pct is not None and math.isclose(water.change_pct, -75.0, rel_tol=1e-6), water
    assert water.improved is True
    assert record.ideas.by_status.additional_properties.get("implemented") == 1, record.ideas.by_status
    photo_sha = expert_flow(args.base_url, partner, partner_org.id, enterprise.id, run)
    print(
        f"python SDK flow ok: enterprise {enterprise.id}; yield {yield_rate.change_abs:+.1f} points, "
        f"water {water.change_pct:+.1f} % per year; expert visit synced with photo {photo_sha[:12]}"
    )


def expert_flow(
    base_url: str, partner: AuthenticatedClient, partner_org: uuid.UUID, enterprise: uuid.UUID, run: str
) -> str:
    """The expert's app: offline capture under its own ids, sync, evidence. The photo's SHA-256."""
    # 7. The partner adds a certified expert and assigns them to the enterprise.
    email, password = f"kwame.{run}@npc.example", "expert horse battery staple"
    expert_user = expect(
        users_create.sync_detailed(
            client=partner,
            body=UserCreate(
                email=email,
                password=password,
                role=Role.EXPERT,
                full_name="Kwame Boateng",
                organisation_id=partner_org,
                certified_until=dt.date.today() + dt.timedelta(days=365),
            ),
        ),
        201,
        "create the expert",
    )
    assigned = enterprises_assign_expert.sync_detailed(enterprise, expert_user.id, client=partner)
    assert assigned.status_code in (200, 201), assigned.content
    expert = log_in(base_url, email, password)

    # 8. Offline: the app names what it captures with ids of its own, so the visit can name the idea.
    idea_id, visit_id = uuid.uuid4(), uuid.uuid4()
    idea_body = IdeaCreate(
        id=idea_id,
        enterprise_id=enterprise,
        title="Dust collectors on the mixing line",
        category=IdeaCategory.EMISSIONS,
    )
    visit_body = VisitCreate(
        id=visit_id,
        enterprise_id=enterprise,
        kind=VisitKind.CONSULTATION,
        scheduled_at=dt.datetime(2025, 7, 1, 9, 30, tzinfo=dt.UTC),
        status=VisitStatus.COMPLETED,
        findings="Dust collectors installed on both mixers; the floor is clean.",
        idea_ids=[idea_id],
    )

    # 9. Back online, the app syncs in order; the answer to the visit is lost and it sends it again.
    idea = expect(ideas_create.sync_detailed(client=expert, body=idea_body), 201, "sync the idea")
    assert idea.id == idea_id, idea
    visit = expect(visits_create.sync_detailed(client=expert, body=visit_body), 201, "sync the visit")
    again = expect(visits_create.sync_detailed(client=expert, body=visit_body), 201, "sync the visit again")
    assert visit.id == again.id == visit_id and again.updated_at == visit.updated_at, (visit, again)
    assert visit.idea_ids == [idea_id], visit.idea_ids
    # The same id with other content is a conflict, not a second visit.
    clash = VisitCreate(
        id=visit_id, enterprise_id=enterprise, kind=VisitKind.MONITORING, scheduled_at=visit_body.scheduled_at
    )
    conflict = visits_create.sync_detailed(client=expert, body=clash)
    assert conflict.status_code == 409 and isinstance(conflict.parsed, Problem), conflict
    assert conflict.parsed.type_.endswith("/id-conflict"), conflict.parsed

    # 10. Evidence: a photo of the installed dust collectors, attached to the visit.
    upload = AttachmentUpload(
        file=File(payload=io.BytesIO(PHOTO), file_name="dust-collectors.png", mime_type="image/png"),
        description="Dust collectors, mixing line 2",
    )
    attachment = expect(
        attachments_create_for_visit.sync_detailed(
            visit_id, client=expert, body=upload, idempotency_key=f"photo-{visit_id}"
        ),
        201,
        "attach the photo",
    )
    sha = hashlib.sha256(PHOTO).hexdigest()
    assert attachment.sha256 == sha and attachment.size == len(PHOTO), attachment
    assert attachment.content_type == "image/png" and attachment.filename == "dust-collectors.png", attachment
    listed = expect(attachments_list_for_visit.sync_detailed(visit_id, client=expert), 200, "list the visit's files")
    assert [a.id for a in listed.items] == [attachment.id], listed
    whole = attachments_download.sync_detailed(attachment.id, client=expert)
    assert whole.status_code == 200 and isinstance(whole.parsed, File), whole.status_code
    assert whole.parsed.payload.read() == PHOTO and whole.headers["etag"].strip('"') == sha, whole.headers
    head = attachments_download.sync_detailed(attachment.id, client=expert, range_="bytes=0-7")
    assert head.status_code == 206 and isinstance(head.parsed, File), head.status_code
    assert head.parsed.payload.read() == PHOTO[:8] and head.headers["content-range"] == f"bytes 0-7/{len(PHOTO)}"
    return sha


if __name__ == "__main__":
    main(sys.argv[1:])
