"""Two committed tenant worlds (partner A and partner B) for the fuzz and hostile-input tests.

Each world holds a partner organisation with its staff, a certified expert assigned to an
enterprise, the enterprise's SME user, a lead buyer with an active supplier link, a training
with an enrollment, an idea, a visit, a result and an API client. Everything is committed,
so requests served by another app instance (another event loop) see it; `wipe` empties the
tables again, restoring the reference data (metrics, emission factors) as it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any
from uuid import UUID

import sqlalchemy as sa

from app.db import Database
from app.models import metadata
from app.models.api_clients import ApiClient
from app.models.enterprises import Enterprise
from app.models.enums import Module, TrainingStatus
from app.models.ideas import Idea
from app.models.organisations import Organisation
from app.models.results import Result
from app.models.supplier_links import SupplierLink
from app.models.trainings import Enrollment, Training
from app.models.users import User
from app.models.visits import Visit
from tests.factories import Factory

ROLES = ("admin", "partner", "expert", "sme", "buyer")
REFERENCE_TABLES = ("metrics", "emission_factors")


@dataclass
class Tenant:
    partner_org: Organisation
    buyer_org: Organisation
    enterprise: Enterprise
    users: dict[str, User]
    training: Training
    enrollment: Enrollment
    idea: Idea
    visit: Visit
    result: Result
    link: SupplierLink
    api_client: ApiClient

    def private_ids(self) -> set[str]:
        """Ids no caller of another tenant may ever see. The buyer organisation is left out on
        purpose: buyers form a public directory that partners and SMEs browse (docs/reference.md)."""
        objects: list[Any] = [
            self.partner_org,
            self.enterprise,
            self.training,
            self.enrollment,
            self.idea,
            self.visit,
            self.result,
            self.link,
            self.api_client,
            *self.users.values(),
        ]
        return {str(o.id) for o in objects}


@dataclass
class TwoTenants:
    a: Tenant
    b: Tenant
    admin: User
    tokens: dict[str, str] = field(default_factory=dict)

    def caller(self, role: str) -> User:
        return self.admin if role == "admin" else self.a.users[role]


async def build_tenant(f: Factory, label: str, *, baseline_result: bool = True) -> Tenant:
    """One implementing partner's world: enterprise, its people, a training, enrollment, idea,
    visit, result, an active buyer link and an API client. Shared by the fuzz, hostile and
    authorization tests."""
    partner_org = await f.org("partner", name=f.unique(f"partner-{label}"), country="IN")
    buyer_org = await f.org("buyer", name=f.unique(f"buyer-{label}"), country="DE")
    ent = await f.enterprise(partner_org, name=f.unique(f"ent-{label}"))
    partner = await f.user("partner", organisation=partner_org)
    expert = await f.user("expert", organisation=partner_org)
    await f.assign(ent, expert)
    sme = await f.user("sme", enterprise_id=ent.id)
    buyer = await f.user("buyer", organisation=buyer_org)
    link = await f.supplier_link(ent, buyer_org)
    training = await f.training(
        partner_org,
        Module.workplace_cooperation,
        start_date=date(2025, 3, 10),
        end_date=date(2025, 3, 11),
        status=TrainingStatus.completed,
        trainers=[expert],
    )
    enrollment = await f.enrollment(training, ent, completed=True, attended=True)  # completed 2025-03-11 17:00 UTC
    idea = await f.idea(ent)
    visit = await f.visit(ent, expert, idea)
    result = await f.result(ent, is_baseline=baseline_result)
    client, _ = await f.api_client(partner_org)
    users = {"partner": partner, "expert": expert, "sme": sme, "buyer": buyer}
    return Tenant(partner_org, buyer_org, ent, users, training, enrollment, idea, visit, result, link, client)


async def seed(db: Database, settings: Any) -> TwoTenants:
    async with db.sessionmaker() as session:
        f = Factory(session, settings, commit=True)
        a = await build_tenant(f, "a")
        b = await build_tenant(f, "b")
        admin = await f.user("admin")
        world = TwoTenants(a, b, admin)
        for role in ROLES:
            world.tokens[role] = f.token(world.caller(role))
        return world


async def snapshot_reference(db: Database) -> dict[str, list[dict[str, Any]]]:
    async with db.engine.connect() as conn:
        return {
            name: [dict(row._mapping) for row in await conn.execute(sa.select(metadata.tables[name]))]
            for name in REFERENCE_TABLES
        }


async def wipe(db: Database, reference: dict[str, list[dict[str, Any]]] | None = None) -> None:
    """Empty every table (as `live_client` does). With a reference snapshot, the reference
    tables are emptied too and restored from it (fuzzing as admin creates and edits them)."""
    async with db.engine.begin() as conn:
        keep = set() if reference is not None else set(REFERENCE_TABLES)
        tables = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables if t.name not in keep)
        await conn.execute(sa.text(f"TRUNCATE {tables} CASCADE"))
        for name, rows in (reference or {}).items():
            if rows:
                await conn.execute(sa.insert(metadata.tables[name]), rows)


async def count_rows(db: Database) -> dict[str, int]:
    """Row count of every table: "the data is unchanged" in one comparable value."""
    async with db.engine.connect() as conn:
        out = {}
        for t in metadata.sorted_tables:
            out[t.name] = (await conn.execute(sa.select(sa.func.count()).select_from(t))).scalar_one()
        return out


def as_uuid(value: Any) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))
