"""Test data for ideas and visits: a small programme world built directly in the database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from app.models.enterprises import Enterprise, EnterpriseExpert
from app.models.enums import IdeaCategory, IdeaStatus, LinkStatus, Module, TrainingStatus, VisitKind, VisitStatus
from app.models.ideas import Idea
from app.models.organisations import Organisation
from app.models.supplier_links import SupplierLink
from app.models.trainings import Enrollment, Training
from app.models.users import User
from app.models.visits import Visit, VisitIdea
from tests.factories import Factory


async def enterprise(factory: Factory, partner_org: Organisation, **kw: Any) -> Enterprise:
    values: dict[str, Any] = {"name": factory.unique("ent"), "country": "IN", "sector": "2219"}
    values.update(kw)
    return await factory.save(Enterprise(partner_id=partner_org.id, **values))  # type: ignore[no-any-return]


async def assign(factory: Factory, ent: Enterprise, expert: User) -> EnterpriseExpert:
    return await factory.save(EnterpriseExpert(enterprise_id=ent.id, user_id=expert.id))  # type: ignore[no-any-return]


async def training(factory: Factory, partner_org: Organisation, module: Module = Module.score4climate) -> Training:
    return await factory.save(  # type: ignore[no-any-return]
        Training(
            partner_id=partner_org.id,
            module=module,
            title=factory.unique("workshop"),
            start_date=date(2026, 3, 1),
            end_date=date(2026, 3, 2),
            status=TrainingStatus.completed,
        )
    )


async def enroll(factory: Factory, tr: Training, ent: Enterprise) -> Enrollment:
    return await factory.save(Enrollment(training_id=tr.id, enterprise_id=ent.id))  # type: ignore[no-any-return]


async def idea(factory: Factory, ent: Enterprise, status: IdeaStatus = IdeaStatus.proposed, **kw: Any) -> Idea:
    values: dict[str, Any] = {"title": factory.unique("idea"), "category": IdeaCategory.energy}
    values.update(kw)
    return await factory.save(Idea(enterprise_id=ent.id, status=status, **values))  # type: ignore[no-any-return]


async def visit(factory: Factory, ent: Enterprise, expert: User, *idea_list: Idea, **kw: Any) -> Visit:
    values: dict[str, Any] = {
        "scheduled_at": datetime(2026, 4, 1, 9, 0, tzinfo=UTC),
        "kind": VisitKind.consultation,
        "status": VisitStatus.scheduled,
    }
    values.update(kw)
    v = await factory.save(Visit(enterprise_id=ent.id, expert_id=expert.id, **values))
    for i in idea_list:
        await factory.save(VisitIdea(visit_id=v.id, idea_id=i.id))
    return v  # type: ignore[no-any-return]


async def supplier_link(
    factory: Factory, ent: Enterprise, buyer_org: Organisation, status: LinkStatus = LinkStatus.active
) -> SupplierLink:
    return await factory.save(SupplierLink(enterprise_id=ent.id, buyer_id=buyer_org.id, status=status))  # type: ignore[no-any-return]


@dataclass
class World:
    """One partner with two enterprises (A and B), an expert assigned to A, SME staff of each."""

    partner_org: Organisation
    partner: User
    expert: User
    ent_a: Enterprise
    ent_b: Enterprise
    sme_a: User
    sme_b: User
    admin: User


async def world(factory: Factory) -> World:
    partner_org = await factory.org("partner")
    partner = await factory.user("partner", organisation=partner_org)
    expert = await factory.user("expert", organisation=partner_org)
    ent_a = await enterprise(factory, partner_org)
    ent_b = await enterprise(factory, partner_org)
    await assign(factory, ent_a, expert)
    sme_a = await factory.user("sme", enterprise_id=ent_a.id)
    sme_b = await factory.user("sme", enterprise_id=ent_b.id)
    admin = await factory.user("admin")
    return World(partner_org, partner, expert, ent_a, ent_b, sme_a, sme_b, admin)
