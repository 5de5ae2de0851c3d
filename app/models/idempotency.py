"""Stored first responses of POSTs sent with an `Idempotency-Key`."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from app.ids import utcnow, uuid7
from app.models.base import TIMESTAMP


class IdempotencyRecord(SQLModel, table=True):
    __tablename__ = "idempotency_keys"
    __table_args__ = (sa.UniqueConstraint("principal", "key"),)

    id: UUID = Field(default_factory=uuid7, primary_key=True)
    principal: str = Field(max_length=80)
    key: str = Field(max_length=255)
    request_hash: str = Field(max_length=64)
    status_code: int | None = None
    body: bytes | None = Field(default=None, sa_type=sa.LargeBinary)
    location: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(default_factory=utcnow, sa_type=TIMESTAMP, index=True)
