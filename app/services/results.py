"""Results: measurements of an enterprise against its baseline, and their verification."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.errors import Conflict, Forbidden, Unprocessable
from app.http import ensure_match
from app.ids import utcnow
from app.models.enterprises import Enterprise
from app.models.enums import ResultSource
from app.models.ideas import Idea
from app.models.reference import Metric
from app.models.results import Result, ResultCreate, ResultPublic, ResultSort, ResultUpdate
from app.models.types import Role
from app.pagination import PageParams
from app.principal import Principal
from app.services import audit, client_ids, crud
from app.services.access import Action, Resource, get_visible, may_change_result, require, scoped
from app.services.enterprises import ensure_caller_certified
from app.services.locking import get_for_write, lock_enterprise
from app.services.reference import PERCENT, metric_by_code

SAME_PERIOD = "a result for this enterprise, metric and period already exists"
SECOND_BASELINE = "the enterprise already has a baseline for this metric; unmark it first"
# What a verification vouches for: changing any of these (expert, partner, admin) withdraws it.
MEASURED = ("metric", "period_start", "period_end", "value")


async def _units(session: AsyncSession, codes: set[str]) -> dict[str, str]:
    if not codes:
        return {}
    rows = await session.exec(select(Metric.code, Metric.unit).where(Metric.code.in_(codes)))  # type: ignore[attr-defined]
    return dict(rows.all())  # type: ignore[arg-type]


def _public(result: Result, unit: str) -> ResultPublic:
    return ResultPublic.model_validate({**result.model_dump(), "unit": unit})


async def _publish(session: AsyncSession, results: Sequence[Result]) -> list[ResultPublic]:
    units = await _units(session, {r.metric for r in results})
    return [_public(r, units[r.metric]) for r in results]


async def list_results(
    session: AsyncSession,
    principal: Principal,
    page: PageParams,
    *,
    enterprise_id: UUID | None,
    metric: str | None,
    is_baseline: bool | None,
    verified: bool | None,
    period_end_from: date | None,
    period_end_to: date | None,
    updated_since: datetime | None,
    q: str | None = None,
    sort: ResultSort | None = None,
    count: bool = False,
) -> tuple[list[ResultPublic], str | None]:
    require(principal, Resource.results, Action.read)
    filters = [
        crud.eq(Result.enterprise_id, enterprise_id),
        crud.eq(Result.metric, metric),
        crud.eq(Result.is_baseline, is_baseline),
        None if verified is None else (Result.verified_at.is_not(None) if verified else Result.verified_at.is_(None)),  # type: ignore[union-attr]
        None if period_end_from is None else Result.period_end >= period_end_from,
        None if period_end_to is None else Result.period_end <= period_end_to,
        crud.any_of(crud.contains(q, Result.metric), crud.enterprise_named(principal, q, Result.enterprise_id)),
    ]
    rows, cursor = await crud.list_page(
        session,
        principal,
        Result,  # type: ignore[arg-type]
        page,
        filters,  # type: ignore[arg-type]
        updated_since,
        sort=sort,
        count=count,
    )
    return await _publish(session, rows), cursor


async def get_result(session: AsyncSession, principal: Principal, result_id: UUID) -> ResultPublic:
    result = await get_visible(session, principal, Result, result_id)
    return (await _publish(session, [result]))[0]


def _source(principal: Principal, requested: ResultSource | None) -> ResultSource:
    """SMEs report their own figures; others record as experts unless transcribing an SME's report."""
    if principal.role is Role.sme:
        if requested not in (None, ResultSource.self_reported):
            raise Unprocessable("an enterprise's own results are self_reported", loc=("body", "source"))
        return ResultSource.self_reported
    return requested or ResultSource.expert


async def _exists(session: AsyncSession, *conditions: Any) -> bool:
    query = select(sa.exists(select(Result.id).where(*conditions)))
    return bool((await session.exec(query)).one())  # type: ignore[call-overload]


async def _validate(
    session: AsyncSession, enterprise_id: UUID, state: dict[str, Any], unit: str | None, exclude: UUID | None = None
) -> Metric:
    """The result rules (docs/reference.md) on the result as it would be stored; returns its metric."""
    metric = await metric_by_code(session, state["metric"])
    if metric is None:
        raise Unprocessable(f"no metric with code {state['metric']!r}", loc=("body", "metric"))
    if unit is not None and unit != metric.unit:
        raise Unprocessable(f"{metric.code!r} is measured in {metric.unit!r}, not {unit!r}", loc=("body", "unit"))
    if state["period_end"] < state["period_start"]:
        raise Unprocessable("period_end must be on or after period_start", loc=("body", "period_end"))
    if state["period_end"] > (today := utcnow().date()):
        raise Unprocessable(
            f"period_end {state['period_end']} is in the future (today is {today}, UTC): record a period once it has ended",
            loc=("body", "period_end"),
        )
    if metric.unit == PERCENT and not 0 <= state["value"] <= 100:
        raise Unprocessable(f"{metric.code!r} is a percentage: the value must be within 0-100", loc=("body", "value"))
    if state.get("idea_id") is not None:
        idea = await session.get(Idea, state["idea_id"])
        if idea is None or idea.enterprise_id != enterprise_id:
            raise Unprocessable("idea_id must name an idea of the same enterprise", loc=("body", "idea_id"))
    others = [Result.enterprise_id == enterprise_id, Result.metric == metric.code]
    if exclude is not None:
        others.append(Result.id != exclude)
    if await _exists(
        session, *others, Result.period_start == state["period_start"], Result.period_end == state["period_end"]
    ):
        raise Conflict(SAME_PERIOD)
    if state.get("is_baseline") and await _exists(session, *others, Result.is_baseline):
        raise Conflict(SECOND_BASELINE)
    return metric


async def create_result(session: AsyncSession, principal: Principal, data: ResultCreate) -> ResultPublic:
    require(principal, Resource.results, Action.create)
    claim = await client_ids.claim(session, principal, "result", data)
    if claim.replay:
        earlier = await client_ids.replayed(session, principal, Result, claim)
        return (await _publish(session, [earlier]))[0]
    visible = scoped(principal, Enterprise).where(Enterprise.id == data.enterprise_id)
    if (await session.exec(visible)).first() is None:
        raise Unprocessable("enterprise_id must name one of your enterprises", loc=("body", "enterprise_id"))
    await lock_enterprise(session, data.enterprise_id)
    values = data.model_dump(exclude={"id", "unit"})
    values["source"] = _source(principal, data.source)
    metric = await _validate(session, data.enterprise_id, values, data.unit)
    result = Result(**values, **claim.fields(), recorded_by=principal.key)
    await crud.insert(session, principal, result, f"{SAME_PERIOD}, or it already has a baseline for this metric")
    return _public(result, metric.unit)


async def update_result(
    session: AsyncSession, principal: Principal, result_id: UUID, data: ResultUpdate, if_match: str | None
) -> ResultPublic:
    """SMEs may change their results until verified. When an expert, partner or admin changes what
    a verification vouched for (metric, period, value), the verification is withdrawn."""
    result = await get_for_write(session, principal, Result, result_id)
    require(principal, Resource.results, Action.update)
    if not may_change_result(principal, result):
        raise Forbidden("a verified result can no longer be changed by the enterprise")
    ensure_match(if_match, crud.etag(result))
    changes = data.model_dump(exclude_unset=True)
    unit = changes.pop("unit", None)
    if "source" in changes:
        changes["source"] = _source(principal, changes["source"])
    metric = await _validate(session, result.enterprise_id, {**result.model_dump(), **changes}, unit, result.id)
    if result.verified_at is not None and any(f in changes and changes[f] != getattr(result, f) for f in MEASURED):
        changes.update(verified_at=None, verified_by=None)
    await crud.apply_changes(session, principal, result, changes, if_match)
    return _public(result, metric.unit)


async def delete_result(session: AsyncSession, principal: Principal, result_id: UUID) -> None:
    result = await get_for_write(session, principal, Result, result_id)
    require(principal, Resource.results, Action.delete)
    await crud.delete(session, principal, result, "the result")


async def verify_result(session: AsyncSession, principal: Principal, result_id: UUID) -> ResultPublic:
    """An expert assigned to the enterprise, its partner's staff or an admin confirms a result."""
    result = await get_for_write(session, principal, Result, result_id)
    require(principal, Resource.results, Action.verify)
    if principal.kind != "user":
        raise Forbidden("results are verified by a person (expert, partner staff or admin), not an API client")
    if result.verified_at is not None:
        raise Conflict(f"the result was already verified at {result.verified_at.isoformat()}")
    await ensure_caller_certified(session, principal, "verify results")
    now = utcnow()
    result.verified_at, result.verified_by, result.updated_at = now, principal.id, now
    session.add(result)
    await session.flush()
    changes = {"verified_at": [None, now.isoformat()], "verified_by": [None, str(principal.id)]}
    await audit.record(session, principal, "verify", "result", result.id, changes)
    return (await _publish(session, [result]))[0]
