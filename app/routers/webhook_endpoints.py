"""`/v1/webhook-endpoints`: where an organisation's events are pushed, and the delivery log."""

from __future__ import annotations

from uuid import UUID

from fastapi import Request, Response

from app.deps import CurrentPrincipal, IdempotencyDep, SessionDep, SettingsDep
from app.http import IfMatch, object_response, write_response
from app.models.webhooks import (
    DeliveryStatus,
    PingAnswer,
    WebhookDeliveryPage,
    WebhookDeliveryPublic,
    WebhookEndpoint,
    WebhookEndpointCreate,
    WebhookEndpointCreated,
    WebhookEndpointPublic,
    WebhookEndpointUpdate,
)
from app.pagination import Page, PageDep
from app.routers.common import make_router, page_of
from app.services import crud
from app.services import webhooks as service

router = make_router("webhook-endpoints", "/v1/webhook-endpoints")


class WebhookEndpointPage(Page[WebhookEndpointPublic]):
    pass


def _with_secret(endpoint: WebhookEndpoint, secret: str | None) -> WebhookEndpointCreated:
    public = WebhookEndpointPublic.model_validate(endpoint)
    return WebhookEndpointCreated(**public.model_dump(), secret=secret)


@router.get("", name="list", summary="List webhook endpoints", response_model=WebhookEndpointPage)
async def list_webhook_endpoints(
    session: SessionDep, principal: CurrentPrincipal, page: PageDep, organisation_id: UUID | None = None
) -> WebhookEndpointPage:
    """Your organisation's endpoints (admins: all, or one organisation's). Secrets are never shown
    again, only their first characters."""
    rows, cursor = await service.list_endpoints(session, principal, page, organisation_id)
    return page_of(WebhookEndpointPage, WebhookEndpointPublic, rows, cursor)


@router.post(
    "", name="create", summary="Create a webhook endpoint", status_code=201, response_model=WebhookEndpointCreated
)
async def create_webhook_endpoint(
    session: SessionDep,
    settings: SettingsDep,
    principal: CurrentPrincipal,
    idem: IdempotencyDep,
    body: WebhookEndpointCreate,
) -> Response:
    """Events of the chosen types that your organisation receives in `GET /v1/events` are also
    POSTed to `url`, signed per Standard Webhooks with the `secret` in this answer — shown here
    only. A replay with the same `Idempotency-Key` answers `secret: null`: if the first answer
    was lost, rotate the secret."""
    endpoint, secret = await service.create_endpoint(session, principal, settings, body)
    return await write_response(
        session,
        idem,
        _with_secret(endpoint, secret),
        status_code=201,
        location=f"/v1/webhook-endpoints/{endpoint.id}",
        etag=crud.etag(endpoint),
        replay=_with_secret(endpoint, None),
    )


@router.get("/{endpoint_id}", name="get", summary="Get a webhook endpoint", response_model=WebhookEndpointPublic)
async def get_webhook_endpoint(
    request: Request, session: SessionDep, principal: CurrentPrincipal, endpoint_id: UUID
) -> Response:
    """One endpoint, with whether it is enabled and, if the service disabled it, why."""
    endpoint = await service.get_endpoint(session, principal, endpoint_id)
    return object_response(request, WebhookEndpointPublic.model_validate(endpoint), crud.etag(endpoint))


@router.patch(
    "/{endpoint_id}",
    name="update",
    summary="Change, enable or disable a webhook endpoint",
    response_model=WebhookEndpointPublic,
)
async def update_webhook_endpoint(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: CurrentPrincipal,
    endpoint_id: UUID,
    body: WebhookEndpointUpdate,
    if_match: IfMatch = None,
) -> Response:
    """`enabled: false` pauses deliveries (events of that time are not queued for it);
    `enabled: true` resumes and clears `disabled_reason` and `failing_since`."""
    endpoint = await service.update_endpoint(session, principal, settings, endpoint_id, body, if_match)
    return object_response(request, WebhookEndpointPublic.model_validate(endpoint), crud.etag(endpoint))


@router.delete("/{endpoint_id}", name="delete", summary="Delete a webhook endpoint", status_code=204)
async def delete_webhook_endpoint(session: SessionDep, principal: CurrentPrincipal, endpoint_id: UUID) -> Response:
    """The endpoint and its delivery log go; nothing more is sent to it."""
    await service.delete_endpoint(session, principal, endpoint_id)
    return Response(status_code=204)


@router.post(
    "/{endpoint_id}/rotate-secret",
    name="rotate-secret",
    summary="Rotate a webhook endpoint's secret",
    response_model=WebhookEndpointCreated,
)
async def rotate_webhook_secret(
    session: SessionDep, settings: SettingsDep, principal: CurrentPrincipal, idem: IdempotencyDep, endpoint_id: UUID
) -> Response:
    """A new secret, shown in this answer only. For 24 hours every delivery carries two
    signatures, by the new and by the previous secret, so you can switch your receiver over
    without losing a delivery."""
    endpoint, secret = await service.rotate_secret(session, principal, settings, endpoint_id)
    return await write_response(
        session,
        idem,
        _with_secret(endpoint, secret),
        etag=crud.etag(endpoint),
        replay=_with_secret(endpoint, None),
    )


@router.post(
    "/{endpoint_id}/ping", name="ping", summary="Send a test event", status_code=202, response_model=PingAnswer
)
async def ping_webhook_endpoint(
    session: SessionDep, principal: CurrentPrincipal, idem: IdempotencyDep, endpoint_id: UUID
) -> Response:
    """Queues a `webhook.ping` event for this endpoint only; follow it in the delivery log."""
    event_id, delivery_id = await service.ping(session, principal, endpoint_id)
    return await write_response(session, idem, PingAnswer(event_id=event_id, delivery_id=delivery_id), status_code=202)


@router.get(
    "/{endpoint_id}/deliveries",
    name="list-deliveries",
    summary="List an endpoint's deliveries and their attempts",
    response_model=WebhookDeliveryPage,
)
async def list_webhook_deliveries(
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PageDep,
    endpoint_id: UUID,
    status: DeliveryStatus | None = None,
) -> WebhookDeliveryPage:
    """Oldest first; each delivery with every attempt (when, the receiver's status, how long,
    the error). Kept as long as its event (EVENT_RETENTION_DAYS)."""
    rows, cursor = await service.list_deliveries(session, principal, endpoint_id, page, status)
    return page_of(WebhookDeliveryPage, WebhookDeliveryPublic, rows, cursor)


@router.post(
    "/{endpoint_id}/deliveries/{delivery_id}/retry",
    name="retry-delivery",
    summary="Send a delivery again",
    status_code=202,
    response_model=WebhookDeliveryPublic,
)
async def retry_webhook_delivery(
    session: SessionDep, principal: CurrentPrincipal, idem: IdempotencyDep, endpoint_id: UUID, delivery_id: UUID
) -> Response:
    """Queues the delivery again now, with the same `webhook-id` (a failed one after your
    receiver is fixed, or a delivered one you want once more)."""
    row = await service.retry_delivery(session, principal, endpoint_id, delivery_id)
    return await write_response(session, idem, WebhookDeliveryPublic.model_validate(row), status_code=202)
