"""Webhook endpoints: where an organisation wants its events pushed, and their delivery log.

Buyers and partners manage their organisation's endpoints; admins manage all, and an admin's
endpoint without an organisation receives every event. The signing secret is shown once, when
the endpoint is created or its secret rotated; it is stored sealed (`security.seal`), so the
workers can sign with it and the API never shows it again. After a rotation, deliveries carry
a signature by each secret for 24 hours.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, aggregate_order_by
from sqlmodel.ext.asyncio.session import AsyncSession

from app import outbound
from app.config import Settings
from app.errors import NotFound, Unprocessable
from app.ids import utcnow
from app.models.events import EVENTS
from app.models.organisations import Organisation
from app.models.types import OrganisationKind
from app.models.webhooks import (
    ATTEMPTS,
    DELIVERIES,
    WebhookEndpoint,
    WebhookEndpointCreate,
    WebhookEndpointUpdate,
)
from app.pagination import PageParams
from app.principal import Principal
from app.security import new_webhook_secret, seal
from app.services import audit, crud, events
from app.services.access import Action, Resource, get_visible, own_organisation_named, require

ROTATION_OVERLAP = timedelta(hours=24)
PREFIX_LENGTH = 12


async def _checked_url(url: str, settings: Settings) -> str:
    try:
        return await outbound.check(url, settings)
    except outbound.OutboundRefused as exc:
        raise Unprocessable(str(exc), loc=("body", "url")) from exc


async def _owner(session: AsyncSession, principal: Principal, requested: UUID | None) -> UUID | None:
    """The organisation an endpoint is created for (None: an admin's endpoint for everything)."""
    if not principal.is_admin:
        own = own_organisation_named(principal, requested)
        if own is None:
            raise Unprocessable("you create endpoints for your own organisation", loc=("body", "organisation_id"))
        return own
    if requested is None:
        return None
    org = await session.get(Organisation, requested)
    if org is None or org.kind not in (OrganisationKind.buyer, OrganisationKind.partner):
        raise Unprocessable(
            "organisation_id must name a buyer or partner organisation", loc=("body", "organisation_id")
        )
    return org.id


async def create_endpoint(
    session: AsyncSession, principal: Principal, settings: Settings, data: WebhookEndpointCreate
) -> tuple[WebhookEndpoint, str]:
    require(principal, Resource.webhook_endpoints, Action.create)
    organisation_id = await _owner(session, principal, data.organisation_id)
    url = await _checked_url(data.url, settings)
    secret = new_webhook_secret()
    endpoint = WebhookEndpoint(
        organisation_id=organisation_id,
        url=url,
        description=data.description,
        event_types=sorted({t.value for t in data.event_types}),
        secret=seal(settings, secret),
        secret_prefix=secret[:PREFIX_LENGTH],
    )
    await crud.insert(session, principal, endpoint, "the endpoint conflicts with another")
    return endpoint, secret


async def list_endpoints(
    session: AsyncSession, principal: Principal, page: PageParams, organisation_id: UUID | None
) -> tuple[list[WebhookEndpoint], str | None]:
    require(principal, Resource.webhook_endpoints, Action.read)
    filters = [crud.eq(WebhookEndpoint.organisation_id, organisation_id)]
    return await crud.list_page(session, principal, WebhookEndpoint, page, filters)


async def get_endpoint(session: AsyncSession, principal: Principal, endpoint_id: UUID) -> WebhookEndpoint:
    return await get_visible(session, principal, WebhookEndpoint, endpoint_id)


async def _for_write(
    session: AsyncSession, principal: Principal, endpoint_id: UUID, action: Action = Action.update
) -> WebhookEndpoint:
    """The endpoint, locked (404 when not visible), if the caller may do `action` to it (else 403)."""
    endpoint = await get_visible(session, principal, WebhookEndpoint, endpoint_id, for_update=True)
    require(principal, Resource.webhook_endpoints, action)
    return endpoint


async def update_endpoint(
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    endpoint_id: UUID,
    data: WebhookEndpointUpdate,
    if_match: str | None,
) -> WebhookEndpoint:
    endpoint = await _for_write(session, principal, endpoint_id)
    changes: dict[str, Any] = data.model_dump(exclude_unset=True)
    if "url" in changes:
        changes["url"] = await _checked_url(changes["url"], settings)
    if "event_types" in changes:
        changes["event_types"] = sorted({str(t) for t in changes["event_types"]})
    if changes.get("enabled") is True:
        changes |= {"disabled_reason": None, "failing_since": None}
    return await crud.apply_changes(session, principal, endpoint, changes, if_match)


async def delete_endpoint(session: AsyncSession, principal: Principal, endpoint_id: UUID) -> None:
    endpoint = await _for_write(session, principal, endpoint_id, Action.delete)
    await crud.delete(session, principal, endpoint, "the webhook endpoint")


async def rotate_secret(
    session: AsyncSession, principal: Principal, settings: Settings, endpoint_id: UUID
) -> tuple[WebhookEndpoint, str]:
    """A new secret (returned, shown once); the current one keeps signing for 24 hours."""
    endpoint = await _for_write(session, principal, endpoint_id)
    secret = new_webhook_secret()
    now = utcnow()
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_expires_at = now + ROTATION_OVERLAP
    endpoint.secret = seal(settings, secret)
    endpoint.secret_prefix = secret[:PREFIX_LENGTH]
    endpoint.updated_at = now
    session.add(endpoint)
    await session.flush()
    await audit.record(session, principal, "rotate_secret", "webhook_endpoint", endpoint.id)
    return endpoint, secret


async def ping(session: AsyncSession, principal: Principal, endpoint_id: UUID) -> tuple[UUID, UUID]:
    """Queue a `webhook.ping` for this endpoint only (it waits while the endpoint is disabled)."""
    endpoint = await _for_write(session, principal, endpoint_id)
    return await events.ping(session, endpoint.id)


def _deliveries_of(endpoint_id: UUID) -> Any:
    attempts = (
        sa.select(
            sa.func.coalesce(
                sa.func.jsonb_agg(
                    aggregate_order_by(
                        sa.func.jsonb_build_object(
                            "attempted_at",
                            ATTEMPTS.c.attempted_at,
                            "status_code",
                            ATTEMPTS.c.status_code,
                            "duration_ms",
                            ATTEMPTS.c.duration_ms,
                            "error",
                            ATTEMPTS.c.error,
                        ),
                        ATTEMPTS.c.attempted_at,
                    )
                ),
                sa.literal_column("'[]'::jsonb"),
                type_=JSONB,
            )
        )
        .where(ATTEMPTS.c.delivery_id == DELIVERIES.c.id)
        .scalar_subquery()
    )
    return (
        sa.select(
            DELIVERIES.c.id,
            DELIVERIES.c.endpoint_id,
            EVENTS.c.id.label("event_id"),
            EVENTS.c.type.label("event_type"),
            DELIVERIES.c.status,
            DELIVERIES.c.created_at,
            sa.case((DELIVERIES.c.status == "pending", DELIVERIES.c.next_attempt_at), else_=None).label(
                "next_attempt_at"
            ),
            DELIVERIES.c.delivered_at,
            sa.type_coerce(attempts, JSONB).label("attempts"),
        )
        .select_from(DELIVERIES.join(EVENTS, EVENTS.c.seq == DELIVERIES.c.event_seq))
        .where(DELIVERIES.c.endpoint_id == endpoint_id)
    )


async def list_deliveries(
    session: AsyncSession, principal: Principal, endpoint_id: UUID, page: PageParams, status: str | None
) -> tuple[list[Any], str | None]:
    """The endpoint's deliveries, oldest first, each with its attempts."""
    endpoint = await get_endpoint(session, principal, endpoint_id)
    query = _deliveries_of(endpoint.id)
    if status is not None:
        query = query.where(DELIVERIES.c.status == status)
    return await page.fetch(session, query, principal.key, [DELIVERIES.c.created_at, DELIVERIES.c.id])


async def retry_delivery(session: AsyncSession, principal: Principal, endpoint_id: UUID, delivery_id: UUID) -> Any:
    """Queue a delivery again now (a failed one, or a delivered one to send it once more); it
    keeps its `webhook-id`. A pending one is simply made due now."""
    endpoint = await _for_write(session, principal, endpoint_id)
    updated = await session.exec(  # type: ignore[call-overload]
        sa.update(DELIVERIES)
        .where(DELIVERIES.c.id == delivery_id, DELIVERIES.c.endpoint_id == endpoint.id)
        .values(status="pending", next_attempt_at=sa.func.clock_timestamp(), claimed_by=None, claimed_until=None)
    )
    if not updated.rowcount:
        raise NotFound("delivery not found")
    await session.exec(sa.text(f"NOTIFY {events.NOTIFY_CHANNEL}"))  # type: ignore[call-overload]
    await audit.record(
        session, principal, "retry_delivery", "webhook_endpoint", endpoint.id, {"delivery_id": str(delivery_id)}
    )
    return (await session.exec(_deliveries_of(endpoint.id).where(DELIVERIES.c.id == delivery_id))).one()  # type: ignore[call-overload]
