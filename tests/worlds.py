"""Small scenarios many tests start from, built with the `Factory` methods (tests/factories.py).

`world`: one partner with two enterprises, an expert assigned to the first, SME staff of each.
`site`: one enterprise with its partner staff, an assigned expert and an SME user.
The two committed tenants of the fuzz, hostile-input and authorization tests are in tests/two_tenants.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.models.enterprises import Enterprise
from app.models.organisations import Organisation
from app.models.users import User
from tests.factories import Factory


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
    """Build a `World`."""
    partner_org = await factory.org("partner")
    partner = await factory.user("partner", organisation=partner_org)
    expert = await factory.user("expert", organisation=partner_org)
    ent_a = await factory.enterprise(partner_org)
    ent_b = await factory.enterprise(partner_org)
    await factory.assign(ent_a, expert)
    sme_a = await factory.user("sme", enterprise_id=ent_a.id)
    sme_b = await factory.user("sme", enterprise_id=ent_b.id)
    admin = await factory.user("admin")
    return World(partner_org, partner, expert, ent_a, ent_b, sme_a, sme_b, admin)


@dataclass
class Site:
    """An enterprise with its partner staff, an assigned expert and an SME user."""

    enterprise: Enterprise
    partner_org: Organisation
    partner: User
    expert: User
    sme: User


async def site(factory: Factory, **kw: Any) -> Site:
    """Build a `Site` under a new partner; `kw` goes to the enterprise."""
    partner_org = await factory.org("partner")
    enterprise = await factory.enterprise(partner_org, **kw)
    partner = await factory.user("partner", organisation=partner_org)
    expert = await factory.user("expert", organisation=partner_org)
    await factory.assign(enterprise, expert)
    sme = await factory.user("sme", enterprise_id=enterprise.id)
    return Site(enterprise, partner_org, partner, expert, sme)
