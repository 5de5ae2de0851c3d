"""Trainings (sessions of a module), their trainers, and enterprises' enrollments."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from app.models.base import TIMESTAMP, TableBase, enum_column
from app.models.enums import Module, TrainingStatus


class Training(TableBase, table=True):
    __tablename__ = "trainings"

    partner_id: UUID = Field(foreign_key="organisations.id", index=True)
    module: Module = Field(sa_type=enum_column(Module, "training_module"), index=True)
    title: str = Field(max_length=200)
    start_date: date
    end_date: date
    place: str | None = Field(default=None, max_length=200)
    status: TrainingStatus = Field(sa_type=enum_column(TrainingStatus, "training_status"), index=True)


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
