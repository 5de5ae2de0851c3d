"""Enterprises (SMEs) and the assignment of certified experts to them."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.errors import CertificationLapsed, NotFound, Unprocessable
from app.ids import utcnow
from app.models.enterprises import (
    Enterprise,
    EnterpriseCreate,
    EnterpriseExpert,
    EnterpriseSort,
    EnterpriseUpdate,
)
from app.models.organisations import Organisation
from app.models.types import OrganisationKind, Role
from app.models.users import User
from app.pagination import PageParams
from app.principal import Principal
from app.services import audit, crud
from app.services.access import Action, Resource, get_visible, own_organisation_named, require
from app.services.locking import get_for_write, lock_enterprise


def ensure_certified(expert: User, on: date | None = None, what: str = "assigned") -> None:
    """An expert whose certification has lapsed cannot be assigned, train, or record visits."""
    if expert.role is not Role.expert:
        raise Unprocessable("the user is not an expert", loc=("body", "expert_id"))
    day = on or utcnow().date()
    if expert.certified_until is None or expert.certified_until < day:
        raise CertificationLapsed(
            f"the expert's certification lapsed on {expert.certified_until}; they cannot be {what}"
        )


async def ensure_caller_certified(session: AsyncSession, principal: Principal, act: str) -> None:
    """Acts that certify (verifying a result, moving an idea to `verified`) need an expert's
    certification to be current today, as buyers read them as verified figures."""
    if principal.role is not Role.expert:
        return
    expert = await session.get(User, principal.id)
    today = utcnow().date()
    if expert is None or expert.certified_until is None or expert.certified_until < today:
        lapsed = expert.certified_until if expert else None
        raise CertificationLapsed(f"your certification lapsed on {lapsed}; renew it to {act}")


async def list_enterprises(
    session: AsyncSession,
    principal: Principal,
    page: PageParams,
    country: str | None,
    sector: str | None,
    partner_id: UUID | None,
    updated_since: datetime | None,
    *,
    q: str | None = None,
    sort: EnterpriseSort | None = None,
    count: bool = False,
) -> tuple[list[Enterprise], str | None]:
    require(principal, Resource.enterprises, Action.read)
    filters = [
        crud.eq(Enterprise.country, country),
        crud.eq(Enterprise.sector, sector),
        crud.eq(Enterprise.partner_id, partner_id),
        crud.contains(q, Enterprise.name),
    ]
    return await crud.list_page(session, principal, Enterprise, page, filters, updated_since, sort=sort, count=count)


async def get_enterprise(session: AsyncSession, principal: Principal, enterprise_id: UUID) -> Enterprise:
    return await get_visible(session, principal, Enterprise, enterprise_id)


async def create_enterprise(session: AsyncSession, principal: Principal, data: EnterpriseCreate) -> Enterprise:
    require(principal, Resource.enterprises, Action.create)
    values = data.model_dump()
    if principal.is_admin:
        partner = await session.get(Organisation, data.partner_id) if data.partner_id else None
        if partner is None or partner.kind is not OrganisationKind.partner:
            raise Unprocessable("partner_id must name an implementing partner organisation", loc=("body", "partner_id"))
    elif (own := own_organisation_named(principal, data.partner_id)) is None:
        raise Unprocessable("partners create enterprises of their own organisation only", loc=("body", "partner_id"))
    else:
        values["partner_id"] = own
    return await crud.insert(session, principal, Enterprise(**values), "enterprise already exists")


async def update_enterprise(
    session: AsyncSession, principal: Principal, enterprise_id: UUID, data: EnterpriseUpdate, if_match: str | None
) -> Enterprise:
    enterprise = await get_for_write(session, principal, Enterprise, enterprise_id)
    require(principal, Resource.enterprises, Action.update)
    return await crud.apply_changes(session, principal, enterprise, data.model_dump(exclude_unset=True), if_match)


async def delete_enterprise(session: AsyncSession, principal: Principal, enterprise_id: UUID) -> None:
    enterprise = await get_visible(session, principal, Enterprise, enterprise_id)
    require(principal, Resource.enterprises, Action.delete)
    if not await lock_enterprise(session, enterprise.id, delete=True):
        raise NotFound("enterprise not found")
    await crud.delete(session, principal, enterprise, "the enterprise")


async def list_experts(session: AsyncSession, principal: Principal, enterprise_id: UUID) -> list[EnterpriseExpert]:
    await get_visible(session, principal, Enterprise, enterprise_id)
    require(principal, Resource.expert_assignments, Action.read)
    query = select(EnterpriseExpert).where(EnterpriseExpert.enterprise_id == enterprise_id)
    return list((await session.exec(query.order_by(EnterpriseExpert.created_at))).all())  # type: ignore[arg-type]


async def assign_expert(
    session: AsyncSession, principal: Principal, enterprise_id: UUID, user_id: UUID
) -> tuple[EnterpriseExpert, bool]:
    """Returns the assignment and whether it is new (PUT is idempotent)."""
    enterprise = await get_for_write(session, principal, Enterprise, enterprise_id)
    require(principal, Resource.expert_assignments, Action.create)
    expert = await get_visible(session, principal, User, user_id)
    ensure_certified(expert)
    if expert.organisation_id != enterprise.partner_id:
        raise Unprocessable("the expert must be affiliated with the enterprise's partner", loc=("path", "user_id"))
    existing = await session.get(EnterpriseExpert, (enterprise_id, user_id))
    if existing is not None:
        return existing, False
    assignment = EnterpriseExpert(enterprise_id=enterprise_id, user_id=user_id)
    session.add(assignment)
    await session.flush()
    await audit.record(session, principal, "assign_expert", "enterprise", enterprise_id, {"user_id": str(user_id)})
    return assignment, True


async def unassign_expert(session: AsyncSession, principal: Principal, enterprise_id: UUID, user_id: UUID) -> None:
    await get_for_write(session, principal, Enterprise, enterprise_id)
    require(principal, Resource.expert_assignments, Action.delete)
    existing = await session.get(EnterpriseExpert, (enterprise_id, user_id))
    if existing is None:
        raise NotFound("this expert is not assigned to the enterprise")
    await session.delete(existing)
    await session.flush()
    await audit.record(session, principal, "unassign_expert", "enterprise", enterprise_id, {"user_id": str(user_id)})
