"""Test data for results, metrics and the audit trail: enterprises with their people, ideas, results."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from app.models.enterprises import Enterprise, EnterpriseExpert
from app.models.enums import IdeaCategory, IdeaStatus, ResultSource
from app.models.ideas import Idea
from app.models.organisations import Organisation
from app.models.results import Result
from app.models.users import User
from tests.factories import Factory


@dataclass
class Site:
    """An enterprise with its partner staff, an assigned expert and an SME user."""

    enterprise: Enterprise
    partner_org: Organisation
    partner: User
    expert: User
    sme: User


async def enterprise(factory: Factory, partner_org: Organisation, **kw: Any) -> Enterprise:
    values: dict[str, Any] = {
        "name": factory.unique("ent"),
        "country": "IN",
        "sector": "2219",
        "partner_id": partner_org.id,
    }
    values.update(kw)
    return await factory.save(Enterprise(**values))  # type: ignore[no-any-return]


async def site(factory: Factory, **kw: Any) -> Site:
    partner_org = await factory.org("partner")
    ent = await enterprise(factory, partner_org, **kw)
    partner = await factory.user("partner", organisation=partner_org)
    expert = await factory.user("expert", organisation=partner_org)
    await factory.save(EnterpriseExpert(enterprise_id=ent.id, user_id=expert.id))
    sme = await factory.user("sme", enterprise_id=ent.id)
    return Site(ent, partner_org, partner, expert, sme)


async def idea(factory: Factory, ent: Enterprise, **kw: Any) -> Idea:
    values: dict[str, Any] = {
        "enterprise_id": ent.id,
        "title": factory.unique("idea"),
        "category": IdeaCategory.water,
        "status": IdeaStatus.proposed,
    }
    values.update(kw)
    return await factory.save(Idea(**values))  # type: ignore[no-any-return]


async def result(factory: Factory, ent: Enterprise, **kw: Any) -> Result:
    values: dict[str, Any] = {
        "enterprise_id": ent.id,
        "metric": "water",
        "period_start": date(2025, 1, 1),
        "period_end": date(2025, 12, 31),
        "value": 1200.0,
        "source": ResultSource.self_reported,
    }
    values.update(kw)
    return await factory.save(Result(**values))  # type: ignore[no-any-return]
