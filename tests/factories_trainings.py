"""Factories for enterprises, trainings and enrollments (tests of trainings and supplier links)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from app.models.enterprises import Enterprise, EnterpriseExpert
from app.models.enums import Module, TrainingStatus
from app.models.organisations import Organisation
from app.models.trainings import Enrollment, Training, TrainingTrainer
from app.models.users import User
from tests.factories import Factory


async def make_enterprise(factory: Factory, partner_org: Organisation, **kw: Any) -> Enterprise:
    values: dict[str, Any] = {
        "name": factory.unique("ent"),
        "country": "IN",
        "sector": "2219",
        "partner_id": partner_org.id,
    }
    values.update(kw)
    return await factory.save(Enterprise(**values))  # type: ignore[no-any-return]


async def assign(factory: Factory, enterprise: Enterprise, expert: User) -> None:
    await factory.save(EnterpriseExpert(enterprise_id=enterprise.id, user_id=expert.id))


async def make_training(
    factory: Factory,
    partner_org: Organisation,
    module: Module | str = Module.workplace_cooperation,
    start_date: date = date(2025, 3, 10),
    end_date: date | None = None,
    trainers: list[User] = (),  # type: ignore[assignment]
    **kw: Any,
) -> Training:
    training = Training(
        partner_id=partner_org.id,
        module=Module(module),
        title=kw.pop("title", factory.unique("training")),
        start_date=start_date,
        end_date=end_date or start_date,
        status=kw.pop("status", TrainingStatus.planned),
        **kw,
    )
    await factory.save(training)
    for trainer in trainers:
        await factory.save(TrainingTrainer(training_id=training.id, user_id=trainer.id))
    return training


async def make_enrollment(
    factory: Factory, training: Training, enterprise: Enterprise, completed: bool = False, **kw: Any
) -> Enrollment:
    completed_at = datetime(training.end_date.year, training.end_date.month, training.end_date.day, 17, tzinfo=UTC)
    enrollment = Enrollment(
        training_id=training.id,
        enterprise_id=enterprise.id,
        completed_at=completed_at if completed else None,
        **kw,
    )
    return await factory.save(enrollment)  # type: ignore[no-any-return]
