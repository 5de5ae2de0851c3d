"""`/v1/emission-factors`: kg CO2e per unit of a flow metric, by country with a global default."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Query, Request, Response

from app.deps import CurrentPrincipal, IdempotencyDep, SessionDep
from app.http import IfMatch, object_response, write_response
from app.models.reference import EmissionFactorCreate, EmissionFactorPublic, EmissionFactorUpdate
from app.models.types import CountryCode
from app.pagination import Page, PageDep
from app.routers.common import UpdatedSince, make_router, page_of
from app.services import crud
from app.services import reference as service

router = make_router("emission-factors", "/v1/emission-factors")


class EmissionFactorPage(Page[EmissionFactorPublic]):
    pass


@router.get("", name="list", summary="List emission factors", response_model=EmissionFactorPage)
async def list_factors(
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PageDep,
    updated_since: UpdatedSince = None,
    metric: str | None = None,
    country: Annotated[
        CountryCode | None, Query(description="Factors of this country (global defaults have none).")
    ] = None,
    year: Annotated[int | None, Query(ge=1990, le=2100)] = None,
) -> EmissionFactorPage:
    """Readable by every caller. A factor without `country` is the global default, used where a
    country has none of its own."""
    rows, cursor = await service.list_factors(
        session, principal, page, metric=metric, country=country, year=year, updated_since=updated_since
    )
    return page_of(EmissionFactorPage, EmissionFactorPublic, rows, cursor)


@router.post(
    "",
    name="create",
    summary="Add an emission factor",
    status_code=201,
    response_model=EmissionFactorPublic,
)
async def create_factor(
    session: SessionDep, principal: CurrentPrincipal, idem: IdempotencyDep, body: EmissionFactorCreate
) -> Response:
    """Admins only. The metric must be a `flow` metric (422); one factor per metric, country and
    year (409)."""
    factor = await service.create_factor(session, principal, body)
    return await write_response(
        session,
        idem,
        EmissionFactorPublic.model_validate(factor),
        status_code=201,
        location=f"/v1/emission-factors/{factor.id}",
        etag=crud.etag(factor),
    )


@router.get(
    "/{factor_id}",
    name="get",
    summary="Get an emission factor",
    response_model=EmissionFactorPublic,
)
async def get_factor(request: Request, session: SessionDep, principal: CurrentPrincipal, factor_id: UUID) -> Response:
    """One emission factor (kg CO2e per unit of a flow metric) with its country, source and year."""
    factor = await service.get_factor(session, principal, factor_id)
    return object_response(request, EmissionFactorPublic.model_validate(factor), crud.etag(factor))


@router.patch(
    "/{factor_id}",
    name="update",
    summary="Update an emission factor",
    response_model=EmissionFactorPublic,
)
async def update_factor(
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
    factor_id: UUID,
    body: EmissionFactorUpdate,
    if_match: IfMatch = None,
) -> Response:
    """Admins only. The metric of a factor cannot change."""
    factor = await service.update_factor(session, principal, factor_id, body, if_match)
    return object_response(request, EmissionFactorPublic.model_validate(factor), crud.etag(factor))


@router.delete("/{factor_id}", name="delete", summary="Delete an emission factor", status_code=204)
async def delete_factor(session: SessionDep, principal: CurrentPrincipal, factor_id: UUID) -> Response:
    """Admins only."""
    await service.delete_factor(session, principal, factor_id)
    return Response(status_code=204)
