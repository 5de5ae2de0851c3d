"""climate accounting: GHG scopes, dated factors, output units

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 19:10:00+00:00

Metrics gain `ghg_scope` / `ghg_category`; emission factors gain `valid_from`; enterprises gain
`output_unit`. Seeds the metrics of the materials, water and waste outcomes and their factors
(docs/climate.md lists each source). Progress records gain `formula`: the version of the
computation that built them. Records built by an older formula are rebuilt by the application
right after migrating (`score4climate migrate` / `serve`), through the same path as any write.
"""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEED_NAMESPACE = uuid.UUID("5c04c11a-7e00-4000-8000-000000000000")

OUTPUT_UNITS = (
    "kilogram",
    "tonne",
    "liter",
    "cubic_meter",
    "square_meter",
    "kilowatt_hour",
    "megajoule",
    "piece",
    "hour",
)

# Existing seeded metrics: code -> (scope, category)
SCOPES = {
    "diesel": (1, None),
    "petrol": (1, None),
    "natural_gas": (1, None),
    "lpg": (1, None),
    "coal": (1, None),
    "direct_co2e": (1, None),
    "electricity": (2, None),
    "water": (3, 1),
    "solid_waste": (3, 5),
}

# code, name, unit, kind, better, category, scope, ghg category, description
METRICS = [
    ("wastewater", "Wastewater", "m3", "flow", "decrease", "water", 3, 5,
     "Wastewater sent to a public sewer or treatment works."),
    ("waste_recycled", "Waste recycled or sold", "kg", "flow", "increase", "circularity", None, None,
     "Waste diverted from disposal: sold, recycled or reused (circularity, not an emission source)."),
    ("rubber_compound", "Rubber compound purchased", "kg", "flow", "decrease", "materials", 3, 1,
     "Mixed rubber compound bought for moulding and extrusion."),
    ("quicklime", "Quicklime purchased", "kg", "flow", "decrease", "materials", 3, 1,
     "Quicklime (calcium oxide) bought for bagging, hydration or sale."),
    ("cleaning_chemicals", "Cleaning chemicals purchased", "kg", "flow", "decrease", "chemicals", 3, 1,
     "Detergents, disinfectants and other cleaning chemicals bought."),
]  # fmt: skip

UK = "UK Government GHG Conversion Factors for Company Reporting 2025 (DESNZ), "
# metric, kg CO2e per unit, source, year
FACTORS = [
    ("water", 0.1913, UK + "table 'Water supply', per cubic metre: supplying and distributing mains water", 2025),
    ("wastewater", 0.17088, UK + "table 'Water treatment', per cubic metre: collecting and treating wastewater", 2025),
    (
        "solid_waste",
        0.5205327,
        UK + "table 'Waste disposal', commercial and industrial waste to landfill: 520.5327 kg CO2e per tonne "
        "(landfill emissions; the materials' production is not included)",
        2025,
    ),
    (
        "rubber_compound",
        3.3355719,
        UK + "table 'Material use', tyres, primary material production: 3,335.5719 kg CO2e per tonne "
        "(cradle to factory gate; the table's nearest entry to rubber compound, used as a proxy)",
        2025,
    ),
    (
        "quicklime",
        0.75,
        "IPCC 2006 Guidelines for National GHG Inventories, Vol. 3 (IPPU), ch. 2, Table 2.4: high-calcium lime, "
        "0.75 t CO2 per t (calcination CO2 only; kiln fuel not included, so a lower bound)",
        2006,
    ),
    (
        "cleaning_chemicals",
        1.401,
        UK + "table 'Material use', mineral oil, primary material production: 1,401 kg CO2e per tonne "
        "(a proxy for petroleum-based detergents: the tables have no entry for cleaning chemicals)",
        2025,
    ),
]


def upgrade() -> None:
    op.add_column("metrics", sa.Column("ghg_scope", sa.SmallInteger(), nullable=True))
    op.add_column("metrics", sa.Column("ghg_category", sa.SmallInteger(), nullable=True))
    op.create_check_constraint(op.f("ck_metrics_ghg_scope"), "metrics", "ghg_scope BETWEEN 1 AND 3")
    op.create_check_constraint(
        op.f("ck_metrics_ghg_category"),
        "metrics",
        "ghg_category IS NULL OR (ghg_scope = 3 AND ghg_category BETWEEN 1 AND 15)",
    )
    for code, (scope, category) in SCOPES.items():
        op.execute(
            sa.text("UPDATE metrics SET ghg_scope = :scope, ghg_category = :category WHERE code = :code").bindparams(
                scope=scope, category=category, code=code
            )
        )

    op.add_column("emission_factors", sa.Column("valid_from", sa.Date(), nullable=True))
    op.create_index(
        "uq_emission_factors_metric_country_valid_from",
        "emission_factors",
        ["metric", sa.text("coalesce(country, '')"), "valid_from"],
        unique=True,
        postgresql_where=sa.text("valid_from IS NOT NULL"),
    )

    output_unit = postgresql.ENUM(*OUTPUT_UNITS, name="output_unit")
    output_unit.create(op.get_bind())
    op.add_column(
        "enterprises", sa.Column("output_unit", postgresql.ENUM(name="output_unit", create_type=False), nullable=True)
    )

    op.add_column("progress_records", sa.Column("formula", sa.SmallInteger(), server_default="1", nullable=False))
    _seed()


def _seed() -> None:
    now = datetime.now(UTC)
    existing = {row[0] for row in op.get_bind().execute(sa.text("SELECT code FROM metrics"))}
    metrics = sa.table(
        "metrics",
        sa.column("id", sa.Uuid()),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("updated_at", sa.DateTime(timezone=True)),
        sa.column("code", sa.String()),
        sa.column("name", sa.String()),
        sa.column("unit", sa.String()),
        sa.column("direction", sa.Enum(name="metric_direction", create_type=False)),
        sa.column("kind", sa.Enum(name="metric_kind", create_type=False)),
        sa.column("category", sa.Enum(name="idea_category", create_type=False)),
        sa.column("description", sa.String()),
        sa.column("ghg_scope", sa.SmallInteger()),
        sa.column("ghg_category", sa.SmallInteger()),
    )
    rows = [
        {
            "id": uuid.uuid5(SEED_NAMESPACE, "metric:" + code),
            "created_at": now,
            "updated_at": now,
            "code": code,
            "name": name,
            "unit": unit,
            "kind": kind,
            "direction": better,
            "category": category,
            "description": description,
            "ghg_scope": scope,
            "ghg_category": ghg_category,
        }
        for code, name, unit, kind, better, category, scope, ghg_category, description in METRICS
        if code not in existing  # an admin may have created one of these codes already
    ]
    if rows:
        op.bulk_insert(metrics, rows)
    factors = sa.table(
        "emission_factors",
        sa.column("id", sa.Uuid()),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("updated_at", sa.DateTime(timezone=True)),
        sa.column("metric", sa.String()),
        sa.column("country", sa.String()),
        sa.column("kg_co2e_per_unit", sa.Float()),
        sa.column("source", sa.String()),
        sa.column("year", sa.Integer()),
    )
    taken = {
        (row[0], row[1])
        for row in op.get_bind().execute(sa.text("SELECT metric, year FROM emission_factors WHERE country IS NULL"))
    }
    op.bulk_insert(
        factors,
        [
            {
                "id": uuid.uuid5(SEED_NAMESPACE, f"factor:{metric}:global:{year}"),
                "created_at": now,
                "updated_at": now,
                "metric": metric,
                "country": None,
                "kg_co2e_per_unit": value,
                "source": source,
                "year": year,
            }
            for metric, value, source, year in FACTORS
            if (metric, year) not in taken
        ],
    )


def downgrade() -> None:
    op.execute(
        sa.text("DELETE FROM emission_factors WHERE id = ANY(:ids)").bindparams(
            ids=[uuid.uuid5(SEED_NAMESPACE, f"factor:{m}:global:{y}") for m, _, _, y in FACTORS]
        )
    )
    op.execute(
        sa.text("DELETE FROM metrics WHERE id = ANY(:ids)").bindparams(
            ids=[uuid.uuid5(SEED_NAMESPACE, "metric:" + m[0]) for m in METRICS]
        )
    )
    op.drop_column("progress_records", "formula")
    op.drop_column("enterprises", "output_unit")
    postgresql.ENUM(name="output_unit").drop(op.get_bind())
    op.drop_index("uq_emission_factors_metric_country_valid_from", table_name="emission_factors")
    op.drop_column("emission_factors", "valid_from")
    op.drop_constraint(op.f("ck_metrics_ghg_category"), "metrics")
    op.drop_constraint(op.f("ck_metrics_ghg_scope"), "metrics")
    op.drop_column("metrics", "ghg_category")
    op.drop_column("metrics", "ghg_scope")
