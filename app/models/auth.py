"""Refresh tokens (for rotation and reuse detection) and token endpoint schemas."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from pydantic import BaseModel
from pydantic import Field as PydanticField
from sqlmodel import Field, SQLModel

from app.ids import utcnow
from app.models.base import TIMESTAMP
from app.models.types import Role


class RefreshToken(SQLModel, table=True):
    """One issued refresh token; `family_id` ties together every rotation of one login."""

    __tablename__ = "refresh_tokens"

    id: UUID = Field(primary_key=True)
    family_id: UUID = Field(index=True)
    user_id: UUID = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    created_at: datetime = Field(default_factory=utcnow, sa_type=TIMESTAMP)
    expires_at: datetime = Field(sa_type=TIMESTAMP)
    used_at: datetime | None = Field(default=None, sa_type=TIMESTAMP)
    revoked_at: datetime | None = Field(default=None, sa_type=TIMESTAMP)


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int = PydanticField(description="Seconds until the access token expires.")
    refresh_token: str | None = None
    scope: str | None = None


class OAuthError(BaseModel):
    """RFC 6749 §5.2 error body, used by the token endpoint only."""

    error: str = PydanticField(examples=["invalid_grant"])
    error_description: str | None = None


class Me(BaseModel):
    kind: str = PydanticField(description="`user` or `client`.")
    id: UUID
    role: Role
    email: str | None = None
    full_name: str | None = None
    name: str | None = PydanticField(default=None, description="The API client's name.")
    organisation_id: UUID | None = None
    enterprise_id: UUID | None = None
    certified_until: date | None = None
