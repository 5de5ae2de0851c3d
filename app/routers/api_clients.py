"""`/v1/api-clients`: machine credentials of an organisation."""

from __future__ import annotations

from uuid import UUID

from fastapi import Request, Response

from app.deps import CurrentPrincipal, IdempotencyDep, SessionDep
from app.http import IfMatch, etag_for, object_response, write_response
from app.models.api_clients import ApiClientCreate, ApiClientCreated, ApiClientPublic, ApiClientUpdate
from app.pagination import Page, PageDep
from app.routers.common import UpdatedSince, make_router, page_of
from app.services import api_clients as service
from app.services import crud

router = make_router("api-clients", "/v1/api-clients")


class ApiClientPage(Page[ApiClientPublic]):
    pass


@router.get("", name="list", summary="List API clients", response_model=ApiClientPage)
async def list_api_clients(
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PageDep,
    updated_since: UpdatedSince = None,
    organisation_id: UUID | None = None,
) -> ApiClientPage:
    """Buyers and partners see their organisation's clients (secrets are never shown again)."""
    rows, cursor = await service.list_api_clients(session, principal, page, organisation_id, updated_since)
    return page_of(ApiClientPage, ApiClientPublic, rows, cursor)


@router.post(
    "",
    name="create",
    summary="Create an API client",
    status_code=201,
    response_model=ApiClientCreated,
)
async def create_api_client(
    session: SessionDep, principal: CurrentPrincipal, idem: IdempotencyDep, body: ApiClientCreate
) -> Response:
    """Returns `client_id` and `client_secret` for the `client_credentials` grant. The secret is
    shown in this response only; it is stored hashed, and nowhere in plaintext. A retry with the
    same `Idempotency-Key` answers the same client with `client_secret: null` (the secret is not
    kept to be handed out again): if the first answer was lost, delete that client and create
    another."""
    created = await service.create_api_client(session, principal, body)
    return await write_response(
        session,
        idem,
        created,
        status_code=201,
        location=f"/v1/api-clients/{created.id}",
        etag=etag_for(created.id, created.updated_at),
        replay=created.model_copy(update={"client_secret": None}),
    )


@router.get("/{api_client_id}", name="get", summary="Get an API client", response_model=ApiClientPublic)
async def get_api_client(
    request: Request, session: SessionDep, principal: CurrentPrincipal, api_client_id: UUID
) -> Response:
    """One API client of your organisation. The secret is never shown again, only its prefix."""
    client = await service.get_api_client(session, principal, api_client_id)
    return object_response(request, ApiClientPublic.model_validate(client), crud.etag(client))


@router.patch(
    "/{api_client_id}",
    name="update",
    summary="Rename or deactivate an API client",
    response_model=ApiClientPublic,
)
async def update_api_client(
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
    api_client_id: UUID,
    body: ApiClientUpdate,
    if_match: IfMatch = None,
) -> Response:
    """`is_active: false` invalidates the client's tokens at once."""
    client = await service.update_api_client(session, principal, api_client_id, body, if_match)
    return object_response(request, ApiClientPublic.model_validate(client), crud.etag(client))


@router.delete("/{api_client_id}", name="delete", summary="Delete an API client", status_code=204)
async def delete_api_client(session: SessionDep, principal: CurrentPrincipal, api_client_id: UUID) -> Response:
    """Deletes the client; its tokens stop working at once."""
    await service.delete_api_client(session, principal, api_client_id)
    return Response(status_code=204)
