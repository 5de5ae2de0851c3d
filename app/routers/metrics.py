"""`/v1/metrics`: the KPI catalogue results are recorded in."""

from __future__ import annotations

from uuid import UUID

from fastapi import Request, Response

from app.deps import CurrentPrincipal, IdempotencyDep, SessionDep
from app.http import IfMatch, object_response, write_response
from app.models.enums import IdeaCategory, MetricDirection, MetricKind
from app.models.reference import MetricCreate, MetricPublic, MetricUpdate
from app.pagination import Page, PageDep
from app.routers.common import UpdatedSince, make_router, page_of
from app.services import crud
from app.services import reference as service

router = make_router("metrics", "/v1/metrics")


class MetricPage(Page[MetricPublic]):
    pass


@router.get("", name="list", summary="List metrics", response_model=MetricPage)
async def list_metrics(
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PageDep,
    updated_since: UpdatedSince = None,
    code: str | None = None,
    kind: MetricKind | None = None,
    category: IdeaCategory | None = None,
    direction: MetricDirection | None = None,
) -> MetricPage:
    """The catalogue every caller reads. Codes are stable: store them, not the ids."""
    rows, cursor = await service.list_metrics(
        session,
        principal,
        page,
        code=code,
        kind=kind,
        category=category,
        direction=direction,
        updated_since=updated_since,
    )
    return page_of(MetricPage, MetricPublic, rows, cursor)


@router.post("", name="create", summary="Add a metric", status_code=201, response_model=MetricPublic)
async def create_metric(
    session: SessionDep, principal: CurrentPrincipal, idem: IdempotencyDep, body: MetricCreate
) -> Response:
    """Admins only. `code` is lowercase snake_case, unique (409 otherwise) and cannot change later."""
    metric = await service.create_metric(session, principal, body)
    return await write_response(
        session,
        idem,
        MetricPublic.model_validate(metric),
        status_code=201,
        location=f"/v1/metrics/{metric.id}",
        etag=crud.etag(metric),
    )


@router.get("/{metric_id}", name="get", summary="Get a metric", response_model=MetricPublic)
async def get_metric(request: Request, session: SessionDep, principal: CurrentPrincipal, metric_id: UUID) -> Response:
    """One KPI of the catalogue: code, unit, kind (`flow` or `level`) and which direction is better."""
    metric = await service.get_metric(session, principal, metric_id)
    return object_response(request, MetricPublic.model_validate(metric), crud.etag(metric))


@router.patch("/{metric_id}", name="update", summary="Update a metric", response_model=MetricPublic)
async def update_metric(
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
    metric_id: UUID,
    body: MetricUpdate,
    if_match: IfMatch = None,
) -> Response:
    """Admins only. `unit` and `kind` are fixed (409) once results are recorded in the metric;
    a metric with emission factors stays a `flow` metric."""
    metric = await service.update_metric(session, principal, metric_id, body, if_match)
    return object_response(request, MetricPublic.model_validate(metric), crud.etag(metric))


@router.delete("/{metric_id}", name="delete", summary="Delete a metric", status_code=204)
async def delete_metric(session: SessionDep, principal: CurrentPrincipal, metric_id: UUID) -> Response:
    """Admins only. Refused with 409 while results, ideas or emission factors refer to the metric."""
    await service.delete_metric(session, principal, metric_id)
    return Response(status_code=204)
