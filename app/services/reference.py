"""Reference data: the KPI catalogue (metrics) and emission factors. Everyone reads; admins write."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

import sqlalchemy as sa
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.errors import Conflict, Unprocessable
from app.models.enums import IdeaCategory, MetricDirection, MetricKind
from app.models.reference import (
    EmissionFactor,
    EmissionFactorCreate,
    EmissionFactorUpdate,
    Metric,
    MetricCreate,
    MetricUpdate,
    check_ghg,
)
from app.models.results import Result
from app.pagination import PageParams
from app.principal import Principal
from app.services import crud
from app.services.access import Action, Resource, get_visible, require

PERCENT = "%"


async def metric_by_code(session: AsyncSession, code: str) -> Metric | None:
    return (await session.exec(select(Metric).where(Metric.code == code))).first()


async def _exists(session: AsyncSession, query: sa.Select) -> bool:  # type: ignore[type-arg]
    return bool((await session.exec(select(sa.exists(query)))).one())  # type: ignore[call-overload]


# --- metrics ---------------------------------------------------------------------------------


async def list_metrics(
    session: AsyncSession,
    principal: Principal,
    page: PageParams,
    *,
    code: str | None,
    kind: MetricKind | None,
    category: IdeaCategory | None,
    direction: MetricDirection | None,
    updated_since: datetime | None,
) -> tuple[list[Metric], str | None]:
    require(principal, Resource.reference_data, Action.read)
    filters = [
        crud.eq(Metric.code, code),
        crud.eq(Metric.kind, kind),
        crud.eq(Metric.category, category),
        crud.eq(Metric.direction, direction),
    ]
    return await crud.list_page(session, principal, Metric, page, filters, updated_since)


async def get_metric(session: AsyncSession, principal: Principal, metric_id: UUID) -> Metric:
    require(principal, Resource.reference_data, Action.read)
    return await get_visible(session, principal, Metric, metric_id)


async def create_metric(session: AsyncSession, principal: Principal, data: MetricCreate) -> Metric:
    require(principal, Resource.reference_data, Action.create)
    _check_ghg(data.kind, data.ghg_scope, data.ghg_category)
    if await metric_by_code(session, data.code) is not None:
        raise Conflict(f"a metric with code {data.code!r} already exists")
    return await crud.insert(
        session, principal, Metric(**data.model_dump()), f"a metric with code {data.code!r} already exists"
    )


async def update_metric(
    session: AsyncSession, principal: Principal, metric_id: UUID, data: MetricUpdate, if_match: str | None
) -> Metric:
    """Unit and kind are what recorded values mean: they are fixed once results use the metric."""
    metric = await get_visible(session, principal, Metric, metric_id, for_update=True)
    require(principal, Resource.reference_data, Action.update)
    changes = data.model_dump(exclude_unset=True)
    redefines = {f for f in ("unit", "kind") if f in changes and changes[f] != getattr(metric, f)}
    if redefines and await _exists(session, select(Result.id).where(Result.metric == metric.code)):
        fields = " and ".join(sorted(redefines))
        raise Conflict(f"results are recorded in this metric; its {fields} can no longer change")
    if changes.get("kind", MetricKind.flow) is not MetricKind.flow and await _has_factors(session, metric.code):
        raise Conflict("emission factors refer to this metric, so it must stay a flow metric; delete them first")
    merged = {f: changes.get(f, getattr(metric, f)) for f in ("kind", "ghg_scope", "ghg_category")}
    _check_ghg(MetricKind(merged["kind"]), merged["ghg_scope"], merged["ghg_category"])
    if merged["ghg_scope"] is None and metric.ghg_scope is not None and await _has_factors(session, metric.code):
        raise Conflict("emission factors convert this metric into tCO2e, so it needs a ghg_scope; delete them first")
    return await crud.apply_changes(session, principal, metric, changes, if_match)


def _check_ghg(kind: MetricKind, scope: int | None, category: int | None) -> None:
    """The scope rules (`check_ghg`) on the metric as it would be stored, after authorization."""
    try:
        check_ghg(kind, scope, category)
    except ValueError as exc:
        raise Unprocessable(str(exc), loc=("body", "ghg_scope")) from exc


async def _has_factors(session: AsyncSession, code: str) -> bool:
    return await _exists(session, select(EmissionFactor.id).where(EmissionFactor.metric == code))


async def delete_metric(session: AsyncSession, principal: Principal, metric_id: UUID) -> None:
    metric = await get_visible(session, principal, Metric, metric_id, for_update=True)
    require(principal, Resource.reference_data, Action.delete)
    await crud.delete(session, principal, metric, "the metric (results, ideas or emission factors refer to it)")


# --- emission factors ------------------------------------------------------------------------


async def list_factors(
    session: AsyncSession,
    principal: Principal,
    page: PageParams,
    *,
    metric: str | None,
    country: str | None,
    year: int | None,
    updated_since: datetime | None,
) -> tuple[list[EmissionFactor], str | None]:
    require(principal, Resource.reference_data, Action.read)
    filters = [
        crud.eq(EmissionFactor.metric, metric),
        crud.eq(EmissionFactor.country, country),
        crud.eq(EmissionFactor.year, year),
    ]
    return await crud.list_page(session, principal, EmissionFactor, page, filters, updated_since)


async def get_factor(session: AsyncSession, principal: Principal, factor_id: UUID) -> EmissionFactor:
    require(principal, Resource.reference_data, Action.read)
    return await get_visible(session, principal, EmissionFactor, factor_id)


def _duplicate(metric: str, country: str | None, year: int) -> str:
    where = country or "the global default"
    return f"an emission factor for {metric!r}, {where}, {year} already exists"


async def _ensure_unique(
    session: AsyncSession,
    metric: str,
    country: str | None,
    year: int,
    valid_from: date | None,
    exclude: UUID | None = None,
) -> None:
    """One factor per metric, country and year; and per metric, country and `valid_from`."""
    same = select(EmissionFactor.id).where(
        EmissionFactor.metric == metric,
        sa.func.coalesce(EmissionFactor.country, "") == (country or ""),
        EmissionFactor.id != exclude if exclude is not None else sa.true(),
    )
    if await _exists(session, same.where(EmissionFactor.year == year)):
        raise Conflict(_duplicate(metric, country, year))
    if valid_from is not None and await _exists(session, same.where(EmissionFactor.valid_from == valid_from)):
        where = country or "the global default"
        raise Conflict(f"an emission factor for {metric!r}, {where}, valid from {valid_from} already exists")


async def create_factor(session: AsyncSession, principal: Principal, data: EmissionFactorCreate) -> EmissionFactor:
    require(principal, Resource.reference_data, Action.create)
    metric = await metric_by_code(session, data.metric)
    if metric is None:
        raise Unprocessable(f"no metric with code {data.metric!r}", loc=("body", "metric"))
    if metric.kind is not MetricKind.flow:
        raise Unprocessable(
            f"emission factors apply to flow metrics only; {metric.code!r} is a {metric.kind.value} metric",
            loc=("body", "metric"),
        )
    if metric.ghg_scope is None:
        raise Unprocessable(
            f"metric {metric.code!r} has no ghg_scope: set the scope its emissions belong to before adding a factor",
            loc=("body", "metric"),
        )
    await _ensure_unique(session, data.metric, data.country, data.year, data.valid_from)
    factor = EmissionFactor(**data.model_dump())
    return await crud.insert(session, principal, factor, _duplicate(data.metric, data.country, data.year))


async def update_factor(
    session: AsyncSession, principal: Principal, factor_id: UUID, data: EmissionFactorUpdate, if_match: str | None
) -> EmissionFactor:
    factor = await get_visible(session, principal, EmissionFactor, factor_id, for_update=True)
    require(principal, Resource.reference_data, Action.update)
    changes = data.model_dump(exclude_unset=True)
    if {"country", "year", "valid_from"} & changes.keys():
        await _ensure_unique(
            session,
            factor.metric,
            changes.get("country", factor.country),
            changes.get("year", factor.year),
            changes.get("valid_from", factor.valid_from),
            exclude=factor.id,
        )
    return await crud.apply_changes(session, principal, factor, changes, if_match)


async def delete_factor(session: AsyncSession, principal: Principal, factor_id: UUID) -> None:
    factor = await get_visible(session, principal, EmissionFactor, factor_id, for_update=True)
    require(principal, Resource.reference_data, Action.delete)
    await crud.delete(session, principal, factor, "the emission factor")
