"""People: who may create whom, affiliation rules, password changes that end sessions."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlmodel.ext.asyncio.session import AsyncSession

from app import security
from app.errors import Conflict, Forbidden, RateLimited, Unprocessable
from app.models.enterprises import Enterprise
from app.models.organisations import Organisation
from app.models.types import OrganisationKind, Role
from app.models.users import PasswordReset, User, UserCreate, UserSort, UserUpdate
from app.pagination import PageParams
from app.principal import Principal
from app.ratelimit import Backoff
from app.services import crud
from app.services.access import (
    PARTNER_MANAGED_ROLES,
    Action,
    Resource,
    get_visible,
    is_self,
    may_manage_user,
    own_organisation_named,
    require,
    scoped,
)
from app.services.auth import Throttle, normalise_email, password_matches, revoke_all_for_user

log = logging.getLogger("app.users")

ORG_KIND_OF_ROLE = {
    Role.partner: OrganisationKind.partner,
    Role.expert: OrganisationKind.partner,
    Role.buyer: OrganisationKind.buyer,
}
SELF_EDITABLE = frozenset({"password", "current_password", "full_name"})


async def list_users(
    session: AsyncSession,
    principal: Principal,
    page: PageParams,
    role: Role | None,
    organisation_id: UUID | None,
    enterprise_id: UUID | None,
    updated_since: datetime | None,
    *,
    q: str | None = None,
    sort: UserSort | None = None,
    count: bool = False,
) -> tuple[list[User], str | None]:
    require(principal, Resource.users, Action.read)
    filters = [
        crud.eq(User.role, role),
        crud.eq(User.organisation_id, organisation_id),
        crud.eq(User.enterprise_id, enterprise_id),
        crud.contains(q, User.full_name, User.email),
    ]
    return await crud.list_page(session, principal, User, page, filters, updated_since, sort=sort, count=count)


async def get_user(session: AsyncSession, principal: Principal, user_id: UUID) -> User:
    return await get_visible(session, principal, User, user_id)


async def _check_affiliation(session: AsyncSession, principal: Principal, data: UserCreate) -> dict[str, Any]:
    """Validate role ↔ organisation/enterprise and apply what a partner may set."""
    values = data.model_dump(exclude={"password"})
    if principal.role is Role.partner:
        if data.role not in PARTNER_MANAGED_ROLES:
            raise Forbidden("partners create expert and SME users only")
        if data.role is Role.expert:
            own = own_organisation_named(principal, data.organisation_id)
            if own is None:
                raise Forbidden("partners create experts of their own organisation only")
            values["organisation_id"] = own
    if data.certified_until is not None and data.role is not Role.expert:
        raise Unprocessable("only experts carry certified_until", loc=("body", "certified_until"))
    wanted_kind = ORG_KIND_OF_ROLE.get(data.role)
    if wanted_kind is None:
        if values.get("organisation_id") is not None:
            raise Unprocessable(f"a {data.role.value} user belongs to no organisation", loc=("body", "organisation_id"))
    else:
        org = await session.get(Organisation, values["organisation_id"]) if values.get("organisation_id") else None
        if org is None or org.kind is not wanted_kind:
            raise Unprocessable(
                f"a {data.role.value} user needs organisation_id of an existing {wanted_kind.value} organisation",
                loc=("body", "organisation_id"),
            )
    if data.role is Role.sme:
        await check_sme_enterprise(session, principal, values.get("enterprise_id"))
    elif values.get("enterprise_id") is not None:
        raise Unprocessable("only SME users belong to an enterprise", loc=("body", "enterprise_id"))
    return values


async def check_sme_enterprise(session: AsyncSession, principal: Principal, enterprise_id: UUID | None) -> None:
    """An SME user needs an enterprise the creator may manage."""
    if enterprise_id is None:
        raise Unprocessable("an sme user needs enterprise_id", loc=("body", "enterprise_id"))
    visible = (await session.exec(scoped(principal, Enterprise).where(Enterprise.id == enterprise_id))).first()
    if visible is None:
        raise Unprocessable("enterprise_id must name one of your enterprises", loc=("body", "enterprise_id"))


EMAIL_UNAVAILABLE = (
    "this email cannot be used for a new account; if the person already has one, the programme "
    "administrators can move or reactivate it"
)
EMAIL_PROBES = Backoff(free=5, cap=900, memory=3600)
"""Refused creations (email taken) a non-admin may have before each further one waits."""


async def create_user(
    session: AsyncSession, principal: Principal, data: UserCreate, guard: Throttle | None = None
) -> User:
    """Emails are global login names, so a taken one must refuse the creation. What a partner
    learns from that is kept to the least: the same answer whoever holds the email (its own
    tenant or another, any role), and refusals are throttled per caller (EMAIL_PROBES) and
    logged, so the emails of other tenants cannot be enumerated. Admins see everyone anyway."""
    require(principal, Resource.users, Action.create)
    values = await _check_affiliation(session, principal, data)
    values["email"] = normalise_email(values["email"])
    if principal.is_admin or guard is None:
        user = User(**values, password_hash=await security.hash_password_async(data.password))
        return await crud.insert(session, principal, user, "a user with this email already exists")
    probe_key = f"email-probe:{principal.key}"
    wait = await guard.limiter.attempt(probe_key, EMAIL_PROBES)
    if wait:  # refused before Argon2 runs: a throttled caller costs no hash
        raise RateLimited(wait, "too many creations with unavailable emails; retry later")
    user = User(**values, password_hash=await security.hash_password_async(data.password))
    try:
        created = await crud.insert(session, principal, user, EMAIL_UNAVAILABLE)
    except Conflict:
        log.warning("user creation refused: email unavailable", extra={"caller": principal.key})
        raise
    await guard.limiter.release(probe_key)
    return created


async def _confirm_current_password(guard: Throttle, user: User, current: str | None) -> None:
    """Changing one's own password takes the current one: a stolen access token alone must not
    turn into a permanent takeover. Wrong answers count against the login throttle."""
    if current is None:
        raise Unprocessable(
            "current_password is required to change your own password", loc=("body", "current_password")
        )
    if not await password_matches(guard, user.email, current, user):
        raise Forbidden("current_password is wrong")


async def _end_sessions(session: AsyncSession, user: User, changes: dict[str, Any]) -> None:
    """A new password or deactivation ends every login: refresh tokens revoked, and access
    tokens refused at once (their `auth_version` no longer matches)."""
    changes["auth_version"] = user.auth_version + 1
    await revoke_all_for_user(session, user.id)


async def update_user(
    session: AsyncSession,
    principal: Principal,
    guard: Throttle,
    user_id: UUID,
    data: UserUpdate,
    if_match: str | None,
) -> User:
    user = await get_visible(session, principal, User, user_id, for_update=True)
    changes = data.model_dump(exclude_unset=True)
    own = is_self(principal, user)
    if not may_manage_user(principal, user) and not (own and set(changes) <= SELF_EDITABLE):
        raise Forbidden("you may change only your own password and name")
    if "certified_until" in changes and user.role is not Role.expert:
        raise Unprocessable("only experts carry certified_until", loc=("body", "certified_until"))
    current = changes.pop("current_password", None)
    if "password" in changes:
        if not own:
            raise Unprocessable(
                f"set another user's password with POST /v1/users/{user.id}/password-reset", loc=("body", "password")
            )
        await _confirm_current_password(guard, user, current)
        changes["password_hash"] = await security.hash_password_async(changes.pop("password"))
    elif current is not None:
        raise Unprocessable("current_password goes with a new password only", loc=("body", "current_password"))
    if "password_hash" in changes or changes.get("is_active") is False:
        await _end_sessions(session, user, changes)
    return await crud.apply_changes(session, principal, user, changes, if_match)


async def reset_password(session: AsyncSession, principal: Principal, user_id: UUID, data: PasswordReset) -> None:
    """An administrator (anyone) or partner (the experts and SME users it manages) sets another
    user's password: ends that user's sessions; audited as `password_reset`."""
    user = await get_visible(session, principal, User, user_id, for_update=True)
    if is_self(principal, user):
        raise Forbidden("change your own password with PATCH and your current_password")
    if not may_manage_user(principal, user):
        raise Forbidden("you may not reset this user's password")
    changes: dict[str, Any] = {"password_hash": await security.hash_password_async(data.password)}
    await _end_sessions(session, user, changes)
    await crud.apply_changes(session, principal, user, changes, None, action="password_reset")


async def delete_user(session: AsyncSession, principal: Principal, user_id: UUID) -> None:
    user = await get_visible(session, principal, User, user_id, for_update=True)
    if not may_manage_user(principal, user) or is_self(principal, user):
        raise Forbidden("you may not delete this user")
    await crud.delete(session, principal, user, "the user")
