"""People: role, affiliation and, for experts, certification."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from uuid import UUID

from pydantic import ConfigDict, EmailStr
from sqlmodel import Field

from app.models.base import InputModel, NoNull, PublicBase, TableBase, enum_column, trigram_index
from app.models.types import CurrentPassword, IsoDate, Name, Password, Role


class User(TableBase, table=True):
    __tablename__ = "users"
    __table_args__ = (
        trigram_index("users", "email"),
        trigram_index("users", "full_name"),
    )

    email: str = Field(max_length=320, unique=True)
    password_hash: str = Field(max_length=255)
    role: Role = Field(sa_type=enum_column(Role, "user_role"), index=True)
    full_name: str | None = Field(default=None, max_length=200)
    organisation_id: UUID | None = Field(default=None, foreign_key="organisations.id", index=True)
    enterprise_id: UUID | None = Field(default=None, foreign_key="enterprises.id", index=True)
    certified_until: date | None = None
    is_active: bool = True
    auth_version: int = Field(default=1, description="Bumped on password change or deactivation.")


class UserSort(StrEnum):
    """`sort` of the list: a field, ascending, or `-field`, descending (NULLs last either way)."""

    email_asc = "email"
    email_desc = "-email"
    full_name_asc = "full_name"
    full_name_desc = "-full_name"
    created_at_asc = "created_at"
    created_at_desc = "-created_at"
    updated_at_asc = "updated_at"
    updated_at_desc = "-updated_at"


class UserCreate(InputModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "email": "asha.expert@example.org",
                    "password": "correct horse battery staple",
                    "role": "expert",
                    "full_name": "Asha Rao",
                    "organisation_id": "01930000-0000-7000-8000-000000000001",
                    "certified_until": "2027-12-31",
                }
            ]
        }
    )

    email: EmailStr
    password: Password
    role: Role
    full_name: Name | None = None
    organisation_id: UUID | None = None
    enterprise_id: UUID | None = None
    certified_until: IsoDate | None = None
    is_active: bool = True


class UserUpdate(InputModel):
    password: Password | NoNull = Field(
        default=None,
        description="Your own new password, with `current_password`. Another user's password is set "
        "with `POST /v1/users/{id}/password-reset`. Ends every session of the account.",
    )
    current_password: CurrentPassword | NoNull = None
    full_name: Name | None = None
    certified_until: IsoDate | None = None
    is_active: bool | NoNull = None


class PasswordReset(InputModel):
    """An administrator's or partner's reset of another user's password."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"password": "a new correct horse battery"}]})

    password: Password


class UserPublic(PublicBase):
    model_config = ConfigDict(from_attributes=True)  # type: ignore[assignment]

    email: str
    role: Role
    full_name: str | None
    organisation_id: UUID | None
    enterprise_id: UUID | None
    certified_until: date | None
    is_active: bool
