"""The maintained progress record of each enterprise (API.md §7).

One row per enterprise, recomputed in PostgreSQL in the same transaction as any write that
feeds it, and stamped under a transaction-scoped lock so that `updated_at` follows commit
order: see app/services/progress.py for why incremental sync then misses nothing.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from pydantic import Field as PydanticField
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from app.models.base import TIMESTAMP
from app.models.enums import MetricDirection
from app.models.ideas import Money


class ProgressRecord(SQLModel, table=True):
    __tablename__ = "progress_records"
    __table_args__ = (sa.Index("ix_progress_records_updated_at_enterprise_id", "updated_at", "enterprise_id"),)

    enterprise_id: UUID = Field(foreign_key="enterprises.id", primary_key=True, ondelete="CASCADE")
    partner_id: UUID = Field(index=True)
    country: str = Field(max_length=2, index=True)
    sector: str = Field(max_length=5, index=True)
    record: dict[str, Any] = Field(sa_type=JSONB)
    body: str = Field(sa_type=sa.Text, description="`record` rendered as JSON text once, served as-is.")
    updated_at: datetime = Field(sa_type=TIMESTAMP)


# --- What the API shows (declared for the OpenAPI document; served as bytes built by PostgreSQL).


class ProgressEnterprise(SQLModel):
    id: UUID
    name: str
    country: str
    sector: str


class ProgressProgramme(SQLModel):
    modules_completed: list[str]
    score4climate_completed_on: date | None
    visits_completed: int
    last_visit_on: date | None


class ProgressIdeas(SQLModel):
    by_status: dict[str, int]
    implemented_estimated_annual_savings: list[Money] = PydanticField(
        description="Expected annual savings of implemented (and verified) ideas, per currency."
    )


class MetricBaseline(SQLModel):
    value: float
    per_year: float | None = PydanticField(default=None, description="Flow metrics: value ÷ days × 365.")
    period_start: date
    period_end: date


class MetricLatest(MetricBaseline):
    verified: bool


class MetricProgress(SQLModel):
    metric: str
    unit: str
    direction: MetricDirection
    baseline: MetricBaseline | None
    latest: MetricLatest | None
    change_abs: float | None
    change_pct: float | None = PydanticField(description="Null when the baseline is 0 or a side is missing.")
    improved: bool | None


class FactorUsed(SQLModel):
    metric: str
    country: str | None
    kg_co2e_per_unit: float
    source: str
    year: int


class ProgressEmissions(SQLModel):
    baseline_tco2e_per_year: float | None
    latest_tco2e_per_year: float | None
    reduction_tco2e_per_year: float | None
    reduction_pct: float | None
    factors: list[FactorUsed] = PydanticField(description="The emission factors used, so the figure can be audited.")


class ProgressRecordPublic(SQLModel):
    enterprise: ProgressEnterprise
    programme: ProgressProgramme
    ideas: ProgressIdeas
    metrics: list[MetricProgress]
    emissions: ProgressEmissions
    updated_at: datetime


class ProgressPage(SQLModel):
    items: list[ProgressRecordPublic]
    next_cursor: str | None


class MetricPortfolio(SQLModel):
    metric: str
    unit: str
    direction: MetricDirection
    enterprises_measured: int = PydanticField(description="Enterprises with both a baseline and a latest value.")
    enterprises_improved: int
    total_change_abs: float | None
    median_change_abs: float | None
    median_change_pct: float | None


class Portfolio(SQLModel):
    enterprises: int
    modules_completed: dict[str, int]
    ideas_by_status: dict[str, int]
    metrics: list[MetricPortfolio]
    total_reduction_tco2e_per_year: float
