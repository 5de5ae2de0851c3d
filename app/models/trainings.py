"""Trainings (sessions of a module), their trainers, and enterprises' enrollments."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any
from uuid import UUID

import sqlalchemy as sa
from pydantic import ConfigDict
from pydantic import Field as PydanticField
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from app.models.base import TIMESTAMP, InputModel, NoNull, PublicBase, TableBase, enum_column, trigram_index
from app.models.client_ids import ClientIdentified
from app.models.enums import Gender, Module, ParticipantRole, TrainingStatus
from app.models.types import IsoDate, Name, Rfc3339


class Training(TableBase, table=True):
    __tablename__ = "trainings"
    __table_args__ = (trigram_index("trainings", "title"),)

    partner_id: UUID = Field(foreign_key="organisations.id", index=True)
    module: Module = Field(sa_type=enum_column(Module, "training_module"), index=True)
    title: str = Field(max_length=200)
    start_date: date
    end_date: date
    place: str | None = Field(default=None, max_length=200)
    status: TrainingStatus = Field(sa_type=enum_column(TrainingStatus, "training_status"), index=True)


class TrainingSort(StrEnum):
    """`sort` of the list: a field, ascending, or `-field`, descending (NULLs last either way)."""

    title_asc = "title"
    title_desc = "-title"
    start_date_asc = "start_date"
    start_date_desc = "-start_date"
    created_at_asc = "created_at"
    created_at_desc = "-created_at"
    updated_at_asc = "updated_at"
    updated_at_desc = "-updated_at"


class TrainingTrainer(SQLModel, table=True):
    __tablename__ = "training_trainers"

    training_id: UUID = Field(foreign_key="trainings.id", primary_key=True, ondelete="CASCADE")
    user_id: UUID = Field(foreign_key="users.id", primary_key=True, index=True)


class Enrollment(TableBase, table=True):
    __tablename__ = "enrollments"
    __table_args__ = (sa.UniqueConstraint("training_id", "enterprise_id"),)

    training_id: UUID = Field(foreign_key="trainings.id", index=True)
    enterprise_id: UUID = Field(foreign_key="enterprises.id", index=True)
    participants: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONB)
    attended: bool = False
    completed_at: datetime | None = Field(default=None, sa_type=TIMESTAMP)


MAX_TRAINERS = 50
MAX_PARTICIPANTS = 500


class TrainingCreate(InputModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "module": "score4climate",
                    "title": "SCORE4Climate workshop, Chennai",
                    "start_date": "2025-03-10",
                    "end_date": "2025-03-11",
                    "place": "Chennai",
                    "trainer_ids": ["01930000-0000-7000-8000-000000000005"],
                }
            ]
        }
    )

    module: Module
    title: Name
    start_date: IsoDate
    end_date: IsoDate = PydanticField(description="On or after `start_date`.")
    place: Name | None = None
    status: TrainingStatus = TrainingStatus.planned
    trainer_ids: list[UUID] = PydanticField(
        default_factory=list,
        max_length=MAX_TRAINERS,
        description="Experts of the training's partner, certified on `start_date`.",
    )
    partner_id: UUID | None = PydanticField(
        default=None, description="Admins choose; a partner's trainings are its own."
    )


class TrainingUpdate(InputModel):
    module: Module | NoNull = None
    title: Name | NoNull = None
    start_date: IsoDate | NoNull = None
    end_date: IsoDate | NoNull = None
    place: Name | None = None
    status: TrainingStatus | NoNull = None
    trainer_ids: Annotated[list[UUID], PydanticField(max_length=MAX_TRAINERS)] | NoNull = PydanticField(
        default=None, description="Replaces the whole list of trainers."
    )


class TrainingPublic(PublicBase):
    model_config = ConfigDict(from_attributes=True)  # type: ignore[assignment]

    partner_id: UUID
    module: Module
    title: str
    start_date: date
    end_date: date
    place: str | None
    status: TrainingStatus
    trainer_ids: list[UUID]


class Participant(InputModel):
    role: ParticipantRole
    gender: Gender
    name: Name | None = None


Participants = Annotated[list[Participant], PydanticField(max_length=MAX_PARTICIPANTS)]


class EnrollmentCreate(ClientIdentified):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "enterprise_id": "01930000-0000-7000-8000-000000000010",
                    "participants": [
                        {"role": "manager", "gender": "female", "name": "Priya N."},
                        {"role": "worker", "gender": "male"},
                    ],
                    "attended": False,
                }
            ]
        }
    )

    enterprise_id: UUID
    participants: Participants = PydanticField(default_factory=list)
    attended: bool = False
    completed_at: Rfc3339 | None = PydanticField(default=None, description="Not before the training's start date.")


class EnrollmentUpdate(InputModel):
    participants: Participants | NoNull = None
    attended: bool | NoNull = None
    completed_at: Rfc3339 | None = None


class EnrollmentPublic(PublicBase):
    model_config = ConfigDict(from_attributes=True)  # type: ignore[assignment]

    training_id: UUID
    enterprise_id: UUID
    participants: list[Participant]
    attended: bool
    completed_at: datetime | None
