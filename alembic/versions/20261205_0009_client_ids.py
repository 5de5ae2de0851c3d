"""client ids: the ids clients choose when they create ideas, visits, results and enrollments

Revision ID: 0009
Revises: 0006
Create Date: 2026-12-05 10:00:00+00:00

An offline client gives each object it captures its own id (a UUIDv7 made on the device) and
sends it in the creation body. `client_ids` records each such id with the kind of object, a
hash of the request and who sent it, so that a repeated creation answers as the first one and
an id is never used for two objects, even after the first is deleted.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "client_ids",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("resource", sa.String(length=32), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("creator", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_client_ids")),
    )


def downgrade() -> None:
    op.drop_table("client_ids")
