"""Measured results of an enterprise against its baseline."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

import sqlalchemy as sa
from sqlmodel import Field

from app.models.base import TIMESTAMP, TableBase, enum_column
from app.models.enums import ResultSource


class Result(TableBase, table=True):
    __tablename__ = "results"
    __table_args__ = (
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
