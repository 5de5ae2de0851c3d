"""Who may see and do what. The one permission check of the code base.

Two halves, both data-driven:
- `PERMISSIONS`: what each role may do with each resource (the table in docs/permissions.md);
- `visible_*`: for each resource, a WHERE clause limiting a query to what the caller may see.

Services fetch through `get_visible` (nothing found → 404) and call `require`
(found but the role may not do this → 403). Where a rule compares the caller with an
object's owner beyond that (a partner's own experts, an expert's own visits), it is a named
policy below ("Ownership policies"). Nothing else checks ownership: tests/platform/test_access_lint.py
refuses such comparisons anywhere else in app/services.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, TypeVar
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import SQLModel, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.errors import Forbidden, NotFound
from app.models.api_clients import ApiClient
from app.models.attachments import Attachment
from app.models.audit import AuditEvent
from app.models.enterprises import Enterprise, EnterpriseExpert
from app.models.enums import AttachmentParent, LinkStatus
from app.models.ideas import Idea
from app.models.organisations import Organisation
from app.models.reference import EmissionFactor, Metric
from app.models.results import Result
from app.models.supplier_links import SupplierLink
from app.models.trainings import Enrollment, Training
from app.models.types import OrganisationKind, Role
from app.models.users import User
from app.models.visits import Visit
from app.models.webhooks import WebhookEndpoint
from app.principal import Principal


class Resource(StrEnum):
    organisations = "organisations"
    users = "users"
    api_clients = "api-clients"
    enterprises = "enterprises"
    expert_assignments = "expert-assignments"
    supplier_links = "supplier-links"
    trainings = "trainings"
    enrollments = "enrollments"
    ideas = "ideas"
    visits = "visits"
    results = "results"
    reference_data = "reference-data"
    progress = "progress"
    audit_events = "audit-events"
    events = "events"
    webhook_endpoints = "webhook-endpoints"


class Action(StrEnum):
    read = "read"
    create = "create"
    update = "update"
    delete = "delete"
    verify = "verify"
    accept = "accept"
    revoke = "revoke"


R, C, U, D = Action.read, Action.create, Action.update, Action.delete
CRUD = frozenset({R, C, U, D})
READ = frozenset({R})
NONE: frozenset[Action] = frozenset()

PERMISSIONS: dict[Resource, dict[Role, frozenset[Action]]] = {
    Resource.organisations: {
        Role.admin: CRUD,
        Role.partner: READ,
        Role.expert: READ,
        Role.sme: READ,
        Role.buyer: READ,
    },
    Resource.users: {
        Role.admin: CRUD,
        Role.partner: CRUD,
        Role.expert: READ,
        Role.sme: READ,
        Role.buyer: READ,
    },
    Resource.api_clients: {
        Role.admin: CRUD,
        Role.partner: CRUD,
        Role.expert: NONE,
        Role.sme: NONE,
        Role.buyer: CRUD,
    },
    Resource.enterprises: {
        Role.admin: CRUD,
        Role.partner: CRUD,
        Role.expert: READ,
        Role.sme: frozenset({R, U}),
        Role.buyer: READ,
    },
    Resource.expert_assignments: {
        Role.admin: frozenset({R, C, D}),
        Role.partner: frozenset({R, C, D}),
        Role.expert: NONE,
        Role.sme: NONE,
        Role.buyer: NONE,
    },
    Resource.supplier_links: {
        Role.admin: CRUD | {Action.accept, Action.revoke},
        Role.partner: frozenset(
            {R, C}
        ),  # §4: a partner may link on the SME's behalf; revoking is the SME's or the buyer's
        Role.expert: NONE,
        Role.sme: frozenset({R, C, Action.accept, Action.revoke}),
        Role.buyer: frozenset({R, C, Action.revoke}),
    },
    Resource.trainings: {
        Role.admin: CRUD,
        Role.partner: CRUD,
        Role.expert: READ,
        Role.sme: READ,
        Role.buyer: NONE,
    },
    Resource.enrollments: {
        Role.admin: CRUD,
        Role.partner: CRUD,
        Role.expert: READ,
        Role.sme: READ,
        Role.buyer: NONE,
    },
    Resource.ideas: {
        Role.admin: CRUD | {Action.verify},
        Role.partner: CRUD | {Action.verify},
        Role.expert: CRUD | {Action.verify},
        Role.sme: frozenset({R, C, U}),
        Role.buyer: READ,
    },
    Resource.visits: {
        Role.admin: CRUD,
        Role.partner: CRUD,
        Role.expert: CRUD,
        Role.sme: READ,
        Role.buyer: NONE,
    },
    Resource.results: {
        Role.admin: CRUD | {Action.verify},
        Role.partner: CRUD | {Action.verify},
        Role.expert: CRUD | {Action.verify},
        Role.sme: frozenset({R, C, U}),
        Role.buyer: READ,
    },
    Resource.reference_data: {
        Role.admin: CRUD,
        Role.partner: READ,
        Role.expert: READ,
        Role.sme: READ,
        Role.buyer: READ,
    },
    Resource.progress: {role: READ for role in Role},
    Resource.audit_events: {
        Role.admin: READ,
        Role.partner: NONE,
        Role.expert: NONE,
        Role.sme: NONE,
        Role.buyer: NONE,
    },
    Resource.events: {role: READ for role in Role},
    Resource.webhook_endpoints: {
        Role.admin: CRUD,
        Role.partner: CRUD,
        Role.expert: NONE,
        Role.sme: NONE,
        Role.buyer: CRUD,
    },
}


def can(principal: Principal, resource: Resource, action: Action) -> bool:
    return action in PERMISSIONS[resource][principal.role]


def require(principal: Principal, resource: Resource, action: Action, detail: str | None = None) -> None:
    if not can(principal, resource, action):
        raise Forbidden(detail or f"role {principal.role.value!r} may not {action.value} {resource.value}")


# Ownership policies: the rules that compare the caller with an object's owner, named.


PARTNER_MANAGED_ROLES = frozenset({Role.expert, Role.sme})
"""The users a partner creates and manages: experts of its own organisation, SME users of its
enterprises."""


def is_self(principal: Principal, user: User) -> bool:
    """The caller is this person (an API client never is)."""
    return principal.kind == "user" and principal.id == user.id


def made_by(principal: Principal, actor: str) -> bool:
    """The caller is the actor recorded as `user:<id>` or `client:<id>` (a client-chosen id's
    creator): only they may repeat a creation with that id."""
    return principal.key == actor


def may_manage_user(principal: Principal, user: User) -> bool:
    """Change, reset the password of or delete another user: admins anyone; a partner the
    experts of its own organisation and the SME users it sees (those of its enterprises)."""
    if principal.is_admin:
        return True
    if principal.role is not Role.partner or user.role not in PARTNER_MANAGED_ROLES:
        return False
    return user.role is Role.sme or user.organisation_id == principal.organisation_id


def own_organisation_named(principal: Principal, requested: UUID | None) -> UUID | None:
    """The caller's own organisation, when `requested` names it or nothing; None when it names
    another organisation (or the caller belongs to none). For what non-admins create on behalf
    of their organisation: enterprises, trainings, API clients, experts, buyer invites."""
    own = principal.organisation_id
    if own is None or requested not in (None, own):
        return None
    return own


def visiting_expert(principal: Principal, requested: UUID | None) -> UUID | None:
    """The expert a caller may name for a visit: experts themselves only (403 for another);
    the other roles whoever they name (checked for assignment and certification elsewhere)."""
    if principal.role is not Role.expert:
        return requested
    if requested not in (None, principal.id):
        raise Forbidden("experts record their own visits only")
    return principal.id


def owns_visit(principal: Principal, visit: Visit) -> bool:
    """The caller is the visit's expert."""
    return principal.kind == "user" and visit.expert_id == principal.id


def rechecks_visiting_expert(principal: Principal, visit: Visit, requested: UUID | None) -> bool:
    """Does a change of a visit check its expert again? Always when an expert changes it (its
    own visit); for the other roles when they name a different expert."""
    return principal.role is Role.expert or requested != visit.expert_id


def may_delete_visit(principal: Principal, visit: Visit) -> bool:
    """Experts delete their own visits only; the other roles allowed to delete visits, any
    visit they see."""
    return principal.role is not Role.expert or owns_visit(principal, visit)


def may_change_result(principal: Principal, result: Result) -> bool:
    """An enterprise's own users change its results until they are verified; the other roles
    allowed to update results, any result they see."""
    return principal.role is not Role.sme or result.verified_at is None


PARENT_RESOURCES: dict[AttachmentParent, Resource] = {
    AttachmentParent.visit: Resource.visits,
    AttachmentParent.result: Resource.results,
    AttachmentParent.idea: Resource.ideas,
}


def require_change_of_parent(
    principal: Principal, parent_type: AttachmentParent, parent: Visit | Result | Idea
) -> None:
    """Attach files to an object, or remove them: whoever may update the object (403 otherwise).
    An enterprise's own users no longer change a verified result, so neither its attachments."""
    resource = PARENT_RESOURCES[parent_type]
    require(
        principal,
        resource,
        Action.update,
        f"role {principal.role.value!r} may not change the attachments of {resource.value}",
    )
    if isinstance(parent, Result) and not may_change_result(principal, parent):
        raise Forbidden("the attachments of a verified result can no longer be changed by the enterprise")


def buyer_sees_attachment(model: Any) -> ColumnElement[bool]:
    """The attachments a buyer reads of its active suppliers (`model`: `Attachment` or an alias
    of it): those of ideas, and those of verified results; never those of visits."""
    verified = (
        select(Result.id)
        .where(Result.id == model.result_id, Result.verified_at.is_not(None))  # type: ignore[union-attr]
        .correlate_except(Result)
        .exists()
    )
    return sa.or_(
        model.parent_type == AttachmentParent.idea,
        sa.and_(model.parent_type == AttachmentParent.result, verified),
    )


def _own_org(principal: Principal) -> UUID | None:
    return principal.organisation_id


def visible_organisations(principal: Principal) -> ColumnElement[bool]:
    org = _own_org(principal)
    buyer_directory = Organisation.kind == OrganisationKind.buyer  # type: ignore[arg-type]
    match principal.role:
        case Role.admin:
            return sa.true()
        case Role.partner:
            return sa.or_(Organisation.id == org, buyer_directory)  # type: ignore[arg-type]
        case Role.sme:
            return buyer_directory  # type: ignore[return-value]
        case _:
            return Organisation.id == org  # type: ignore[return-value]


def visible_users(principal: Principal) -> ColumnElement[bool]:
    match principal.role:
        case Role.admin:
            return sa.true()
        case Role.partner:
            own_enterprises = select(Enterprise.id).where(Enterprise.partner_id == principal.organisation_id)
            return sa.or_(
                User.id == principal.id,  # type: ignore[arg-type]
                User.organisation_id == principal.organisation_id,  # type: ignore[arg-type]
                User.enterprise_id.in_(own_enterprises),  # type: ignore[union-attr]
            )
        case _:
            return User.id == principal.id  # type: ignore[return-value]


def visible_enterprise_ids(principal: Principal) -> Any:
    """Subquery of the ids of the enterprises the principal may see ("own" in docs/permissions.md)."""
    match principal.role:
        case Role.admin:
            return select(Enterprise.id)
        case Role.partner:
            return select(Enterprise.id).where(Enterprise.partner_id == principal.organisation_id)
        case Role.expert:
            return select(EnterpriseExpert.enterprise_id).where(EnterpriseExpert.user_id == principal.id)
        case Role.sme:
            return select(Enterprise.id).where(Enterprise.id == principal.enterprise_id)
        case Role.buyer:
            return select(SupplierLink.enterprise_id).where(
                SupplierLink.buyer_id == principal.organisation_id,
                SupplierLink.status == LinkStatus.active,
            )
    raise AssertionError(principal.role)


def visible_enterprises(principal: Principal) -> ColumnElement[bool]:
    if principal.is_admin:
        return sa.true()
    return Enterprise.id.in_(visible_enterprise_ids(principal))  # type: ignore[attr-defined,no-any-return]


def _hanging_off_enterprise(model: Any, principal: Principal, *, buyers: bool) -> ColumnElement[bool]:
    """Objects of an enterprise: visible with the enterprise (buyers only where §6 says so)."""
    if principal.role is Role.buyer and not buyers:
        return sa.false()
    if principal.is_admin:
        return sa.true()
    return model.enterprise_id.in_(visible_enterprise_ids(principal))  # type: ignore[no-any-return]


def visible_ideas(principal: Principal) -> ColumnElement[bool]:
    return _hanging_off_enterprise(Idea, principal, buyers=True)


def visible_results(principal: Principal) -> ColumnElement[bool]:
    return _hanging_off_enterprise(Result, principal, buyers=True)


def visible_visits(principal: Principal) -> ColumnElement[bool]:
    return _hanging_off_enterprise(Visit, principal, buyers=False)


def visible_attachments(principal: Principal) -> ColumnElement[bool]:
    """With their parent: the enterprise's objects (buyers: see `buyer_sees_attachment`)."""
    if principal.is_admin:
        return sa.true()
    of_enterprise = Attachment.enterprise_id.in_(visible_enterprise_ids(principal))  # type: ignore[attr-defined]
    if principal.role is Role.buyer:
        return sa.and_(of_enterprise, buyer_sees_attachment(Attachment))
    return of_enterprise  # type: ignore[no-any-return]


def visible_enrollments(principal: Principal) -> ColumnElement[bool]:
    return _hanging_off_enterprise(Enrollment, principal, buyers=False)


def visible_trainings(principal: Principal) -> ColumnElement[bool]:
    match principal.role:
        case Role.admin:
            return sa.true()
        case Role.partner | Role.expert:
            return Training.partner_id == principal.organisation_id  # type: ignore[return-value]
        case Role.sme:
            enrolled = select(Enrollment.training_id).where(Enrollment.enterprise_id == principal.enterprise_id)
            return Training.id.in_(enrolled)  # type: ignore[attr-defined,no-any-return]
        case _:
            return sa.false()


def visible_supplier_links(principal: Principal) -> ColumnElement[bool]:
    match principal.role:
        case Role.admin:
            return sa.true()
        case Role.buyer:
            return SupplierLink.buyer_id == principal.organisation_id  # type: ignore[return-value]
        case Role.partner | Role.sme:
            return SupplierLink.enterprise_id.in_(visible_enterprise_ids(principal))  # type: ignore[attr-defined,no-any-return]
        case _:
            return sa.false()


def visible_webhook_endpoints(principal: Principal) -> ColumnElement[bool]:
    match principal.role:
        case Role.admin:
            return sa.true()
        case Role.partner | Role.buyer:
            return WebhookEndpoint.organisation_id == principal.organisation_id  # type: ignore[return-value]
        case _:
            return sa.false()


# Audiences: the visibility rules above read the other way round, for the event log. Each
# caller has one recipient key (admins see every event and need none).


def event_recipient_key(principal: Principal) -> UUID | None:
    """Whose events a caller reads: its organisation (partners, buyers), itself (experts), its
    enterprise (an SME's users)."""
    match principal.role:
        case Role.partner | Role.buyer:
            return principal.organisation_id
        case Role.expert:
            return principal.id
        case Role.sme:
            return principal.enterprise_id
        case _:
            return None


def enterprise_audience(enterprise_id: Any, *, buyers: bool | ColumnElement[bool], experts: bool) -> Any:
    """The recipient keys of those who may see this enterprise's objects (`enterprise_id` an
    expression: a literal, or a column of an enclosing statement): its partner organisation
    and its own users (`visible_enterprise_ids`), its assigned experts when the objects are
    theirs to see, and the buyers with an active link when buyers see them (`buyers=True` in
    `_hanging_off_enterprise`; a condition: the buyers when it holds, as for attachments)."""
    parts = [
        select(Enterprise.partner_id.label("recipient")).where(Enterprise.id == enterprise_id),  # type: ignore[union-attr,attr-defined]
        select(Enterprise.id).where(Enterprise.id == enterprise_id),
    ]
    if experts:
        parts.append(select(EnterpriseExpert.user_id).where(EnterpriseExpert.enterprise_id == enterprise_id))
    if buyers is not False:
        linked = select(SupplierLink.buyer_id).where(
            SupplierLink.enterprise_id == enterprise_id, SupplierLink.status == LinkStatus.active
        )
        parts.append(linked if buyers is True else linked.where(buyers))
    return sa.union(*parts)


def visible_to_all(_: Principal) -> ColumnElement[bool]:
    return sa.true()


def visible_to_admins(principal: Principal) -> ColumnElement[bool]:
    return sa.true() if principal.is_admin else sa.false()


def visible_api_clients(principal: Principal) -> ColumnElement[bool]:
    match principal.role:
        case Role.admin:
            return sa.true()
        case Role.partner | Role.buyer:
            return ApiClient.organisation_id == principal.organisation_id  # type: ignore[return-value]
        case _:
            return sa.false()


SCOPES: dict[type[SQLModel], Any] = {
    Organisation: visible_organisations,
    User: visible_users,
    ApiClient: visible_api_clients,
    Enterprise: visible_enterprises,
    SupplierLink: visible_supplier_links,
    Training: visible_trainings,
    Enrollment: visible_enrollments,
    Idea: visible_ideas,
    Visit: visible_visits,
    Result: visible_results,
    Attachment: visible_attachments,
    Metric: visible_to_all,
    EmissionFactor: visible_to_all,
    AuditEvent: visible_to_admins,
    WebhookEndpoint: visible_webhook_endpoints,
}

M = TypeVar("M", bound=SQLModel)


def scoped(principal: Principal, model: type[M]) -> Any:
    """`SELECT model` already limited to what the principal may see."""
    return select(model).where(SCOPES[model](principal))


async def get_visible(
    session: AsyncSession, principal: Principal, model: type[M], object_id: UUID, *, for_update: bool = False
) -> M:
    """The object if the caller may see it; otherwise 404, exactly as if it did not exist.

    `for_update` locks its row `FOR NO KEY UPDATE` (what an UPDATE of it takes anyway, and no
    obstacle to foreign-key checks of rows referring to it) and reads it afresh, even if the
    session had loaded it already. Objects of an enterprise are locked through
    `app.services.locking.get_for_write`, which locks their enterprise first."""
    query = scoped(principal, model).where(model.id == object_id)  # type: ignore[attr-defined]
    if for_update:
        query = query.with_for_update(key_share=True).execution_options(populate_existing=True)
    found = (await session.exec(query)).first()
    if found is None:
        raise NotFound(f"{_noun(model)} not found")
    return found  # type: ignore[no-any-return]


def _noun(model: type[SQLModel]) -> str:
    table: str = model.__tablename__  # type: ignore[assignment]
    return table.removesuffix("s").replace("_", " ")
