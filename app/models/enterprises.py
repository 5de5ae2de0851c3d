"""Enterprises (SMEs) and the experts assigned to them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from uuid import UUID

from pydantic import ConfigDict, EmailStr
from pydantic import Field as PydanticField
from sqlmodel import Field, SQLModel

from app.ids import utcnow
from app.models.base import TIMESTAMP, InputModel, NoNull, PublicBase, TableBase, enum_column, trigram_index
from app.models.enums import OutputUnit
from app.models.types import CountryCode, IsicCode, Name, ShortText


class Enterprise(TableBase, table=True):
    __tablename__ = "enterprises"
    __table_args__ = (trigram_index("enterprises", "name"),)

    name: str = Field(max_length=200)
    country: str = Field(max_length=2, index=True)
    sector: str = Field(max_length=5, index=True)
    partner_id: UUID = Field(foreign_key="organisations.id", index=True)
    employees_female: int | None = None
    employees_male: int | None = None
    products: str | None = Field(default=None, max_length=2000)
    contact_email: str | None = Field(default=None, max_length=320)
    output_unit: OutputUnit | None = Field(default=None, sa_type=enum_column(OutputUnit, "output_unit"))


class EnterpriseSort(StrEnum):
    """`sort` of the list: a field, ascending, or `-field`, descending (NULLs last either way)."""

    name_asc = "name"
    name_desc = "-name"
    country_asc = "country"
    country_desc = "-country"
    created_at_asc = "created_at"
    created_at_desc = "-created_at"
    updated_at_asc = "updated_at"
    updated_at_desc = "-updated_at"


class EnterpriseExpert(SQLModel, table=True):
    """An expert assigned to an enterprise: the expert's access to it."""

    __tablename__ = "enterprise_experts"

    enterprise_id: UUID = Field(foreign_key="enterprises.id", primary_key=True, ondelete="CASCADE")
    user_id: UUID = Field(foreign_key="users.id", primary_key=True, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=TIMESTAMP)


OUTPUT_UNIT = (
    "The unit in which the enterprise's `production_output` results are counted; null when not declared. "
    "Progress records name it next to the emission intensity (kg CO2e per unit of output)."
)


class EnterpriseBase(SQLModel):
    name: Name
    country: CountryCode
    sector: IsicCode
    employees_female: int | None = PydanticField(default=None, ge=0, le=1_000_000)
    employees_male: int | None = PydanticField(default=None, ge=0, le=1_000_000)
    products: ShortText | None = None
    contact_email: EmailStr | None = None
    output_unit: OutputUnit | None = PydanticField(default=None, description=OUTPUT_UNIT)


class EnterpriseCreate(EnterpriseBase, InputModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "Shree Rubber Products",
                    "country": "IN",
                    "sector": "2219",
                    "employees_female": 42,
                    "employees_male": 88,
                    "products": "moulded rubber parts",
                    "contact_email": "plant@shree-rubber.example",
                    "output_unit": "piece",
                }
            ]
        }
    )

    partner_id: UUID | None = PydanticField(
        default=None, description="Admins choose; a partner's enterprises are its own."
    )


class EnterpriseUpdate(InputModel):
    name: Name | NoNull = None
    country: CountryCode | NoNull = None
    sector: IsicCode | NoNull = None
    employees_female: int | None = PydanticField(default=None, ge=0, le=1_000_000)
    employees_male: int | None = PydanticField(default=None, ge=0, le=1_000_000)
    products: ShortText | None = None
    contact_email: EmailStr | None = None
    output_unit: OutputUnit | None = PydanticField(default=None, description=OUTPUT_UNIT)


class EnterprisePublic(PublicBase):
    model_config = ConfigDict(from_attributes=True)  # type: ignore[assignment]

    name: str
    country: str
    sector: str
    partner_id: UUID
    employees_female: int | None
    employees_male: int | None
    products: str | None
    contact_email: str | None
    output_unit: OutputUnit | None = PydanticField(description=OUTPUT_UNIT)


class ExpertAssignment(SQLModel):
    model_config = ConfigDict(from_attributes=True)  # type: ignore[assignment]

    enterprise_id: UUID
    user_id: UUID
    created_at: datetime
