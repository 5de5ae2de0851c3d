"""Reference data managed by admins: the KPI catalogue and emission factors."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
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
    ghg_scope: int | None = Field(default=None, sa_type=sa.SmallInteger)
    ghg_category: int | None = Field(default=None, sa_type=sa.SmallInteger)

    __table_args__ = (
        sa.CheckConstraint("ghg_scope BETWEEN 1 AND 3", name="ghg_scope"),
        sa.CheckConstraint(
            "ghg_category IS NULL OR (ghg_scope = 3 AND ghg_category BETWEEN 1 AND 15)", name="ghg_category"
        ),
    )


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
        sa.Index(
            "uq_emission_factors_metric_country_valid_from",
            "metric",
            sa.text("coalesce(country, '')"),
            "valid_from",
            unique=True,
            postgresql_where=sa.text("valid_from IS NOT NULL"),
        ),
    )

    metric: str = Field(foreign_key="metrics.code", index=True)
    country: str | None = Field(default=None, max_length=2)
    kg_co2e_per_unit: float
    source: str = Field(max_length=500)
    year: int
    valid_from: date | None = None


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
GhgScope = Annotated[
    int,
    PydanticField(
        ge=1,
        le=3,
        description="GHG Protocol scope of the emissions this metric causes: 1 direct (fuels burnt, process "
        "emissions), 2 purchased energy, 3 the value chain (materials bought, water, waste). null: not an "
        "emission source. Only flow metrics with a scope and an emission factor count in tCO2e.",
        examples=[3],
    ),
]
GhgCategory = Annotated[
    int,
    PydanticField(
        ge=1,
        le=15,
        description="GHG Protocol Scope 3 category (1 purchased goods and services, 5 waste generated in "
        "operations, ...); required with scope 3, else null.",
        examples=[1],
    ),
]
ValidFrom = Annotated[
    date,
    PydanticField(
        description="First day the factor applies to. A result uses, among the factors of its metric for the "
        "same country, the one with the latest `valid_from` on or before the result's `period_end` (null counts "
        "as always valid), else the earliest.",
        examples=["2025-01-01"],
    ),
]


def check_ghg(kind: MetricKind | None, scope: int | None, category: int | None) -> None:
    """A metric's scope and category agree: a category only, and always, with scope 3; a scope only on a
    flow metric (a level, such as a percentage, cannot be converted into tCO2e)."""
    if scope == 3 and category is None:
        raise ValueError("ghg_category is required with ghg_scope 3 (the GHG Protocol Scope 3 category, 1-15)")
    if scope != 3 and category is not None:
        raise ValueError("ghg_category is only given with ghg_scope 3")
    if scope is not None and kind is MetricKind.level:
        raise ValueError("only flow metrics can have a ghg_scope: a level metric cannot be converted into tCO2e")


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
                    "ghg_scope": 2,
                    "ghg_category": None,
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
    ghg_scope: GhgScope | None = None
    ghg_category: GhgCategory | None = None


class MetricUpdate(InputModel):
    """`code` is immutable: results, ideas and factors refer to it."""

    name: Name | NoNull = None
    unit: Unit | NoNull = None
    direction: MetricDirection | NoNull = None
    kind: MetricKind | NoNull = None
    category: IdeaCategory | NoNull = None
    description: ShortText | None = None
    ghg_scope: GhgScope | None = None
    ghg_category: GhgCategory | None = None

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
    ghg_scope: int | None = PydanticField(
        description="GHG Protocol scope (1, 2 or 3) of the emissions the metric causes; null: not an emission source."
    )
    ghg_category: int | None = PydanticField(
        description="GHG Protocol Scope 3 category (1-15) with scope 3, else null."
    )


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
    valid_from: ValidFrom | None = None


class EmissionFactorUpdate(InputModel):
    """The metric of a factor is fixed; create a new factor for another metric."""

    kg_co2e_per_unit: KgCo2e | NoNull = None
    country: CountryCode | None = PydanticField(default=None, description="null: the global default.")
    source: Source | NoNull = None
    year: FactorYear | NoNull = None
    valid_from: ValidFrom | None = None

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
    valid_from: date | None = PydanticField(
        description="First day the factor applies to; null: valid for any period (see the create body)."
    )
