"""Buyer–enterprise links: the SME's consent to share its progress with a lead buyer."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import sqlalchemy as sa
from sqlmodel import Field

from app.models.base import TIMESTAMP, TableBase, enum_column
from app.models.enums import LinkStatus


class SupplierLink(TableBase, table=True):
    __tablename__ = "supplier_links"
    __table_args__ = (
        sa.Index(
            "uq_supplier_links_open_pair",
            "enterprise_id",
            "buyer_id",
            unique=True,
            postgresql_where=sa.text("status <> 'revoked'"),
        ),
    )

    enterprise_id: UUID = Field(foreign_key="enterprises.id", index=True)
    buyer_id: UUID = Field(foreign_key="organisations.id", index=True)
    status: LinkStatus = Field(sa_type=enum_column(LinkStatus, "link_status"), index=True)
    accepted_at: datetime | None = Field(default=None, sa_type=TIMESTAMP)
    revoked_at: datetime | None = Field(default=None, sa_type=TIMESTAMP)
