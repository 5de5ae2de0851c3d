"""Measured results of an enterprise against its baseline."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated
from uuid import UUID

import sqlalchemy as sa
from pydantic import ConfigDict, StringConstraints, computed_field, model_validator
from pydantic import Field as PydanticField
from sqlmodel import Field

from app.models.base import TIMESTAMP, InputModel, NoNull, PublicBase, TableBase, enum_column, trigram_index
from app.models.client_ids import ClientIdentified
from app.models.enums import ResultSource
from app.models.reference import MetricCode, refuse_nulls
from app.models.types import NOT_BLANK, IsoDate


class Result(TableBase, table=True):
    __tablename__ = "results"
    __table_args__ = (
        trigram_index("results", "metric"),
        sa.UniqueConstraint("enterprise_id", "metric", "period_start", "period_end"),
        sa.Index(
            "uq_results_one_baseline", "enterprise_id", "metric", unique=True, postgresql_where=sa.text("is_baseline")
        ),
        sa.CheckConstraint("period_end >= period_start", name="period_order"),
        sa.CheckConstraint("value >= 0", name="value_non_negative"),
    )

    enterprise_id: UUID = Field(foreign_key="enterprises.id", index=True)
    metric: str = Field(foreign_key="metrics.code", index=True)
    period_start: date
    period_end: date
    value: float
    is_baseline: bool = False
    idea_id: UUID | None = Field(default=None, foreign_key="ideas.id", index=True)
    source: ResultSource = Field(sa_type=enum_column(ResultSource, "result_source"))
    recorded_by: str | None = Field(default=None, max_length=80)
    verified_at: datetime | None = Field(default=None, sa_type=TIMESTAMP)
    verified_by: UUID | None = Field(default=None, foreign_key="users.id")


Value = Annotated[
    float,
    PydanticField(
        ge=0,
        le=1e15,
        allow_inf_nan=False,
        description="Finite, non-negative and at most 10^15 (so annualised sums stay exact); 0-100 for `%` metrics.",
        examples=[78.0],
    ),
]
UnitCheck = Annotated[
    str,
    StringConstraints(min_length=1, max_length=20, pattern=NOT_BLANK),
    PydanticField(description="Optional check: when given it must be the metric's unit.", examples=["%"]),
]
SOURCE_DESCRIPTION = (
    "Who measured it. Server-owned for SMEs (`self_reported`); experts, partners and admins default to "
    "`expert` and may record an SME's own report as `self_reported`."
)


class ResultSort(StrEnum):
    """`sort` of the list: a field, ascending, or `-field`, descending (NULLs last either way)."""

    period_end_asc = "period_end"
    period_end_desc = "-period_end"
    value_asc = "value"
    value_desc = "-value"
    verified_at_asc = "verified_at"
    verified_at_desc = "-verified_at"
    created_at_asc = "created_at"
    created_at_desc = "-created_at"
    updated_at_asc = "updated_at"
    updated_at_desc = "-updated_at"


class ResultCreate(ClientIdentified):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "enterprise_id": "01930000-0000-7000-8000-000000000001",
                    "metric": "yield_rate",
                    "period_start": "2025-01-01",
                    "period_end": "2025-12-31",
                    "value": 78.0,
                    "unit": "%",
                    "is_baseline": True,
                }
            ]
        }
    )

    enterprise_id: UUID
    metric: MetricCode
    period_start: IsoDate
    period_end: IsoDate = PydanticField(description="On or after `period_start`; both dates are inclusive.")
    value: Value
    unit: UnitCheck | None = None
    is_baseline: bool = False
    idea_id: UUID | None = PydanticField(
        default=None, description="An idea of the same enterprise this result measures."
    )
    source: ResultSource | None = PydanticField(default=None, description=SOURCE_DESCRIPTION)


class ResultUpdate(InputModel):
    """Every field optional; the combination is validated again against the metric."""

    metric: MetricCode | NoNull = None
    period_start: IsoDate | NoNull = None
    period_end: IsoDate | NoNull = None
    value: Value | NoNull = None
    unit: UnitCheck | None = None
    is_baseline: bool | NoNull = None
    idea_id: UUID | None = None
    source: ResultSource | NoNull = PydanticField(default=None, description=SOURCE_DESCRIPTION)

    @model_validator(mode="after")
    def _no_nulls(self) -> ResultUpdate:
        refuse_nulls(self, ("metric", "period_start", "period_end", "value", "is_baseline", "source"))
        return self


class ResultPublic(PublicBase):
    enterprise_id: UUID
    metric: str
    period_start: date
    period_end: date
    value: float
    unit: str = PydanticField(description="The metric's unit.")
    is_baseline: bool
    idea_id: UUID | None
    source: ResultSource
    recorded_by: str | None = PydanticField(description="`user:<id>` or `client:<id>` of whoever recorded it.")
    verified_at: datetime | None
    verified_by: UUID | None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def verified(self) -> bool:
        return self.verified_at is not None
