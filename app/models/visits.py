"""On-site consultations by certified experts, and the ideas discussed there."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlmodel import Field, SQLModel

from app.models.base import TIMESTAMP, TableBase, enum_column
from app.models.enums import VisitKind, VisitStatus


class Visit(TableBase, table=True):
    __tablename__ = "visits"

    enterprise_id: UUID = Field(foreign_key="enterprises.id", index=True)
    expert_id: UUID = Field(foreign_key="users.id", index=True)
    scheduled_at: datetime = Field(sa_type=TIMESTAMP)
    kind: VisitKind = Field(sa_type=enum_column(VisitKind, "visit_kind"))
    status: VisitStatus = Field(sa_type=enum_column(VisitStatus, "visit_status"), index=True)
    findings: str | None = Field(default=None, max_length=20_000)


class VisitIdea(SQLModel, table=True):
    __tablename__ = "visit_ideas"

    visit_id: UUID = Field(foreign_key="visits.id", primary_key=True, ondelete="CASCADE")
    idea_id: UUID = Field(foreign_key="ideas.id", primary_key=True, index=True, ondelete="CASCADE")
