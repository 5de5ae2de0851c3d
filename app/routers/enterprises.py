"""`/v1/enterprises`: the SMEs on the programme, and their assigned experts."""

from __future__ import annotations

from uuid import UUID

from fastapi import Request, Response

from app.deps import CurrentPrincipal, IdempotencyDep, SessionDep
from app.http import IfMatch, json_bytes, object_response, write_response
from app.models.enterprises import (
    EnterpriseCreate,
    EnterprisePublic,
    EnterpriseSort,
    EnterpriseUpdate,
    ExpertAssignment,
)
from app.models.types import CountryCode
from app.pagination import CountedPage, Page, PageDep
from app.routers.common import Count, Search, UpdatedSince, make_router, page_of
from app.services import crud
from app.services import enterprises as service

router = make_router("enterprises", "/v1/enterprises")


class EnterprisePage(CountedPage[EnterprisePublic]):
    pass


class ExpertAssignmentList(Page[ExpertAssignment]):
    pass


@router.get("", name="list", summary="List enterprises", response_model=EnterprisePage)
async def list_enterprises(
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PageDep,
    updated_since: UpdatedSince = None,
    country: CountryCode | None = None,
    sector: str | None = None,
    partner_id: UUID | None = None,
    q: Search = None,
    sort: EnterpriseSort | None = None,
    count: Count = False,
) -> EnterprisePage:
    """The enterprises the caller may see: a partner's own, an expert's assigned ones, an SME
    its own, a buyer those with an active supplier link. `q` searches the name."""
    rows, cursor = await service.list_enterprises(
        session, principal, page, country, sector, partner_id, updated_since, q=q, sort=sort, count=count
    )
    return page_of(EnterprisePage, EnterprisePublic, rows, cursor, page.total)


@router.post(
    "",
    name="create",
    summary="Enrol an enterprise on the programme",
    status_code=201,
    response_model=EnterprisePublic,
)
async def create_enterprise(
    session: SessionDep, principal: CurrentPrincipal, idem: IdempotencyDep, body: EnterpriseCreate
) -> Response:
    """Partners create enterprises of their own organisation; admins name the `partner_id`."""
    enterprise = await service.create_enterprise(session, principal, body)
    return await write_response(
        session,
        idem,
        EnterprisePublic.model_validate(enterprise),
        status_code=201,
        location=f"/v1/enterprises/{enterprise.id}",
        etag=crud.etag(enterprise),
    )


@router.get("/{enterprise_id}", name="get", summary="Get an enterprise", response_model=EnterprisePublic)
async def get_enterprise(
    request: Request, session: SessionDep, principal: CurrentPrincipal, enterprise_id: UUID
) -> Response:
    """One enterprise you may see: a partner's own, an expert's assigned, an SME's own, or a buyer's active supplier. Otherwise 404."""
    enterprise = await service.get_enterprise(session, principal, enterprise_id)
    return object_response(request, EnterprisePublic.model_validate(enterprise), crud.etag(enterprise))


@router.patch(
    "/{enterprise_id}",
    name="update",
    summary="Update an enterprise's profile",
    response_model=EnterprisePublic,
)
async def update_enterprise(
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
    enterprise_id: UUID,
    body: EnterpriseUpdate,
    if_match: IfMatch = None,
) -> Response:
    """Partners, admins and the enterprise's own users. `partner_id` cannot be changed here."""
    enterprise = await service.update_enterprise(session, principal, enterprise_id, body, if_match)
    return object_response(request, EnterprisePublic.model_validate(enterprise), crud.etag(enterprise))


@router.delete("/{enterprise_id}", name="delete", summary="Delete an enterprise", status_code=204)
async def delete_enterprise(session: SessionDep, principal: CurrentPrincipal, enterprise_id: UUID) -> Response:
    """Refused with 409 while the enterprise has ideas, results, enrollments, links or users."""
    await service.delete_enterprise(session, principal, enterprise_id)
    return Response(status_code=204)


@router.get(
    "/{enterprise_id}/experts",
    name="list-experts",
    summary="List the experts assigned to an enterprise",
    response_model=ExpertAssignmentList,
)
async def list_experts(session: SessionDep, principal: CurrentPrincipal, enterprise_id: UUID) -> ExpertAssignmentList:
    """The experts currently assigned to the enterprise (who may work on it). Admins and the
    enterprise's partner only."""
    rows = await service.list_experts(session, principal, enterprise_id)
    return page_of(ExpertAssignmentList, ExpertAssignment, rows, None)


@router.put(
    "/{enterprise_id}/experts/{user_id}",
    name="assign-expert",
    summary="Assign an expert to an enterprise",
    response_model=ExpertAssignment,
    status_code=200,
    responses={201: {"model": ExpertAssignment, "description": "Newly assigned (`Location` names the assignment)."}},
)
async def assign_expert(
    session: SessionDep, principal: CurrentPrincipal, enterprise_id: UUID, user_id: UUID
) -> Response:
    """The expert must be certified (`certified_until` not passed) and affiliated with the
    enterprise's partner. Answers 201 when newly assigned, 200 when already assigned."""
    assignment, created = await service.assign_expert(session, principal, enterprise_id, user_id)
    body = json_bytes(ExpertAssignment.model_validate(assignment))
    if not created:
        return Response(body, media_type="application/json")
    location = f"/v1/enterprises/{enterprise_id}/experts/{user_id}"
    return Response(body, status_code=201, media_type="application/json", headers={"Location": location})


@router.delete(
    "/{enterprise_id}/experts/{user_id}",
    name="unassign-expert",
    summary="Unassign an expert",
    status_code=204,
)
async def unassign_expert(
    session: SessionDep, principal: CurrentPrincipal, enterprise_id: UUID, user_id: UUID
) -> Response:
    """The expert loses access to the enterprise at once."""
    await service.unassign_expert(session, principal, enterprise_id, user_id)
    return Response(status_code=204)
