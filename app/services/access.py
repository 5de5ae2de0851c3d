"""Who may see and do what. The one permission check of the code base.

Two halves, both data-driven:
- `PERMISSIONS`: what each role may do with each resource (API.md §6);
- `visible_*`: for each resource, a WHERE clause limiting a query to what the caller may see.

Services fetch through `get_visible` (nothing found → 404) and call `require`
(found but the role may not do this → 403). Nothing else checks ownership.
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
from app.models.organisations import Organisation
from app.models.types import OrganisationKind, Role
from app.models.users import User
from app.principal import Principal


class Action(StrEnum):
    read = "read"
    create = "create"
    update = "update"
    delete = "delete"


class Resource(StrEnum):
    organisations = "organisations"
    users = "users"
    api_clients = "api-clients"


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
}


def can(principal: Principal, resource: Resource, action: Action) -> bool:
    return action in PERMISSIONS[resource][principal.role]


def require(principal: Principal, resource: Resource, action: Action, detail: str | None = None) -> None:
    if not can(principal, resource, action):
        raise Forbidden(detail or f"role {principal.role.value!r} may not {action.value} {resource.value}")


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
            return buyer_directory
        case _:
            return Organisation.id == org  # type: ignore[return-value]


def visible_users(principal: Principal) -> ColumnElement[bool]:
    match principal.role:
        case Role.admin:
            return sa.true()
        case Role.partner:
            return sa.or_(User.id == principal.id, User.organisation_id == principal.organisation_id)  # type: ignore[arg-type]
        case _:
            return User.id == principal.id  # type: ignore[return-value]


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
}

M = TypeVar("M", bound=SQLModel)


def scoped(principal: Principal, model: type[M]) -> Any:
    """`SELECT model` already limited to what the principal may see."""
    return select(model).where(SCOPES[model](principal))


async def get_visible(
    session: AsyncSession, principal: Principal, model: type[M], object_id: UUID, *, for_update: bool = False
) -> M:
    """The object if the caller may see it; otherwise 404, exactly as if it did not exist."""
    query = scoped(principal, model).where(model.id == object_id)  # type: ignore[attr-defined]
    if for_update:
        query = query.with_for_update()
    found = (await session.exec(query)).first()
    if found is None:
        raise NotFound(f"{model.__tablename__.rstrip('s').replace('_', ' ')} not found")  # type: ignore[attr-defined]
    return found  # type: ignore[no-any-return]
