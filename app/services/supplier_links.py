"""Supplier links: a lead buyer's access to an enterprise, which only the SME's consent opens.

Life cycle: `pending` (a buyer's invite) → `active` (the SME accepts) → `revoked` (final).
A link created by the SME side (an SME user, its partner or an admin) is the consent itself
and starts `active`. At most one non-revoked link per (enterprise, buyer); after revocation a
new invite starts again.

A buyer's invite names an enterprise the buyer cannot see. The answer shows only the link's
own fields (ids and status), never the enterprise's details; an enterprise id that does not
exist is refused with 422 (`enterprise_id` unknown) — a link must point at a real enterprise.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlmodel.ext.asyncio.session import AsyncSession

from app.errors import InvalidTransition, Unprocessable
from app.ids import utcnow
from app.models.enterprises import Enterprise
from app.models.enums import LinkStatus
from app.models.organisations import Organisation
from app.models.supplier_links import SupplierLink, SupplierLinkCreate
from app.models.types import OrganisationKind, Role
from app.pagination import PageParams
from app.principal import Principal
from app.services import audit, crud
from app.services.access import Action, Resource, get_visible, own_organisation_named, require, scoped
from app.services.locking import get_for_write, lock_enterprise

DUPLICATE = "a pending or active link between this enterprise and this buyer already exists; revoke it first"


async def list_links(
    session: AsyncSession,
    principal: Principal,
    page: PageParams,
    enterprise_id: UUID | None,
    buyer_id: UUID | None,
    status: LinkStatus | None,
    updated_since: datetime | None,
) -> tuple[list[SupplierLink], str | None]:
    require(principal, Resource.supplier_links, Action.read)
    filters = [
        crud.eq(SupplierLink.enterprise_id, enterprise_id),
        crud.eq(SupplierLink.buyer_id, buyer_id),
        crud.eq(SupplierLink.status, status),
    ]
    return await crud.list_page(session, principal, SupplierLink, page, filters, updated_since)


async def get_link(session: AsyncSession, principal: Principal, link_id: UUID) -> SupplierLink:
    return await get_visible(session, principal, SupplierLink, link_id)


async def create_link(session: AsyncSession, principal: Principal, data: SupplierLinkCreate) -> SupplierLink:
    require(principal, Resource.supplier_links, Action.create)
    if principal.role is Role.buyer:
        return await _invite(session, principal, data)
    return await _consent(session, principal, data)


async def _invite(session: AsyncSession, principal: Principal, data: SupplierLinkCreate) -> SupplierLink:
    """A buyer asks an enterprise for access: `pending` until an SME user accepts."""
    buyer_id = own_organisation_named(principal, data.buyer_id)
    if buyer_id is None:
        raise Unprocessable("a buyer invites on behalf of its own organisation only", loc=("body", "buyer_id"))
    if not await lock_enterprise(session, data.enterprise_id):
        raise Unprocessable("enterprise_id unknown", loc=("body", "enterprise_id"))
    link = SupplierLink(enterprise_id=data.enterprise_id, buyer_id=buyer_id, status=LinkStatus.pending)
    return await crud.insert(session, principal, link, DUPLICATE)


async def _consent(session: AsyncSession, principal: Principal, data: SupplierLinkCreate) -> SupplierLink:
    """The SME side links its enterprise to a buyer: that is the consent, so `active` at once."""
    own = scoped(principal, Enterprise).where(Enterprise.id == data.enterprise_id)
    if (await session.exec(own)).first() is None:
        raise Unprocessable("enterprise_id must name one of your enterprises", loc=("body", "enterprise_id"))
    await lock_enterprise(session, data.enterprise_id)
    if data.buyer_id is None:
        raise Unprocessable("buyer_id is required: name the lead buyer to share with", loc=("body", "buyer_id"))
    buyer = await session.get(Organisation, data.buyer_id)
    if buyer is None or buyer.kind is not OrganisationKind.buyer:
        raise Unprocessable("buyer_id must name a lead buyer organisation", loc=("body", "buyer_id"))
    link = SupplierLink(
        enterprise_id=data.enterprise_id, buyer_id=buyer.id, status=LinkStatus.active, accepted_at=utcnow()
    )
    return await crud.insert(session, principal, link, DUPLICATE)


async def accept_link(session: AsyncSession, principal: Principal, link_id: UUID) -> SupplierLink:
    link = await get_for_write(session, principal, SupplierLink, link_id)
    require(principal, Resource.supplier_links, Action.accept, "only the enterprise's own users accept an invite")
    if link.status is not LinkStatus.pending:
        raise InvalidTransition(f"only a pending link can be accepted; this one is {link.status.value}")
    return await _move(session, principal, link, "accept", LinkStatus.active, "accepted_at")


async def revoke_link(session: AsyncSession, principal: Principal, link_id: UUID) -> SupplierLink:
    link = await get_for_write(session, principal, SupplierLink, link_id)
    require(principal, Resource.supplier_links, Action.revoke)
    if link.status is LinkStatus.revoked:
        raise InvalidTransition("the link is already revoked; revocation is final")
    return await _move(session, principal, link, "revoke", LinkStatus.revoked, "revoked_at")


async def _move(
    session: AsyncSession, principal: Principal, link: SupplierLink, action: str, to: LinkStatus, stamp: str
) -> SupplierLink:
    now = utcnow()
    before = link.status
    link.status = to
    setattr(link, stamp, now)
    link.updated_at = now
    session.add(link)
    await session.flush()
    changes = {"status": [before.value, to.value], stamp: [None, now.isoformat()]}
    await audit.record(session, principal, action, "supplier_link", link.id, changes)
    return link
