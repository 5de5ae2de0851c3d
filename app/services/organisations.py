"""Organisations: admins manage them; others read what §6 lets them."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlmodel.ext.asyncio.session import AsyncSession

from app.models.organisations import Organisation, OrganisationCreate, OrganisationSort, OrganisationUpdate
from app.models.types import OrganisationKind
from app.pagination import PageParams
from app.principal import Principal
from app.services import crud
from app.services.access import Action, Resource, get_visible, require


async def list_organisations(
    session: AsyncSession,
    principal: Principal,
    page: PageParams,
    kind: OrganisationKind | None,
    country: str | None,
    updated_since: datetime | None,
    *,
    q: str | None = None,
    sort: OrganisationSort | None = None,
    count: bool = False,
) -> tuple[list[Organisation], str | None]:
    require(principal, Resource.organisations, Action.read)
    filters = [
        crud.eq(Organisation.kind, kind),
        crud.eq(Organisation.country, country),
        crud.contains(q, Organisation.name),
    ]
    return await crud.list_page(session, principal, Organisation, page, filters, updated_since, sort=sort, count=count)


async def get_organisation(session: AsyncSession, principal: Principal, org_id: UUID) -> Organisation:
    return await get_visible(session, principal, Organisation, org_id)


async def create_organisation(session: AsyncSession, principal: Principal, data: OrganisationCreate) -> Organisation:
    require(principal, Resource.organisations, Action.create)
    return await crud.insert(session, principal, Organisation(**data.model_dump()), "organisation already exists")


async def update_organisation(
    session: AsyncSession, principal: Principal, org_id: UUID, data: OrganisationUpdate, if_match: str | None
) -> Organisation:
    org = await get_visible(session, principal, Organisation, org_id, for_update=True)
    require(principal, Resource.organisations, Action.update)
    return await crud.apply_changes(session, principal, org, data.model_dump(exclude_unset=True), if_match)


async def delete_organisation(session: AsyncSession, principal: Principal, org_id: UUID) -> None:
    org = await get_visible(session, principal, Organisation, org_id, for_update=True)
    require(principal, Resource.organisations, Action.delete)
    await crud.delete(session, principal, org, "the organisation")
