"""The event log: what changed, for whom, as the feed and the webhooks show it.

Tables (SQLAlchemy Core: written and read by set-based statements in app/services/events.py):
- `events`: one row per event, numbered by `seq` in commit order; `body` is the event's JSON,
  rendered once, exactly what `GET /v1/events` lists and what a webhook delivery posts;
- `event_recipients`: who receives each event, fixed when it is written (an organisation for
  partners and buyers, a user for experts, the enterprise for its own users; admins receive
  every event and need no row);
- `event_log_state`: how far retention has pruned (`pruned_through`), for `410 cursor-expired`.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from pydantic import Field as PydanticField
from sqlmodel import SQLModel

from app.models.base import TIMESTAMP

metadata = SQLModel.metadata

EVENTS = sa.Table(
    "events",
    metadata,
    sa.Column("seq", sa.BigInteger, sa.Identity(always=False), primary_key=True),
    sa.Column("id", sa.Uuid, nullable=False, unique=True),
    sa.Column("type", sa.String(64), nullable=False),
    sa.Column("occurred_at", TIMESTAMP, nullable=False, index=True),
    sa.Column("subject_type", sa.String(32), nullable=False),
    sa.Column("subject_id", sa.Uuid, nullable=False),
    sa.Column("enterprise_id", sa.Uuid, nullable=True),
    sa.Column("request_id", sa.String(64), nullable=True),
    sa.Column("body", sa.Text, nullable=False),
)

EVENT_RECIPIENTS = sa.Table(
    "event_recipients",
    metadata,
    sa.Column("recipient", sa.Uuid, primary_key=True),
    sa.Column("seq", sa.BigInteger, sa.ForeignKey("events.seq", ondelete="CASCADE"), primary_key=True, index=True),
)

EVENT_LOG_STATE = sa.Table(
    "event_log_state",
    metadata,
    sa.Column("id", sa.SmallInteger, primary_key=True, autoincrement=False),
    sa.Column("pruned_through", sa.BigInteger, nullable=False, server_default="0"),
    sa.CheckConstraint("id = 1", name="single_row"),
)


class EventType(StrEnum):
    """Every event type; `{subject}.{what happened}`."""

    progress_updated = "progress.updated"
    enterprise_created = "enterprise.created"
    enterprise_updated = "enterprise.updated"
    enterprise_deleted = "enterprise.deleted"
    enterprise_expert_assigned = "enterprise.expert_assigned"
    enterprise_expert_unassigned = "enterprise.expert_unassigned"
    supplier_link_created = "supplier_link.created"
    supplier_link_accepted = "supplier_link.accepted"
    supplier_link_revoked = "supplier_link.revoked"
    enrollment_created = "enrollment.created"
    enrollment_updated = "enrollment.updated"
    enrollment_deleted = "enrollment.deleted"
    idea_created = "idea.created"
    idea_updated = "idea.updated"
    idea_transitioned = "idea.transitioned"
    idea_deleted = "idea.deleted"
    visit_created = "visit.created"
    visit_updated = "visit.updated"
    visit_deleted = "visit.deleted"
    result_created = "result.created"
    result_updated = "result.updated"
    result_verified = "result.verified"
    result_deleted = "result.deleted"
    attachment_created = "attachment.created"
    attachment_deleted = "attachment.deleted"
    webhook_ping = "webhook.ping"


class EventSubject(SQLModel):
    type: str = PydanticField(description="What the event is about: `enterprise`, `supplier_link`, `idea`, ...")
    id: UUID


class EventPublic(SQLModel):
    """One event, exactly as the feed lists it and a webhook delivery posts it."""

    id: UUID = PydanticField(description="Unique and stable; also the `webhook-id` of every delivery of it.")
    type: EventType
    occurred_at: datetime = PydanticField(description="When the change was written (RFC 3339, UTC).")
    subject: EventSubject
    data: dict[str, Any] = PydanticField(
        description="`progress.updated`: the progress record, as `GET /v1/enterprises/{id}/progress` "
        "returns it. Other types: `enterprise_id`, and for status changes (`*.accepted`, `*.revoked`, "
        "`*.verified`, `*.transitioned`, expert assignments) `changes` as `{field: [old, new]}`. Fetch the "
        "subject for its details."
    )


class EventPage(SQLModel):
    items: list[EventPublic]
    next_cursor: str = PydanticField(
        description="Where to resume: pass it as `after` next time. Always present, also on an empty page "
        "(it then points where this request started)."
    )
