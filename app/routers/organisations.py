"""`/v1/organisations`: lead buyers and implementing partners."""

from __future__ import annotations

from uuid import UUID

from fastapi import Request, Response

from app.deps import CurrentPrincipal, IdempotencyDep, SessionDep
from app.http import IfMatch, object_response, write_response
from app.models.organisations import OrganisationCreate, OrganisationPublic, OrganisationSort, OrganisationUpdate
from app.models.types import CountryCode, OrganisationKind
from app.pagination import CountedPage, PageDep
from app.routers.common import Count, Search, UpdatedSince, make_router, page_of
from app.services import crud
from app.services import organisations as service

router = make_router("organisations", "/v1/organisations")


class OrganisationPage(CountedPage[OrganisationPublic]):
    pass


@router.get("", name="list", summary="List organisations", response_model=OrganisationPage)
async def list_organisations(
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PageDep,
    updated_since: UpdatedSince = None,
    kind: OrganisationKind | None = None,
    country: CountryCode | None = None,
    q: Search = None,
    sort: OrganisationSort | None = None,
    count: Count = False,
) -> OrganisationPage:
    """Admins see all; partners their own and the buyer directory; SMEs the buyer directory;
    experts and buyers their own organisation. `q` searches the name."""
    rows, cursor = await service.list_organisations(
        session, principal, page, kind, country, updated_since, q=q, sort=sort, count=count
    )
    return page_of(OrganisationPage, OrganisationPublic, rows, cursor, page.total)


@router.post(
    "",
    name="create",
    summary="Create an organisation",
    status_code=201,
    response_model=OrganisationPublic,
)
async def create_organisation(
    session: SessionDep, principal: CurrentPrincipal, idem: IdempotencyDep, body: OrganisationCreate
) -> Response:
    """Admins only. `kind` is `buyer` (a lead buyer) or `partner` (an implementing partner)."""
    org = await service.create_organisation(session, principal, body)
    return await write_response(
        session,
        idem,
        OrganisationPublic.model_validate(org),
        status_code=201,
        location=f"/v1/organisations/{org.id}",
        etag=crud.etag(org),
    )


@router.get(
    "/{organisation_id}",
    name="get",
    summary="Get an organisation",
    response_model=OrganisationPublic,
)
async def get_organisation(
    request: Request, session: SessionDep, principal: CurrentPrincipal, organisation_id: UUID
) -> Response:
    """One organisation, if you may see it (otherwise 404). Sends an ETag; `If-None-Match` answers 304."""
    org = await service.get_organisation(session, principal, organisation_id)
    return object_response(request, OrganisationPublic.model_validate(org), crud.etag(org))


@router.patch(
    "/{organisation_id}",
    name="update",
    summary="Update an organisation",
    response_model=OrganisationPublic,
)
async def update_organisation(
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
    organisation_id: UUID,
    body: OrganisationUpdate,
    if_match: IfMatch = None,
) -> Response:
    """Admins only. Send `If-Match` with the ETag you read to avoid overwriting a concurrent change (412)."""
    org = await service.update_organisation(session, principal, organisation_id, body, if_match)
    return object_response(request, OrganisationPublic.model_validate(org), crud.etag(org))


@router.delete("/{organisation_id}", name="delete", summary="Delete an organisation", status_code=204)
async def delete_organisation(session: SessionDep, principal: CurrentPrincipal, organisation_id: UUID) -> Response:
    """Refused with 409 while users or API clients still belong to it."""
    await service.delete_organisation(session, principal, organisation_id)
    return Response(status_code=204)
