"""PACT callbacks, sent by the delivery worker (app/services/delivery.py runs `deliver_due`).

A row of `pact_outbox` is an event answering a buyer's request. The worker claims due rows as
it claims webhook deliveries (`FOR UPDATE SKIP LOCKED`, a lease), gets a token from the
requester (`{base}/.well-known/openid-configuration`'s `token_endpoint`, else
`{base}/auth/token`, HTTP Basic with the PACT_OUTBOUND_CREDENTIALS entry of that base URL), and
POSTs the event to `{base}/3/events`. A failure is retried after the delays of
WEBHOOK_RETRY_SCHEDULE, then the row is failed. Every call goes through app/outbound.py.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

import httpx
import orjson
import sqlalchemy as sa

from app import __version__, outbound
from app.config import Settings
from app.db import Database, unit_of_work
from app.ids import utcnow
from app.observability import request_id_var

log = logging.getLogger("app.pact")

ERROR_LENGTH = 500
EVENT_MEDIA_TYPE = "application/cloudevents+json; charset=UTF-8"

CLAIM = sa.text(
    """
    UPDATE pact_outbox o SET claimed_by = :me, claimed_until = now() + make_interval(secs => :lease)
    FROM (SELECT id FROM pact_outbox
          WHERE status = 'pending' AND next_attempt_at <= now() AND (claimed_until IS NULL OR claimed_until < now())
          ORDER BY next_attempt_at, id LIMIT :room FOR UPDATE SKIP LOCKED) picked
    WHERE o.id = picked.id
    RETURNING o.id, o.attempts, o.recipient, o.body, o.request_id
    """
)

FINISH = sa.text(
    """
    UPDATE pact_outbox SET status = :status, attempts = attempts + 1, next_attempt_at = :next,
        delivered_at = :delivered, last_status_code = :code, last_error = :error,
        claimed_by = NULL, claimed_until = NULL
    WHERE id = :id AND claimed_by = :me
    """
)


class CallbackFailed(Exception):
    """The requester's side refused a step (discovery, token, event)."""


@dataclass(frozen=True, slots=True)
class Callback:
    id: UUID
    attempts: int
    recipient: str
    body: str
    request_id: str | None


async def token_endpoint(http: httpx.AsyncClient, base: str, settings: Settings) -> str:
    """The requester's token endpoint: from its OpenID configuration if it has one."""
    try:
        status, body = await outbound.exchange(
            http, "GET", f"{base}/.well-known/openid-configuration", settings, headers={"accept": "application/json"}
        )
        found = orjson.loads(body).get("token_endpoint") if status == 200 else None
    except (httpx.HTTPError, orjson.JSONDecodeError, AttributeError):
        found = None
    return found if isinstance(found, str) and found else f"{base}/auth/token"


async def access_token(http: httpx.AsyncClient, base: str, settings: Settings) -> str:
    credential = settings.pact_outbound_credentials.get(base)
    if credential is None:
        raise CallbackFailed(f"PACT_OUTBOUND_CREDENTIALS has no entry for {base}")
    basic = base64.b64encode(f"{credential.client_id}:{credential.client_secret.get_secret_value()}".encode())
    status, body = await outbound.exchange(
        http,
        "POST",
        await token_endpoint(http, base, settings),
        settings,
        content=b"grant_type=client_credentials",
        headers={
            "authorization": f"Basic {basic.decode()}",
            "content-type": "application/x-www-form-urlencoded",
            "accept": "application/json",
        },
    )
    if status != 200:
        raise CallbackFailed(f"the requester's token endpoint answered {status}")
    try:
        token = orjson.loads(body)["access_token"]
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise CallbackFailed("the requester's token endpoint sent no access_token") from exc
    if not isinstance(token, str) or not token:
        raise CallbackFailed("the requester's token endpoint sent no access_token")
    return token


async def send(http: httpx.AsyncClient, job: Callback, settings: Settings) -> tuple[int | None, str | None]:
    """One attempt: the status the requester answered the event with, and what went wrong."""
    request_id_var.set(job.request_id)
    try:
        token = await access_token(http, job.recipient, settings)
        status = await outbound.post(
            http,
            f"{job.recipient}/3/events",
            job.body.encode(),
            {
                "authorization": f"Bearer {token}",
                "content-type": EVENT_MEDIA_TYPE,
                "user-agent": f"score4climate-pact/{__version__}",
            },
            settings,
        )
    except CallbackFailed as exc:
        return None, str(exc)[:ERROR_LENGTH]
    except (httpx.HTTPError, OSError, ValueError) as exc:  # ValueError: the outbound policy refused
        return None, f"{type(exc).__name__}: {exc}"[:ERROR_LENGTH]
    return status, None if 200 <= status < 300 else f"the requester answered {status}"


async def deliver_due(database: Database, settings: Settings, http: httpx.AsyncClient, me: UUID, lease: float) -> int:
    """Claim the due callbacks, send them, record each outcome; how many were attempted."""
    async with unit_of_work(database) as session:
        rows = (
            (
                await session.exec(CLAIM.bindparams(me=me, lease=lease, room=settings.webhook_concurrency))  # type: ignore[call-overload]
            )
            .mappings()
            .all()
        )
    jobs = [Callback(**row) for row in rows]
    outcomes = await asyncio.gather(*(send(http, job, settings) for job in jobs))
    schedule = settings.webhook_retry_schedule
    now = utcnow()
    async with unit_of_work(database) as session:
        for job, (status, error) in zip(jobs, outcomes, strict=True):
            if error is None:
                state, due = "delivered", None
            elif job.attempts < len(schedule):
                state, due = "pending", now + timedelta(seconds=schedule[job.attempts])
            else:
                state, due = "failed", None
            await session.exec(  # type: ignore[call-overload]
                FINISH.bindparams(
                    id=job.id,
                    me=me,
                    status=state,
                    next=due,
                    delivered=now if error is None else None,
                    code=status,
                    error=error,
                )
            )
            log.info(
                "pact callback",
                extra={"callback_id": str(job.id), "outcome": state, "status_code": status, "error": error},
            )
    return len(jobs)
