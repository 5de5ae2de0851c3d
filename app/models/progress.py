"""The maintained progress record of each enterprise.

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
    formula: int = Field(
        default=1,
        sa_type=sa.SmallInteger,
        sa_column_kwargs={"server_default": "1"},
        description="Version of the computation that built the record (progress_sql.FORMULA).",
    )


# --- What the API shows (declared for the OpenAPI document; served as bytes built by PostgreSQL).
# The numbers are computed in app/services/progress_sql.py (records) and progress.py (portfolio):
# these descriptions say what that SQL does.

ROUNDED = "Rounded to 2 decimals (half away from zero) at the end of the computation."
APPORTIONED = (
    "For the metrics the totals count, the hundredths are apportioned (largest remainder) so that "
    "the enterprise's metrics add up exactly to its rounded totals; such a figure may differ from "
    "plain rounding by 0.01."
)
SCOPE = "GHG Protocol scope: 1 direct, 2 purchased energy, 3 value chain."
FLOW_RATE = (
    "Flow metrics compare annualised rates (`per_year`), so a month is compared fairly with a year; "
    "level metrics compare `value`s."
)


class ProgressEnterprise(SQLModel):
    """The enterprise the record is about."""

    id: UUID = PydanticField(description="The enterprise's id.")
    name: str = PydanticField(description="The enterprise's name.")
    country: str = PydanticField(description="ISO 3166-1 alpha-2 country code.", examples=["IN"])
    sector: str = PydanticField(description="ISIC Rev.4 code of its activity.", examples=["2219"])


class ProgressProgramme(SQLModel):
    """Milestones of the enterprise on the programme."""

    modules_completed: list[str] = PydanticField(
        description="Modules (`workplace_cooperation`, `score_basics`, `score4climate`) with at least one "
        "enrollment whose `completed_at` is set, in alphabetical order; empty if none."
    )
    score4climate_completed_on: date | None = PydanticField(
        description="UTC date of the earliest completed `score4climate` enrollment; null if none."
    )
    visits_completed: int = PydanticField(description="Number of visits with status `completed`.")
    last_visit_on: date | None = PydanticField(
        description="UTC date (`scheduled_at`) of the latest completed visit; null if none."
    )


class ProgressIdeas(SQLModel):
    """The enterprise's improvement ideas."""

    by_status: dict[str, int] = PydanticField(
        description="Number of ideas in each status; every status is present, with 0 when it has none."
    )
    implemented_estimated_annual_savings: list[Money] = PydanticField(
        description="The expected annual savings of `implemented` and `verified` ideas, summed per currency "
        "(one entry per currency, in currency order; ideas without savings do not count; no conversion "
        "between currencies). These are the ideas' estimates, not measured savings."
    )


class MetricBaseline(SQLModel):
    """One measured result: the enterprise's baseline for the metric."""

    value: float = PydanticField(
        description="As recorded, in the metric's `unit`, for the whole period (not rounded, not annualised)."
    )
    per_year: float | None = PydanticField(
        default=None,
        description="Flow metrics only (absent for level metrics): the value as an annual rate, "
        "`value ÷ days × 365` with `days = period_end − period_start + 1`. " + ROUNDED,
    )
    period_start: date = PydanticField(description="First day of the measured period (inclusive).")
    period_end: date = PydanticField(description="Last day of the measured period (inclusive).")


class MetricLatest(MetricBaseline):
    """The latest measured result (the non-baseline result with the latest `period_end`)."""

    verified: bool = PydanticField(
        description="Whether an expert, the enterprise's partner or an admin has verified this result."
    )


class MetricTco2e(SQLModel):
    """A metric's own emissions, t CO2e per year: `per_year × kg_co2e_per_unit ÷ 1000`, each side
    with the factor valid at its own `period_end`."""

    baseline_per_year: float | None = PydanticField(
        description="From the baseline result; null without one. " + ROUNDED + " " + APPORTIONED
    )
    latest_per_year: float | None = PydanticField(
        description="From the latest result; null without one. " + ROUNDED + " " + APPORTIONED
    )


class MetricProgress(SQLModel):
    """Baseline against latest result for one metric."""

    metric: str = PydanticField(description="Metric code from `/v1/metrics`, e.g. `electricity`.")
    unit: str = PydanticField(description="The metric's unit, e.g. `kWh` or `%`.")
    direction: MetricDirection = PydanticField(description="Which way is better for this metric.")
    baseline: MetricBaseline | None = PydanticField(
        description="The result marked `is_baseline`; null if the enterprise has none for this metric."
    )
    latest: MetricLatest | None = PydanticField(
        description="The non-baseline result with the latest `period_end` (then the latest `period_start`), "
        "verified or not; null if there is none."
    )
    change_abs: float | None = PydanticField(
        description="Latest minus baseline, in the metric's unit (per year for flow metrics). "
        + FLOW_RATE
        + " "
        + ROUNDED
        + " Null when a side is missing."
    )
    change_pct: float | None = PydanticField(
        description="`change_abs` as a percentage of the baseline (of its annual rate for flow metrics). "
        + ROUNDED
        + " Null when the baseline is 0 or a side is missing."
    )
    improved: bool | None = PydanticField(
        description="Whether the latest is strictly better than the baseline in the metric's `direction` "
        "(equal is false). Null when a side is missing."
    )
    ghg_scope: int | None = PydanticField(
        description="The metric's GHG scope (1, 2 or 3); null when it is not an emission source. " + SCOPE
    )
    tco2e: MetricTco2e | None = PydanticField(
        description="The metric's own t CO2e per year, for a flow metric with a scope and an emission factor; "
        "null otherwise."
    )


class FactorUsed(SQLModel):
    """An emission factor used for `emissions`."""

    metric: str = PydanticField(description="The flow metric it converts.")
    country: str | None = PydanticField(
        description="The country it applies to (the enterprise's); null for the global default."
    )
    kg_co2e_per_unit: float = PydanticField(description="kg CO2e per unit of the metric.")
    source: str = PydanticField(description="Where the factor comes from.")
    year: int = PydanticField(description="The year the factor is for.")
    scope: int | None = PydanticField(description="The GHG scope of the metric it converts. " + SCOPE)
    valid_from: date | None = PydanticField(description="First day the factor applies to; null: any period.")
    applies_to: list[str] = PydanticField(
        description="Which results it converted: `baseline`, `latest` or both (each side uses the factor "
        "valid at its own `period_end`, so a metric may list two factors)."
    )


class ScopeEmissions(SQLModel):
    """The totals' share of one GHG scope."""

    scope: int = PydanticField(description=SCOPE)
    baseline_tco2e_per_year: float = PydanticField(description="t CO2e per year at the baseline. " + ROUNDED)
    latest_tco2e_per_year: float = PydanticField(description="t CO2e per year at the latest results. " + ROUNDED)
    reduction_tco2e_per_year: float = PydanticField(
        description="Baseline minus latest (negative when this scope's emissions grew)."
    )


class Intensity(SQLModel):
    """Emissions per unit of production output: what procurement tools call a supplier-specific
    emission factor. `counted t CO2e per year × 1000 ÷ production_output per year`, each side
    separately."""

    output_unit: str | None = PydanticField(
        description="The enterprise's `output_unit` (what `production_output` counts); null when undeclared."
    )
    baseline_kg_co2e_per_unit: float = PydanticField(
        description="kg CO2e per unit at the baseline. Two decimals, or four significant digits when two would show 0."
    )
    latest_kg_co2e_per_unit: float = PydanticField(
        description="kg CO2e per unit at the latest results. Two decimals, or four significant digits when two "
        "would show 0."
    )
    change_pct: float | None = PydanticField(
        description="Latest against baseline, percent. " + ROUNDED + " Null when the baseline is 0."
    )


class ProgressEmissions(SQLModel):
    """Greenhouse-gas emissions of the enterprise's measured flows, in tonnes CO2e per year.

    They cover each flow metric with a GHG scope, an emission factor and both a baseline and a
    latest result: `per_year × kg_co2e_per_unit ÷ 1000`, summed over the same metrics on both
    sides. Each side uses the factor valid at its own `period_end` (the enterprise's country's
    factors first, else the global ones; the latest `valid_from` on or before that day, else the
    earliest; then the newest year). The three totals are the sums of the metrics' apportioned
    figures, so `baseline − latest = reduction` exactly and `by_scope` adds up to them."""

    baseline_tco2e_per_year: float | None = PydanticField(
        description="t CO2e per year at the baseline. " + ROUNDED + " Null when no metric can be converted."
    )
    latest_tco2e_per_year: float | None = PydanticField(
        description="t CO2e per year at the latest results. " + ROUNDED + " Null when no metric can be converted."
    )
    reduction_tco2e_per_year: float | None = PydanticField(
        description="Baseline minus latest, t CO2e per year (negative when emissions grew): the difference of the "
        "two rounded totals. Null when no metric can be converted."
    )
    reduction_pct: float | None = PydanticField(
        description="The reduction as a percentage of the baseline. " + ROUNDED + " Null when the baseline is 0 "
        "or no metric can be converted."
    )
    by_scope: list[ScopeEmissions] = PydanticField(
        description="The totals split by GHG scope: only scopes with a counted metric, in ascending order; the "
        "scopes' figures add up exactly to the totals. Empty when no metric can be converted."
    )
    verified_share: float | None = PydanticField(
        description="Share (0-1) of `latest_tco2e_per_year` that comes from verified latest results. "
        + ROUNDED
        + " Null when that total is null or 0."
    )
    intensity: Intensity | None = PydanticField(
        description="kg CO2e per unit of output; null unless `production_output` has a baseline and a latest "
        "value above 0 and some metric is converted."
    )
    factors: list[FactorUsed] = PydanticField(
        description="The emission factors used for any metric's `tco2e`, so every figure can be audited."
    )


class ProgressRecordPublic(SQLModel):
    """An enterprise's decarbonisation progress: what lead buyers pull."""

    enterprise: ProgressEnterprise = PydanticField(description="Who the record is about.")
    programme: ProgressProgramme = PydanticField(description="Modules completed and visits.")
    ideas: ProgressIdeas = PydanticField(description="Ideas by status and their expected savings.")
    metrics: list[MetricProgress] = PydanticField(
        description="One entry per metric with a baseline or a later result, in metric-code order."
    )
    emissions: ProgressEmissions = PydanticField(description="Emissions of the measured flows, t CO2e per year.")
    updated_at: datetime = PydanticField(
        description="When the record last changed (UTC). Strictly increasing in commit order: keep the highest "
        "you received and pass it as `updated_since` to get every record changed since."
    )


class ProgressPage(SQLModel):
    """A page of progress records."""

    items: list[ProgressRecordPublic] = PydanticField(
        description="Records in `updated_at` order, then by enterprise id."
    )
    next_cursor: str | None = PydanticField(description="Pass as `cursor` to get the next page; null on the last page.")


class MetricPortfolio(SQLModel):
    """One metric across the enterprises of the portfolio."""

    metric: str = PydanticField(description="Metric code from `/v1/metrics`.")
    unit: str = PydanticField(description="The metric's unit.")
    direction: MetricDirection = PydanticField(description="Which way is better for this metric.")
    enterprises_measured: int = PydanticField(description="Enterprises with both a baseline and a latest value.")
    enterprises_improved: int = PydanticField(description="Of those, the enterprises whose record says `improved`.")
    total_change_abs: float | None = PydanticField(
        description="Sum of the measured enterprises' `change_abs` per year, in the metric's unit; flow metrics "
        "only (null for level metrics such as percentages, which do not add up). " + ROUNDED
    )
    median_change_abs: float | None = PydanticField(
        description="Median of their `change_abs` (the mean of the two middle values for an even count). " + ROUNDED
    )
    median_change_pct: float | None = PydanticField(
        description="Median of their `change_pct`, over those that have one. "
        + ROUNDED
        + " Null when none has (every baseline 0)."
    )


class PortfolioScope(SQLModel):
    """One GHG scope over the portfolio."""

    scope: int = PydanticField(description=SCOPE)
    enterprises: int = PydanticField(description="Enterprises with converted emissions in this scope.")
    baseline_tco2e_per_year: float = PydanticField(description="Sum of their baselines, t CO2e per year.")
    latest_tco2e_per_year: float = PydanticField(description="Sum of their latest figures, t CO2e per year.")
    reduction_tco2e_per_year: float = PydanticField(description="Baseline minus latest, t CO2e per year.")


class PortfolioIntensity(SQLModel):
    """Emission intensities of the enterprises that count output in one unit."""

    output_unit: str | None = PydanticField(description="The enterprises' `output_unit`; null: undeclared.")
    enterprises: int = PydanticField(description="Enterprises with an intensity in this unit.")
    median_baseline_kg_co2e_per_unit: float = PydanticField(description="Median baseline intensity. " + ROUNDED)
    median_latest_kg_co2e_per_unit: float = PydanticField(description="Median latest intensity. " + ROUNDED)
    median_change_pct: float | None = PydanticField(
        description="Median of their intensity `change_pct` (a unit-free figure). " + ROUNDED
    )


class Portfolio(SQLModel):
    """Aggregates over the enterprises the caller may see: a buyer's active suppliers, a
    partner's enterprises, an expert's assigned ones, an SME's own, or all for an admin.
    Computed from the stored progress records (the same numbers as `/v1/progress`)."""

    enterprises: int = PydanticField(description="Number of enterprises aggregated.")
    modules_completed: dict[str, int] = PydanticField(
        description="Per module, the number of enterprises that completed it (modules nobody completed are absent)."
    )
    ideas_by_status: dict[str, int] = PydanticField(
        description="Per status, the number of ideas over all the enterprises; every status is present "
        "(0 when it has none), or none at all when there is no enterprise."
    )
    metrics: list[MetricPortfolio] = PydanticField(
        description="One entry per metric that at least one enterprise measured (baseline and latest), "
        "in metric-code order."
    )
    total_reduction_tco2e_per_year: float | None = PydanticField(
        description="Sum of the enterprises' `emissions.reduction_tco2e_per_year`, t CO2e per year (negative when "
        "emissions grew); null when no enterprise has converted emissions. " + ROUNDED
    )
    by_scope: list[PortfolioScope] = PydanticField(
        description="The enterprises' `emissions.by_scope` summed per scope, in ascending order; empty when none "
        "has converted emissions."
    )
    intensity: list[PortfolioIntensity] = PydanticField(
        description="Medians of the enterprises' emission intensities, one entry per output unit (intensities in "
        "different units are never mixed), undeclared units last; empty when no enterprise has an intensity."
    )
