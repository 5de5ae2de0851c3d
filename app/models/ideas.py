"""Improvement ideas and the record of their life-cycle transitions."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from app.ids import utcnow, uuid7
from app.models.base import TIMESTAMP, TableBase, enum_column
from app.models.enums import IdeaCategory, IdeaStatus

MONEY = sa.Numeric(18, 2)


class Idea(TableBase, table=True):
    __tablename__ = "ideas"

    enterprise_id: UUID = Field(foreign_key="enterprises.id", index=True)
    title: str = Field(max_length=200)
    description: str | None = Field(default=None, max_length=10_000)
    category: IdeaCategory = Field(sa_type=enum_column(IdeaCategory, "idea_category"), index=True)
    status: IdeaStatus = Field(sa_type=enum_column(IdeaStatus, "idea_status"), index=True)
    training_id: UUID | None = Field(default=None, foreign_key="trainings.id", index=True)
    visit_id: UUID | None = Field(default=None, foreign_key="visits.id", index=True)
    savings_amount: Decimal | None = Field(default=None, sa_type=MONEY)
    savings_currency: str | None = Field(default=None, max_length=3)
    investment_amount: Decimal | None = Field(default=None, sa_type=MONEY)
    investment_currency: str | None = Field(default=None, max_length=3)
    effect_metric: str | None = Field(default=None, foreign_key="metrics.code")
    effect_change: float | None = None
    owner_team: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONB)


class IdeaTransition(SQLModel, table=True):
    """Who moved an idea from which status to which, and when."""

    __tablename__ = "idea_transitions"

    id: UUID = Field(default_factory=uuid7, primary_key=True)
    idea_id: UUID = Field(foreign_key="ideas.id", index=True, ondelete="CASCADE")
    from_status: IdeaStatus = Field(sa_type=enum_column(IdeaStatus, "idea_status"))
    to_status: IdeaStatus = Field(sa_type=enum_column(IdeaStatus, "idea_status"))
    actor: str = Field(max_length=80)
    note: str | None = Field(default=None, max_length=2000)
    created_at: datetime = Field(default_factory=utcnow, sa_type=TIMESTAMP)
