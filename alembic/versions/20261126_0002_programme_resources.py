"""programme resources

Revision ID: 0002
Revises: 0001

Also seeds the KPI catalogue and emission factors (editable later by admins).
Create Date: 2026-11-26 00:32:25.789642+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import uuid
from datetime import UTC, datetime
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


SEED_NAMESPACE = uuid.UUID("5c04c11a-7e00-4000-8000-000000000000")

# code, name, unit, kind, better, category
METRICS = [
    ("production_output", "Production output", "unit", "flow", "increase", "productivity"),
    ("yield_rate", "Yield", "%", "level", "increase", "productivity"),
    ("defect_rate", "Defect rate", "%", "level", "decrease", "productivity"),
    ("material_waste_rate", "Material waste rate", "%", "level", "decrease", "materials"),
    ("solid_waste", "Solid waste", "kg", "flow", "decrease", "waste"),
    ("water", "Water consumption", "m3", "flow", "decrease", "water"),
    ("electricity", "Grid electricity", "kWh", "flow", "decrease", "energy"),
    ("diesel", "Diesel", "L", "flow", "decrease", "energy"),
    ("petrol", "Petrol", "L", "flow", "decrease", "energy"),
    ("natural_gas", "Natural gas", "m3", "flow", "decrease", "energy"),
    ("lpg", "Liquefied petroleum gas", "kg", "flow", "decrease", "energy"),
    ("coal", "Coal", "kg", "flow", "decrease", "energy"),
    ("direct_co2e", "Direct greenhouse-gas emissions", "t", "flow", "decrease", "emissions"),
    ("clients_served", "Clients served", "count", "level", "increase", "productivity"),
    ("work_accidents", "Work accidents", "count", "flow", "decrease", "osh"),
    ("worker_turnover", "Worker turnover", "%", "level", "decrease", "osh"),
]

IPCC = "IPCC 2006 Guidelines for National GHG Inventories, Vol. 2 (Energy), default CO2 factors x default net calorific values"
# metric, country (None = global default), kg CO2e per unit, source, year
EMISSION_FACTORS = [
    ("diesel", None, 2.68, IPCC + " (gas/diesel oil: 74,100 kg/TJ, 0.0362 TJ/L)", 2006),
    ("petrol", None, 2.31, IPCC + " (motor gasoline: 69,300 kg/TJ, 0.0334 TJ/L)", 2006),
    ("natural_gas", None, 1.89, IPCC + " (natural gas: 56,100 kg/TJ, 0.0338 TJ/m3)", 2006),
    ("lpg", None, 2.98, IPCC + " (LPG: 63,100 kg/TJ, 47.3 MJ/kg)", 2006),
    ("coal", None, 2.44, IPCC + " (other bituminous coal: 94,600 kg/TJ, 25.8 MJ/kg)", 2006),
    ("direct_co2e", None, 1000.0, "Definition: 1 t CO2e = 1,000 kg CO2e", 2024),
    (
        "electricity",
        None,
        0.46,
        "IEA, global average CO2 intensity of electricity generation (approx. 460 g/kWh)",
        2023,
    ),
    (
        "electricity",
        "IN",
        0.716,
        "Central Electricity Authority of India, CO2 Baseline Database v19, weighted average",
        2023,
    ),
    ("electricity", "CN", 0.5703, "Ministry of Ecology and Environment of China, national grid average factor", 2022),
    (
        "electricity",
        "VN",
        0.6766,
        "Ministry of Natural Resources and Environment of Viet Nam, grid emission factor",
        2022,
    ),
    ("electricity", "BD", 0.67, "UNFCCC / IFI harmonised grid emission factor dataset, Bangladesh (approx.)", 2021),
    ("electricity", "GH", 0.45, "UNFCCC / IFI harmonised grid emission factor dataset, Ghana (approx.)", 2021),
    ("electricity", "ID", 0.81, "UNFCCC / IFI harmonised grid emission factor dataset, Indonesia (approx.)", 2021),
]


def _seed() -> None:
    now = datetime.now(UTC)
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
    )
    op.bulk_insert(
        metrics,
        [
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
            }
            for code, name, unit, kind, better, category in METRICS
        ],
    )
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
    op.bulk_insert(
        factors,
        [
            {
                "id": uuid.uuid5(SEED_NAMESPACE, f"factor:{metric}:{country}"),
                "created_at": now,
                "updated_at": now,
                "metric": metric,
                "country": country,
                "kg_co2e_per_unit": value,
                "source": source,
                "year": year,
            }
            for metric, country, value, source, year in EMISSION_FACTORS
        ],
    )


def upgrade() -> None:
    # ### commands auto generated by Alembic - please adjust! ###
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("actor_role", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("object_type", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("object_id", sa.Uuid(), nullable=False),
        sa.Column("changes", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    op.create_index(op.f("ix_audit_events_action"), "audit_events", ["action"], unique=False)
    op.create_index(op.f("ix_audit_events_actor"), "audit_events", ["actor"], unique=False)
    op.create_index(op.f("ix_audit_events_created_at"), "audit_events", ["created_at"], unique=False)
    op.create_index(op.f("ix_audit_events_object_id"), "audit_events", ["object_id"], unique=False)
    op.create_index(op.f("ix_audit_events_object_type"), "audit_events", ["object_type"], unique=False)
    op.create_table(
        "metrics",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("unit", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("direction", sa.Enum("increase", "decrease", name="metric_direction"), nullable=False),
        sa.Column("kind", sa.Enum("flow", "level", name="metric_kind"), nullable=False),
        sa.Column(
            "category",
            sa.Enum(
                "energy",
                "water",
                "materials",
                "waste",
                "chemicals",
                "emissions",
                "circularity",
                "productivity",
                "osh",
                name="idea_category",
            ),
            nullable=False,
        ),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metrics")),
        sa.UniqueConstraint("code", name=op.f("uq_metrics_code")),
    )
    op.create_table(
        "emission_factors",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("metric", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("country", sqlmodel.sql.sqltypes.AutoString(length=2), nullable=True),
        sa.Column("kg_co2e_per_unit", sa.Float(), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["metric"], ["metrics.code"], name=op.f("fk_emission_factors_metric_metrics")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_emission_factors")),
    )
    op.create_index(op.f("ix_emission_factors_metric"), "emission_factors", ["metric"], unique=False)
    op.create_index(
        "uq_emission_factors_metric_country_year",
        "emission_factors",
        ["metric", sa.literal_column("coalesce(country, '')"), "year"],
        unique=True,
    )
    op.create_table(
        "enterprises",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("country", sqlmodel.sql.sqltypes.AutoString(length=2), nullable=False),
        sa.Column("sector", sqlmodel.sql.sqltypes.AutoString(length=5), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("employees_female", sa.Integer(), nullable=True),
        sa.Column("employees_male", sa.Integer(), nullable=True),
        sa.Column("products", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("contact_email", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["organisations.id"], name=op.f("fk_enterprises_partner_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enterprises")),
    )
    op.create_index(op.f("ix_enterprises_country"), "enterprises", ["country"], unique=False)
    op.create_index(op.f("ix_enterprises_partner_id"), "enterprises", ["partner_id"], unique=False)
    op.create_index(op.f("ix_enterprises_sector"), "enterprises", ["sector"], unique=False)
    op.create_table(
        "trainings",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column(
            "module",
            sa.Enum("workplace_cooperation", "score_basics", "score4climate", name="training_module"),
            nullable=False,
        ),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("place", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column(
            "status", sa.Enum("planned", "ongoing", "completed", "cancelled", name="training_status"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["organisations.id"], name=op.f("fk_trainings_partner_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trainings")),
    )
    op.create_index(op.f("ix_trainings_module"), "trainings", ["module"], unique=False)
    op.create_index(op.f("ix_trainings_partner_id"), "trainings", ["partner_id"], unique=False)
    op.create_index(op.f("ix_trainings_status"), "trainings", ["status"], unique=False)
    op.create_table(
        "enrollments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("training_id", sa.Uuid(), nullable=False),
        sa.Column("enterprise_id", sa.Uuid(), nullable=False),
        sa.Column("participants", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("attended", sa.Boolean(), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["enterprise_id"], ["enterprises.id"], name=op.f("fk_enrollments_enterprise_id_enterprises")
        ),
        sa.ForeignKeyConstraint(["training_id"], ["trainings.id"], name=op.f("fk_enrollments_training_id_trainings")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enrollments")),
        sa.UniqueConstraint("training_id", "enterprise_id", name=op.f("uq_enrollments_training_id_enterprise_id")),
    )
    op.create_index(op.f("ix_enrollments_enterprise_id"), "enrollments", ["enterprise_id"], unique=False)
    op.create_index(op.f("ix_enrollments_training_id"), "enrollments", ["training_id"], unique=False)
    op.create_table(
        "supplier_links",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("enterprise_id", sa.Uuid(), nullable=False),
        sa.Column("buyer_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.Enum("pending", "active", "revoked", name="link_status"), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["buyer_id"], ["organisations.id"], name=op.f("fk_supplier_links_buyer_id_organisations")
        ),
        sa.ForeignKeyConstraint(
            ["enterprise_id"], ["enterprises.id"], name=op.f("fk_supplier_links_enterprise_id_enterprises")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supplier_links")),
    )
    op.create_index(op.f("ix_supplier_links_buyer_id"), "supplier_links", ["buyer_id"], unique=False)
    op.create_index(op.f("ix_supplier_links_enterprise_id"), "supplier_links", ["enterprise_id"], unique=False)
    op.create_index(op.f("ix_supplier_links_status"), "supplier_links", ["status"], unique=False)
    op.create_index(
        "uq_supplier_links_open_pair",
        "supplier_links",
        ["enterprise_id", "buyer_id"],
        unique=True,
        postgresql_where=sa.text("status <> 'revoked'"),
    )
    op.create_table(
        "enterprise_experts",
        sa.Column("enterprise_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["enterprises.id"],
            name=op.f("fk_enterprise_experts_enterprise_id_enterprises"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_enterprise_experts_user_id_users")),
        sa.PrimaryKeyConstraint("enterprise_id", "user_id", name=op.f("pk_enterprise_experts")),
    )
    op.create_index(op.f("ix_enterprise_experts_user_id"), "enterprise_experts", ["user_id"], unique=False)
    op.create_table(
        "training_trainers",
        sa.Column("training_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["training_id"],
            ["trainings.id"],
            name=op.f("fk_training_trainers_training_id_trainings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_training_trainers_user_id_users")),
        sa.PrimaryKeyConstraint("training_id", "user_id", name=op.f("pk_training_trainers")),
    )
    op.create_index(op.f("ix_training_trainers_user_id"), "training_trainers", ["user_id"], unique=False)
    op.create_table(
        "visits",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("enterprise_id", sa.Uuid(), nullable=False),
        sa.Column("expert_id", sa.Uuid(), nullable=False),
        sa.Column("scheduled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "kind", sa.Enum("intake", "consultation", "follow_up", "monitoring", name="visit_kind"), nullable=False
        ),
        sa.Column("status", sa.Enum("scheduled", "completed", "cancelled", name="visit_status"), nullable=False),
        sa.Column("findings", sqlmodel.sql.sqltypes.AutoString(length=20000), nullable=True),
        sa.ForeignKeyConstraint(
            ["enterprise_id"], ["enterprises.id"], name=op.f("fk_visits_enterprise_id_enterprises")
        ),
        sa.ForeignKeyConstraint(["expert_id"], ["users.id"], name=op.f("fk_visits_expert_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visits")),
    )
    op.create_index(op.f("ix_visits_enterprise_id"), "visits", ["enterprise_id"], unique=False)
    op.create_index(op.f("ix_visits_expert_id"), "visits", ["expert_id"], unique=False)
    op.create_index(op.f("ix_visits_status"), "visits", ["status"], unique=False)
    op.create_table(
        "ideas",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("enterprise_id", sa.Uuid(), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(length=10000), nullable=True),
        sa.Column(
            "category",
            sa.Enum(
                "energy",
                "water",
                "materials",
                "waste",
                "chemicals",
                "emissions",
                "circularity",
                "productivity",
                "osh",
                name="idea_category",
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum("proposed", "approved", "in_progress", "implemented", "verified", "rejected", name="idea_status"),
            nullable=False,
        ),
        sa.Column("training_id", sa.Uuid(), nullable=True),
        sa.Column("visit_id", sa.Uuid(), nullable=True),
        sa.Column("savings_amount", sa.Numeric(precision=18, scale=2), nullable=True),
        sa.Column("savings_currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=True),
        sa.Column("investment_amount", sa.Numeric(precision=18, scale=2), nullable=True),
        sa.Column("investment_currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=True),
        sa.Column("effect_metric", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("effect_change", sa.Float(), nullable=True),
        sa.Column("owner_team", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.ForeignKeyConstraint(["effect_metric"], ["metrics.code"], name=op.f("fk_ideas_effect_metric_metrics")),
        sa.ForeignKeyConstraint(["enterprise_id"], ["enterprises.id"], name=op.f("fk_ideas_enterprise_id_enterprises")),
        sa.ForeignKeyConstraint(["training_id"], ["trainings.id"], name=op.f("fk_ideas_training_id_trainings")),
        sa.ForeignKeyConstraint(["visit_id"], ["visits.id"], name=op.f("fk_ideas_visit_id_visits")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ideas")),
    )
    op.create_index(op.f("ix_ideas_category"), "ideas", ["category"], unique=False)
    op.create_index(op.f("ix_ideas_enterprise_id"), "ideas", ["enterprise_id"], unique=False)
    op.create_index(op.f("ix_ideas_status"), "ideas", ["status"], unique=False)
    op.create_index(op.f("ix_ideas_training_id"), "ideas", ["training_id"], unique=False)
    op.create_index(op.f("ix_ideas_visit_id"), "ideas", ["visit_id"], unique=False)
    op.create_table(
        "idea_transitions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("idea_id", sa.Uuid(), nullable=False),
        sa.Column(
            "from_status",
            sa.Enum("proposed", "approved", "in_progress", "implemented", "verified", "rejected", name="idea_status"),
            nullable=False,
        ),
        sa.Column(
            "to_status",
            sa.Enum("proposed", "approved", "in_progress", "implemented", "verified", "rejected", name="idea_status"),
            nullable=False,
        ),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("note", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["idea_id"], ["ideas.id"], name=op.f("fk_idea_transitions_idea_id_ideas"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idea_transitions")),
    )
    op.create_index(op.f("ix_idea_transitions_idea_id"), "idea_transitions", ["idea_id"], unique=False)
    op.create_table(
        "results",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("enterprise_id", sa.Uuid(), nullable=False),
        sa.Column("metric", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("is_baseline", sa.Boolean(), nullable=False),
        sa.Column("idea_id", sa.Uuid(), nullable=True),
        sa.Column("source", sa.Enum("self_reported", "expert", name="result_source"), nullable=False),
        sa.Column("recorded_by", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("verified_by", sa.Uuid(), nullable=True),
        sa.CheckConstraint("period_end >= period_start", name=op.f("ck_results_period_order")),
        sa.CheckConstraint("value >= 0", name=op.f("ck_results_value_non_negative")),
        sa.ForeignKeyConstraint(
            ["enterprise_id"], ["enterprises.id"], name=op.f("fk_results_enterprise_id_enterprises")
        ),
        sa.ForeignKeyConstraint(["idea_id"], ["ideas.id"], name=op.f("fk_results_idea_id_ideas")),
        sa.ForeignKeyConstraint(["metric"], ["metrics.code"], name=op.f("fk_results_metric_metrics")),
        sa.ForeignKeyConstraint(["verified_by"], ["users.id"], name=op.f("fk_results_verified_by_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_results")),
        sa.UniqueConstraint(
            "enterprise_id",
            "metric",
            "period_start",
            "period_end",
            name=op.f("uq_results_enterprise_id_metric_period_start_period_end"),
        ),
    )
    op.create_index(op.f("ix_results_enterprise_id"), "results", ["enterprise_id"], unique=False)
    op.create_index(op.f("ix_results_idea_id"), "results", ["idea_id"], unique=False)
    op.create_index(op.f("ix_results_metric"), "results", ["metric"], unique=False)
    op.create_index(
        "uq_results_one_baseline",
        "results",
        ["enterprise_id", "metric"],
        unique=True,
        postgresql_where=sa.text("is_baseline"),
    )
    op.create_table(
        "visit_ideas",
        sa.Column("visit_id", sa.Uuid(), nullable=False),
        sa.Column("idea_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["idea_id"], ["ideas.id"], name=op.f("fk_visit_ideas_idea_id_ideas"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["visit_id"], ["visits.id"], name=op.f("fk_visit_ideas_visit_id_visits"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("visit_id", "idea_id", name=op.f("pk_visit_ideas")),
    )
    op.create_index(op.f("ix_visit_ideas_idea_id"), "visit_ideas", ["idea_id"], unique=False)
    op.create_foreign_key(op.f("fk_users_enterprise_id_enterprises"), "users", "enterprises", ["enterprise_id"], ["id"])
    # ### end Alembic commands ###
    _seed()


def downgrade() -> None:
    # ### commands auto generated by Alembic - please adjust! ###
    op.drop_constraint(op.f("fk_users_enterprise_id_enterprises"), "users", type_="foreignkey")
    op.drop_index(op.f("ix_visit_ideas_idea_id"), table_name="visit_ideas")
    op.drop_table("visit_ideas")
    op.drop_index("uq_results_one_baseline", table_name="results", postgresql_where=sa.text("is_baseline"))
    op.drop_index(op.f("ix_results_metric"), table_name="results")
    op.drop_index(op.f("ix_results_idea_id"), table_name="results")
    op.drop_index(op.f("ix_results_enterprise_id"), table_name="results")
    op.drop_table("results")
    op.drop_index(op.f("ix_idea_transitions_idea_id"), table_name="idea_transitions")
    op.drop_table("idea_transitions")
    op.drop_index(op.f("ix_ideas_visit_id"), table_name="ideas")
    op.drop_index(op.f("ix_ideas_training_id"), table_name="ideas")
    op.drop_index(op.f("ix_ideas_status"), table_name="ideas")
    op.drop_index(op.f("ix_ideas_enterprise_id"), table_name="ideas")
    op.drop_index(op.f("ix_ideas_category"), table_name="ideas")
    op.drop_table("ideas")
    op.drop_index(op.f("ix_visits_status"), table_name="visits")
    op.drop_index(op.f("ix_visits_expert_id"), table_name="visits")
    op.drop_index(op.f("ix_visits_enterprise_id"), table_name="visits")
    op.drop_table("visits")
    op.drop_index(op.f("ix_training_trainers_user_id"), table_name="training_trainers")
    op.drop_table("training_trainers")
    op.drop_index(op.f("ix_enterprise_experts_user_id"), table_name="enterprise_experts")
    op.drop_table("enterprise_experts")
    op.drop_index(
        "uq_supplier_links_open_pair", table_name="supplier_links", postgresql_where=sa.text("status <> 'revoked'")
    )
    op.drop_index(op.f("ix_supplier_links_status"), table_name="supplier_links")
    op.drop_index(op.f("ix_supplier_links_enterprise_id"), table_name="supplier_links")
    op.drop_index(op.f("ix_supplier_links_buyer_id"), table_name="supplier_links")
    op.drop_table("supplier_links")
    op.drop_index(op.f("ix_enrollments_training_id"), table_name="enrollments")
    op.drop_index(op.f("ix_enrollments_enterprise_id"), table_name="enrollments")
    op.drop_table("enrollments")
    op.drop_index(op.f("ix_trainings_status"), table_name="trainings")
    op.drop_index(op.f("ix_trainings_partner_id"), table_name="trainings")
    op.drop_index(op.f("ix_trainings_module"), table_name="trainings")
    op.drop_table("trainings")
    op.drop_index(op.f("ix_enterprises_sector"), table_name="enterprises")
    op.drop_index(op.f("ix_enterprises_partner_id"), table_name="enterprises")
    op.drop_index(op.f("ix_enterprises_country"), table_name="enterprises")
    op.drop_table("enterprises")
    op.drop_index("uq_emission_factors_metric_country_year", table_name="emission_factors")
    op.drop_index(op.f("ix_emission_factors_metric"), table_name="emission_factors")
    op.drop_table("emission_factors")
    op.drop_table("metrics")
    op.drop_index(op.f("ix_audit_events_object_type"), table_name="audit_events")
    op.drop_index(op.f("ix_audit_events_object_id"), table_name="audit_events")
    op.drop_index(op.f("ix_audit_events_created_at"), table_name="audit_events")
    op.drop_index(op.f("ix_audit_events_actor"), table_name="audit_events")
    op.drop_index(op.f("ix_audit_events_action"), table_name="audit_events")
    op.drop_table("audit_events")
    # ### end Alembic commands ###
    for name in (
        "link_status",
        "training_module",
        "training_status",
        "visit_kind",
        "visit_status",
        "idea_category",
        "idea_status",
        "metric_direction",
        "metric_kind",
        "result_source",
    ):
        sa.Enum(name=name).drop(op.get_bind(), checkfirst=True)
