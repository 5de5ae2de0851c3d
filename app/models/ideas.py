"""Improvement ideas and the record of their life-cycle transitions."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any
from uuid import UUID

import sqlalchemy as sa
from pydantic import ConfigDict, PlainSerializer, StringConstraints, WithJsonSchema, model_validator
from pydantic import Field as PydanticField
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from app.ids import utcnow, uuid7
from app.models.base import TIMESTAMP, InputModel, NoNull, PublicBase, TableBase, enum_column, trigram_index
from app.models.client_ids import ClientIdentified
from app.models.enums import Gender, IdeaCategory, IdeaStatus, ParticipantRole
from app.models.types import CurrencyCode, Name, ShortText

MONEY = sa.Numeric(18, 2)
LongText = Annotated[str, StringConstraints(max_length=10_000)]


class Idea(TableBase, table=True):
    __tablename__ = "ideas"
    __table_args__ = (trigram_index("ideas", "title"),)

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


class IdeaSort(StrEnum):
    """`sort` of the list: a field, ascending, or `-field`, descending (NULLs last either way)."""

    title_asc = "title"
    title_desc = "-title"
    created_at_asc = "created_at"
    created_at_desc = "-created_at"
    updated_at_asc = "updated_at"
    updated_at_desc = "-updated_at"


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


# --- API schemas ------------------------------------------------------------------------------

Amount = Annotated[
    Decimal,
    PydanticField(ge=0, lt=Decimal("1e16"), max_digits=18, decimal_places=2, allow_inf_nan=False),
    PlainSerializer(float, return_type=float, when_used="json"),
    WithJsonSchema(
        {
            "type": "number",
            "minimum": 0,
            "exclusiveMaximum": 1e16,
            "multipleOf": 0.01,
            "description": "Non-negative, at most 2 decimal places.",
        }
    ),
]


class Money(InputModel):
    """An amount of money in a currency."""

    amount: Amount
    currency: CurrencyCode


class ExpectedEffect(InputModel):
    """The change the idea is expected to bring to one KPI of the catalogue (`/v1/metrics`)."""

    metric: str = PydanticField(min_length=1, max_length=64, description="A metric code, e.g. `electricity`.")
    change: float = PydanticField(
        allow_inf_nan=False,
        description="Expected change per year in the metric's unit (negative for a decrease).",
    )


class TeamMember(InputModel):
    """A member of the enterprise team owning the idea: managers and workers together."""

    role: ParticipantRole
    name: Name | None = None
    gender: Gender | None = None


OwnerTeam = Annotated[list[TeamMember], PydanticField(max_length=50)]


class IdeaCreate(ClientIdentified):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "enterprise_id": "01930000-0000-7000-8000-000000000010",
                    "title": "Recover heat from the curing press",
                    "category": "energy",
                    "description": "Insulate the press platens and reuse the exhaust heat to pre-warm moulds.",
                    "training_id": "01930000-0000-7000-8000-000000000020",
                    "expected_annual_savings": {"amount": 250000, "currency": "INR"},
                    "investment": {"amount": 400000, "currency": "INR"},
                    "expected_effect": {"metric": "electricity", "change": -18000},
                    "owner_team": [
                        {"role": "manager", "name": "R. Shah", "gender": "male"},
                        {"role": "worker", "name": "P. Devi", "gender": "female"},
                    ],
                }
            ]
        }
    )

    enterprise_id: UUID
    title: Name
    category: IdeaCategory
    description: LongText | None = None
    training_id: UUID | None = PydanticField(
        default=None, description="The workshop the idea came from; the enterprise must be enrolled in it."
    )
    visit_id: UUID | None = PydanticField(
        default=None, description="The visit the idea came from; it must be a visit of the same enterprise."
    )
    expected_annual_savings: Money | None = None
    investment: Money | None = None
    expected_effect: ExpectedEffect | None = None
    owner_team: OwnerTeam = PydanticField(default_factory=list)


class IdeaUpdate(InputModel):
    """Every field optional; `status` changes only through `/v1/ideas/{id}/transitions`."""

    title: Name | NoNull = None
    category: IdeaCategory | NoNull = None
    description: LongText | None = None
    training_id: UUID | None = None
    visit_id: UUID | None = None
    expected_annual_savings: Money | None = None
    investment: Money | None = None
    expected_effect: ExpectedEffect | None = None
    owner_team: OwnerTeam | NoNull = None


def _money(amount: Decimal | None, currency: str | None) -> dict[str, Any] | None:
    return None if amount is None or currency is None else {"amount": amount, "currency": currency}


class IdeaPublic(PublicBase):
    enterprise_id: UUID
    title: str
    category: IdeaCategory
    description: str | None
    status: IdeaStatus = PydanticField(description="Read-only; moved by `POST /v1/ideas/{id}/transitions`.")
    training_id: UUID | None
    visit_id: UUID | None
    expected_annual_savings: Money | None
    investment: Money | None
    expected_effect: ExpectedEffect | None
    owner_team: list[TeamMember]

    @model_validator(mode="before")
    @classmethod
    def _from_row(cls, data: Any) -> Any:
        """The table stores money and effect in flat columns; the API shows them as objects."""
        if not isinstance(data, Idea):
            return data
        plain = ("id", "created_at", "updated_at", "enterprise_id", "title", "category", "description", "status")
        return {
            **{name: getattr(data, name) for name in (*plain, "training_id", "visit_id", "owner_team")},
            "expected_annual_savings": _money(data.savings_amount, data.savings_currency),
            "investment": _money(data.investment_amount, data.investment_currency),
            "expected_effect": (
                None
                if data.effect_metric is None or data.effect_change is None
                else {"metric": data.effect_metric, "change": data.effect_change}
            ),
        }


class TransitionRequest(InputModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"to": "approved", "note": "agreed with the plant manager"}]}
    )

    to: IdeaStatus
    note: ShortText | None = None


class IdeaTransitionPublic(SQLModel):
    """One step of an idea's life cycle: who moved it from which status to which, and when."""

    model_config = ConfigDict(populate_by_name=True)  # type: ignore[assignment]

    id: UUID
    idea_id: UUID
    from_: IdeaStatus = PydanticField(alias="from")
    to: IdeaStatus
    actor: str = PydanticField(description="Who made the move, e.g. `user:<id>`.")
    note: str | None
    at: datetime

    @model_validator(mode="before")
    @classmethod
    def _from_row(cls, data: Any) -> Any:
        if not isinstance(data, IdeaTransition):
            return data
        return {
            "id": data.id,
            "idea_id": data.idea_id,
            "from": data.from_status,
            "to": data.to_status,
            "actor": data.actor,
            "note": data.note,
            "at": data.created_at,
        }
