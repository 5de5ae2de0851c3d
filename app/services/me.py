"""Describe the caller."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from app.errors import Unauthorized
from app.models.api_clients import ApiClient
from app.models.auth import Me
from app.models.users import User
from app.principal import Principal


async def describe(session: AsyncSession, principal: Principal) -> Me:
    if principal.kind == "user":
        user = await session.get(User, principal.id)
        if user is None:
            raise Unauthorized()
        return Me(
            kind="user",
            id=user.id,
            role=user.role,
            email=user.email,
            full_name=user.full_name,
            organisation_id=user.organisation_id,
            enterprise_id=user.enterprise_id,
            certified_until=user.certified_until,
        )
    client = await session.get(ApiClient, principal.id)
    if client is None:
        raise Unauthorized()
    return Me(kind="client", id=client.id, role=client.role, name=client.name, organisation_id=client.organisation_id)
