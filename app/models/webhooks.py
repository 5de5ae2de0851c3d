"""Webhook endpoints of an organisation, and the delivery queue the workers share."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from pydantic import ConfigDict
from pydantic import Field as PydanticField
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Field, SQLModel

from app.models.base import TIMESTAMP, InputModel, NoNull, PublicBase, TableBase
from app.models.events import EventType

metadata = SQLModel.metadata


class WebhookEndpoint(TableBase, table=True):
    __tablename__ = "webhook_endpoints"

    organisation_id: UUID | None = Field(
        default=None, foreign_key="organisations.id", index=True, ondelete="CASCADE", nullable=True
    )
    url: str = Field(max_length=2048)
    description: str | None = Field(default=None, max_length=500)
    event_types: list[str] = Field(sa_type=ARRAY(sa.String(64)))
    enabled: bool = Field(default=True, sa_column_kwargs={"server_default": sa.true()})
    disabled_reason: str | None = Field(default=None, max_length=500)
    secret: str = Field(max_length=500, description="The signing secret, encrypted (app/services/webhooks.py).")
    secret_prefix: str = Field(max_length=16)
    previous_secret: str | None = Field(default=None, max_length=500)
    previous_secret_expires_at: datetime | None = Field(default=None, sa_type=TIMESTAMP)
    failing_since: datetime | None = Field(default=None, sa_type=TIMESTAMP)


def delivery_state() -> list[sa.Column[Any] | sa.CheckConstraint]:
    """The columns of a row that a delivery worker claims, sends and records (a webhook
    delivery, a PACT callback): new objects for each table."""
    return [
        sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", TIMESTAMP, nullable=False, server_default=sa.text("clock_timestamp()")),
        sa.Column("next_attempt_at", TIMESTAMP, nullable=True, server_default=sa.text("clock_timestamp()")),
        sa.Column("claimed_by", sa.Uuid, nullable=True),
        sa.Column("claimed_until", TIMESTAMP, nullable=True),
        sa.Column("delivered_at", TIMESTAMP, nullable=True),
        sa.Column("last_status_code", sa.Integer, nullable=True),
        sa.Column("last_error", sa.String(500), nullable=True),
        sa.CheckConstraint("status IN ('pending', 'delivered', 'failed')", name="status"),
    ]


DELIVERIES = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True, server_default=sa.text("gen_random_uuid()")),
    sa.Column("endpoint_id", sa.Uuid, sa.ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), nullable=False),
    sa.Column("event_seq", sa.BigInteger, sa.ForeignKey("events.seq", ondelete="CASCADE"), nullable=False, index=True),
    *delivery_state(),
    sa.Index("ix_webhook_deliveries_due", "next_attempt_at", postgresql_where=sa.text("status = 'pending'")),
    sa.Index("ix_webhook_deliveries_endpoint_id", "endpoint_id", "created_at", "id"),
)

ATTEMPTS = sa.Table(
    "webhook_attempts",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("delivery_id", sa.Uuid, sa.ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), nullable=False),
    sa.Column("attempted_at", TIMESTAMP, nullable=False),
    sa.Column("status_code", sa.Integer, nullable=True),
    sa.Column("duration_ms", sa.Integer, nullable=False),
    sa.Column("error", sa.String(500), nullable=True),
    sa.Index("ix_webhook_attempts_delivery_id", "delivery_id", "attempted_at"),
)


class DeliveryStatus(StrEnum):
    pending = "pending"
    delivered = "delivered"
    failed = "failed"


EventTypes = list[EventType]


class WebhookEndpointCreate(InputModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "url": "https://sourcing.example.com/hooks/score4climate",
                    "event_types": ["progress.updated", "supplier_link.revoked"],
                    "description": "Supplier progress into our sourcing system",
                }
            ]
        }
    )

    url: str = PydanticField(
        min_length=8,
        max_length=2048,
        description="Where deliveries are POSTed. In production: `https`, and the host must resolve to public "
        "addresses only.",
    )
    event_types: EventTypes = PydanticField(
        min_length=1, max_length=len(EventType), description="The event types to deliver (at least one)."
    )
    description: str | None = PydanticField(default=None, max_length=500)
    organisation_id: UUID | None = PydanticField(
        default=None,
        description="Admins only: the buyer or partner organisation the endpoint belongs to; left out, an "
        "admin's endpoint receives every event. Others create for their own organisation.",
    )


class WebhookEndpointUpdate(InputModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"enabled": True}]})

    url: str | NoNull = PydanticField(default=None, min_length=8, max_length=2048)
    event_types: EventTypes | NoNull = PydanticField(default=None, min_length=1, max_length=len(EventType))
    description: str | None = PydanticField(default=None, max_length=500)
    enabled: bool | NoNull = PydanticField(
        default=None, description="`false` pauses deliveries (they wait); `true` resumes and clears the reason."
    )


class WebhookEndpointPublic(PublicBase):
    model_config = ConfigDict(from_attributes=True)  # type: ignore[assignment]

    organisation_id: UUID | None
    url: str
    description: str | None
    event_types: list[EventType]
    enabled: bool
    disabled_reason: str | None = PydanticField(
        description="Why the service disabled the endpoint (failing for 5 days in a row); null otherwise."
    )
    secret_prefix: str = PydanticField(description="First characters of the current secret, to recognise it.")
    previous_secret_expires_at: datetime | None = PydanticField(
        description="After a rotation: until when deliveries are also signed with the previous secret."
    )
    failing_since: datetime | None = PydanticField(description="First failure of the current run of failures.")


class WebhookEndpointCreated(WebhookEndpointPublic):
    secret: str | None = PydanticField(
        description="`whsec_` + base64: the signing secret, shown once, now. `null` only on an "
        "`Idempotency-Key` replay."
    )


class WebhookAttemptPublic(SQLModel):
    attempted_at: datetime
    status_code: int | None = PydanticField(description="The receiver's HTTP status; null when none came back.")
    duration_ms: int
    error: str | None = PydanticField(description="Why the attempt failed without a status (timeout, refused, ...).")


class WebhookDeliveryPublic(SQLModel):
    model_config = ConfigDict(from_attributes=True)  # type: ignore[assignment]

    id: UUID
    endpoint_id: UUID
    event_id: UUID
    event_type: EventType
    status: DeliveryStatus
    created_at: datetime
    next_attempt_at: datetime | None = PydanticField(description="When the next attempt is due; null when done.")
    delivered_at: datetime | None
    attempts: list[WebhookAttemptPublic] = PydanticField(description="Every attempt, oldest first.")


class WebhookDeliveryPage(SQLModel):
    items: list[WebhookDeliveryPublic]
    next_cursor: str | None


class PingAnswer(SQLModel):
    event_id: UUID
    delivery_id: UUID
