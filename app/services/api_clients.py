"""Machine credentials: created per organisation, secret shown once and stored hashed."""

from __future__ import annotations

import secrets
from datetime import datetime
from uuid import UUID

from sqlmodel.ext.asyncio.session import AsyncSession

from app import security
from app.errors import Unprocessable
from app.models.api_clients import ApiClient, ApiClientCreate, ApiClientCreated, ApiClientPublic, ApiClientUpdate
from app.models.organisations import Organisation
from app.models.types import Role
from app.pagination import PageParams
from app.principal import Principal
from app.services import crud
from app.services.access import Action, Resource, get_visible, own_organisation_named, require


async def list_api_clients(
    session: AsyncSession,
    principal: Principal,
    page: PageParams,
    organisation_id: UUID | None,
    updated_since: datetime | None,
) -> tuple[list[ApiClient], str | None]:
    require(principal, Resource.api_clients, Action.read)
    filters = [crud.eq(ApiClient.organisation_id, organisation_id)]
    return await crud.list_page(session, principal, ApiClient, page, filters, updated_since)


async def get_api_client(session: AsyncSession, principal: Principal, client_id: UUID) -> ApiClient:
    return await get_visible(session, principal, ApiClient, client_id)


async def create_api_client(session: AsyncSession, principal: Principal, data: ApiClientCreate) -> ApiClientCreated:
    require(principal, Resource.api_clients, Action.create)
    if principal.is_admin:
        if data.organisation_id is None:
            raise Unprocessable("admins name the organisation_id", loc=("body", "organisation_id"))
        org_id: UUID | None = data.organisation_id
    else:
        org_id = own_organisation_named(principal, data.organisation_id)
        if org_id is None:
            raise Unprocessable(
                "you create API clients for your own organisation only", loc=("body", "organisation_id")
            )
    org = await session.get(Organisation, org_id) if org_id else None
    if org is None:
        raise Unprocessable("organisation not found", loc=("body", "organisation_id"))
    secret = security.new_client_secret()
    client = ApiClient(
        organisation_id=org.id,
        name=data.name,
        client_id="s4c_" + secrets.token_hex(12),
        secret_hash=security.hash_client_secret(secret),
        secret_prefix=secret[:12],
        role=Role(org.kind.value),
    )
    await crud.insert(session, principal, client, "client id clash; retry")
    return ApiClientCreated(**ApiClientPublic.model_validate(client).model_dump(), client_secret=secret)


async def update_api_client(
    session: AsyncSession, principal: Principal, client_id: UUID, data: ApiClientUpdate, if_match: str | None
) -> ApiClient:
    client = await get_visible(session, principal, ApiClient, client_id, for_update=True)
    require(principal, Resource.api_clients, Action.update)
    changes = data.model_dump(exclude_unset=True)
    if changes.get("is_active") is False and client.is_active:
        changes["auth_version"] = client.auth_version + 1
    return await crud.apply_changes(session, principal, client, changes, if_match)


async def delete_api_client(session: AsyncSession, principal: Principal, client_id: UUID) -> None:
    client = await get_visible(session, principal, ApiClient, client_id, for_update=True)
    require(principal, Resource.api_clients, Action.delete)
    await crud.delete(session, principal, client, "the API client")
