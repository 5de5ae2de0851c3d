"""Organisations: lead buyers and implementing partners."""

from __future__ import annotations

from enum import StrEnum

from pydantic import ConfigDict
from sqlmodel import Field, SQLModel

from app.models.base import InputModel, NoNull, PublicBase, TableBase, enum_column, trigram_index
from app.models.types import CountryCode, Name, OrganisationKind


class Organisation(TableBase, table=True):
    __tablename__ = "organisations"
    __table_args__ = (trigram_index("organisations", "name"),)

    kind: OrganisationKind = Field(sa_type=enum_column(OrganisationKind, "organisation_kind"), index=True)
    name: str = Field(max_length=200)
    country: str | None = Field(default=None, max_length=2, index=True)


class OrganisationSort(StrEnum):
    """`sort` of the list: a field, ascending, or `-field`, descending (NULLs last either way)."""

    name_asc = "name"
    name_desc = "-name"
    country_asc = "country"
    country_desc = "-country"
    created_at_asc = "created_at"
    created_at_desc = "-created_at"
    updated_at_asc = "updated_at"
    updated_at_desc = "-updated_at"


class OrganisationCreate(InputModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"kind": "partner", "name": "National Productivity Council", "country": "IN"}]}
    )

    kind: OrganisationKind
    name: Name
    country: CountryCode | None = None


class OrganisationUpdate(InputModel):
    name: Name | NoNull = None
    country: CountryCode | None = None


class OrganisationPublic(PublicBase):
    model_config = ConfigDict(from_attributes=True)  # type: ignore[assignment]

    kind: OrganisationKind
    name: str
    country: str | None


class OrganisationFilters(SQLModel):
    kind: OrganisationKind | None = None
    country: str | None = None
