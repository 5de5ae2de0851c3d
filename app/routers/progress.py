"""Progress records: what lead buyers' sourcing systems pull."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Header, Request, Response
from starlette.responses import StreamingResponse

from app.deps import CurrentClaims, CurrentPrincipal, ReadOnlyDep, SessionDep
from app.http import CSV, JSON, etag_for, representation_response, wants_csv
from app.models.progress import Portfolio, ProgressPage, ProgressRecordPublic
from app.models.types import CountryCode
from app.pagination import PageDep
from app.routers.common import UpdatedSince, make_router
from app.services import progress as service

router = make_router("progress")


@router.get(
    "/v1/enterprises/{enterprise_id}/progress",
    name="get",
    summary="An enterprise's progress record",
    response_model=ProgressRecordPublic,
)
async def get_progress(request: Request, reads: ReadOnlyDep, claims: CurrentClaims, enterprise_id: UUID) -> Response:
    """Programme milestones, ideas by status, baseline vs latest per metric (flow metrics as
    annualised rates) and emissions in tCO2e per year with the factors used. Sends an ETag;
    `If-None-Match` answers 304."""
    body, updated_at = await service.read_record(reads, claims, enterprise_id)
    return representation_response(request, body, etag=etag_for(enterprise_id, updated_at))


@router.get(
    "/v1/progress",
    name="list",
    summary="Progress records of every enterprise you may see (the buyer pull)",
    response_model=ProgressPage,
    responses={200: {"content": {CSV: {"schema": {"type": "string"}}}}},
)
async def list_progress(
    request: Request,
    reads: ReadOnlyDep,
    claims: CurrentClaims,
    page: PageDep,
    updated_since: UpdatedSince = None,
    country: CountryCode | None = None,
    sector: str | None = None,
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
    if_none_match: Annotated[str | None, Header(alias="If-None-Match", include_in_schema=False)] = None,
) -> Response:
    """Ordered by `updated_at`, then enterprise id. For incremental sync, keep the highest
    `updated_at` you received and ask again with `updated_since` set to it: you receive every
    record changed since (the last one again, as the bound is inclusive), including writes
    that committed while you were paging. `Accept: text/csv` returns the same page as CSV,
    one row per enterprise and metric, with `Link` to the next page. Each page sends an ETag;
    `If-None-Match` answers 304 while its records are unchanged."""
    lane = request.app.state.large_pages
    csv = wants_csv(accept)
    found = await service.read_page(
        reads, claims, page, country, sector, updated_since, lane, CSV if csv else JSON, if_none_match
    )
    if not found.modified:
        return Response(status_code=304, headers={"ETag": found.etag})
    headers = {**page.response.headers, "ETag": found.etag}  # `Link`, `X-Next-Cursor`: a next page
    if csv:
        return StreamingResponse(service.stream_csv(found.items), media_type=CSV + "; charset=utf-8", headers=headers)
    return Response(service.page_bytes(found.items, found.next_cursor), media_type=JSON, headers=headers)


@router.get(
    "/v1/portfolio",
    name="portfolio",
    summary="Aggregates over your enterprises",
    response_model=Portfolio,
)
async def portfolio(request: Request, session: SessionDep, principal: CurrentPrincipal) -> Response:
    """How many enterprises, how many completed each module, ideas by status, per metric the
    enterprises measured and improved with total and median change, and the total tCO2e per
    year reduced: over a buyer's active suppliers, a partner's enterprises, or all for admins.
    Sends an ETag; `If-None-Match` answers 304."""
    return representation_response(request, await service.portfolio(session, principal))
