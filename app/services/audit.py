"""Audit trail: every successful write records actor, action, object and changed fields.

Written in the same transaction as the change, so the trail never disagrees with the data.
Recording a change also notes its event for the event feed and webhooks
(`app.services.events.note_change`): the audit trail is the one list of the writes, and the
event log follows it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic_core import to_jsonable_python
from sqlmodel.ext.asyncio.session import AsyncSession

from app.models.audit import AuditEvent
from app.pagination import PageParams
from app.principal import Principal
from app.services import crud_filters, events
from app.services.access import Action, Resource, require, scoped

SECRET_FIELDS = frozenset({"password_hash", "secret_hash", "password", "secret", "previous_secret"})


def _jsonable(value: Any) -> Any:
    return to_jsonable_python(value, fallback=str)


def snapshot(obj: Any) -> dict[str, Any]:
    """The stored fields of a new object, secrets left out."""
    data = obj.model_dump() if hasattr(obj, "model_dump") else dict(obj)
    return {
        k: _jsonable(v) for k, v in data.items() if k not in SECRET_FIELDS and k not in ("created_at", "updated_at")
    }


def diff(before: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """`{field: [old, new]}` for fields that really changed (secrets shown as changed only)."""
    out: dict[str, Any] = {}
    for field, new in changes.items():
        old = before.get(field)
        if old == new:
            continue
        out[field] = "changed" if field in SECRET_FIELDS else [_jsonable(old), _jsonable(new)]
    return out


async def record(
    session: AsyncSession,
    principal: Principal,
    action: str,
    object_type: str,
    object_id: UUID,
    changes: dict[str, Any] | None = None,
) -> None:
    await events.note_change(session, action, object_type, object_id, changes or {})
    session.add(
        AuditEvent(
            actor=principal.key,
            actor_role=principal.role.value,
            action=action,
            object_type=object_type,
            object_id=object_id,
            changes=changes or {},
        )
    )


async def list_events(
    session: AsyncSession,
    principal: Principal,
    page: PageParams,
    *,
    actor: str | None,
    action: str | None,
    object_type: str | None,
    object_id: UUID | None,
    since: datetime | None,
    until: datetime | None,
) -> tuple[list[AuditEvent], str | None]:
    require(principal, Resource.audit_events, Action.read)
    query = scoped(principal, AuditEvent)
    for condition in (
        crud_filters.eq(AuditEvent.actor, actor),
        crud_filters.eq(AuditEvent.action, action),
        crud_filters.eq(AuditEvent.object_type, object_type),
        crud_filters.eq(AuditEvent.object_id, object_id),
        None if since is None else AuditEvent.created_at >= since,
        None if until is None else AuditEvent.created_at < until,
    ):
        if condition is not None:
            query = query.where(condition)
    return await page.fetch(session, query, principal.key, [AuditEvent.id])
