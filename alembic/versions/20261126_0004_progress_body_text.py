"""progress records keep their JSON text

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 01:00:00+00:00

The record is served as-is; rendering jsonb to text on every read cost ~75 µs a record.
The text is stored uncompressed (STORAGE EXTERNAL): reads skip decompression too.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("progress_records", sa.Column("body", sa.Text(), nullable=True))
    op.execute("UPDATE progress_records SET body = record::text")
    op.alter_column("progress_records", "body", nullable=False)
    op.execute("ALTER TABLE progress_records ALTER COLUMN body SET STORAGE EXTERNAL")


def downgrade() -> None:
    op.drop_column("progress_records", "body")
