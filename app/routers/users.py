"""`/v1/users`: people and their roles."""

from __future__ import annotations

from uuid import UUID

from fastapi import Request, Response

from app.deps import CurrentPrincipal, IdempotencyDep, SessionDep, ThrottleDep
from app.http import IfMatch, object_response, write_response
from app.models.types import Role
from app.models.users import PasswordReset, UserCreate, UserPublic, UserSort, UserUpdate
from app.pagination import CountedPage, PageDep
from app.routers.common import Count, Search, UpdatedSince, make_router, page_of
from app.services import crud
from app.services import users as service

router = make_router("users", "/v1/users")


class UserPage(CountedPage[UserPublic]):
    pass


@router.get("", name="list", summary="List users", response_model=UserPage)
async def list_users(
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PageDep,
    updated_since: UpdatedSince = None,
    role: Role | None = None,
    organisation_id: UUID | None = None,
    enterprise_id: UUID | None = None,
    q: Search = None,
    sort: UserSort | None = None,
    count: Count = False,
) -> UserPage:
    """Admins see everyone; partners their organisation's staff and experts and the SME users
    of their enterprises; everybody else sees only themselves. `q` searches the full name and the email."""
    rows, cursor = await service.list_users(
        session, principal, page, role, organisation_id, enterprise_id, updated_since, q=q, sort=sort, count=count
    )
    return page_of(UserPage, UserPublic, rows, cursor, page.total)


@router.post("", name="create", summary="Create a user", status_code=201, response_model=UserPublic)
async def create_user(
    session: SessionDep, principal: CurrentPrincipal, idem: IdempotencyDep, guard: ThrottleDep, body: UserCreate
) -> Response:
    """Admins create anyone. Partners create experts of their own organisation and SME users of
    their enterprises. `partner` and `expert` users need a partner `organisation_id`, `buyer`
    users a buyer one, `sme` users an `enterprise_id`. A taken email answers `409` with the same
    words whoever holds it; non-admins who keep hitting taken emails wait a growing delay (`429`)."""
    user = await service.create_user(session, principal, body, guard)
    return await write_response(
        session,
        idem,
        UserPublic.model_validate(user),
        status_code=201,
        location=f"/v1/users/{user.id}",
        etag=crud.etag(user),
    )


@router.get("/{user_id}", name="get", summary="Get a user", response_model=UserPublic)
async def get_user(request: Request, session: SessionDep, principal: CurrentPrincipal, user_id: UUID) -> Response:
    """One user you may see (otherwise 404). Never shows the password. Sends an ETag."""
    user = await service.get_user(session, principal, user_id)
    return object_response(request, UserPublic.model_validate(user), crud.etag(user))


@router.patch("/{user_id}", name="update", summary="Update a user", response_model=UserPublic)
async def update_user(
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
    user_id: UUID,
    guard: ThrottleDep,
    body: UserUpdate,
    if_match: IfMatch = None,
) -> Response:
    """Everyone may change their own name, and their own password with `current_password`
    (wrong: 403; repeated wrong answers are throttled like logins, 429). Admins and partners
    change the other fields of the users they manage; another user's password is set with
    `POST /v1/users/{id}/password-reset`. A new password or `is_active: false` ends every
    session of that user at once."""
    user = await service.update_user(session, principal, guard, user_id, body, if_match)
    return object_response(request, UserPublic.model_validate(user), crud.etag(user))


@router.post(
    "/{user_id}/password-reset",
    name="reset_password",
    summary="Reset another user's password",
    status_code=204,
)
async def reset_password(
    session: SessionDep, principal: CurrentPrincipal, user_id: UUID, body: PasswordReset
) -> Response:
    """Admins for anyone, partners for the experts and SME users they manage: sets a new
    password and ends every session of that user. Recorded in the audit trail as
    `password_reset` (never the password). Your own password is changed with `PATCH` and
    `current_password` instead."""
    await service.reset_password(session, principal, user_id, body)
    return Response(status_code=204)


@router.delete("/{user_id}", name="delete", summary="Delete a user", status_code=204)
async def delete_user(session: SessionDep, principal: CurrentPrincipal, user_id: UUID) -> Response:
    """Admins, or partners for their experts and SME users. You cannot delete yourself; a user with recorded work (visits, verifications) is kept (409)."""
    await service.delete_user(session, principal, user_id)
    return Response(status_code=204)
