"""The authorization table (docs/permissions.md), pinned row by row.

Every operation under `/v1` (but the public token endpoints) has one row per role and per
target: `own` (side A's object, the caller being side A's user of that role), `other` (the
same object of side B) or `none` (a collection). Each row names the exact status the contract
asks for: `404` when the caller may not see the object, `403` when it may see but not do this,
`2xx` otherwise. A refused write leaves its target, and the audit trail, unchanged. Every
answer must also be one the OpenAPI document declares, with its required headers
(tests/contract.py).

A body that names an object the caller may not see (`enterprise_id` of another side's
enterprise when creating) is answered like a body naming an object that does not exist: `422`.

`test_every_operation_has_rows` fails when an endpoint is added without rows; the routes are
also walked so that no `/v1` route hides outside the OpenAPI document, and no other route
outside `/v1` appears unnoticed. `test_every_operation_requires_a_token` proves that no `/v1`
operation answers without a valid bearer token.
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.routing import iter_route_contexts
from sqlmodel import SQLModel, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.db import run_before_commit
from app.ids import utcnow
from app.models.api_clients import ApiClient
from app.models.attachments import Attachment
from app.models.audit import AuditEvent
from app.models.enterprises import Enterprise, EnterpriseExpert
from app.models.enums import (
    IdeaCategory,
    IdeaStatus,
    LinkStatus,
    MetricDirection,
    MetricKind,
    Module,
)
from app.models.ideas import Idea
from app.models.organisations import Organisation
from app.models.reference import EmissionFactor, Metric
from app.models.results import Result
from app.models.supplier_links import SupplierLink
from app.models.trainings import Enrollment, Training
from app.models.users import User
from app.models.visits import Visit
from app.models.webhooks import DELIVERIES, WebhookEndpoint
from app.security import new_webhook_secret, seal
from app.services import events
from tests.contract import mismatches
from tests.factories import PNG, Factory
from tests.two_tenants import build_tenant

ROLES = ("admin", "partner", "expert", "sme", "buyer")
PUBLIC = {("POST", "/v1/auth/token"), ("POST", "/v1/auth/revoke")}
# Routes outside /v1 that are public on purpose (operations, docs). A new one must be added here.
PUBLIC_OUTSIDE_V1 = {
    ("GET", "/"),  # where to start: links to the docs
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/docs/oauth2-redirect"),
    ("GET", "/redoc"),
    ("MOUNT", "/docs-assets"),
    ("GET", "/pact/.well-known/openid-configuration"),  # PACT discovery
    ("POST", "/pact/auth/token"),  # PACT token (client credentials)
}
PUBLIC_PACT = {("GET", "/pact/.well-known/openid-configuration"), ("POST", "/pact/auth/token")}
WRITES = {"POST", "PUT", "PATCH", "DELETE"}


# --- the world ---------------------------------------------------------------------------------


@dataclass
class Side:
    """One partner's corner of the programme, with one user of every role."""

    partner_org: Organisation
    buyer_org: Organisation
    enterprise: Enterprise
    partner: User
    expert: User
    sme: User
    buyer: User
    link: SupplierLink
    training: Training
    enrollment: Enrollment
    idea: Idea
    visit: Visit
    result: Result
    partner_client: ApiClient
    buyer_client: ApiClient


@dataclass
class World:
    admin: User
    a: Side
    b: Side

    def caller(self, role: str) -> User:
        return self.admin if role == "admin" else getattr(self.a, role)


async def _side(factory: Factory, label: str) -> Side:
    t = await build_tenant(factory, label, baseline_result=False)
    buyer_client, _ = await factory.api_client(t.buyer_org)
    return Side(
        partner_org=t.partner_org,
        buyer_org=t.buyer_org,
        enterprise=t.enterprise,
        partner=t.users["partner"],
        expert=t.users["expert"],
        sme=t.users["sme"],
        buyer=t.users["buyer"],
        link=t.link,
        training=t.training,
        enrollment=t.enrollment,
        idea=t.idea,
        visit=t.visit,
        result=t.result,
        partner_client=t.api_client,
        buyer_client=buyer_client,
    )


async def build_world(session: AsyncSession, factory: Factory) -> World:
    """Admin, and sides A and B (partner orgs A/B, buyer orgs X/Y) built directly in the database."""
    admin = await factory.user("admin")
    w = World(admin, await _side(factory, "a"), await _side(factory, "b"))
    await run_before_commit(session)  # progress records of the new enterprises
    return w


@pytest.fixture
async def world(session: AsyncSession, factory: Factory) -> World:
    return await build_world(session, factory)


# --- what one row does -------------------------------------------------------------------------


@dataclass
class Ctx:
    world: World
    side: Side  # side A for `own` and `none`, side B for `other`
    role: str
    target: str
    expected: int
    factory: Factory

    @property
    def own_org(self) -> Organisation:
        """The organisation the caller belongs to (the partner org for those without one)."""
        return self.world.a.buyer_org if self.role == "buyer" else self.world.a.partner_org


@dataclass
class Call:
    params: dict[str, Any] = field(default_factory=dict)
    body: dict[str, Any] | None = None
    obj: SQLModel | None = None  # target whose stored fields a refused write must leave alone
    table: type[SQLModel] | None = None  # creates: the table a refused create must not grow
    state: Any = None  # another query whose rows a refused write must leave alone
    members: tuple[Any, Any] | None = None  # lists: (own id, other id), checked against the mirror GET
    files: dict[str, Any] | None = None  # a multipart body (uploads) instead of `body`
    item_id: Callable[[dict[str, Any]], Any] = lambda item: item["id"]


Prepare = Callable[[Ctx], Awaitable[Call]]


# --- the table (docs/permissions.md) ----------------------------------------------------------
# One line per operation. `own/other` for an object of side A / side B; a single status for a
# collection. 404: the caller may not see it; 403: it may see but not do this; 422: a body names
# an object the caller may not see (answered as for one that does not exist).
#
# Readings of the contract worth knowing:
# - users-update: everyone may change their own name and password (self-service; §6 "read self").
# - users-reset-password: managers only, never one's own (that takes PATCH and current_password).
# - supplier-links-create: §4 lets "an SME user (or its partner)" link the enterprise to a buyer
#   (the consent itself, `active` at once); a buyer invites any enterprise by id (`pending`), so
#   its `own` row invites side B's enterprise and its `other` row invites on behalf of buyer org Y.
# - supplier-links-revoke: §6 gives partners "read own" only; revoking is the SME's and the buyer's.
# - enterprises-list-experts: expert assignment is admin and partner business (§6 "—" for others).
# - stories-get: read with its progress record.
# - ideas-transition-to-verified, results-update-verified: variants of the operation above them.
# - attachments-*: whoever may update the parent attaches and deletes; whoever sees the parent
#   reads, but a buyer only the attachments of ideas and verified results (the list of an
#   unverified result's attachments is empty for a buyer, not refused: the result itself is
#   visible). attachments-get, -download and -delete target an idea's attachment;
#   attachments-get-of-visit and -of-unverified-result are the variants a buyer may not see.
TABLE = """
operation                      admin    partner  expert   sme      buyer
me-get                         200      200      200      200      200
organisations-list             200      200      200      200      200
organisations-create           201      403      403      403      403
organisations-get              200/200  200/404  200/404  404/404  200/404
organisations-update           200/200  403/404  403/404  404/404  403/404
organisations-delete           204/204  403/404  403/404  404/404  403/404
users-list                     200      200      200      200      200
users-create                   201/201  201/422  403/403  403/403  403/403
users-get                      200/200  200/404  200/404  200/404  200/404
users-update                   200/200  200/404  200/404  200/404  200/404
users-delete                   204/204  204/404  403/404  403/404  403/404
users-reset-password           204/204  204/404  403/404  403/404  403/404
api-clients-list               200      200      403      403      200
api-clients-create             201      201      403      403      201
api-clients-get                200/200  200/404  404/404  404/404  200/404
api-clients-update             200/200  200/404  404/404  404/404  200/404
api-clients-delete             204/204  204/404  404/404  404/404  204/404
enterprises-list               200      200      200      200      200
enterprises-create             201      201      403      403      403
enterprises-get                200/200  200/404  200/404  200/404  200/404
enterprises-update             200/200  200/404  403/404  200/404  403/404
enterprises-delete             204/204  204/404  403/404  403/404  403/404
enterprises-list-experts       200/200  200/404  403/404  403/404  403/404
enterprises-assign-expert      201/201  201/404  403/404  403/404  403/404
enterprises-unassign-expert    204/204  204/404  403/404  403/404  403/404
supplier-links-list            200      200      403      200      200
supplier-links-create          201/201  201/422  403/403  201/422  201/422
supplier-links-get             200/200  200/404  404/404  200/404  200/404
supplier-links-accept          200/200  403/404  404/404  200/404  403/404
supplier-links-revoke          200/200  403/404  404/404  200/404  200/404
trainings-list                 200      200      200      200      403
trainings-create               201      201      403      403      403
trainings-get                  200/200  200/404  200/404  200/404  404/404
trainings-update               200/200  200/404  403/404  403/404  404/404
trainings-delete               204/204  204/404  403/404  403/404  404/404
enrollments-list               200/200  200/404  200/404  200/404  404/404
enrollments-create             201/201  201/404  403/404  403/404  404/404
enrollments-get                200/200  200/404  200/404  200/404  404/404
enrollments-update             200/200  200/404  403/404  403/404  404/404
enrollments-delete             204/204  204/404  403/404  403/404  404/404
ideas-list                     200      200      200      200      200
ideas-create                   201/201  201/422  201/422  201/422  403/403
ideas-get                      200/200  200/404  200/404  200/404  200/404
ideas-update                   200/200  200/404  200/404  200/404  403/404
ideas-delete                   204/204  204/404  204/404  403/404  403/404
ideas-transition               200/200  200/404  200/404  200/404  403/404
ideas-transition-to-verified   200/200  200/404  200/404  403/404  403/404
ideas-list-transitions         200/200  200/404  200/404  200/404  200/404
visits-list                    200      200      200      200      403
visits-create                  201/201  201/422  201/422  403/403  403/403
visits-get                     200/200  200/404  200/404  200/404  404/404
visits-update                  200/200  200/404  200/404  403/404  404/404
visits-delete                  204/204  204/404  204/404  403/404  404/404
results-list                   200      200      200      200      200
results-create                 201/201  201/422  201/422  201/422  403/403
results-get                    200/200  200/404  200/404  200/404  200/404
results-update                 200/200  200/404  200/404  200/404  403/404
results-update-verified        200/200  200/404  200/404  403/404  403/404
results-delete                 204/204  204/404  204/404  403/404  403/404
results-verify                 200/200  200/404  200/404  403/404  403/404
metrics-list                   200      200      200      200      200
metrics-create                 201      403      403      403      403
metrics-get                    200      200      200      200      200
metrics-update                 200      403      403      403      403
metrics-delete                 204      403      403      403      403
emission-factors-list          200      200      200      200      200
emission-factors-create        201      403      403      403      403
emission-factors-get           200      200      200      200      200
emission-factors-update        200      403      403      403      403
emission-factors-delete        204      403      403      403      403
progress-get                   200/200  200/404  200/404  200/404  200/404
progress-list                  200      200      200      200      200
progress-portfolio             200      200      200      200      200
stories-get                    200/200  200/404  200/404  200/404  200/404
audit-events-list              200      403      403      403      403
events-list                    200      200      200      200      200
attachments-create-for-visit   201/201  201/404  201/404  403/404  404/404
attachments-create-for-result  201/201  201/404  201/404  201/404  403/404
attachments-create-for-idea    201/201  201/404  201/404  201/404  403/404
attachments-list-for-visit     200/200  200/404  200/404  200/404  404/404
attachments-list-for-result    200/200  200/404  200/404  200/404  200/404
attachments-list-for-idea      200/200  200/404  200/404  200/404  200/404
attachments-get                200/200  200/404  200/404  200/404  200/404
attachments-get-of-visit       200/200  200/404  200/404  200/404  404/404
attachments-get-of-unverified-result 200/200 200/404 200/404 200/404 404/404
attachments-download           200/200  200/404  200/404  200/404  200/404
attachments-delete             204/204  204/404  204/404  204/404  403/404
webhook-endpoints-list         200      200      403      403      200
webhook-endpoints-create       201      201      403      403      201
webhook-endpoints-get          200/200  200/404  404/404  404/404  200/404
webhook-endpoints-update       200/200  200/404  404/404  404/404  200/404
webhook-endpoints-delete       204/204  204/404  404/404  404/404  204/404
webhook-endpoints-rotate-secret 200/200 200/404  404/404  404/404  200/404
webhook-endpoints-ping         202/202  202/404  404/404  404/404  202/404
webhook-endpoints-list-deliveries 200/200 200/404 404/404 404/404  200/404
webhook-endpoints-retry-delivery 202/202 202/404 404/404  404/404  202/404
pact-list-footprints           403      403      403      403      200
pact-get-footprint             403/403  403/403  403/403  403/403  200/404
pact-events                    403      403      403      403      200
"""


def parse(table: str) -> dict[str, dict[str, dict[str, int]]]:
    """operation → role → target (`own`, `other` or `none`) → status."""
    header, *lines = table.strip().splitlines()
    assert tuple(header.split()[1:]) == ROLES, header
    out: dict[str, dict[str, dict[str, int]]] = {}
    for line in lines:
        name, *cells = line.split()
        assert len(cells) == len(ROLES) and name not in out, line
        out[name] = {}
        for role, cell in zip(ROLES, cells, strict=True):
            if "/" in cell:
                own, other = cell.split("/")
                out[name][role] = {"own": int(own), "other": int(other)}
            else:
                out[name][role] = {"none": int(cell)}
    return out


EXPECT = parse(TABLE)


@dataclass(frozen=True)
class Op:
    name: str
    method: str
    path: str
    prepare: Prepare
    mirror: str | None = None  # lists: the GET op whose rows say which of the two objects are listed

    @property
    def expect(self) -> dict[str, dict[str, int]]:
        return EXPECT[self.name]


OPS: dict[str, Op] = {}


def op(name: str, method: str, path: str, mirror: str | None = None) -> Callable[[Prepare], Prepare]:
    """Register how to call one operation (or a variant of it) for a row."""

    def register(prepare: Prepare) -> Prepare:
        assert name not in OPS, name
        OPS[name] = Op(name, method, path, prepare, mirror)
        return prepare

    return register


def s(value: Any) -> str:
    return str(value)


def fresh(c: Ctx) -> bool:
    """Deletes: a role that may delete gets a fresh object without dependents (no 409 in the way)."""
    return c.expected == 204


# --- me ----------------------------------------------------------------------------------------


@op("me-get", "GET", "/v1/me")
async def _me(c: Ctx) -> Call:
    return Call()


# --- organisations -----------------------------------------------------------------------------
# own: the caller's organisation (partner org A; buyer org X for the buyer); other: side B's.


def org_target(role: str, side: Side) -> Organisation:
    return side.buyer_org if role == "buyer" else side.partner_org


@op("organisations-list", "GET", "/v1/organisations", mirror="organisations-get")
async def _orgs_list(c: Ctx) -> Call:
    return Call(members=(org_target(c.role, c.world.a).id, org_target(c.role, c.world.b).id))


@op("organisations-create", "POST", "/v1/organisations")
async def _orgs_create(c: Ctx) -> Call:
    return Call(body={"kind": "buyer", "name": c.factory.unique("Buyer")}, table=Organisation)


@op("organisations-get", "GET", "/v1/organisations/{organisation_id}")
async def _orgs_get(c: Ctx) -> Call:
    return Call({"organisation_id": org_target(c.role, c.side).id})


@op("organisations-update", "PATCH", "/v1/organisations/{organisation_id}")
async def _orgs_update(c: Ctx) -> Call:
    org = org_target(c.role, c.side)
    return Call({"organisation_id": org.id}, body={"name": c.factory.unique("Renamed")}, obj=org)


@op("organisations-delete", "DELETE", "/v1/organisations/{organisation_id}")
async def _orgs_delete(c: Ctx) -> Call:
    org = await c.factory.org("buyer") if fresh(c) else org_target(c.role, c.side)
    return Call({"organisation_id": org.id}, obj=org)


# --- users -------------------------------------------------------------------------------------
# own: for admins and partners the SME user of the side's enterprise; for the others themselves
# (§6 "read self"); other: the same person on side B.


def user_target(role: str, side: Side) -> User:
    return side.sme if role in ("admin", "partner") else getattr(side, role)  # type: ignore[no-any-return]


@op("users-list", "GET", "/v1/users", mirror="users-get")
async def _users_list(c: Ctx) -> Call:
    return Call(members=(user_target(c.role, c.world.a).id, user_target(c.role, c.world.b).id))


@op("users-create", "POST", "/v1/users")
async def _users_create(c: Ctx) -> Call:
    body = {
        "email": c.factory.unique("new-sme") + "@example.org",
        "password": "correct horse battery staple",
        "role": "sme",
        "enterprise_id": s(c.side.enterprise.id),
    }
    return Call(body=body, table=User)


@op("users-get", "GET", "/v1/users/{user_id}")
async def _users_get(c: Ctx) -> Call:
    return Call({"user_id": user_target(c.role, c.side).id})


@op("users-update", "PATCH", "/v1/users/{user_id}")
async def _users_update(c: Ctx) -> Call:
    user = user_target(c.role, c.side)
    return Call({"user_id": user.id}, body={"full_name": "Asha Rao"}, obj=user)


@op("users-reset-password", "POST", "/v1/users/{user_id}/password-reset")
async def _users_reset_password(c: Ctx) -> Call:
    user = user_target(c.role, c.side)
    return Call({"user_id": user.id}, body={"password": "a brand new passphrase"}, obj=user)


@op("users-delete", "DELETE", "/v1/users/{user_id}")
async def _users_delete(c: Ctx) -> Call:
    user = await c.factory.user("sme", enterprise_id=c.side.enterprise.id) if fresh(c) else user_target(c.role, c.side)
    return Call({"user_id": user.id}, obj=user)


# --- api clients -------------------------------------------------------------------------------
# own: a client of the caller's organisation (partner org A; buyer org X for the buyer).


def client_target(role: str, side: Side) -> ApiClient:
    return side.buyer_client if role == "buyer" else side.partner_client


@op("api-clients-list", "GET", "/v1/api-clients", mirror="api-clients-get")
async def _clients_list(c: Ctx) -> Call:
    return Call(members=(client_target(c.role, c.world.a).id, client_target(c.role, c.world.b).id))


@op("api-clients-create", "POST", "/v1/api-clients")
async def _clients_create(c: Ctx) -> Call:
    body: dict[str, Any] = {"name": c.factory.unique("Sourcing system")}
    if c.role in ("admin", "partner", "buyer"):
        body["organisation_id"] = s(c.own_org.id)
    return Call(body=body, table=ApiClient)


@op("api-clients-get", "GET", "/v1/api-clients/{api_client_id}")
async def _clients_get(c: Ctx) -> Call:
    return Call({"api_client_id": client_target(c.role, c.side).id})


@op("api-clients-update", "PATCH", "/v1/api-clients/{api_client_id}")
async def _clients_update(c: Ctx) -> Call:
    client = client_target(c.role, c.side)
    return Call({"api_client_id": client.id}, body={"name": c.factory.unique("Renamed")}, obj=client)


@op("api-clients-delete", "DELETE", "/v1/api-clients/{api_client_id}")
async def _clients_delete(c: Ctx) -> Call:
    client = client_target(c.role, c.side)
    return Call({"api_client_id": client.id}, obj=client)


# --- enterprises and expert assignment ---------------------------------------------------------


@op("enterprises-list", "GET", "/v1/enterprises", mirror="enterprises-get")
async def _ents_list(c: Ctx) -> Call:
    return Call(members=(c.world.a.enterprise.id, c.world.b.enterprise.id))


@op("enterprises-create", "POST", "/v1/enterprises")
async def _ents_create(c: Ctx) -> Call:
    body = {"name": c.factory.unique("Shree Rubber"), "country": "IN", "sector": "2219"}
    if c.role == "admin":
        body["partner_id"] = s(c.side.partner_org.id)
    return Call(body=body, table=Enterprise)


@op("enterprises-get", "GET", "/v1/enterprises/{enterprise_id}")
async def _ents_get(c: Ctx) -> Call:
    return Call({"enterprise_id": c.side.enterprise.id})


@op("enterprises-update", "PATCH", "/v1/enterprises/{enterprise_id}")
async def _ents_update(c: Ctx) -> Call:
    ent = c.side.enterprise
    return Call({"enterprise_id": ent.id}, body={"products": "rubber gaskets"}, obj=ent)


@op("enterprises-delete", "DELETE", "/v1/enterprises/{enterprise_id}")
async def _ents_delete(c: Ctx) -> Call:
    ent = await c.factory.enterprise(c.side.partner_org) if fresh(c) else c.side.enterprise
    return Call({"enterprise_id": ent.id}, obj=ent)


@op("enterprises-list-experts", "GET", "/v1/enterprises/{enterprise_id}/experts")
async def _ents_experts(c: Ctx) -> Call:
    return Call({"enterprise_id": c.side.enterprise.id})


def assignments(ent: Enterprise) -> Any:
    return select(EnterpriseExpert.user_id).where(EnterpriseExpert.enterprise_id == ent.id)


@op("enterprises-assign-expert", "PUT", "/v1/enterprises/{enterprise_id}/experts/{user_id}")
async def _assign(c: Ctx) -> Call:
    newcomer = await c.factory.user("expert", organisation=c.side.partner_org)
    ent = c.side.enterprise
    return Call({"enterprise_id": ent.id, "user_id": newcomer.id}, obj=ent, state=assignments(ent))


@op("enterprises-unassign-expert", "DELETE", "/v1/enterprises/{enterprise_id}/experts/{user_id}")
async def _unassign(c: Ctx) -> Call:
    ent = c.side.enterprise
    return Call({"enterprise_id": ent.id, "user_id": c.side.expert.id}, obj=ent, state=assignments(ent))


# --- supplier links ----------------------------------------------------------------------------


@op("supplier-links-list", "GET", "/v1/supplier-links", mirror="supplier-links-get")
async def _links_list(c: Ctx) -> Call:
    return Call(members=(c.world.a.link.id, c.world.b.link.id))


@op("supplier-links-create", "POST", "/v1/supplier-links")
async def _links_create(c: Ctx) -> Call:
    """own: A's enterprise shared with buyer org Y (a buyer: invites side B's enterprise, which it
    may not see yet — that is how invites work); other: B's enterprise shared with buyer org X
    (a buyer: an invite on behalf of buyer org Y)."""
    w = c.world
    if c.role == "buyer":
        body = {"enterprise_id": s(w.b.enterprise.id)}
        if c.target == "other":
            body["buyer_id"] = s(w.b.buyer_org.id)
    else:
        mine, theirs = (w.a, w.b) if c.target == "own" else (w.b, w.a)
        body = {"enterprise_id": s(mine.enterprise.id), "buyer_id": s(theirs.buyer_org.id)}
    return Call(body=body, table=SupplierLink)


@op("supplier-links-get", "GET", "/v1/supplier-links/{link_id}")
async def _links_get(c: Ctx) -> Call:
    return Call({"link_id": c.side.link.id})


@op("supplier-links-accept", "POST", "/v1/supplier-links/{link_id}/accept")
async def _links_accept(c: Ctx) -> Call:
    """A pending invite from the side's buyer: the active link is revoked first (one open link)."""
    old = c.side.link
    old.status, old.revoked_at = LinkStatus.revoked, utcnow()
    await c.factory.save(old)
    invite = await c.factory.supplier_link(c.side.enterprise, c.side.buyer_org, LinkStatus.pending)
    return Call({"link_id": invite.id}, obj=invite)


@op("supplier-links-revoke", "POST", "/v1/supplier-links/{link_id}/revoke")
async def _links_revoke(c: Ctx) -> Call:
    return Call({"link_id": c.side.link.id}, obj=c.side.link)


# --- trainings and enrollments -----------------------------------------------------------------


async def _training(c: Ctx) -> Training:
    return await c.factory.training(
        c.side.partner_org, Module.score_basics, start_date=date(2026, 6, 1), end_date=date(2026, 6, 2)
    )


@op("trainings-list", "GET", "/v1/trainings", mirror="trainings-get")
async def _trainings_list(c: Ctx) -> Call:
    return Call(members=(c.world.a.training.id, c.world.b.training.id))


@op("trainings-create", "POST", "/v1/trainings")
async def _trainings_create(c: Ctx) -> Call:
    body = {
        "module": "score_basics",
        "title": c.factory.unique("SCORE Basics"),
        "start_date": "2026-05-04",
        "end_date": "2026-05-05",
        "trainer_ids": [s(c.side.expert.id)],
    }
    if c.role == "admin":
        body["partner_id"] = s(c.side.partner_org.id)
    return Call(body=body, table=Training)


@op("trainings-get", "GET", "/v1/trainings/{training_id}")
async def _trainings_get(c: Ctx) -> Call:
    return Call({"training_id": c.side.training.id})


@op("trainings-update", "PATCH", "/v1/trainings/{training_id}")
async def _trainings_update(c: Ctx) -> Call:
    training = c.side.training
    return Call({"training_id": training.id}, body={"place": "Pune"}, obj=training)


@op("trainings-delete", "DELETE", "/v1/trainings/{training_id}")
async def _trainings_delete(c: Ctx) -> Call:
    training = await _training(c) if fresh(c) else c.side.training
    return Call({"training_id": training.id}, obj=training)


@op("enrollments-list", "GET", "/v1/trainings/{training_id}/enrollments")
async def _enrollments_list(c: Ctx) -> Call:
    return Call({"training_id": c.side.training.id})


@op("enrollments-create", "POST", "/v1/trainings/{training_id}/enrollments")
async def _enrollments_create(c: Ctx) -> Call:
    """The side's training; a new enterprise of the side's partner, not yet enrolled."""
    newcomer = await c.factory.enterprise(c.side.partner_org)
    body = {"enterprise_id": s(newcomer.id), "participants": [{"role": "manager", "gender": "female"}]}
    return Call({"training_id": c.side.training.id}, body=body, table=Enrollment)


@op("enrollments-get", "GET", "/v1/enrollments/{enrollment_id}")
async def _enrollments_get(c: Ctx) -> Call:
    return Call({"enrollment_id": c.side.enrollment.id})


@op("enrollments-update", "PATCH", "/v1/enrollments/{enrollment_id}")
async def _enrollments_update(c: Ctx) -> Call:
    enrollment = c.side.enrollment
    body = {"participants": [{"role": "worker", "gender": "male"}]}
    return Call({"enrollment_id": enrollment.id}, body=body, obj=enrollment)


@op("enrollments-delete", "DELETE", "/v1/enrollments/{enrollment_id}")
async def _enrollments_delete(c: Ctx) -> Call:
    enrollment = c.side.enrollment
    return Call({"enrollment_id": enrollment.id}, obj=enrollment)


# --- ideas -------------------------------------------------------------------------------------


async def _idea(c: Ctx, status: IdeaStatus = IdeaStatus.proposed) -> Idea:
    return await c.factory.idea(c.side.enterprise, status, category=IdeaCategory.water)


@op("ideas-list", "GET", "/v1/ideas", mirror="ideas-get")
async def _ideas_list(c: Ctx) -> Call:
    return Call(members=(c.world.a.idea.id, c.world.b.idea.id))


@op("ideas-create", "POST", "/v1/ideas")
async def _ideas_create(c: Ctx) -> Call:
    body = {"enterprise_id": s(c.side.enterprise.id), "title": "Fix compressed-air leaks", "category": "energy"}
    return Call(body=body, table=Idea)


@op("ideas-get", "GET", "/v1/ideas/{idea_id}")
async def _ideas_get(c: Ctx) -> Call:
    return Call({"idea_id": c.side.idea.id})


@op("ideas-update", "PATCH", "/v1/ideas/{idea_id}")
async def _ideas_update(c: Ctx) -> Call:
    idea = c.side.idea
    return Call({"idea_id": idea.id}, body={"title": "Fix compressed-air leaks on line 2"}, obj=idea)


@op("ideas-delete", "DELETE", "/v1/ideas/{idea_id}")
async def _ideas_delete(c: Ctx) -> Call:
    idea = await _idea(c) if fresh(c) else c.side.idea
    return Call({"idea_id": idea.id}, obj=idea)


@op("ideas-transition", "POST", "/v1/ideas/{idea_id}/transitions")
async def _ideas_transition(c: Ctx) -> Call:
    idea = c.side.idea
    return Call({"idea_id": idea.id}, body={"to": "approved"}, obj=idea)


@op("ideas-transition-to-verified", "POST", "/v1/ideas/{idea_id}/transitions")
async def _ideas_verify(c: Ctx) -> Call:
    idea = await _idea(c, IdeaStatus.implemented)
    return Call({"idea_id": idea.id}, body={"to": "verified"}, obj=idea)


@op("ideas-list-transitions", "GET", "/v1/ideas/{idea_id}/transitions")
async def _ideas_transitions(c: Ctx) -> Call:
    return Call({"idea_id": c.side.idea.id})


# --- visits ------------------------------------------------------------------------------------


@op("visits-list", "GET", "/v1/visits", mirror="visits-get")
async def _visits_list(c: Ctx) -> Call:
    return Call(members=(c.world.a.visit.id, c.world.b.visit.id))


@op("visits-create", "POST", "/v1/visits")
async def _visits_create(c: Ctx) -> Call:
    body = {
        "enterprise_id": s(c.side.enterprise.id),
        "expert_id": s(c.side.expert.id),
        "scheduled_at": "2026-05-01T09:00:00Z",
        "kind": "follow_up",
    }
    return Call(body=body, table=Visit)


@op("visits-get", "GET", "/v1/visits/{visit_id}")
async def _visits_get(c: Ctx) -> Call:
    return Call({"visit_id": c.side.visit.id})


@op("visits-update", "PATCH", "/v1/visits/{visit_id}")
async def _visits_update(c: Ctx) -> Call:
    visit = c.side.visit
    return Call({"visit_id": visit.id}, body={"findings": "Steam traps leaking on line 2."}, obj=visit)


@op("visits-delete", "DELETE", "/v1/visits/{visit_id}")
async def _visits_delete(c: Ctx) -> Call:
    visit = await c.factory.visit(c.side.enterprise, c.side.expert) if fresh(c) else c.side.visit
    return Call({"visit_id": visit.id}, obj=visit)


# --- results -----------------------------------------------------------------------------------


@op("results-list", "GET", "/v1/results", mirror="results-get")
async def _results_list(c: Ctx) -> Call:
    return Call(members=(c.world.a.result.id, c.world.b.result.id))


@op("results-create", "POST", "/v1/results")
async def _results_create(c: Ctx) -> Call:
    body = {
        "enterprise_id": s(c.side.enterprise.id),
        "metric": "electricity",
        "period_start": "2024-01-01",
        "period_end": "2024-12-31",
        "value": 52000,
    }
    return Call(body=body, table=Result)


@op("results-get", "GET", "/v1/results/{result_id}")
async def _results_get(c: Ctx) -> Call:
    return Call({"result_id": c.side.result.id})


@op("results-update", "PATCH", "/v1/results/{result_id}")
async def _results_update(c: Ctx) -> Call:
    result = c.side.result
    return Call({"result_id": result.id}, body={"value": 1100}, obj=result)


@op("results-update-verified", "PATCH", "/v1/results/{result_id}")
async def _results_update_verified(c: Ctx) -> Call:
    result = c.side.result
    result.verified_at, result.verified_by = utcnow(), c.side.expert.id
    await c.factory.save(result)
    return Call({"result_id": result.id}, body={"value": 1100}, obj=result)


@op("results-delete", "DELETE", "/v1/results/{result_id}")
async def _results_delete(c: Ctx) -> Call:
    result = c.side.result
    return Call({"result_id": result.id}, obj=result)


@op("results-verify", "POST", "/v1/results/{result_id}/verify")
async def _results_verify(c: Ctx) -> Call:
    result = c.side.result
    return Call({"result_id": result.id}, obj=result)


# --- reference data (no owner: every caller reads, admins write) -------------------------------


async def _metric(c: Ctx) -> Metric:
    metric = Metric(
        code="test_" + secrets.token_hex(6),
        name="Test metric",
        unit="kg",
        direction=MetricDirection.decrease,
        kind=MetricKind.flow,
        category=IdeaCategory.waste,
        ghg_scope=3,
        ghg_category=5,
    )
    return await c.factory.save(metric)  # type: ignore[no-any-return]


async def _factor(c: Ctx) -> EmissionFactor:
    metric = await _metric(c)
    factor = EmissionFactor(metric=metric.code, country="FR", kg_co2e_per_unit=0.5, source="test", year=2020)
    return await c.factory.save(factor)  # type: ignore[no-any-return]


@op("metrics-list", "GET", "/v1/metrics")
async def _metrics_list(c: Ctx) -> Call:
    return Call()


@op("metrics-create", "POST", "/v1/metrics")
async def _metrics_create(c: Ctx) -> Call:
    body = {
        "code": "test_" + secrets.token_hex(6),
        "name": "Steam",
        "unit": "t",
        "direction": "decrease",
        "kind": "flow",
        "category": "energy",
    }
    return Call(body=body, table=Metric)


@op("metrics-get", "GET", "/v1/metrics/{metric_id}")
async def _metrics_get(c: Ctx) -> Call:
    return Call({"metric_id": (await _metric(c)).id})


@op("metrics-update", "PATCH", "/v1/metrics/{metric_id}")
async def _metrics_update(c: Ctx) -> Call:
    metric = await _metric(c)
    return Call({"metric_id": metric.id}, body={"description": "Bought steam"}, obj=metric)


@op("metrics-delete", "DELETE", "/v1/metrics/{metric_id}")
async def _metrics_delete(c: Ctx) -> Call:
    metric = await _metric(c)
    return Call({"metric_id": metric.id}, obj=metric)


@op("emission-factors-list", "GET", "/v1/emission-factors")
async def _factors_list(c: Ctx) -> Call:
    return Call()


@op("emission-factors-create", "POST", "/v1/emission-factors")
async def _factors_create(c: Ctx) -> Call:
    metric = await _metric(c)
    body = {"metric": metric.code, "kg_co2e_per_unit": 0.7, "country": "FR", "source": "test", "year": 2021}
    return Call(body=body, table=EmissionFactor)


@op("emission-factors-get", "GET", "/v1/emission-factors/{factor_id}")
async def _factors_get(c: Ctx) -> Call:
    return Call({"factor_id": (await _factor(c)).id})


@op("emission-factors-update", "PATCH", "/v1/emission-factors/{factor_id}")
async def _factors_update(c: Ctx) -> Call:
    factor = await _factor(c)
    return Call({"factor_id": factor.id}, body={"source": "IEA 2024"}, obj=factor)


@op("emission-factors-delete", "DELETE", "/v1/emission-factors/{factor_id}")
async def _factors_delete(c: Ctx) -> Call:
    factor = await _factor(c)
    return Call({"factor_id": factor.id}, obj=factor)


# --- progress, portfolio, audit ----------------------------------------------------------------


@op("progress-get", "GET", "/v1/enterprises/{enterprise_id}/progress")
async def _progress_get(c: Ctx) -> Call:
    return Call({"enterprise_id": c.side.enterprise.id})


@op("stories-get", "GET", "/v1/enterprises/{enterprise_id}/story")
async def _story(c: Ctx) -> Call:
    return Call({"enterprise_id": c.side.enterprise.id})


@op("progress-list", "GET", "/v1/progress", mirror="progress-get")
async def _progress_list(c: Ctx) -> Call:
    ids = (s(c.world.a.enterprise.id), s(c.world.b.enterprise.id))
    return Call(members=ids, item_id=lambda item: item["enterprise"]["id"])


@op("progress-portfolio", "GET", "/v1/portfolio")
async def _portfolio(c: Ctx) -> Call:
    return Call()


@op("audit-events-list", "GET", "/v1/audit-events")
async def _audit(c: Ctx) -> Call:
    return Call()


@op("events-list", "GET", "/v1/events")
async def _events(c: Ctx) -> Call:
    return Call()


# --- attachments: of the side's visit, result (unverified) and idea -------------------------------


@op("attachments-create-for-visit", "POST", "/v1/visits/{parent_id}/attachments")
async def _attach_visit(c: Ctx) -> Call:
    return Call({"parent_id": c.side.visit.id}, files={"file": ("meter.png", PNG)}, table=Attachment)


@op("attachments-create-for-result", "POST", "/v1/results/{parent_id}/attachments")
async def _attach_result(c: Ctx) -> Call:
    return Call({"parent_id": c.side.result.id}, files={"file": ("meter.png", PNG)}, table=Attachment)


@op("attachments-create-for-idea", "POST", "/v1/ideas/{parent_id}/attachments")
async def _attach_idea(c: Ctx) -> Call:
    return Call({"parent_id": c.side.idea.id}, files={"file": ("meter.png", PNG)}, table=Attachment)


@op("attachments-list-for-visit", "GET", "/v1/visits/{parent_id}/attachments")
async def _attachments_of_visit(c: Ctx) -> Call:
    await c.factory.attachment(c.side.visit)
    return Call({"parent_id": c.side.visit.id})


@op("attachments-list-for-result", "GET", "/v1/results/{parent_id}/attachments")
async def _attachments_of_result(c: Ctx) -> Call:
    await c.factory.attachment(c.side.result)
    return Call({"parent_id": c.side.result.id})


@op("attachments-list-for-idea", "GET", "/v1/ideas/{parent_id}/attachments")
async def _attachments_of_idea(c: Ctx) -> Call:
    await c.factory.attachment(c.side.idea)
    return Call({"parent_id": c.side.idea.id})


@op("attachments-get", "GET", "/v1/attachments/{attachment_id}")
async def _attachment_get(c: Ctx) -> Call:
    return Call({"attachment_id": (await c.factory.attachment(c.side.idea)).id})


@op("attachments-get-of-visit", "GET", "/v1/attachments/{attachment_id}")
async def _attachment_get_visit(c: Ctx) -> Call:
    return Call({"attachment_id": (await c.factory.attachment(c.side.visit)).id})


@op("attachments-get-of-unverified-result", "GET", "/v1/attachments/{attachment_id}")
async def _attachment_get_result(c: Ctx) -> Call:
    return Call({"attachment_id": (await c.factory.attachment(c.side.result)).id})


@op("attachments-download", "GET", "/v1/attachments/{attachment_id}/content")
async def _attachment_download(c: Ctx) -> Call:
    return Call({"attachment_id": (await c.factory.attachment(c.side.idea)).id})


@op("attachments-delete", "DELETE", "/v1/attachments/{attachment_id}")
async def _attachment_delete(c: Ctx) -> Call:
    attachment = await c.factory.attachment(c.side.idea)
    return Call({"attachment_id": attachment.id}, obj=attachment)


# --- webhook endpoints: own is an endpoint of the caller's organisation (partner org A, buyer org
# X for the buyer), other the same of side B.


async def _endpoint(c: Ctx, side: Side | None = None) -> WebhookEndpoint:
    side = side or c.side
    org = side.buyer_org if c.role == "buyer" else side.partner_org
    endpoint = WebhookEndpoint(
        organisation_id=org.id,
        url="https://hooks.example.com/score4climate",
        event_types=["progress.updated"],
        secret=seal(c.factory.settings, new_webhook_secret()),
        secret_prefix="whsec_test",
    )
    return await c.factory.save(endpoint)  # type: ignore[no-any-return]


@op("webhook-endpoints-list", "GET", "/v1/webhook-endpoints", mirror="webhook-endpoints-get")
async def _endpoints_list(c: Ctx) -> Call:
    return Call(members=((await _endpoint(c, c.world.a)).id, (await _endpoint(c, c.world.b)).id))


@op("webhook-endpoints-create", "POST", "/v1/webhook-endpoints")
async def _endpoints_create(c: Ctx) -> Call:
    body: dict[str, Any] = {"url": "https://hooks.example.com/new", "event_types": ["progress.updated"]}
    if c.role == "admin":
        body["organisation_id"] = s(c.own_org.id)
    return Call(body=body, table=WebhookEndpoint)


@op("webhook-endpoints-get", "GET", "/v1/webhook-endpoints/{endpoint_id}")
async def _endpoints_get(c: Ctx) -> Call:
    return Call({"endpoint_id": (await _endpoint(c)).id})


@op("webhook-endpoints-update", "PATCH", "/v1/webhook-endpoints/{endpoint_id}")
async def _endpoints_update(c: Ctx) -> Call:
    endpoint = await _endpoint(c)
    return Call({"endpoint_id": endpoint.id}, body={"enabled": False}, obj=endpoint)


@op("webhook-endpoints-delete", "DELETE", "/v1/webhook-endpoints/{endpoint_id}")
async def _endpoints_delete(c: Ctx) -> Call:
    endpoint = await _endpoint(c)
    return Call({"endpoint_id": endpoint.id}, obj=endpoint)


@op("webhook-endpoints-rotate-secret", "POST", "/v1/webhook-endpoints/{endpoint_id}/rotate-secret")
async def _endpoints_rotate(c: Ctx) -> Call:
    endpoint = await _endpoint(c)
    return Call({"endpoint_id": endpoint.id}, obj=endpoint)


@op("webhook-endpoints-ping", "POST", "/v1/webhook-endpoints/{endpoint_id}/ping")
async def _endpoints_ping(c: Ctx) -> Call:
    endpoint = await _endpoint(c)
    return Call({"endpoint_id": endpoint.id}, obj=endpoint, state=sa.select(DELIVERIES.c.id))


@op("webhook-endpoints-list-deliveries", "GET", "/v1/webhook-endpoints/{endpoint_id}/deliveries")
async def _endpoints_deliveries(c: Ctx) -> Call:
    return Call({"endpoint_id": (await _endpoint(c)).id})


@op(
    "webhook-endpoints-retry-delivery",
    "POST",
    "/v1/webhook-endpoints/{endpoint_id}/deliveries/{delivery_id}/retry",
)
async def _endpoints_retry(c: Ctx) -> Call:
    endpoint = await _endpoint(c)
    _, delivery_id = await events.ping(c.factory.session, endpoint.id)
    await c.factory.session.exec(  # type: ignore[call-overload]
        sa.update(DELIVERIES).where(DELIVERIES.c.id == delivery_id).values(status="failed", next_attempt_at=None)
    )
    state = sa.select(DELIVERIES.c.status).where(DELIVERIES.c.id == delivery_id)
    return Call({"endpoint_id": endpoint.id, "delivery_id": delivery_id}, state=state)


# --- the rows ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    op: str
    role: str
    target: str
    status: int

    @property
    def id(self) -> str:
        return f"{self.op}[{self.role}]" if self.target == "none" else f"{self.op}[{self.role}-{self.target}]"


ROWS = [
    Row(o.name, role, target, status)
    for o in OPS.values()
    for role in ROLES
    for target, status in o.expect[role].items()
]


async def _stored(session: AsyncSession, call: Call) -> Any:
    """What a refused write must leave as it was: the target's stored fields, the size of the
    table a create would grow, extra state (assignments), and the audit trail."""
    out: dict[str, Any] = {}
    if call.obj is not None:
        model = type(call.obj)
        query = select(model).where(model.id == call.obj.id).execution_options(populate_existing=True)  # type: ignore[attr-defined]
        found = (await session.exec(query)).first()
        out["obj"] = None if found is None else found.model_dump()
    if call.table is not None:
        out["rows"] = (await session.exec(select(sa.func.count()).select_from(call.table))).one()
    if call.state is not None:
        out["state"] = sorted(s(v) for v in (await session.exec(call.state)).all())
    out["audit"] = (await session.exec(select(sa.func.count()).select_from(AuditEvent))).one()
    return out


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
async def test_authorization(
    row: Row, app: Any, client: Any, session: AsyncSession, factory: Factory, world: World
) -> None:
    operation = OPS[row.op]
    side = world.b if row.target == "other" else world.a
    call = await operation.prepare(Ctx(world, side, row.role, row.target, row.status, factory))
    refused_write = operation.method in WRITES and row.status >= 400
    before = await _stored(session, call) if refused_write else None
    url = operation.path.format(**call.params)
    if operation.mirror is not None:
        url += "?limit=500"
    response = await client.request(
        operation.method, url, json=call.body, files=call.files, headers=factory.auth(world.caller(row.role))
    )
    assert response.status_code == row.status, f"{operation.method} {url} as {row.role}: {response.text}"
    assert mismatches(app.openapi(), operation.method, operation.path, response) == []
    if refused_write:
        assert await _stored(session, call) == before, "a refused write changed something"
    if call.members is not None and operation.mirror is not None and response.status_code == 200:
        listed = {s(call.item_id(item)) for item in response.json()["items"]}
        seen = OPS[operation.mirror].expect[row.role]
        own, other = call.members
        assert (s(own) in listed) == (seen["own"] == 200), f"own object listed: {s(own) in listed}"
        assert (s(other) in listed) == (seen["other"] == 200), f"other side's object listed: {s(other) in listed}"


# --- PACT (`/pact`: lead buyers only; a footprint of another buyer's supplier is hidden) -------


async def _footprint_of(c: Ctx) -> str:
    """Give the side's enterprise an intensity; the id of its baseline footprint."""
    from app.models.enums import OutputUnit
    from app.models.progress import ProgressRecord
    from app.services import pact_mapping

    session, ent = c.factory.session, c.side.enterprise
    ent.output_unit = OutputUnit.piece
    for metric, base, latest in (("electricity", 1000, 900), ("production_output", 500, 550)):
        await c.factory.expert_result(ent, metric, base, (date(2023, 1, 1), date(2023, 12, 31)), True, False)
        await c.factory.expert_result(ent, metric, latest, (date(2025, 1, 1), date(2025, 12, 31)), False, True)
    await run_before_commit(session)
    record = (await session.exec(select(ProgressRecord.record).where(ProgressRecord.enterprise_id == ent.id))).one()
    facts = pact_mapping.Enterprise(ent.id, ent.name, ent.country, ent.sector, ent.products, ent.output_unit)
    return str(pact_mapping.footprints(facts, record)[0].id)


@op("pact-list-footprints", "GET", "/pact/3/footprints")
async def _pact_list(c: Ctx) -> Call:
    return Call()


@op("pact-get-footprint", "GET", "/pact/3/footprints/{footprint_id}")
async def _pact_get(c: Ctx) -> Call:
    return Call(params={"footprint_id": await _footprint_of(c)})


@op("pact-events", "POST", "/pact/3/events")
async def _pact_events(c: Ctx) -> Call:
    published = "org.wbcsd.pact.ProductFootprint.PublishedEvent.3"
    data = {"pfIds": [str(uuid.uuid4())]}
    event = {"specversion": "1.0", "id": "e-1", "source": "https://x.example", "time": "2026-01-01T00:00:00Z"}
    return Call(body={**event, "type": published, "data": data})


# --- completeness ------------------------------------------------------------------------------


def _operations(app: Any) -> set[tuple[str, str]]:
    """The operations the table covers: `/v1`, and `/pact` (PACT tokens) but its public two."""
    return {
        (method.upper(), path)
        for path, item in app.openapi()["paths"].items()
        if path.startswith(("/v1/", "/pact/")) or path == "/v1"
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    } - PUBLIC_PACT


def test_every_operation_has_rows(app: Any) -> None:
    assert set(OPS) == set(EXPECT), "every table line needs a call, every call a table line"
    covered = {(o.method, o.path) for o in OPS.values()}
    documented = _operations(app) - PUBLIC
    assert covered - documented == set(), "rows for operations that do not exist"
    assert documented - covered == set(), "operations without rows in the authorization table"
    for o in OPS.values():
        assert set(o.expect) == set(ROLES), o.name
        targets = {t for role in ROLES for t in o.expect[role]}
        assert targets in ({"none"}, {"own", "other"}), o.name
    assert len({row.id for row in ROWS}) == len(ROWS)


def test_no_route_outside_the_document(app: Any) -> None:
    """Walk the routes themselves: a `/v1` route hidden from the OpenAPI document, or a new
    route outside `/v1`, would escape the table and the 401 test."""
    documented = _operations(app)
    seen: set[tuple[str, str]] = set()
    for route in iter_route_contexts(app.routes):
        path = route.path
        assert path is not None
        methods = route.methods
        if methods is None:  # a mount (or a websocket route)
            assert ("MOUNT", path) in PUBLIC_OUTSIDE_V1, f"unexpected route without methods: {path}"
            continue
        for method in methods - {"HEAD", "OPTIONS"}:
            seen.add((method, path))
            if path.startswith(("/v1", "/pact/")) and (method, path) not in PUBLIC_PACT:
                assert (method, path) in documented, f"{method} {path} is not in the OpenAPI document"
            else:
                assert (method, path) in PUBLIC_OUTSIDE_V1, f"{method} {path} is a new route outside /v1"
    assert documented <= seen


async def test_every_operation_requires_a_token(app: Any, client: Any) -> None:
    failures = []
    for method, path in sorted(_operations(app) - PUBLIC):
        url = re.sub(r"\{[^}]+\}", lambda _: str(uuid.uuid4()), path)
        body = {} if method in {"POST", "PUT", "PATCH"} else None
        for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic dXNlcjpwdw=="}):
            r = await client.request(method, url, json=body, headers=headers)
            challenge = r.headers.get("www-authenticate", "")
            if r.status_code != 401 or not challenge.startswith("Bearer"):
                failures.append(f"{method} {url} {headers or 'no token'}: {r.status_code} {challenge!r}")
    assert failures == []
