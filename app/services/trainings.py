"""Trainings: sessions of a module run by an implementing partner, with certified trainers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any
from uuid import UUID

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.errors import Conflict, Unprocessable
from app.http import ensure_match
from app.ids import utcnow
from app.models.enums import Module, TrainingStatus
from app.models.organisations import Organisation
from app.models.trainings import (
    Enrollment,
    Training,
    TrainingCreate,
    TrainingPublic,
    TrainingSort,
    TrainingTrainer,
    TrainingUpdate,
)
from app.models.types import OrganisationKind, Role
from app.models.users import User
from app.pagination import PageParams
from app.principal import Principal
from app.services import audit, crud
from app.services.access import Action, Resource, get_visible, own_organisation_named, require
from app.services.enterprises import ensure_certified

NOT_NULL = ("module", "title", "start_date", "end_date", "status", "trainer_ids")


async def trainer_ids_of(session: AsyncSession, training_ids: Sequence[UUID]) -> dict[UUID, list[UUID]]:
    """The trainers of many trainings in one query (`WHERE training_id IN (...)`)."""
    out: dict[UUID, list[UUID]] = {training_id: [] for training_id in training_ids}
    if not out:
        return out
    query = (
        select(TrainingTrainer)
        .where(TrainingTrainer.training_id.in_(list(out)))  # type: ignore[attr-defined]
        .order_by(TrainingTrainer.training_id, TrainingTrainer.user_id)  # type: ignore[arg-type]
    )
    for row in (await session.exec(query)).all():
        out[row.training_id].append(row.user_id)
    return out


def _public(training: Training, trainer_ids: list[UUID]) -> TrainingPublic:
    return TrainingPublic.model_validate({**training.model_dump(), "trainer_ids": trainer_ids})


async def _publish_one(session: AsyncSession, training: Training) -> TrainingPublic:
    return _public(training, (await trainer_ids_of(session, [training.id]))[training.id])


def check_dates(start_date: date, end_date: date) -> None:
    if end_date < start_date:
        raise Unprocessable("end_date must be on or after start_date", loc=("body", "end_date"))


async def _check_trainers(
    session: AsyncSession, partner_id: UUID, trainer_ids: Sequence[UUID], start_date: date
) -> list[UUID]:
    """Trainers are experts of the training's partner, certified on its start date (lapsed → 409)."""
    wanted = list(dict.fromkeys(trainer_ids))
    if not wanted:
        return []
    query = select(User).where(User.id.in_(wanted))  # type: ignore[attr-defined]
    users = {user.id: user for user in (await session.exec(query)).all()}
    for index, user_id in enumerate(trainer_ids):
        user = users.get(user_id)
        if user is None or user.role is not Role.expert or user.organisation_id != partner_id:
            raise Unprocessable(
                f"trainer {user_id} is not an expert of the training's partner", loc=("body", "trainer_ids", index)
            )
        ensure_certified(user, on=start_date, what=f"a trainer of a training starting on {start_date}")
    return wanted


async def _replace_trainers(session: AsyncSession, training_id: UUID, current: list[UUID], target: list[UUID]) -> None:
    removed = set(current) - set(target)
    if removed:
        query = select(TrainingTrainer).where(
            TrainingTrainer.training_id == training_id,
            TrainingTrainer.user_id.in_(removed),  # type: ignore[attr-defined]
        )
        for row in (await session.exec(query)).all():
            await session.delete(row)
    for user_id in target:
        if user_id not in current:
            session.add(TrainingTrainer(training_id=training_id, user_id=user_id))
    await session.flush()


async def _partner_of_new_training(session: AsyncSession, principal: Principal, partner_id: UUID | None) -> UUID:
    if principal.is_admin:
        partner = await session.get(Organisation, partner_id) if partner_id else None
        if partner is None or partner.kind is not OrganisationKind.partner:
            raise Unprocessable("partner_id must name an implementing partner organisation", loc=("body", "partner_id"))
        return partner.id
    own = own_organisation_named(principal, partner_id)
    if own is None:
        raise Unprocessable("partners create trainings of their own organisation only", loc=("body", "partner_id"))
    return own


async def list_trainings(
    session: AsyncSession,
    principal: Principal,
    page: PageParams,
    module: Module | None,
    status: TrainingStatus | None,
    partner_id: UUID | None,
    start_from: date | None,
    start_to: date | None,
    updated_since: datetime | None,
    *,
    q: str | None = None,
    sort: TrainingSort | None = None,
    count: bool = False,
) -> tuple[list[TrainingPublic], str | None]:
    require(principal, Resource.trainings, Action.read)
    filters = [
        crud.eq(Training.module, module),
        crud.eq(Training.status, status),
        crud.eq(Training.partner_id, partner_id),
        None if start_from is None else col(Training.start_date) >= start_from,
        None if start_to is None else col(Training.start_date) <= start_to,
        crud.contains(q, Training.title),
    ]
    rows, cursor = await crud.list_page(
        session, principal, Training, page, filters, updated_since, sort=sort, count=count
    )
    trainers = await trainer_ids_of(session, [row.id for row in rows])
    return [_public(row, trainers[row.id]) for row in rows], cursor


async def get_training(session: AsyncSession, principal: Principal, training_id: UUID) -> TrainingPublic:
    training = await get_visible(session, principal, Training, training_id)
    return await _publish_one(session, training)


async def create_training(session: AsyncSession, principal: Principal, data: TrainingCreate) -> TrainingPublic:
    require(principal, Resource.trainings, Action.create)
    partner_id = await _partner_of_new_training(session, principal, data.partner_id)
    check_dates(data.start_date, data.end_date)
    trainers = await _check_trainers(session, partner_id, data.trainer_ids, data.start_date)
    values = data.model_dump(exclude={"trainer_ids", "partner_id"})
    training = await crud.insert(
        session, principal, Training(partner_id=partner_id, **values), "training already exists"
    )
    if trainers:
        await _replace_trainers(session, training.id, [], trainers)
        changes = {"trainer_ids": [None, [str(t) for t in trainers]]}
        await audit.record(session, principal, "update", "training", training.id, changes)
    return _public(training, sorted(trainers))


async def _has_enrollments(session: AsyncSession, training_id: UUID) -> bool:
    query = select(Enrollment.id).where(Enrollment.training_id == training_id).limit(1)
    return (await session.exec(query)).first() is not None


async def update_training(
    session: AsyncSession, principal: Principal, training_id: UUID, data: TrainingUpdate, if_match: str | None
) -> TrainingPublic:
    training = await get_visible(session, principal, Training, training_id, for_update=True)
    require(principal, Resource.trainings, Action.update)
    ensure_match(if_match, crud.etag(training))
    changes: dict[str, Any] = data.model_dump(exclude_unset=True)
    for field in NOT_NULL:
        if field in changes and changes[field] is None:
            raise Unprocessable(f"{field} cannot be null", loc=("body", field))
    if changes.get("module", training.module) != training.module and await _has_enrollments(session, training.id):
        raise Conflict("the module of a training with enrollments cannot change (it would bypass the prerequisite)")
    wanted: list[UUID] | None = changes.pop("trainer_ids", None)
    start = changes.get("start_date", training.start_date)
    check_dates(start, changes.get("end_date", training.end_date))
    current = (await trainer_ids_of(session, [training.id]))[training.id]
    target = current
    if wanted is not None or "start_date" in changes:
        target = await _check_trainers(session, training.partner_id, current if wanted is None else wanted, start)
    training = await crud.apply_changes(session, principal, training, changes, if_match)
    if set(target) != set(current):
        await _replace_trainers(session, training.id, current, target)
        training.updated_at = utcnow()
        session.add(training)
        await session.flush()
        trainer_change = {"trainer_ids": [[str(t) for t in current], [str(t) for t in target]]}
        await audit.record(session, principal, "update", "training", training.id, trainer_change)
    return _public(training, sorted(target))


async def delete_training(session: AsyncSession, principal: Principal, training_id: UUID) -> None:
    """Refused (409) while enterprises are enrolled or ideas refer to the training."""
    training = await get_visible(session, principal, Training, training_id, for_update=True)
    require(principal, Resource.trainings, Action.delete)
    await crud.delete(session, principal, training, "the training")
