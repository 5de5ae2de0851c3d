"""On-site consultations: certified experts visiting the enterprises assigned to them."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.errors import Forbidden, Unprocessable
from app.http import ensure_match
from app.ids import utcnow
from app.models.enterprises import EnterpriseExpert
from app.models.enums import VisitKind, VisitStatus
from app.models.ideas import Idea
from app.models.types import Role
from app.models.users import User
from app.models.visits import Visit, VisitCreate, VisitIdea, VisitSort, VisitUpdate
from app.pagination import PageParams
from app.principal import Principal
from app.services import audit, client_ids, crud
from app.services.access import (
    Action,
    Resource,
    get_visible,
    may_delete_visit,
    rechecks_visiting_expert,
    require,
    visiting_expert,
)
from app.services.enterprises import ensure_certified
from app.services.ideas import enterprise_for_body
from app.services.locking import get_for_write, lock_enterprise

VisitWithIdeas = tuple[Visit, list[UUID]]


async def idea_ids_of(session: AsyncSession, visit_ids: list[UUID]) -> dict[UUID, list[UUID]]:
    """The ideas discussed at each of the visits, in one query."""
    found: dict[UUID, list[UUID]] = {visit_id: [] for visit_id in visit_ids}
    if not visit_ids:
        return found
    query = (
        select(VisitIdea.visit_id, VisitIdea.idea_id)
        .where(col(VisitIdea.visit_id).in_(visit_ids))
        .order_by(col(VisitIdea.visit_id), col(VisitIdea.idea_id))
    )
    for visit_id, idea_id in (await session.exec(query)).all():
        found[visit_id].append(idea_id)
    return found


async def _visiting_expert(
    session: AsyncSession, principal: Principal, enterprise_id: UUID, expert_id: UUID | None
) -> UUID:
    """The expert of a visit: the caller for an expert; assigned to the enterprise and certified."""
    expert_id = visiting_expert(principal, expert_id)
    if expert_id is None:
        raise Unprocessable("expert_id is required: name the visiting expert", loc=("body", "expert_id"))
    expert = await session.get(User, expert_id)
    if expert is None or expert.role is not Role.expert:
        raise Unprocessable("expert_id does not name an expert", loc=("body", "expert_id"))
    if await session.get(EnterpriseExpert, (enterprise_id, expert_id)) is None:
        raise Unprocessable("the expert is not assigned to the enterprise", loc=("body", "expert_id"))
    ensure_certified(expert, what="record visits")
    return expert_id


async def _checked_idea_ids(session: AsyncSession, enterprise_id: UUID, idea_ids: list[UUID]) -> list[UUID]:
    wanted = sorted(set(idea_ids))
    if not wanted:
        return []
    query = select(Idea.id).where(col(Idea.id).in_(wanted), Idea.enterprise_id == enterprise_id)
    found = set((await session.exec(query)).all())
    missing = [str(i) for i in wanted if i not in found]
    if missing:
        raise Unprocessable(
            f"idea_ids must be ideas of the visit's enterprise; not: {', '.join(missing)}", loc=("body", "idea_ids")
        )
    return wanted


async def _replace_ideas(session: AsyncSession, visit_id: UUID, old: list[UUID], new: list[UUID]) -> None:
    removed = set(old) - set(new)
    if removed:
        await session.exec(  # type: ignore[call-overload]
            delete(VisitIdea).where(col(VisitIdea.visit_id) == visit_id, col(VisitIdea.idea_id).in_(removed))
        )
    for idea_id in sorted(set(new) - set(old)):
        session.add(VisitIdea(visit_id=visit_id, idea_id=idea_id))
    await session.flush()


async def list_visits(
    session: AsyncSession,
    principal: Principal,
    page: PageParams,
    *,
    enterprise_id: UUID | None,
    expert_id: UUID | None,
    status: VisitStatus | None,
    kind: VisitKind | None,
    scheduled_from: datetime | None,
    scheduled_to: datetime | None,
    updated_since: datetime | None,
    q: str | None = None,
    sort: VisitSort | None = None,
    count: bool = False,
) -> tuple[list[VisitWithIdeas], str | None]:
    require(principal, Resource.visits, Action.read)
    filters = [
        crud.eq(Visit.enterprise_id, enterprise_id),
        crud.eq(Visit.expert_id, expert_id),
        crud.eq(Visit.status, status),
        crud.eq(Visit.kind, kind),
        None if scheduled_from is None else col(Visit.scheduled_at) >= scheduled_from,
        None if scheduled_to is None else col(Visit.scheduled_at) < scheduled_to,
        crud.any_of(crud.contains(q, Visit.findings), crud.enterprise_named(principal, q, Visit.enterprise_id)),
    ]
    rows, cursor = await crud.list_page(session, principal, Visit, page, filters, updated_since, sort=sort, count=count)
    ideas = await idea_ids_of(session, [visit.id for visit in rows])
    return [(visit, ideas[visit.id]) for visit in rows], cursor


async def get_visit(session: AsyncSession, principal: Principal, visit_id: UUID) -> VisitWithIdeas:
    visit = await get_visible(session, principal, Visit, visit_id)
    return visit, (await idea_ids_of(session, [visit.id]))[visit.id]


async def create_visit(session: AsyncSession, principal: Principal, data: VisitCreate) -> VisitWithIdeas:
    require(principal, Resource.visits, Action.create)
    claim = await client_ids.claim(session, principal, "visit", data)
    if claim.replay:
        visit = await client_ids.replayed(session, principal, Visit, claim)
        return visit, (await idea_ids_of(session, [visit.id]))[visit.id]
    _not_completed_ahead(data.status, data.scheduled_at)
    await enterprise_for_body(session, principal, data.enterprise_id)
    await lock_enterprise(session, data.enterprise_id)
    expert_id = await _visiting_expert(session, principal, data.enterprise_id, data.expert_id)
    idea_ids = await _checked_idea_ids(session, data.enterprise_id, data.idea_ids)
    values = data.model_dump(exclude={"id", "idea_ids", "expert_id"})
    visit = Visit(**values, **claim.fields(), expert_id=expert_id)
    visit = await crud.insert(session, principal, visit, "visit already exists")
    await _replace_ideas(session, visit.id, [], idea_ids)
    if idea_ids:
        await audit.record(session, principal, "update", "visit", visit.id, {"idea_ids": [[], _strs(idea_ids)]})
    return visit, idea_ids


def _not_completed_ahead(status: VisitStatus, scheduled_at: datetime) -> None:
    """A visit is completed once it took place: not while `scheduled_at` lies ahead."""
    if status is VisitStatus.completed and scheduled_at > utcnow():
        raise Unprocessable(
            "a visit scheduled in the future cannot be completed: set status completed after it took place",
            loc=("body", "status"),
        )


def _strs(ids: list[UUID]) -> list[str]:
    return [str(i) for i in ids]


async def update_visit(
    session: AsyncSession, principal: Principal, visit_id: UUID, data: VisitUpdate, if_match: str | None
) -> VisitWithIdeas:
    visit = await get_for_write(session, principal, Visit, visit_id)
    require(principal, Resource.visits, Action.update)
    ensure_match(if_match, crud.etag(visit))
    changes: dict[str, Any] = data.model_dump(exclude_unset=True, exclude={"idea_ids"})
    for required in ("scheduled_at", "kind", "status", "expert_id", "idea_ids"):
        if required in data.model_fields_set and getattr(data, required) is None:
            raise Unprocessable(f"{required} cannot be null", loc=("body", required))
    if {"status", "scheduled_at"} & changes.keys():
        _not_completed_ahead(changes.get("status", visit.status), changes.get("scheduled_at", visit.scheduled_at))
    if rechecks_visiting_expert(principal, visit, changes.get("expert_id", visit.expert_id)):
        changes["expert_id"] = await _visiting_expert(
            session, principal, visit.enterprise_id, changes.get("expert_id", visit.expert_id)
        )
    old_ideas = (await idea_ids_of(session, [visit.id]))[visit.id]
    new_ideas = old_ideas
    if data.idea_ids is not None:
        new_ideas = await _checked_idea_ids(session, visit.enterprise_id, data.idea_ids)
    visit = await crud.apply_changes(session, principal, visit, changes, if_match)
    if new_ideas != old_ideas:
        await _replace_ideas(session, visit.id, old_ideas, new_ideas)
        visit.updated_at = utcnow()
        session.add(visit)
        await session.flush()
        await audit.record(
            session, principal, "update", "visit", visit.id, {"idea_ids": [_strs(old_ideas), _strs(new_ideas)]}
        )
    return visit, new_ideas


async def delete_visit(session: AsyncSession, principal: Principal, visit_id: UUID) -> None:
    visit = await get_for_write(session, principal, Visit, visit_id)
    require(principal, Resource.visits, Action.delete)
    if not may_delete_visit(principal, visit):
        raise Forbidden("experts delete their own visits only")
    await crud.delete(session, principal, visit, "the visit")
