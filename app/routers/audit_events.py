"""`/v1/audit-events`: who changed what and when (administrators)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Query

from app.deps import CurrentPrincipal, SessionDep
from app.models.audit import AuditEventPublic
from app.models.types import Rfc3339
from app.pagination import Page, PageDep
from app.routers.common import make_router, page_of
from app.services import audit as service

router = make_router("audit-events", "/v1/audit-events")


class AuditEventPage(Page[AuditEventPublic]):
    pass


@router.get("", name="list", summary="List audit events", response_model=AuditEventPage)
async def list_events(
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PageDep,
    actor: Annotated[str | None, Query(max_length=80, description="`user:<id>` or `client:<id>`.")] = None,
    action: Annotated[
        str | None, Query(max_length=40, description="e.g. `create`, `update`, `delete`, `verify`.")
    ] = None,
    object_type: Annotated[str | None, Query(max_length=40, description="e.g. `enterprise`, `result`.")] = None,
    object_id: UUID | None = None,
    since: Annotated[Rfc3339 | None, Query(alias="from", description="Events at or after this instant.")] = None,
    until: Annotated[Rfc3339 | None, Query(alias="to", description="Events before this instant.")] = None,
) -> AuditEventPage:
    """Admins only, oldest first. Events are written in the same transaction as the change."""
    rows, cursor = await service.list_events(
        session,
        principal,
        page,
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=object_id,
        since=since,
        until=until,
    )
    return page_of(AuditEventPage, AuditEventPublic, rows, cursor)
