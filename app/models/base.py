"""Shared table machinery: naming convention, ids, timestamps, strict input models."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from pydantic import ConfigDict, field_validator
from pydantic.json_schema import SkipJsonSchema
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


NoNull = SkipJsonSchema[None]
"""`field: T | NoNull = None` in an update body: may be left out, but not set to null (the
column is NOT NULL). The document then says so, instead of declaring a null it refuses."""


def refuse_nul(value: Any) -> None:
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("text must not contain NUL (\\u0000) characters")
    elif isinstance(value, list | tuple):
        for item in value:
            refuse_nul(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            refuse_nul(key)
            refuse_nul(item)


class InputModel(SQLModel):
    """Request bodies: unknown or read-only fields are refused with 422, and so is text with
    NUL characters anywhere in it (PostgreSQL text cannot store them)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)  # type: ignore[assignment]

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul_characters(cls, value: Any) -> Any:
        refuse_nul(value)
        return value


def trigram_index(table: str, column: str) -> sa.Index:
    """A GIN trigram index (pg_trgm) on a text column: serves `ILIKE '%…%'` searches (`q`)."""
    return sa.Index(
        f"ix_{table}_{column}_trgm", column, postgresql_using="gin", postgresql_ops={column: "gin_trgm_ops"}
    )


def enum_column(enum_values: type[Any], name: str) -> Any:
    """A native PostgreSQL enum holding the values (not names) of a str Enum."""
    return sa.Enum(enum_values, name=name, values_callable=lambda e: [m.value for m in e])
