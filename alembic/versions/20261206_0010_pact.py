"""pact: the footprints issued to PACT clients, and the outbox of PACT callbacks

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 10:00:00+00:00

`pact_footprints` keeps every footprint as first issued (its id is a uuid5 of the enterprise,
the reference period and a hash of the content), with `deprecated_at` once it is superseded.
`pact_outbox` holds the events that answer buyers' requests until the delivery worker has
posted them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pact_outbox",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("recipient", sa.String(length=2048), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("request_id", sa.String(length=100), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.text("clock_timestamp()"), nullable=False
        ),
        sa.Column(
            "next_attempt_at", sa.DateTime(timezone=True), server_default=sa.text("clock_timestamp()"), nullable=True
        ),
        sa.Column("claimed_by", sa.Uuid(), nullable=True),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.CheckConstraint("status IN ('pending', 'delivered', 'failed')", name=op.f("ck_pact_outbox_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pact_outbox")),
    )
    op.create_index(
        "ix_pact_outbox_due",
        "pact_outbox",
        ["next_attempt_at"],
        unique=False,
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_table(
        "pact_footprints",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("enterprise_id", sa.Uuid(), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("body", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("product_keys", postgresql.ARRAY(sa.String(length=300)), nullable=False),
        sa.Column("company_keys", postgresql.ARRAY(sa.String(length=300)), nullable=False),
        sa.Column("classification_keys", postgresql.ARRAY(sa.String(length=300)), nullable=False),
        sa.Column("geography", sa.String(length=2), nullable=False),
        sa.Column("validity_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("validity_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("preceding_ids", postgresql.ARRAY(sa.Uuid()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deprecated_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["enterprises.id"],
            name=op.f("fk_pact_footprints_enterprise_id_enterprises"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pact_footprints")),
    )
    op.create_index(op.f("ix_pact_footprints_enterprise_id"), "pact_footprints", ["enterprise_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_pact_footprints_enterprise_id"), table_name="pact_footprints")
    op.drop_table("pact_footprints")
    op.drop_index("ix_pact_outbox_due", table_name="pact_outbox", postgresql_where=sa.text("status = 'pending'"))
    op.drop_table("pact_outbox")
