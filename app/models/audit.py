"""Audit trail: who changed what and when."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import ConfigDict
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from app.ids import utcnow, uuid7
from app.models.base import TIMESTAMP


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_events"

    id: UUID = Field(default_factory=uuid7, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=TIMESTAMP, index=True)
    actor: str = Field(max_length=80, index=True)
    actor_role: str = Field(max_length=20)
    action: str = Field(max_length=40, index=True)
    object_type: str = Field(max_length=40, index=True)
    object_id: UUID = Field(index=True)
    changes: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB)


class AuditEventPublic(SQLModel):
    model_config = ConfigDict(from_attributes=True)  # type: ignore[assignment]

    id: UUID
    created_at: datetime
    actor: str = Field(description="`user:<id>` or `client:<id>`.")
    actor_role: str
    action: str = Field(description="`create`, `update`, `delete`, or a domain action such as `verify`.")
    object_type: str = Field(description="Singular resource name, e.g. `enterprise`, `result`.")
    object_id: UUID
    changes: dict[str, Any] = Field(
        description="On create, the stored fields; on update, `{field: [old, new]}` for each changed field."
    )
