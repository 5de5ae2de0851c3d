"""attachments: photos and documents evidencing visits, results and ideas, and their bytes

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-05 23:00:00+00:00

`attachments` describes each file and names its parent by exactly one of three foreign keys
(a parent that still has attachments cannot be deleted: 409). `attachment_chunks` is the
PostgreSQL blob store: the bytes in pieces keyed by offset, removed with their attachment; its
key is checked at commit, because the bytes are written before the attachment's row.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)
PARENT = postgresql.ENUM("visit", "result", "idea", name="attachment_parent", create_type=False)


def upgrade() -> None:
    PARENT.create(op.get_bind(), checkfirst=False)
    op.create_table(
        "attachments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("parent_type", PARENT, nullable=False),
        sa.Column("enterprise_id", sa.Uuid(), nullable=False),
        sa.Column("visit_id", sa.Uuid(), nullable=True),
        sa.Column("result_id", sa.Uuid(), nullable=True),
        sa.Column("idea_id", sa.Uuid(), nullable=True),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("description", sa.String(length=2000), nullable=True),
        sa.Column("created_by", sa.String(length=80), nullable=False),
        sa.CheckConstraint(
            "num_nonnulls(visit_id, result_id, idea_id) = 1"
            " AND (visit_id IS NOT NULL) = (parent_type = 'visit')"
            " AND (result_id IS NOT NULL) = (parent_type = 'result')",
            name=op.f("ck_attachments_one_parent"),
        ),
        sa.CheckConstraint("size > 0", name=op.f("ck_attachments_size_positive")),
        sa.ForeignKeyConstraint(
            ["enterprise_id"], ["enterprises.id"], name=op.f("fk_attachments_enterprise_id_enterprises")
        ),
        sa.ForeignKeyConstraint(["visit_id"], ["visits.id"], name=op.f("fk_attachments_visit_id_visits")),
        sa.ForeignKeyConstraint(["result_id"], ["results.id"], name=op.f("fk_attachments_result_id_results")),
        sa.ForeignKeyConstraint(["idea_id"], ["ideas.id"], name=op.f("fk_attachments_idea_id_ideas")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attachments")),
    )
    for column in ("enterprise_id", "visit_id", "result_id", "idea_id"):
        op.create_index(op.f(f"ix_attachments_{column}"), "attachments", [column])
    op.create_table(
        "attachment_chunks",
        sa.Column("attachment_id", sa.Uuid(), nullable=False),
        sa.Column("offset", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["attachment_id"],
            ["attachments.id"],
            name=op.f("fk_attachment_chunks_attachment_id_attachments"),
            ondelete="CASCADE",
            deferrable=True,
            initially="DEFERRED",
        ),
        sa.PrimaryKeyConstraint("attachment_id", "offset", name=op.f("pk_attachment_chunks")),
    )
    # Photos and PDFs are compressed already: keep the pieces out of line without compressing
    # them again (TOAST's default would spend CPU on every write for nothing).
    op.execute("ALTER TABLE attachment_chunks ALTER COLUMN data SET STORAGE EXTERNAL")


def downgrade() -> None:
    op.drop_table("attachment_chunks")
    for column in ("idea_id", "result_id", "visit_id", "enterprise_id"):
        op.drop_index(op.f(f"ix_attachments_{column}"), table_name="attachments")
    op.drop_table("attachments")
    PARENT.drop(op.get_bind(), checkfirst=False)
