"""`/v1/results`: an enterprise's measurements against its baseline, and their verification."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Query, Request, Response

from app.deps import CurrentPrincipal, IdempotencyDep, SessionDep
from app.http import IfMatch, object_response, write_response
from app.models.results import ResultCreate, ResultPublic, ResultSort, ResultUpdate
from app.models.types import IsoDate
from app.pagination import CountedPage, PageDep
from app.routers.common import Count, Search, UpdatedSince, make_router
from app.services import crud
from app.services import results as service

router = make_router("results", "/v1/results")


class ResultPage(CountedPage[ResultPublic]):
    pass


@router.get("", name="list", summary="List results", response_model=ResultPage)
async def list_results(
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PageDep,
    updated_since: UpdatedSince = None,
    enterprise_id: UUID | None = None,
    metric: str | None = None,
    is_baseline: bool | None = None,
    verified: Annotated[
        bool | None, Query(description="Only verified (`true`) or unverified (`false`) results.")
    ] = None,
    period_end_from: Annotated[
        IsoDate | None, Query(alias="from", description="`period_end` on or after this date.")
    ] = None,
    period_end_to: Annotated[
        IsoDate | None, Query(alias="to", description="`period_end` on or before this date.")
    ] = None,
    q: Search = None,
    sort: ResultSort | None = None,
    count: Count = False,
) -> ResultPage:
    """The results of the enterprises the caller may see (buyers: those with an active supplier link). `q` searches
    the metric code and the name of the enterprise."""
    items, cursor = await service.list_results(
        session,
        principal,
        page,
        enterprise_id=enterprise_id,
        metric=metric,
        is_baseline=is_baseline,
        verified=verified,
        period_end_from=period_end_from,
        period_end_to=period_end_to,
        updated_since=updated_since,
        q=q,
        sort=sort,
        count=count,
    )
    return ResultPage(items=items, next_cursor=cursor, total=page.total)


@router.post("", name="create", summary="Record a result", status_code=201, response_model=ResultPublic)
async def create_result(
    session: SessionDep, principal: CurrentPrincipal, idem: IdempotencyDep, body: ResultCreate
) -> Response:
    """The metric must exist; `period_end >= period_start`; the value is finite, non-negative and
    within 0-100 for `%` metrics; `unit`, when given, must be the metric's (all 422). One baseline
    per enterprise and metric, and one result per enterprise, metric and period (409)."""
    result = await service.create_result(session, principal, body)
    return await write_response(
        session, idem, result, status_code=201, location=f"/v1/results/{result.id}", etag=crud.etag(result)
    )


@router.get("/{result_id}", name="get", summary="Get a result", response_model=ResultPublic)
async def get_result(request: Request, session: SessionDep, principal: CurrentPrincipal, result_id: UUID) -> Response:
    """One measured result of an enterprise you may see, with its verification state. Sends an ETag."""
    result = await service.get_result(session, principal, result_id)
    return object_response(request, result, crud.etag(result))


@router.patch("/{result_id}", name="update", summary="Update a result", response_model=ResultPublic)
async def update_result(
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
    result_id: UUID,
    body: ResultUpdate,
    if_match: IfMatch = None,
) -> Response:
    """The same rules as on creation apply to the changed result. An SME cannot change a verified
    result (403); when an expert, partner or admin changes its metric, period or value, the
    verification is withdrawn."""
    result = await service.update_result(session, principal, result_id, body, if_match)
    return object_response(request, result, crud.etag(result))


@router.delete("/{result_id}", name="delete", summary="Delete a result", status_code=204)
async def delete_result(session: SessionDep, principal: CurrentPrincipal, result_id: UUID) -> Response:
    """Experts, partners and admins."""
    await service.delete_result(session, principal, result_id)
    return Response(status_code=204)


@router.post("/{result_id}/verify", name="verify", summary="Verify a result", response_model=ResultPublic)
async def verify_result(
    session: SessionDep, principal: CurrentPrincipal, idem: IdempotencyDep, result_id: UUID
) -> Response:
    """An expert assigned to the enterprise, staff of its partner, or an admin confirms the result:
    sets `verified_at` and `verified_by`. API clients cannot verify (403); verifying twice is 409."""
    result = await service.verify_result(session, principal, result_id)
    return await write_response(session, idem, result, status_code=200, etag=crud.etag(result))
