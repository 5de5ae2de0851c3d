"""Shared table machinery: naming convention, ids, timestamps, strict input models."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from pydantic import ConfigDict
from sqlmodel import Field, SQLModel

from app.ids import utcnow, uuid7

SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

TIMESTAMP = sa.DateTime(timezone=True)


class TableBase(SQLModel):
    """Columns every stored object carries."""

    id: UUID = Field(default_factory=uuid7, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=TIMESTAMP, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=TIMESTAMP, nullable=False)


class PublicBase(SQLModel):
    """What every object shows: its id and timestamps."""

    id: UUID
    created_at: datetime
    updated_at: datetime


class InputModel(SQLModel):
    """Request bodies: unknown or read-only fields are refused with 422."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)  # type: ignore[assignment]


def enum_column(enum_values: type[Any], name: str) -> Any:
    """A native PostgreSQL enum holding the values (not names) of a str Enum."""
    return sa.Enum(enum_values, name=name, values_callable=lambda e: [m.value for m in e])
