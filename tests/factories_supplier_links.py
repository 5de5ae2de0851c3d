"""Factories for supplier links."""

from __future__ import annotations

from app.ids import utcnow
from app.models.enterprises import Enterprise
from app.models.enums import LinkStatus
from app.models.organisations import Organisation
from app.models.supplier_links import SupplierLink
from tests.factories import Factory


async def make_link(
    factory: Factory, enterprise: Enterprise, buyer_org: Organisation, status: LinkStatus | str = LinkStatus.active
) -> SupplierLink:
    status = LinkStatus(status)
    now = utcnow()
    link = SupplierLink(
        enterprise_id=enterprise.id,
        buyer_id=buyer_org.id,
        status=status,
        accepted_at=now if status is not LinkStatus.pending else None,
        revoked_at=now if status is LinkStatus.revoked else None,
    )
    return await factory.save(link)  # type: ignore[no-any-return]
