"""Enrollments: an enterprise's team in a training, its attendance and completion.

The programme's path is enforced here: an enterprise enters a `score4climate` training only
after it completed a `workplace_cooperation` or `score_basics` training.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.errors import Conflict, PrerequisiteNotMet, Unprocessable
from app.models.enterprises import Enterprise
from app.models.enums import PREREQUISITE_MODULES, Module
from app.models.trainings import Enrollment, EnrollmentCreate, EnrollmentUpdate, Training
from app.pagination import PageParams
from app.principal import Principal
from app.services import client_ids, crud
from app.services.access import Action, Resource, get_visible, require, scoped
from app.services.locking import get_for_write, lock_enterprise

NOT_NULL = ("participants", "attended")


def _check_completed(training: Training, completed_at: datetime | None) -> None:
    if completed_at is not None and completed_at.astimezone(UTC).date() < training.start_date:
        raise Unprocessable(
            f"completed_at cannot be before the training's start date ({training.start_date})",
            loc=("body", "completed_at"),
        )


_NEEDED = (
    "this completed enrollment is the enterprise's only prerequisite for its score4climate enrollment; "
    "remove that enrollment first"
)


async def _depends_on_prerequisite(session: AsyncSession, enrollment: Enrollment) -> bool:
    """True when removing this enrollment's completion would leave a score4climate enrollment
    of the same enterprise without any completed prerequisite. The caller holds the
    enterprise's lock (locking.py), so no other change of its enrollments can interleave."""
    training = await session.get(Training, enrollment.training_id)
    if training is None or training.module not in PREREQUISITE_MODULES or enrollment.completed_at is None:
        return False
    in_score4climate = (
        select(Enrollment.id)
        .join(Training, Training.id == Enrollment.training_id)  # type: ignore[arg-type]
        .where(Enrollment.enterprise_id == enrollment.enterprise_id, Training.module == Module.score4climate)
        .limit(1)
    )
    if (await session.exec(in_score4climate)).first() is None:
        return False
    other_prerequisite = (
        select(Enrollment.id)
        .join(Training, Training.id == Enrollment.training_id)  # type: ignore[arg-type]
        .where(
            Enrollment.enterprise_id == enrollment.enterprise_id,
            Enrollment.id != enrollment.id,
            Enrollment.completed_at.is_not(None),  # type: ignore[union-attr]
            Training.module.in_(sorted(PREREQUISITE_MODULES)),  # type: ignore[attr-defined]
        )
        .limit(1)
    )
    return (await session.exec(other_prerequisite)).first() is None


async def ensure_prerequisite(session: AsyncSession, enterprise_id: UUID) -> None:
    """409 unless the enterprise completed a workplace cooperation or SCORE Basics training
    (the caller holds the enterprise's lock)."""
    query = (
        select(Enrollment.id)
        .join(Training, Training.id == Enrollment.training_id)  # type: ignore[arg-type]
        .where(
            Enrollment.enterprise_id == enterprise_id,
            Enrollment.completed_at.is_not(None),  # type: ignore[union-attr]
            Training.module.in_(sorted(PREREQUISITE_MODULES)),  # type: ignore[attr-defined]
        )
        .limit(1)
    )
    if (await session.exec(query)).first() is None:
        raise PrerequisiteNotMet(
            "the enterprise has not completed the prerequisite module: it needs an enrollment with "
            "completed_at set in a workplace_cooperation or score_basics training before it can be "
            "enrolled in score4climate"
        )


async def list_enrollments(
    session: AsyncSession,
    principal: Principal,
    page: PageParams,
    training_id: UUID,
    enterprise_id: UUID | None,
    attended: bool | None,
    updated_since: datetime | None,
) -> tuple[list[Enrollment], str | None]:
    await get_visible(session, principal, Training, training_id)
    require(principal, Resource.enrollments, Action.read)
    filters = [
        Enrollment.training_id == training_id,
        crud.eq(Enrollment.enterprise_id, enterprise_id),
        crud.eq(Enrollment.attended, attended),
    ]
    return await crud.list_page(session, principal, Enrollment, page, filters, updated_since)  # type: ignore[arg-type]


async def get_enrollment(session: AsyncSession, principal: Principal, enrollment_id: UUID) -> Enrollment:
    return await get_visible(session, principal, Enrollment, enrollment_id)


async def create_enrollment(
    session: AsyncSession, principal: Principal, training_id: UUID, data: EnrollmentCreate
) -> Enrollment:
    training = await get_visible(session, principal, Training, training_id)
    require(principal, Resource.enrollments, Action.create)
    claim = await client_ids.claim(session, principal, "enrollment", data, scope=str(training.id))
    if claim.replay:
        return await client_ids.replayed(session, principal, Enrollment, claim)
    own = scoped(principal, Enterprise).where(Enterprise.id == data.enterprise_id)
    if (await session.exec(own)).first() is None:
        raise Unprocessable("enterprise_id must name one of your enterprises", loc=("body", "enterprise_id"))
    await lock_enterprise(session, data.enterprise_id)
    if training.module is Module.score4climate:
        await ensure_prerequisite(session, data.enterprise_id)
    _check_completed(training, data.completed_at)
    enrollment = Enrollment(
        **claim.fields(),
        training_id=training.id,
        enterprise_id=data.enterprise_id,
        participants=[p.model_dump(mode="json") for p in data.participants],
        attended=data.attended,
        completed_at=data.completed_at,
    )
    return await crud.insert(session, principal, enrollment, "the enterprise is already enrolled in this training")


async def update_enrollment(
    session: AsyncSession, principal: Principal, enrollment_id: UUID, data: EnrollmentUpdate, if_match: str | None
) -> Enrollment:
    enrollment = await get_for_write(session, principal, Enrollment, enrollment_id)
    require(principal, Resource.enrollments, Action.update)
    changes: dict[str, Any] = data.model_dump(exclude_unset=True)
    for field in NOT_NULL:
        if field in changes and changes[field] is None:
            raise Unprocessable(f"{field} cannot be null", loc=("body", field))
    if data.participants is not None:
        changes["participants"] = [p.model_dump(mode="json") for p in data.participants]
    if changes.get("completed_at") is not None:
        training = await session.get(Training, enrollment.training_id)
        assert training is not None
        _check_completed(training, changes["completed_at"])
    elif "completed_at" in changes and await _depends_on_prerequisite(session, enrollment):
        raise Conflict(_NEEDED)
    return await crud.apply_changes(session, principal, enrollment, changes, if_match)


async def delete_enrollment(session: AsyncSession, principal: Principal, enrollment_id: UUID) -> None:
    enrollment = await get_for_write(session, principal, Enrollment, enrollment_id)
    require(principal, Resource.enrollments, Action.delete)
    if await _depends_on_prerequisite(session, enrollment):
        raise Conflict(_NEEDED)
    await crud.delete(session, principal, enrollment, "the enrollment")
