"""Reference data managed by admins: the KPI catalogue and emission factors."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, StringConstraints, model_validator
from pydantic import Field as PydanticField
from sqlmodel import Field

from app.models.base import InputModel, NoNull, PublicBase, TableBase, enum_column
from app.models.enums import IdeaCategory, MetricDirection, MetricKind
from app.models.types import NOT_BLANK, CountryCode, Name, ShortText


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


def refuse_nulls(model: BaseModel, fields: Iterable[str]) -> None:
    """PATCH bodies: a field that is stored NOT NULL may be left out, but not set to null."""
    for name in fields:
        if name in model.model_fields_set and getattr(model, name) is None:
            raise ValueError(f"{name} cannot be null")


MetricCode = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z][a-z0-9_]{1,63}$"),
    PydanticField(description="Lowercase snake_case code, stable: integrators store it.", examples=["electricity"]),
]
Unit = Annotated[
    str,
    StringConstraints(min_length=1, max_length=20, pattern=NOT_BLANK),
    PydanticField(description="Unit of the values (`%` marks a percentage, 0-100).", examples=["kWh"]),
]
KgCo2e = Annotated[float, PydanticField(gt=0, allow_inf_nan=False, description="kg CO2e per unit of the metric.")]
FactorYear = Annotated[int, PydanticField(ge=1990, le=2100, description="Year the factor refers to.")]
Source = Annotated[str, StringConstraints(min_length=1, max_length=500, pattern=NOT_BLANK)]


class MetricCreate(InputModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "code": "steam",
                    "name": "Steam",
                    "unit": "t",
                    "direction": "decrease",
                    "kind": "flow",
                    "category": "energy",
                    "description": "Steam bought from a district supplier",
                }
            ]
        }
    )

    code: MetricCode
    name: Name
    unit: Unit
    direction: MetricDirection
    kind: MetricKind
    category: IdeaCategory
    description: ShortText | None = None


class MetricUpdate(InputModel):
    """`code` is immutable: results, ideas and factors refer to it."""

    name: Name | NoNull = None
    unit: Unit | NoNull = None
    direction: MetricDirection | NoNull = None
    kind: MetricKind | NoNull = None
    category: IdeaCategory | NoNull = None
    description: ShortText | None = None

    @model_validator(mode="after")
    def _no_nulls(self) -> MetricUpdate:
        refuse_nulls(self, ("name", "unit", "direction", "kind", "category"))
        return self


class MetricPublic(PublicBase):
    model_config = ConfigDict(from_attributes=True)  # type: ignore[assignment]

    code: str
    name: str
    unit: str
    direction: MetricDirection
    kind: MetricKind
    category: IdeaCategory
    description: str | None


class EmissionFactorCreate(InputModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "metric": "electricity",
                    "country": "IN",
                    "kg_co2e_per_unit": 0.716,
                    "source": "Central Electricity Authority of India, CO2 Baseline Database v19",
                    "year": 2023,
                }
            ]
        }
    )

    metric: MetricCode
    kg_co2e_per_unit: KgCo2e
    country: CountryCode | None = PydanticField(default=None, description="null: the global default.")
    source: Source
    year: FactorYear


class EmissionFactorUpdate(InputModel):
    """The metric of a factor is fixed; create a new factor for another metric."""

    kg_co2e_per_unit: KgCo2e | NoNull = None
    country: CountryCode | None = PydanticField(default=None, description="null: the global default.")
    source: Source | NoNull = None
    year: FactorYear | NoNull = None

    @model_validator(mode="after")
    def _no_nulls(self) -> EmissionFactorUpdate:
        refuse_nulls(self, ("kg_co2e_per_unit", "source", "year"))
        return self


class EmissionFactorPublic(PublicBase):
    model_config = ConfigDict(from_attributes=True)  # type: ignore[assignment]

    metric: str
    country: str | None
    kg_co2e_per_unit: float
    source: str
    year: int
