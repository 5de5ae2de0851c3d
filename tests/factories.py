"""The one factory for test data: `Factory` builds rows directly in the database and mints tokens.

Every kind of object has one method, with the defaults most tests want; a test passes the
fields that matter to it as keyword arguments. Scenarios built from these methods (a partner
with its enterprises and people, two tenants) live in tests/worlds.py and tests/two_tenants.py.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from app import security
from app.config import Settings
from app.filetypes import HEAD_BYTES, detect
from app.ids import utcnow
from app.models.api_clients import ApiClient
from app.models.attachments import Attachment
from app.models.enterprises import Enterprise, EnterpriseExpert
from app.models.enums import (
    AttachmentParent,
    IdeaCategory,
    IdeaStatus,
    LinkStatus,
    Module,
    ResultSource,
    TrainingStatus,
    VisitKind,
    VisitStatus,
)
from app.models.ideas import Idea
from app.models.organisations import Organisation
from app.models.results import Result
from app.models.supplier_links import SupplierLink
from app.models.trainings import Enrollment, Training, TrainingTrainer
from app.models.types import OrganisationKind, Role
from app.models.users import User
from app.models.visits import Visit, VisitIdea
from app.services.blobs_postgres import PostgresBlobs

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
"""A small file that is a PNG by its first bytes."""

PASSWORD = "correct horse battery staple"
_PASSWORD_HASH = security.hash_password(PASSWORD)


@dataclass
class Factory:
    """Builds test rows in `session`: flushed by default, committed with `commit=True`
    (for data that requests served by another session or event loop must see)."""

    session: AsyncSession
    settings: Settings
    commit: bool = False
    _n: list[int] = field(default_factory=lambda: [0])

    # -- plumbing ---------------------------------------------------------------------------

    def unique(self, prefix: str) -> str:
        """A name no other call returns: `prefix-<counter>-<random hex>`."""
        self._n[0] += 1
        return f"{prefix}-{self._n[0]}-{secrets.token_hex(3)}"

    async def save(self, obj: SQLModel) -> Any:
        """Add `obj` to the session and flush it (or commit it, with `commit=True`)."""
        self.session.add(obj)
        if self.commit:
            await self.session.commit()
        else:
            await self.session.flush()
        return obj

    # -- organisations, people and credentials ----------------------------------------------

    async def org(self, kind: OrganisationKind | str = OrganisationKind.partner, **kw: Any) -> Organisation:
        """An organisation of `kind` (a partner by default) with a unique name."""
        kw.setdefault("name", self.unique(str(kind)))
        return await self.save(Organisation(kind=OrganisationKind(kind), **kw))  # type: ignore[no-any-return]

    async def user(
        self,
        role: Role | str,
        organisation: Organisation | None = None,
        enterprise_id: UUID | None = None,
        **kw: Any,
    ) -> User:
        """A user with `PASSWORD`; partner staff, experts and buyers get an organisation of their own if none is given."""
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
        """An API client of `organisation` with the organisation's role, and its secret."""
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
        """An access token for `who`, minted directly; `overrides` change any claim."""
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
        """The `Authorization` header for `who`."""
        return {"Authorization": f"Bearer {self.token(who)}"}

    # -- enterprises and their links --------------------------------------------------------

    async def enterprise(self, partner_org: Organisation, **kw: Any) -> Enterprise:
        """An enterprise of `partner_org`: a unique name, in India (IN), sector 2219; `kw` overrides any field."""
        values: dict[str, Any] = {"country": "IN", "sector": "2219", "partner_id": partner_org.id}
        values.update(kw)
        if "name" not in values:
            values["name"] = self.unique("ent")
        return await self.save(Enterprise(**values))  # type: ignore[no-any-return]

    async def assign(self, enterprise: Enterprise, expert: User) -> EnterpriseExpert:
        """Assign `expert` to `enterprise`."""
        return await self.save(EnterpriseExpert(enterprise_id=enterprise.id, user_id=expert.id))  # type: ignore[no-any-return]

    async def supplier_link(
        self,
        enterprise: Enterprise,
        buyer_org: Organisation,
        status: LinkStatus | str = LinkStatus.active,
        **kw: Any,
    ) -> SupplierLink:
        """A link from `buyer_org` to `enterprise`; accepted now unless pending, revoked now if revoked (`kw` overrides)."""
        status = LinkStatus(status)
        now = utcnow()
        values: dict[str, Any] = {
            "accepted_at": now if status is not LinkStatus.pending else None,
            "revoked_at": now if status is LinkStatus.revoked else None,
        }
        values.update(kw)
        link = SupplierLink(enterprise_id=enterprise.id, buyer_id=buyer_org.id, status=status, **values)
        return await self.save(link)  # type: ignore[no-any-return]

    # -- trainings --------------------------------------------------------------------------

    async def training(
        self,
        partner_org: Organisation,
        module: Module | str = Module.workplace_cooperation,
        start_date: date = date(2025, 3, 10),
        end_date: date | None = None,
        trainers: Iterable[User] = (),
        **kw: Any,
    ) -> Training:
        """A planned one-day training of `partner_org` (end date = start date unless given), with `trainers`."""
        values: dict[str, Any] = {"status": TrainingStatus.planned}
        values.update(kw)
        if "title" not in values:
            values["title"] = self.unique("training")
        training = Training(
            partner_id=partner_org.id,
            module=Module(module),
            start_date=start_date,
            end_date=end_date or start_date,
            **values,
        )
        await self.save(training)
        for trainer in trainers:
            await self.save(TrainingTrainer(training_id=training.id, user_id=trainer.id))
        return training

    async def enrollment(
        self, training: Training, enterprise: Enterprise, completed: bool = False, **kw: Any
    ) -> Enrollment:
        """Enrol `enterprise` in `training`; `completed` marks it completed at 17:00 UTC on the training's end date."""
        end = training.end_date
        completed_at = datetime(end.year, end.month, end.day, 17, tzinfo=UTC) if completed else None
        enrollment = Enrollment(training_id=training.id, enterprise_id=enterprise.id, completed_at=completed_at, **kw)
        return await self.save(enrollment)  # type: ignore[no-any-return]

    # -- ideas, visits and results ----------------------------------------------------------

    async def idea(self, enterprise: Enterprise, status: IdeaStatus | str = IdeaStatus.proposed, **kw: Any) -> Idea:
        """An energy idea of `enterprise` with a unique title, proposed unless `status` says otherwise."""
        values: dict[str, Any] = {"category": IdeaCategory.energy}
        values.update(kw)
        if "title" not in values:
            values["title"] = self.unique("idea")
        return await self.save(Idea(enterprise_id=enterprise.id, status=status, **values))  # type: ignore[no-any-return]

    async def visit(self, enterprise: Enterprise, expert: User, *ideas: Idea, **kw: Any) -> Visit:
        """A consultation by `expert` at `enterprise`, scheduled for 2026-04-01 09:00 UTC, about `ideas`."""
        values: dict[str, Any] = {
            "scheduled_at": datetime(2026, 4, 1, 9, 0, tzinfo=UTC),
            "kind": VisitKind.consultation,
            "status": VisitStatus.scheduled,
        }
        values.update(kw)
        visit = await self.save(Visit(enterprise_id=enterprise.id, expert_id=expert.id, **values))
        for idea in ideas:
            await self.save(VisitIdea(visit_id=visit.id, idea_id=idea.id))
        return visit  # type: ignore[no-any-return]

    async def result(self, enterprise: Enterprise, **kw: Any) -> Result:
        """A self-reported result of `enterprise`: 1200 of `water` over 2025; `kw` overrides any field."""
        values: dict[str, Any] = {
            "metric": "water",
            "period_start": date(2025, 1, 1),
            "period_end": date(2025, 12, 31),
            "value": 1200.0,
            "source": ResultSource.self_reported,
        }
        values.update(kw)
        return await self.save(Result(enterprise_id=enterprise.id, **values))  # type: ignore[no-any-return]

    async def attachment(
        self, parent: Visit | Result | Idea, data: bytes = PNG, filename: str = "meter.png", **kw: Any
    ) -> Attachment:
        """A PNG (unless `data` says otherwise) attached to `parent`, its bytes in the PostgreSQL store."""
        kind = {Visit: AttachmentParent.visit, Result: AttachmentParent.result, Idea: AttachmentParent.idea}[
            type(parent)
        ]
        values: dict[str, Any] = {
            "parent_type": kind,
            "enterprise_id": parent.enterprise_id,
            f"{kind.value}_id": parent.id,
            "filename": filename,
            "content_type": detect(data[:HEAD_BYTES]) or "application/octet-stream",
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "created_by": "user:factory",
        }
        values.update(kw)
        attachment = await self.save(Attachment(**values))

        async def chunks() -> AsyncIterator[bytes]:
            yield data

        await PostgresBlobs().put(self.session, attachment.id, chunks())
        await self.session.flush()
        return attachment  # type: ignore[no-any-return]

    async def expert_result(
        self,
        enterprise: Enterprise,
        metric: str,
        value: float,
        period: tuple[date, date],
        baseline: bool = False,
        verified: bool = False,
    ) -> Result:
        """An expert-reported result over `period` (start, end), verified now if `verified`."""
        return await self.result(
            enterprise,
            metric=metric,
            period_start=period[0],
            period_end=period[1],
            value=value,
            is_baseline=baseline,
            source=ResultSource.expert,
            verified_at=utcnow() if verified else None,
        )
