"""On-site consultations by certified experts, and the ideas discussed there."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated
from uuid import UUID

from pydantic import AfterValidator, ConfigDict, StringConstraints
from pydantic import Field as PydanticField
from sqlmodel import Field, SQLModel

from app.models.base import TIMESTAMP, InputModel, NoNull, PublicBase, TableBase, enum_column, trigram_index
from app.models.client_ids import ClientIdentified
from app.models.enums import VisitKind, VisitStatus
from app.models.types import Rfc3339


class Visit(TableBase, table=True):
    __tablename__ = "visits"
    __table_args__ = (trigram_index("visits", "findings"),)

    enterprise_id: UUID = Field(foreign_key="enterprises.id", index=True)
    expert_id: UUID = Field(foreign_key="users.id", index=True)
    scheduled_at: datetime = Field(sa_type=TIMESTAMP)
    kind: VisitKind = Field(sa_type=enum_column(VisitKind, "visit_kind"))
    status: VisitStatus = Field(sa_type=enum_column(VisitStatus, "visit_status"), index=True)
    findings: str | None = Field(default=None, max_length=20_000)


class VisitSort(StrEnum):
    """`sort` of the list: a field, ascending, or `-field`, descending (NULLs last either way)."""

    scheduled_at_asc = "scheduled_at"
    scheduled_at_desc = "-scheduled_at"
    created_at_asc = "created_at"
    created_at_desc = "-created_at"
    updated_at_asc = "updated_at"
    updated_at_desc = "-updated_at"


class VisitIdea(SQLModel, table=True):
    __tablename__ = "visit_ideas"

    visit_id: UUID = Field(foreign_key="visits.id", primary_key=True, ondelete="CASCADE")
    idea_id: UUID = Field(foreign_key="ideas.id", primary_key=True, index=True, ondelete="CASCADE")


# --- API schemas ------------------------------------------------------------------------------

UtcDatetime = Annotated[Rfc3339, AfterValidator(lambda value: value.astimezone(UTC))]
Findings = Annotated[str, StringConstraints(max_length=20_000)]
IdeaIds = Annotated[
    list[UUID],
    PydanticField(max_length=200, description="Ideas of the same enterprise discussed during the visit."),
]


class VisitCreate(ClientIdentified):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "enterprise_id": "01930000-0000-7000-8000-000000000010",
                    "scheduled_at": "2026-03-12T09:30:00+05:30",
                    "kind": "consultation",
                    "findings": "Compressed-air leaks on line 2; curing press uninsulated.",
                    "idea_ids": ["01930000-0000-7000-8000-000000000030"],
                }
            ]
        }
    )

    enterprise_id: UUID
    scheduled_at: UtcDatetime
    kind: VisitKind
    expert_id: UUID | None = PydanticField(
        default=None,
        description="The visiting expert: assigned to the enterprise and certified. An expert records their own visits "
        "(defaults to the caller); partners and admins must name one.",
    )
    status: VisitStatus = VisitStatus.scheduled
    findings: Findings | None = None
    idea_ids: IdeaIds = PydanticField(default_factory=list)


class VisitUpdate(InputModel):
    scheduled_at: UtcDatetime | NoNull = None
    kind: VisitKind | NoNull = None
    expert_id: UUID | NoNull = None
    status: VisitStatus | NoNull = None
    findings: Findings | None = None
    idea_ids: IdeaIds | NoNull = PydanticField(default=None, description="Replaces the set of ideas discussed.")


class VisitPublic(PublicBase):
    enterprise_id: UUID
    expert_id: UUID
    scheduled_at: datetime
    kind: VisitKind
    status: VisitStatus
    findings: str | None
    idea_ids: list[UUID]

    @classmethod
    def of(cls, visit: Visit, idea_ids: list[UUID]) -> VisitPublic:
        return cls.model_validate({**visit.model_dump(), "idea_ids": idea_ids})
