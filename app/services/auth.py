"""Token issuing (password, client credentials, refresh rotation), revocation and
resolving a bearer token into a Principal."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from app import security
from app.config import Settings
from app.errors import RateLimited, Unauthorized
from app.ids import utcnow, uuid7
from app.models.api_clients import ApiClient
from app.models.auth import RefreshToken, TokenResponse
from app.models.types import Role
from app.models.users import User
from app.principal import Principal
from app.ratelimit import Backoff, RateLimiter

FAILURE_WINDOW_SECONDS = 900


class OAuthProblem(Exception):
    """An RFC 6749 §5.2 error from the token endpoint."""

    def __init__(self, error: str, description: str, status: int = 400, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status
        self.retry_after = retry_after


def normalise_email(email: str) -> str:
    return email.strip().lower()


async def find_user_by_email(session: AsyncSession, email: str) -> User | None:
    return (await session.exec(select(User).where(User.email == normalise_email(email)))).first()


def _access_token(
    settings: Settings, principal: Principal, version: int, family_id: UUID | None = None
) -> tuple[str, int]:
    token, _ = security.issue_token(
        settings,
        token_type="access",
        subject=principal.id,
        kind=principal.kind,
        role=principal.role.value,
        organisation_id=principal.organisation_id,
        version=version,
        ttl_seconds=settings.access_token_ttl_seconds,
        family_id=family_id,
    )
    return token, settings.access_token_ttl_seconds


async def _issue_user_tokens(session: AsyncSession, settings: Settings, user: User, family_id: UUID) -> TokenResponse:
    principal = principal_of_user(user)
    # The access token names its login (`fam`): logging out or a detected refresh reuse ends
    # the login's access tokens at once, not only its refresh tokens.
    access, expires_in = _access_token(settings, principal, user.auth_version, family_id)
    refresh, claims = security.issue_token(
        settings,
        token_type="refresh",
        subject=user.id,
        kind="user",
        role=user.role.value,
        organisation_id=user.organisation_id,
        version=user.auth_version,
        ttl_seconds=settings.refresh_token_ttl_seconds,
        family_id=family_id,
    )
    session.add(RefreshToken(id=claims.token_id, family_id=family_id, user_id=user.id, expires_at=claims.expires_at))
    await session.flush()
    return TokenResponse(access_token=access, expires_in=expires_in, refresh_token=refresh)


def principal_of_user(user: User) -> Principal:
    return Principal(
        kind="user", id=user.id, role=user.role, organisation_id=user.organisation_id, enterprise_id=user.enterprise_id
    )


def principal_of_client(client: ApiClient) -> Principal:
    return Principal(kind="client", id=client.id, role=client.role, organisation_id=client.organisation_id)


def login_backoffs(settings: Settings) -> tuple[Backoff, Backoff]:
    """The login throttle's growing delays: per account, and per client address."""
    memory = max(FAILURE_WINDOW_SECONDS, 2 * settings.login_max_delay_seconds)
    cap = settings.login_max_delay_seconds
    return (
        Backoff(free=settings.login_failures_per_15_minutes, cap=cap, memory=memory),
        Backoff(free=settings.login_failures_per_address, cap=cap, memory=memory),
    )


@dataclass(frozen=True, slots=True)
class Throttle:
    """What the throttles need: their store (the rate limiter), the settings, the client address."""

    limiter: RateLimiter
    settings: Settings
    address: str


async def reserve_login_attempt(guard: Throttle, email: str) -> tuple[str, str]:
    """Count a password check against the client address and the account *before* it runs
    (so parallel guesses each take a place), or refuse it with 429. Returns the two keys; a
    correct password takes its place back (`release`), so only failures stay counted. Past the
    free attempts each further one waits a delay that doubles (1 s, 2 s, 4 s … up to LOGIN_MAX_DELAY_SECONDS): nobody can lock an account for long
    with a few wrong passwords, and guessing stays slow however many addresses are used."""
    limiter = guard.limiter
    per_account, per_address = login_backoffs(guard.settings)
    keys = (f"login:addr:{guard.address}", f"login:acct:{email}")
    wait = await limiter.attempt(keys[0], per_address)
    if not wait:
        wait = await limiter.attempt(keys[1], per_account)
        if wait:
            await limiter.release(keys[0])
    if wait:
        raise RateLimited(wait, "too many wrong passwords; retry later")
    return keys


async def password_matches(guard: Throttle, email: str, password: str, user: User | None) -> bool:
    """Check a password (login, or the current one when changing it) under the throttle:
    counted before Argon2 runs, in the bounded hashing pool; raises RateLimited when refused."""
    keys = await reserve_login_attempt(guard, normalise_email(email))
    valid = await security.verify_password_async(password, user.password_hash if user else None)
    if valid and user is not None and user.is_active:
        for key in keys:
            await guard.limiter.release(key)
        return True
    return False


async def password_grant(session: AsyncSession, guard: Throttle, username: str, password: str) -> TokenResponse:
    email = normalise_email(username)
    user = await find_user_by_email(session, email) if len(email) <= 320 else None
    try:
        valid = await password_matches(guard, email, password, user)
    except RateLimited as exc:
        raise OAuthProblem(
            "invalid_grant", "too many failed logins; retry later", status=429, retry_after=exc.retry_after
        ) from exc
    if not valid or user is None:
        raise OAuthProblem("invalid_grant", "the email or password is wrong")
    return await _issue_user_tokens(session, guard.settings, user, family_id=uuid7())


async def client_credentials_grant(
    session: AsyncSession, settings: Settings, client_id: str, client_secret: str
) -> TokenResponse:
    client = None
    if len(client_id) <= 64:
        client = (await session.exec(select(ApiClient).where(ApiClient.client_id == client_id))).first()
    matches = security.client_secret_matches(client_secret, client.secret_hash if client else None)
    if client is None or not matches or not client.is_active:
        raise OAuthProblem("invalid_client", "unknown client or wrong secret", status=401)
    access, expires_in = _access_token(settings, principal_of_client(client), client.auth_version)
    return TokenResponse(access_token=access, expires_in=expires_in)


async def revoke_family(session: AsyncSession, family_id: UUID) -> None:
    await session.exec(  # type: ignore[call-overload]
        sa.update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))  # type: ignore[arg-type,union-attr]
        .values(revoked_at=utcnow())
    )


async def revoke_all_for_user(session: AsyncSession, user_id: UUID) -> None:
    await session.exec(  # type: ignore[call-overload]
        sa.update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))  # type: ignore[arg-type,union-attr]
        .values(revoked_at=utcnow())
    )


async def refresh_grant(session: AsyncSession, settings: Settings, refresh_token: str) -> TokenResponse:
    """Rotation: a refresh token works once. Presenting a spent one revokes its whole family,
    since either the client or a thief holds a copy."""
    try:
        claims = security.decode_token(settings, refresh_token, "refresh")
    except security.TokenInvalid as exc:
        raise OAuthProblem("invalid_grant", "the refresh token is invalid or expired") from exc
    stored = (
        await session.exec(select(RefreshToken).where(RefreshToken.id == claims.token_id).with_for_update())
    ).first()
    if stored is None or claims.family_id is None or stored.family_id != claims.family_id:
        raise OAuthProblem("invalid_grant", "the refresh token is not known")
    if stored.used_at is not None or stored.revoked_at is not None:
        if stored.used_at is not None:
            await revoke_family(session, stored.family_id)
        raise OAuthProblem("invalid_grant", "the refresh token was already used or revoked")
    user = await session.get(User, stored.user_id)
    if user is None or not user.is_active or user.auth_version != claims.version:
        raise OAuthProblem("invalid_grant", "the account changed; log in again")
    stored.used_at = utcnow()
    session.add(stored)
    return await _issue_user_tokens(session, settings, user, family_id=stored.family_id)


async def revoke(session: AsyncSession, settings: Settings, token: str) -> None:
    """RFC 7009: revoking an unknown or invalid token is not an error."""
    try:
        claims = security.decode_token(settings, token, "refresh")
    except security.TokenInvalid:
        return
    if claims.family_id is not None:
        await revoke_family(session, claims.family_id)


def login_ended(family: Any) -> Any:
    """True when the login `family` was ended (logged out, or a spent refresh token reused):
    its refresh tokens carry `revoked_at`. False for tokens of no login (API clients)."""
    return sa.exists().where(
        RefreshToken.family_id == family,  # type: ignore[arg-type]
        RefreshToken.revoked_at.is_not(None),  # type: ignore[union-attr]
    )


def principal_row(kind: security.PrincipalKind, subject: Any, version: Any, family: Any) -> Any:
    """The columns that decide access (role, organisation, enterprise) of a live account:
    active, with the `auth_version` the token was issued under, and its login (`family`, the
    token's `fam` claim) not ended. `subject`, `version` and `family` are values or SQL
    expressions."""
    model: Any = User if kind == "user" else ApiClient
    enterprise: Any = User.enterprise_id if kind == "user" else sa.null()
    return select(model.role, model.organisation_id, enterprise).where(
        model.id == subject, model.is_active, model.auth_version == version, ~login_ended(family)
    )


def verified_claims(settings: Settings, token: str) -> security.TokenClaims:
    """The claims of a valid access token (signature, expiry, type), or 401. Whether its
    account is still live is for the caller's statement to check (`principal_row`)."""
    if not token:
        raise Unauthorized("an access token is required (Authorization: Bearer <token>)", token_given=False)
    try:
        return security.decode_token(settings, token, "access")
    except security.TokenInvalid as exc:
        raise Unauthorized("the access token is invalid or expired") from exc


async def resolve_principal(session: AsyncSession, settings: Settings, token: str) -> Principal:
    """The caller behind an access token, re-checked against the database: a deactivated
    account or a password changed after issue invalidates the token at once."""
    return await live_principal(session, verified_claims(settings, token))


async def live_principal(session: AsyncSession, claims: security.TokenClaims) -> Principal:
    """The principal behind verified claims if its account and login are still live, else 401.
    Only the columns that decide access are read: no ORM object on this hot path."""
    row = (await session.exec(principal_row(claims.kind, claims.subject, claims.version, claims.family_id))).first()
    if row is None:
        raise Unauthorized("the access token is no longer valid")
    role, organisation_id, enterprise_id = row
    return Principal(claims.kind, claims.subject, Role(role), organisation_id, enterprise_id)


async def ensure_first_admin(session: AsyncSession, settings: Settings) -> bool:
    """Create FIRST_ADMIN_EMAIL if set and absent. Returns True when created.

    Instances starting together may all find no such user: the insert skips a row whose email
    exists by then, so one of them creates the admin and the others do nothing."""
    if not settings.first_admin_email or settings.first_admin_password is None:
        return False
    if await find_user_by_email(session, settings.first_admin_email) is not None:
        return False
    admin = User(
        email=normalise_email(settings.first_admin_email),
        password_hash=security.hash_password(settings.first_admin_password.get_secret_value()),
        role=Role.admin,
        full_name="Programme administrator",
    )
    insert = pg_insert(User).values(admin.model_dump()).on_conflict_do_nothing(index_elements=["email"])
    created = await session.exec(insert.returning(User.id))  # type: ignore[call-overload]
    return created.first() is not None
