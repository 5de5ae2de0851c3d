"""Improvement ideas: their origin (workshop or visit) and their life cycle.

Life cycle (docs/reference.md): proposed → approved → in_progress → implemented → verified, and
proposed | approved | in_progress → rejected. Only experts, partners and admins verify.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.errors import InvalidTransition, NotFound, Unprocessable
from app.ids import utcnow
from app.models.enterprises import Enterprise
from app.models.enums import IdeaCategory, IdeaStatus
from app.models.ideas import Idea, IdeaCreate, IdeaSort, IdeaTransition, IdeaUpdate, TransitionRequest
from app.models.reference import Metric
from app.models.trainings import Enrollment
from app.models.visits import Visit, VisitIdea
from app.pagination import PageParams
from app.principal import Principal
from app.services import audit, client_ids, crud
from app.services.access import Action, Resource, get_visible, require
from app.services.enterprises import ensure_caller_certified
from app.services.locking import get_for_write, lock_enterprise

S = IdeaStatus
TRANSITIONS: dict[IdeaStatus, frozenset[IdeaStatus]] = {
    S.proposed: frozenset({S.approved, S.rejected}),
    S.approved: frozenset({S.in_progress, S.rejected}),
    S.in_progress: frozenset({S.implemented, S.rejected}),
    S.implemented: frozenset({S.verified}),
    S.verified: frozenset(),
    S.rejected: frozenset(),
}


def is_allowed(source: IdeaStatus, target: IdeaStatus) -> bool:
    return target in TRANSITIONS[source]


async def enterprise_for_body(session: AsyncSession, principal: Principal, enterprise_id: UUID) -> Enterprise:
    """The enterprise a request body names: one the caller may see, else 422."""
    try:
        return await get_visible(session, principal, Enterprise, enterprise_id)
    except NotFound as exc:
        raise Unprocessable(
            "enterprise_id does not name an enterprise you can see", loc=("body", "enterprise_id")
        ) from exc


async def _check_origin(session: AsyncSession, enterprise_id: UUID, values: dict[str, Any]) -> None:
    training_id = values.get("training_id")
    if training_id is not None:
        enrolled = select(Enrollment.id).where(
            Enrollment.training_id == training_id, Enrollment.enterprise_id == enterprise_id
        )
        if (await session.exec(enrolled)).first() is None:
            raise Unprocessable(
                "training_id must be a training the enterprise is enrolled in", loc=("body", "training_id")
            )
    visit_id = values.get("visit_id")
    if visit_id is not None:
        visit = select(Visit.id).where(Visit.id == visit_id, Visit.enterprise_id == enterprise_id)
        if (await session.exec(visit)).first() is None:
            raise Unprocessable("visit_id must be a visit of the same enterprise", loc=("body", "visit_id"))


async def _check_metric(session: AsyncSession, values: dict[str, Any]) -> None:
    effect = values.get("expected_effect")
    if effect is None:
        return
    found = (await session.exec(select(Metric.code).where(Metric.code == effect["metric"]))).first()
    if found is None:
        raise Unprocessable(
            f"{effect['metric']!r} is not a metric code; see /v1/metrics", loc=("body", "expected_effect", "metric")
        )


def _columns(values: dict[str, Any]) -> dict[str, Any]:
    """API shape (nested money and effect) → table columns."""
    out = dict(values)
    for key, prefix in (("expected_annual_savings", "savings"), ("investment", "investment")):
        if key in out:
            money = out.pop(key)
            out[f"{prefix}_amount"] = money["amount"] if money else None
            out[f"{prefix}_currency"] = money["currency"] if money else None
    if "expected_effect" in out:
        effect = out.pop("expected_effect")
        out["effect_metric"] = effect["metric"] if effect else None
        out["effect_change"] = effect["change"] if effect else None
    if "owner_team" in out:
        team = out["owner_team"] or []
        out["owner_team"] = [{k: v for k, v in member.items() if v is not None} for member in team]
    return out


def _dump(data: IdeaCreate | IdeaUpdate, *, exclude_unset: bool) -> dict[str, Any]:
    return data.model_dump(mode="python", exclude_unset=exclude_unset, exclude={"id"})


async def list_ideas(
    session: AsyncSession,
    principal: Principal,
    page: PageParams,
    *,
    enterprise_id: UUID | None,
    status: IdeaStatus | None,
    category: IdeaCategory | None,
    training_id: UUID | None,
    visit_id: UUID | None,
    updated_since: datetime | None,
    q: str | None = None,
    sort: IdeaSort | None = None,
    count: bool = False,
) -> tuple[list[Idea], str | None]:
    require(principal, Resource.ideas, Action.read)
    filters = [
        crud.eq(Idea.enterprise_id, enterprise_id),
        crud.eq(Idea.status, status),
        crud.eq(Idea.category, category),
        crud.eq(Idea.training_id, training_id),
        crud.eq(Idea.visit_id, visit_id),
        crud.contains(q, Idea.title),
    ]
    return await crud.list_page(session, principal, Idea, page, filters, updated_since, sort=sort, count=count)


async def get_idea(session: AsyncSession, principal: Principal, idea_id: UUID) -> Idea:
    return await get_visible(session, principal, Idea, idea_id)


async def create_idea(session: AsyncSession, principal: Principal, data: IdeaCreate) -> Idea:
    require(principal, Resource.ideas, Action.create)
    claim = await client_ids.claim(session, principal, "idea", data)
    if claim.replay:
        return await client_ids.replayed(session, principal, Idea, claim)
    await enterprise_for_body(session, principal, data.enterprise_id)
    await lock_enterprise(session, data.enterprise_id)
    values = _dump(data, exclude_unset=False)
    await _check_origin(session, data.enterprise_id, values)
    await _check_metric(session, values)
    idea = Idea(**_columns(values), **claim.fields(), status=IdeaStatus.proposed)
    return await crud.insert(session, principal, idea, "idea already exists")


async def update_idea(
    session: AsyncSession, principal: Principal, idea_id: UUID, data: IdeaUpdate, if_match: str | None
) -> Idea:
    idea = await get_for_write(session, principal, Idea, idea_id)
    require(principal, Resource.ideas, Action.update)
    values = _dump(data, exclude_unset=True)
    for required in ("title", "category", "owner_team"):
        if required in values and values[required] is None:
            raise Unprocessable(f"{required} cannot be null", loc=("body", required))
    await _check_origin(session, idea.enterprise_id, values)
    await _check_metric(session, values)
    return await crud.apply_changes(session, principal, idea, _columns(values), if_match)


async def delete_idea(session: AsyncSession, principal: Principal, idea_id: UUID) -> None:
    idea = await get_for_write(session, principal, Idea, idea_id)
    require(principal, Resource.ideas, Action.delete)
    naming = await _visits_naming(session, idea.id)
    await crud.delete(session, principal, idea, "the idea")
    await _unnamed(session, principal, idea.id, naming)


async def _visits_naming(session: AsyncSession, idea_id: UUID) -> dict[UUID, list[UUID]]:
    """The visits whose `idea_ids` name the idea, with their whole `idea_ids`."""
    naming = select(VisitIdea.visit_id).where(VisitIdea.idea_id == idea_id)
    query = (
        select(VisitIdea.visit_id, VisitIdea.idea_id)
        .where(col(VisitIdea.visit_id).in_(naming))
        .order_by(col(VisitIdea.visit_id), col(VisitIdea.idea_id))
    )
    found: dict[UUID, list[UUID]] = {}
    for visit_id, named in (await session.exec(query)).all():
        found.setdefault(visit_id, []).append(named)
    return found


async def _unnamed(session: AsyncSession, principal: Principal, idea_id: UUID, naming: dict[UUID, list[UUID]]) -> None:
    """A deleted idea leaves the `idea_ids` of the visits that named it (the database removes the
    links): each of those visits changed, so it gets a new `updated_at` (lists filtered by
    `updated_since` return it) and its `visit.updated` event."""
    if not naming:
        return
    now = utcnow()
    for visit in (await session.exec(select(Visit).where(col(Visit.id).in_(naming)))).all():
        visit.updated_at = now
        session.add(visit)
    await session.flush()
    for visit_id, before in naming.items():
        after = [str(i) for i in before if i != idea_id]
        changes = {"idea_ids": [[str(i) for i in before], after]}
        await audit.record(session, principal, "update", "visit", visit_id, changes)


async def transition_idea(
    session: AsyncSession, principal: Principal, idea_id: UUID, request: TransitionRequest
) -> Idea:
    """Move the idea one step; the locks make concurrent moves from one status exclusive."""
    idea = await get_for_write(session, principal, Idea, idea_id)
    require(principal, Resource.ideas, Action.update)
    if request.to is IdeaStatus.verified:
        require(principal, Resource.ideas, Action.verify, "only experts, partners and admins verify ideas")
        await ensure_caller_certified(session, principal, "verify ideas")
    source = idea.status
    if not is_allowed(source, request.to):
        allowed = ", ".join(sorted(TRANSITIONS[source])) or "none (final status)"
        raise InvalidTransition(f"an idea cannot move from {source.value} to {request.to.value}; allowed: {allowed}")
    idea.status = request.to
    idea.updated_at = utcnow()
    session.add(idea)
    session.add(
        IdeaTransition(
            idea_id=idea.id, from_status=source, to_status=request.to, actor=principal.key, note=request.note
        )
    )
    await session.flush()
    changes: dict[str, Any] = {"status": [source.value, request.to.value]}
    if request.note:
        changes["note"] = request.note
    await audit.record(session, principal, "transition", "idea", idea.id, changes)
    return idea


async def list_transitions(
    session: AsyncSession, principal: Principal, idea_id: UUID, page: PageParams
) -> tuple[list[IdeaTransition], str | None]:
    await get_visible(session, principal, Idea, idea_id)
    require(principal, Resource.ideas, Action.read)
    query = select(IdeaTransition).where(IdeaTransition.idea_id == idea_id)
    return await page.fetch(session, query, principal.key, [IdeaTransition.id])
