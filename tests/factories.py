"""Small factories for test data, and tokens minted directly for each role."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from uuid import UUID

from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from app import security
from app.config import Settings
from app.models.api_clients import ApiClient
from app.models.organisations import Organisation
from app.models.types import OrganisationKind, Role
from app.models.users import User

PASSWORD = "correct horse battery staple"
_PASSWORD_HASH = security.hash_password(PASSWORD)


@dataclass
class Factory:
    session: AsyncSession
    settings: Settings
    commit: bool = False
    _n: list[int] = field(default_factory=lambda: [0])

    def unique(self, prefix: str) -> str:
        self._n[0] += 1
        return f"{prefix}-{self._n[0]}-{secrets.token_hex(3)}"

    async def save(self, obj: SQLModel) -> Any:
        self.session.add(obj)
        if self.commit:
            await self.session.commit()
        else:
            await self.session.flush()
        return obj

    async def org(self, kind: OrganisationKind | str = OrganisationKind.partner, **kw: Any) -> Organisation:
        kw.setdefault("name", self.unique(str(kind)))
        return await self.save(Organisation(kind=OrganisationKind(kind), **kw))  # type: ignore[no-any-return]

    async def user(
        self,
        role: Role | str,
        organisation: Organisation | None = None,
        enterprise_id: UUID | None = None,
        **kw: Any,
    ) -> User:
        role = Role(role)
        if organisation is None and role in (Role.partner, Role.expert):
            organisation = await self.org(OrganisationKind.partner)
        if organisation is None and role is Role.buyer:
            organisation = await self.org(OrganisationKind.buyer)
        kw.setdefault("email", self.unique(role.value) + "@example.org")
        if role is Role.expert:
            kw.setdefault("certified_until", date(2099, 12, 31))
        user = User(
            role=role,
            password_hash=_PASSWORD_HASH,
            organisation_id=organisation.id if organisation else None,
            enterprise_id=enterprise_id,
            **kw,
        )
        return await self.save(user)  # type: ignore[no-any-return]

    async def api_client(self, organisation: Organisation) -> tuple[ApiClient, str]:
        secret = security.new_client_secret()
        client = ApiClient(
            organisation_id=organisation.id,
            name=self.unique("client"),
            client_id="s4c_" + secrets.token_hex(12),
            secret_hash=security.hash_client_secret(secret),
            secret_prefix=secret[:12],
            role=Role(organisation.kind.value),
        )
        return await self.save(client), secret

    def token(self, who: User | ApiClient, **overrides: Any) -> str:
        kind = "user" if isinstance(who, User) else "client"
        values: dict[str, Any] = {
            "token_type": "access",
            "subject": who.id,
            "kind": kind,
            "role": who.role.value,
            "organisation_id": who.organisation_id,
            "version": who.auth_version,
            "ttl_seconds": 600,
        }
        values.update(overrides)
        token, _ = security.issue_token(self.settings, **values)
        return token

    def auth(self, who: User | ApiClient) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(who)}"}
