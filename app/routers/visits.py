"""`/v1/visits`: on-site consultations by certified experts, and the ideas discussed there."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Query, Request, Response

from app.deps import CurrentPrincipal, IdempotencyDep, SessionDep
from app.http import IfMatch, object_response, write_response
from app.models.enums import VisitKind, VisitStatus
from app.models.types import Rfc3339
from app.models.visits import VisitCreate, VisitPublic, VisitSort, VisitUpdate
from app.pagination import CountedPage, PageDep
from app.routers.common import Count, Search, UpdatedSince, make_router
from app.services import crud
from app.services import visits as service

router = make_router("visits", "/v1/visits")


class VisitPage(CountedPage[VisitPublic]):
    pass


ScheduledFrom = Annotated[
    Rfc3339 | None, Query(alias="from", description="Only visits scheduled at or after this instant.")
]
ScheduledTo = Annotated[Rfc3339 | None, Query(alias="to", description="Only visits scheduled before this instant.")]


@router.get("", name="list", summary="List visits", response_model=VisitPage)
async def list_visits(
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PageDep,
    updated_since: UpdatedSince = None,
    enterprise_id: UUID | None = None,
    expert_id: UUID | None = None,
    status: VisitStatus | None = None,
    kind: VisitKind | None = None,
    scheduled_from: ScheduledFrom = None,
    scheduled_to: ScheduledTo = None,
    q: Search = None,
    sort: VisitSort | None = None,
    count: Count = False,
) -> VisitPage:
    """The visits to the enterprises the caller may see. Buyers do not see visits (403). `q` searches the findings
    and the name of the visited enterprise."""
    rows, cursor = await service.list_visits(
        session,
        principal,
        page,
        enterprise_id=enterprise_id,
        expert_id=expert_id,
        status=status,
        kind=kind,
        scheduled_from=scheduled_from,
        scheduled_to=scheduled_to,
        updated_since=updated_since,
        q=q,
        sort=sort,
        count=count,
    )
    items = [VisitPublic.of(visit, ideas) for visit, ideas in rows]
    return VisitPage(items=items, next_cursor=cursor, total=page.total)


@router.post("", name="create", summary="Record a visit", status_code=201, response_model=VisitPublic)
async def create_visit(
    session: SessionDep, principal: CurrentPrincipal, idem: IdempotencyDep, body: VisitCreate
) -> Response:
    """The expert must be assigned to the enterprise and certified (409 `/certification-lapsed`
    otherwise); an expert records their own visits. `idea_ids` must be ideas of the enterprise."""
    visit, ideas = await service.create_visit(session, principal, body)
    return await write_response(
        session,
        idem,
        VisitPublic.of(visit, ideas),
        status_code=201,
        location=f"/v1/visits/{visit.id}",
        etag=crud.etag(visit),
    )


@router.get("/{visit_id}", name="get", summary="Get a visit", response_model=VisitPublic)
async def get_visit(request: Request, session: SessionDep, principal: CurrentPrincipal, visit_id: UUID) -> Response:
    """One visit of an enterprise you may see (buyers never see visits). Sends an ETag."""
    visit, ideas = await service.get_visit(session, principal, visit_id)
    return object_response(request, VisitPublic.of(visit, ideas), crud.etag(visit))


@router.patch("/{visit_id}", name="update", summary="Update a visit", response_model=VisitPublic)
async def update_visit(
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
    visit_id: UUID,
    body: VisitUpdate,
    if_match: IfMatch = None,
) -> Response:
    """`idea_ids`, when given, replaces the set of ideas discussed."""
    visit, ideas = await service.update_visit(session, principal, visit_id, body, if_match)
    return object_response(request, VisitPublic.of(visit, ideas), crud.etag(visit))


@router.delete("/{visit_id}", name="delete", summary="Delete a visit", status_code=204)
async def delete_visit(session: SessionDep, principal: CurrentPrincipal, visit_id: UUID) -> Response:
    """Refused with 409 while ideas name the visit as their origin."""
    await service.delete_visit(session, principal, visit_id)
    return Response(status_code=204)
