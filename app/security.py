"""Everything JWT and password. python-jose is imported here and nowhere else.

Access and refresh tokens are both JWTs signed with the service key; a `typ` claim
tells them apart and is checked on every decode, so neither can stand in for the other.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import secrets
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from uuid import UUID

from cryptography.fernet import Fernet, InvalidToken
from jose import ExpiredSignatureError, JWTError, jwt
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from app.config import Settings
from app.ids import utcnow, uuid7

TokenType = Literal["access", "refresh"]
PrincipalKind = Literal["user", "client"]

MAX_PASSWORD_LENGTH = 1024
"""Longer passwords are refused before hashing, so a huge one cannot burn CPU."""

_password_hash = PasswordHash((Argon2Hasher(),))
_DUMMY_HASH = _password_hash.hash(secrets.token_urlsafe(16))


class TokenInvalid(Exception):
    """The token is missing, malformed, forged, expired or of the wrong type."""


class TokenExpired(TokenInvalid):
    """A token that was valid, past its `exp` (PACT tells this case apart: `TokenExpired`)."""


@dataclass(frozen=True, slots=True)
class TokenClaims:
    subject: UUID
    kind: PrincipalKind
    role: str
    organisation_id: UUID | None
    version: int
    token_id: UUID
    family_id: UUID | None
    expires_at: datetime

    @property
    def key(self) -> str:
        """The caller's key, as `Principal.key` spells it (cursors, idempotency, the access log)."""
        return f"{self.kind}:{self.subject}"


def hash_password(password: str) -> str:
    """Argon2id hash, on the calling thread: for start-up and command-line work only.
    Request handlers use `hash_password_async`, which keeps the event loop free."""
    return _password_hash.hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    """Constant-shape check: an unknown account still costs one Argon2 verification."""
    if len(password) > MAX_PASSWORD_LENGTH:
        return False
    if password_hash is None:
        _password_hash.verify(password, _DUMMY_HASH)
        return False
    try:
        return _password_hash.verify(password, password_hash)
    except Exception:  # a corrupt hash counts as a mismatch
        return False


_HASH_POOL: ThreadPoolExecutor | None = None
_HASH_THREADS = max(1, (os.cpu_count() or 2) // 2)


def configure_password_pool(threads: int | None) -> None:
    """Argon2 runs in at most `threads` threads at once (default half the CPUs, at least one),
    so a burst of logins queues there instead of starving the event loop of CPU."""
    global _HASH_POOL, _HASH_THREADS
    wanted = threads or max(1, (os.cpu_count() or 2) // 2)
    if _HASH_POOL is not None and wanted != _HASH_THREADS:
        _HASH_POOL.shutdown(wait=False)
        _HASH_POOL = None
    _HASH_THREADS = wanted


def _pool() -> ThreadPoolExecutor:
    global _HASH_POOL
    if _HASH_POOL is None:
        _HASH_POOL = ThreadPoolExecutor(max_workers=_HASH_THREADS, thread_name_prefix="argon2")
    return _HASH_POOL


async def hash_password_async(password: str) -> str:
    """`hash_password` in the bounded Argon2 pool (argon2-cffi releases the GIL while hashing)."""
    return await asyncio.get_running_loop().run_in_executor(_pool(), _password_hash.hash, password)


async def verify_password_async(password: str, password_hash: str | None) -> bool:
    """`verify_password` in the bounded Argon2 pool."""
    return await asyncio.get_running_loop().run_in_executor(_pool(), verify_password, password, password_hash)


def new_client_secret() -> str:
    return "s4cs_" + secrets.token_urlsafe(32)


def hash_client_secret(secret: str) -> str:
    """Client secrets are long random strings, so SHA-256 is enough (as for API tokens elsewhere) and fast."""
    return hashlib.sha256(secret.encode()).hexdigest()


def client_secret_matches(secret: str, stored_hash: str | None) -> bool:
    candidate = hash_client_secret(secret[:MAX_PASSWORD_LENGTH])
    return hmac.compare_digest(candidate, stored_hash or "0" * 64)


def new_webhook_secret() -> str:
    """A Standard Webhooks secret: `whsec_` + base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def _sealing_key(settings: Settings) -> Fernet:
    derived = hashlib.sha256(b"score4climate webhook secrets\x00" + settings.signing_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(derived))


def seal(settings: Settings, secret: str) -> str:
    """A secret the service must use again (a webhook signing secret), encrypted with a key derived
    from SECRET_KEY (Fernet: AES-128-CBC + HMAC-SHA256). Rotating SECRET_KEY makes sealed secrets
    unreadable: endpoints then need `rotate-secret`."""
    return _sealing_key(settings).encrypt(secret.encode()).decode()


def unseal(settings: Settings, sealed: str) -> str:
    """The secret `seal` encrypted; ValueError when it was sealed under another SECRET_KEY."""
    try:
        return _sealing_key(settings).decrypt(sealed.encode()).decode()
    except InvalidToken as exc:
        raise ValueError("the secret was sealed with another SECRET_KEY") from exc


def sign(settings: Settings, data: bytes) -> str:
    """HMAC used for opaque, tamper-evident values such as pagination cursors."""
    return hmac.new(settings.signing_key.encode(), data, hashlib.sha256).hexdigest()[:32]


def issue_token(
    settings: Settings,
    *,
    token_type: TokenType,
    subject: UUID,
    kind: PrincipalKind,
    role: str,
    organisation_id: UUID | None,
    version: int,
    ttl_seconds: int,
    token_id: UUID | None = None,
    family_id: UUID | None = None,
) -> tuple[str, TokenClaims]:
    now = utcnow()
    expires = now + timedelta(seconds=ttl_seconds)
    jti = token_id or uuid7()
    claims: dict[str, Any] = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": str(subject),
        "iat": int(now.timestamp()),
        "exp": int(expires.timestamp()),
        "jti": str(jti),
        "typ": token_type,
        "kind": kind,
        "role": role,
        "org": str(organisation_id) if organisation_id else None,
        "ver": version,
    }
    if family_id is not None:
        claims["fam"] = str(family_id)
    token = jwt.encode(claims, settings.signing_key, algorithm=settings.jwt_algorithm)
    return token, TokenClaims(subject, kind, role, organisation_id, version, jti, family_id, expires)


_VERIFIED_ACCESS: OrderedDict[tuple[str, str], TokenClaims] = OrderedDict()
_VERIFIED_ACCESS_MAX = 10_000


def decode_token(settings: Settings, token: str, expected_type: TokenType) -> TokenClaims:
    """Verify a token. Access tokens whose signature and claims were already verified are
    remembered (by key and token) so a busy caller's token is not re-verified on every request;
    expiry is still checked each time."""
    if expected_type == "access":
        cache_key = (settings.signing_key, token)
        cached = _VERIFIED_ACCESS.get(cache_key)
        if cached is not None:
            if cached.expires_at <= utcnow():
                _VERIFIED_ACCESS.pop(cache_key, None)
                raise TokenExpired("token expired")
            return cached
        claims = _decode(settings, token, expected_type)
        _VERIFIED_ACCESS[cache_key] = claims
        if len(_VERIFIED_ACCESS) > _VERIFIED_ACCESS_MAX:
            _VERIFIED_ACCESS.popitem(last=False)
        return claims
    return _decode(settings, token, expected_type)


def _decode(settings: Settings, token: str, expected_type: TokenType) -> TokenClaims:
    """Verify signature (pinned algorithm), `exp`, `iss`, `aud` and the token type."""
    if not token or len(token) > 8192:
        raise TokenInvalid("malformed token")
    try:
        header = jwt.get_unverified_header(token)
        if header.get("alg") != settings.jwt_algorithm:
            raise TokenInvalid("unexpected signing algorithm")
        payload = jwt.decode(
            token,
            settings.signing_key,
            algorithms=[settings.jwt_algorithm],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={
                "require_exp": True,
                "require_iat": True,
                "require_sub": True,
                "require_iss": True,
                "require_aud": True,
                "require_jti": True,
                "leeway": 0,
            },
        )
    except ExpiredSignatureError as exc:
        raise TokenExpired(str(exc)) from exc
    except JWTError as exc:
        raise TokenInvalid(str(exc)) from exc
    if payload.get("typ") != expected_type:
        raise TokenInvalid("wrong token type")
    try:
        org = payload.get("org")
        fam = payload.get("fam")
        kind = payload["kind"]
        if kind not in ("user", "client"):
            raise TokenInvalid("unknown principal kind")
        return TokenClaims(
            subject=UUID(payload["sub"]),
            kind=kind,
            role=str(payload["role"]),
            organisation_id=UUID(org) if org else None,
            version=int(payload["ver"]),
            token_id=UUID(payload["jti"]),
            family_id=UUID(fam) if fam else None,
            expires_at=datetime.fromtimestamp(int(payload["exp"]), tz=utcnow().tzinfo),
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise TokenInvalid("malformed claims") from exc


def peek_subject(settings: Settings, token: str) -> str | None:
    """The verified subject of an access token, for keying rate limits; None if invalid."""
    try:
        return str(decode_token(settings, token, "access").subject)
    except TokenInvalid:
        return None
