"""Progress records: what lead buyers' sourcing systems pull.

`GET /v1/enterprises/{id}/progress` and `GET /v1/progress` are what sourcing systems call most.
They are declared here like every route — the declarations are the OpenAPI document and the
parameters' validation — and served by `ReadRoute`s registered ahead of them in the app's
router (`lean_routes`, see main.py): plain Starlette routes behind the same middleware, error
handlers, rate limits, metrics and access log, that skip FastAPI's per-request dependency
resolution. They validate with FastAPI's own function and the declared parameters, take the
bearer token with `deps.bearer_token`, and read on a connection without a session or a
transaction (`app.state.reads`), checking the caller in the read's own statement."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any
from uuid import UUID

from fastapi import Header, Request, Response
from fastapi.dependencies.utils import request_params_to_args
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.responses import StreamingResponse
from starlette.routing import Match, Route
from starlette.types import Scope

from app.config import Settings
from app.db import READ_ERRORS, ReadOnly, Reads
from app.deps import (
    CurrentClaims,
    CurrentPrincipal,
    ReadOnlyDep,
    SessionDep,
    all_dependants,
    bearer_token,
    query_names,
    reject_unknown_query,
)
from app.errors import ServiceUnavailable
from app.http import CSV, JSON, etag_for, representation_response, wants_csv
from app.models.progress import Portfolio, ProgressPage, ProgressRecordPublic
from app.models.types import CountryCode
from app.pagination import PageDep, decode_cursor, encode_cursor, fingerprint, next_link
from app.routers.common import UpdatedSince, make_router
from app.security import TokenClaims
from app.services import progress as service
from app.services.auth import verified_claims

router = make_router("progress")

RECORD = "/v1/enterprises/{enterprise_id}/progress"
LIST = "/v1/progress"


@router.get(RECORD, name="get", summary="An enterprise's progress record", response_model=ProgressRecordPublic)
async def get_progress(request: Request, reads: ReadOnlyDep, claims: CurrentClaims, enterprise_id: UUID) -> Response:
    """Programme milestones, ideas by status, baseline vs latest per metric (flow metrics as
    annualised rates) and emissions in tCO2e per year with the factors used. Sends an ETag;
    `If-None-Match` answers 304."""
    return await _record(request, claims, reads, enterprise_id)


@router.get(
    LIST,
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
    values = {"limit": page.limit, "cursor": page.cursor, "updated_since": updated_since, "country": country}
    values |= {"sector": sector, "accept": accept, "if_none_match": if_none_match}
    return await _page(request, claims, reads, values)


async def _record(request: Request, claims: TokenClaims, reads: ReadOnly, enterprise_id: UUID) -> Response:
    body, updated_at = await service.read_record(reads, claims, enterprise_id)
    return representation_response(request, body, etag=etag_for(enterprise_id, updated_at))


async def _page(request: Request, claims: TokenClaims, reads: ReadOnly, values: dict[str, Any]) -> Response:
    settings: Settings = request.app.state.settings
    fingerprint_ = fingerprint(claims.key, request.url.path, request.query_params.multi_items())
    query = service.PageQuery(
        limit=values["limit"],
        after=decode_cursor(settings, values["cursor"], fingerprint_, service.KEY_PARSERS),
        fingerprint=fingerprint_,
        country=values["country"],
        sector=values["sector"],
        updated_since=values["updated_since"],
    )
    csv = wants_csv(values["accept"])
    lane = request.app.state.large_pages
    found = await service.read_page(reads, claims, query, lane, CSV if csv else JSON, values["if_none_match"])
    if not found.modified:
        return Response(status_code=304, headers={"ETag": found.etag})
    items = found.items
    headers = {"ETag": found.etag}
    cursor = None
    if found.last is not None:
        cursor = encode_cursor(settings, fingerprint_, found.last)
        headers |= {"Link": next_link(request.url, cursor), "X-Next-Cursor": cursor}
    if csv:
        return StreamingResponse(service.stream_csv(items), media_type=CSV + "; charset=utf-8", headers=headers)
    return Response(service.page_bytes(items, cursor), media_type=JSON, headers=headers)


# --- the routes that serve them --------------------------------------------------------------


class ReadRoute(Route):
    """A plain Starlette route that, like FastAPI's, names itself in the scope (`route`: the
    metrics' and the access log's route label)."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        if match is not Match.NONE:
            child["route"] = self
        return match, child


class Parameters:
    """A declared route's path, query and header parameters, validated by FastAPI's own
    function: the same values, and the same 422 (`RequestValidationError`), as on the route."""

    def __init__(self, declared: APIRoute) -> None:
        every = all_dependants(declared.dependant)
        self.path = [p for d in every for p in d.path_params]
        self.query = [p for d in every for p in d.query_params]
        self.header = [p for d in every for p in d.header_params]
        self.known = query_names(declared.dependant)

    def validate(self, request: Request) -> dict[str, Any]:
        reject_unknown_query(request, self.known)
        values: dict[str, Any] = {}
        errors: list[Any] = []
        for fields, given in (
            (self.path, request.path_params),
            (self.query, request.query_params),
            (self.header, request.headers),
        ):
            found, wrong = request_params_to_args(fields, given)
            values.update(found)
            errors += wrong
        if errors:
            raise RequestValidationError(errors)
        return values


def _claims(request: Request) -> TokenClaims:
    claims = verified_claims(request.app.state.settings, bearer_token(request))
    request.state.caller = claims.key
    return claims


@asynccontextmanager
async def _reading(request: Request) -> AsyncIterator[ReadOnly]:
    reads: Reads = request.app.state.reads
    try:
        async with reads() as found:
            yield found
    except READ_ERRORS as exc:  # the driver's own errors (SQLAlchemy's are errors.py's)
        raise ServiceUnavailable() from exc


def lean_routes() -> list[Route]:
    """The routes serving the two reads declared above (to be registered ahead of them)."""
    declared = {route.path: route for route in router.routes if isinstance(route, APIRoute)}
    record, page = Parameters(declared[RECORD]), Parameters(declared[LIST])

    async def serve_record(request: Request) -> Response:
        claims = _claims(request)  # 401 before 422, as the declared route's dependencies have it
        values = record.validate(request)
        async with _reading(request) as reads:
            return await _record(request, claims, reads, values["enterprise_id"])

    async def serve_page(request: Request) -> Response:
        claims = _claims(request)
        values = page.validate(request)
        async with _reading(request) as reads:
            return await _page(request, claims, reads, values)

    served: list[tuple[str, Callable[[Request], Awaitable[Response]]]] = [(RECORD, serve_record), (LIST, serve_page)]
    return [ReadRoute(path, endpoint, methods=["GET"], include_in_schema=False) for path, endpoint in served]


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
