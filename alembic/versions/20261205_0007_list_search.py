"""list search: pg_trgm and trigram indexes on the columns `q` searches

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 23:45:00+00:00

`q` on the lists people browse is a case-insensitive substring match (`ILIKE '%…%'`). A GIN
index with `gin_trgm_ops` (the pg_trgm extension, trusted since PostgreSQL 13, so the
database's owner may create it) answers such a match without reading the whole table. The
downgrade drops the indexes and leaves the extension, which something else may use.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEARCHED = [
    ("organisations", "name"),
    ("users", "email"),
    ("users", "full_name"),
    ("enterprises", "name"),
    ("trainings", "title"),
    ("ideas", "title"),
    ("visits", "findings"),
    ("results", "metric"),
]


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for table, column in SEARCHED:
        op.create_index(
            f"ix_{table}_{column}_trgm",
            table,
            [column],
            postgresql_using="gin",
            postgresql_ops={column: "gin_trgm_ops"},
        )


def downgrade() -> None:
    for table, column in reversed(SEARCHED):
        op.drop_index(f"ix_{table}_{column}_trgm", table_name=table)
