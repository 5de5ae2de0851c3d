"""Buyer-enterprise links: the SME's consent to share its progress with a lead buyer."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import sqlalchemy as sa
from pydantic import ConfigDict
from pydantic import Field as PydanticField
from sqlmodel import Field

from app.models.base import TIMESTAMP, InputModel, PublicBase, TableBase, enum_column
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


class SupplierLinkCreate(InputModel):
    """A buyer invites an enterprise (`pending`); an SME user or its partner names the buyer (`active`)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"enterprise_id": "01930000-0000-7000-8000-000000000010"},
                {
                    "enterprise_id": "01930000-0000-7000-8000-000000000010",
                    "buyer_id": "01930000-0000-7000-8000-000000000002",
                },
            ]
        }
    )

    enterprise_id: UUID
    buyer_id: UUID | None = PydanticField(
        default=None,
        description="The lead buyer organisation. A buyer's invite is always for its own organisation; "
        "SME users, partners and admins must name it.",
    )


class SupplierLinkPublic(PublicBase):
    """Only ids and consent state: a pending link reveals nothing of the enterprise."""

    model_config = ConfigDict(from_attributes=True)  # type: ignore[assignment]

    enterprise_id: UUID
    buyer_id: UUID
    status: LinkStatus
    accepted_at: datetime | None
    revoked_at: datetime | None
