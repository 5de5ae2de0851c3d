"""Machine credentials of an organisation (client-credentials grant)."""

from __future__ import annotations

from uuid import UUID

from pydantic import ConfigDict
from pydantic import Field as PydanticField
from sqlmodel import Field

from app.models.base import InputModel, NoNull, PublicBase, TableBase, enum_column
from app.models.types import Name, Role


class ApiClient(TableBase, table=True):
    __tablename__ = "api_clients"

    organisation_id: UUID = Field(foreign_key="organisations.id", index=True)
    name: str = Field(max_length=200)
    client_id: str = Field(max_length=64, unique=True)
    secret_hash: str = Field(max_length=64)
    secret_prefix: str = Field(max_length=16)
    role: Role = Field(sa_type=enum_column(Role, "user_role"))
    is_active: bool = True
    auth_version: int = 1


class ApiClientCreate(InputModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "Sourcing system (production)"}]})

    name: Name
    organisation_id: UUID | None = PydanticField(
        default=None, description="Admins only; others create for their own organisation."
    )


class ApiClientUpdate(InputModel):
    name: Name | NoNull = None
    is_active: bool | NoNull = None


class ApiClientPublic(PublicBase):
    model_config = ConfigDict(from_attributes=True)  # type: ignore[assignment]

    organisation_id: UUID
    name: str
    client_id: str
    secret_prefix: str = PydanticField(description="First characters of the secret, to recognise it.")
    role: Role
    is_active: bool


class ApiClientCreated(ApiClientPublic):
    client_secret: str | None = PydanticField(
        description="Shown once, now. Store it: it cannot be read again. `null` only when this answer is an "
        "`Idempotency-Key` replay (`Idempotent-Replayed: true`): the secret is never stored to be shown again."
    )
