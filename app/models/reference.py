"""Reference data managed by admins: the KPI catalogue and emission factors."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Field

from app.models.base import TableBase, enum_column
from app.models.enums import IdeaCategory, MetricDirection, MetricKind


class Metric(TableBase, table=True):
    __tablename__ = "metrics"

    code: str = Field(max_length=64, unique=True)
    name: str = Field(max_length=200)
    unit: str = Field(max_length=20)
    direction: MetricDirection = Field(sa_type=enum_column(MetricDirection, "metric_direction"))
    kind: MetricKind = Field(sa_type=enum_column(MetricKind, "metric_kind"))
    category: IdeaCategory = Field(sa_type=enum_column(IdeaCategory, "idea_category"))
    description: str | None = Field(default=None, max_length=2000)


class EmissionFactor(TableBase, table=True):
    __tablename__ = "emission_factors"
    __table_args__ = (
        sa.Index(
            "uq_emission_factors_metric_country_year",
            "metric",
            sa.text("coalesce(country, '')"),
            "year",
            unique=True,
        ),
    )

    metric: str = Field(foreign_key="metrics.code", index=True)
    country: str | None = Field(default=None, max_length=2)
    kg_co2e_per_unit: float
    source: str = Field(max_length=500)
    year: int

