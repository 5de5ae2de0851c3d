"""Who is calling: a person or a machine client, with role and affiliation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from uuid import UUID

from app.models.types import Role


@dataclass(frozen=True, slots=True)
class Principal:
    kind: Literal["user", "client"]
    id: UUID
    role: Role
    organisation_id: UUID | None = None
    enterprise_id: UUID | None = None

    @property
    def key(self) -> str:
        """Stable identifier for scoping idempotency keys, cursors and rate limits."""
        return f"{self.kind}:{self.id}"

    @property
    def is_admin(self) -> bool:
        return self.role is Role.admin
