"""Organisations: lead buyers and implementing partners."""

from __future__ import annotations

from pydantic import ConfigDict
from sqlmodel import Field, SQLModel

from app.models.base import InputModel, NoNull, PublicBase, TableBase, enum_column
from app.models.types import CountryCode, Name, OrganisationKind


class Organisation(TableBase, table=True):
    __tablename__ = "organisations"

    kind: OrganisationKind = Field(sa_type=enum_column(OrganisationKind, "organisation_kind"), index=True)
    name: str = Field(max_length=200)
    country: str | None = Field(default=None, max_length=2, index=True)


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
