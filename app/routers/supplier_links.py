"""`/v1/supplier-links`: lead buyers' access to enterprises, opened and closed by the SME's consent."""

from __future__ import annotations

from uuid import UUID

from fastapi import Request, Response

from app.deps import CurrentPrincipal, IdempotencyDep, SessionDep
from app.http import object_response, write_response
from app.models.enums import LinkStatus
from app.models.supplier_links import SupplierLinkCreate, SupplierLinkPublic
from app.pagination import Page, PageDep
from app.routers.common import UpdatedSince, make_router, page_of
from app.services import crud
from app.services import supplier_links as service

router = make_router("supplier-links", "/v1/supplier-links")


class SupplierLinkPage(Page[SupplierLinkPublic]):
    pass


@router.get("", name="list", summary="List supplier links", response_model=SupplierLinkPage)
async def list_links(
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PageDep,
    updated_since: UpdatedSince = None,
    enterprise_id: UUID | None = None,
    buyer_id: UUID | None = None,
    status: LinkStatus | None = None,
) -> SupplierLinkPage:
    """A buyer sees its organisation's links; an SME user and a partner those of their enterprises."""
    rows, cursor = await service.list_links(session, principal, page, enterprise_id, buyer_id, status, updated_since)
    return page_of(SupplierLinkPage, SupplierLinkPublic, rows, cursor)


@router.post(
    "",
    name="create",
    summary="Invite an enterprise, or share an enterprise with a buyer",
    status_code=201,
    response_model=SupplierLinkPublic,
)
async def create_link(
    session: SessionDep, principal: CurrentPrincipal, idem: IdempotencyDep, body: SupplierLinkCreate
) -> Response:
    """A buyer invites an enterprise by the id its supplier gave it: the link is `pending` and
    shows nothing of the enterprise until an SME user accepts (an unknown id is 422). An SME
    user, its partner or an admin names `buyer_id` (a buyer organisation): that is the consent,
    so the link is `active` at once. One open link per enterprise and buyer (409)."""
    link = await service.create_link(session, principal, body)
    return await write_response(
        session,
        idem,
        SupplierLinkPublic.model_validate(link),
        status_code=201,
        location=f"/v1/supplier-links/{link.id}",
        etag=crud.etag(link),
    )


@router.get("/{link_id}", name="get", summary="Get a supplier link", response_model=SupplierLinkPublic)
async def get_link(request: Request, session: SessionDep, principal: CurrentPrincipal, link_id: UUID) -> Response:
    """One supplier link you are party to (the buyer, the enterprise, its partner). A pending invite reveals nothing of the enterprise."""
    link = await service.get_link(session, principal, link_id)
    return object_response(request, SupplierLinkPublic.model_validate(link), crud.etag(link))


@router.post(
    "/{link_id}/accept",
    name="accept",
    summary="Accept a buyer's invite (SME consent)",
    response_model=SupplierLinkPublic,
)
async def accept_link(
    session: SessionDep, principal: CurrentPrincipal, idem: IdempotencyDep, link_id: UUID
) -> Response:
    """Only the enterprise's own users (or an admin), and only on a `pending` link (else 409).
    The buyer sees the enterprise from now on."""
    link = await service.accept_link(session, principal, link_id)
    return await write_response(session, idem, SupplierLinkPublic.model_validate(link), etag=crud.etag(link))


@router.post(
    "/{link_id}/revoke",
    name="revoke",
    summary="Revoke a supplier link",
    response_model=SupplierLinkPublic,
)
async def revoke_link(
    session: SessionDep, principal: CurrentPrincipal, idem: IdempotencyDep, link_id: UUID
) -> Response:
    """Either side may end the link: the buyer or the enterprise's users (or an admin).
    The buyer's access ends at once. Revocation is final (revoking again is 409); a new invite
    starts a new link."""
    link = await service.revoke_link(session, principal, link_id)
    return await write_response(session, idem, SupplierLinkPublic.model_validate(link), etag=crud.etag(link))
