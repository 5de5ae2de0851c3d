"""The delivery worker: takes due webhook deliveries from the queue in PostgreSQL and POSTs them.

The queue is the `webhook_deliveries` table, written in the same transaction as the events
(app/services/events.py). Any number of workers, on any number of machines, share it:

- **Claiming.** A worker claims due deliveries with `SELECT … FOR UPDATE SKIP LOCKED` and marks
  them with its id and a lease (`claimed_until`: the timeout plus a margin). Another worker
  skips rows being claimed and ignores rows whose lease has not run out, so a delivery is in
  one worker's hands at a time. A worker killed mid-delivery (its lease runs out) loses
  nothing: the delivery is due again and the next worker, or the same after its restart,
  sends it again — with the same `webhook-id`, so receivers drop the duplicate.
- **Fairness.** At most WEBHOOK_ENDPOINT_CONCURRENCY deliveries to one endpoint are claimed
  at a time (all workers together), so one slow receiver cannot take every slot.
- **Outcome.** 2xx: delivered. Anything else (another status, a timeout, a refused connection
  or address): the attempt is logged and the next one scheduled after the next delay of
  WEBHOOK_RETRY_SCHEDULE; when the schedule is used up the delivery is failed. An endpoint
  whose deliveries have failed without a success for WEBHOOK_DISABLE_AFTER_DAYS is disabled,
  with the reason on the endpoint.
- **Waking.** New deliveries `NOTIFY webhook_deliveries`; the worker LISTENs, and also looks
  every second (retries come due without a notification; a lost notification costs a second).

Why not a task library: the queue is one table whose rows are written in the API's own
transaction; a claim is one statement. procrastinate would add its own schema and worker
model for what `SKIP LOCKED` does here in a few lines, and the delivery log (attempts, status,
manual retry) would still be ours.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import sqlalchemy as sa
from standardwebhooks.webhooks import Webhook

from app import __version__, outbound
from app.config import Settings
from app.db import Database, unit_of_work
from app.ids import utcnow, uuid7
from app.models.webhooks import DELIVERIES, WebhookEndpoint
from app.observability import WebhookSeries, request_id_var
from app.security import unseal
from app.services import attachments, events, pact_delivery
from app.services.blobs import close_store, open_store

log = logging.getLogger("app.webhooks")

LEASE_MARGIN_SECONDS = 30.0
POLL_SECONDS = 1.0
MAINTENANCE_SECONDS = 60.0
SWEEP_SECONDS = 3600.0
ERROR_LENGTH = 500

CLAIM = sa.text(
    """
    WITH busy AS (
        SELECT endpoint_id, count(*) AS n FROM webhook_deliveries
        WHERE status = 'pending' AND claimed_until >= now()
        GROUP BY endpoint_id
    ), due AS (
        SELECT d.id, row_number() OVER (PARTITION BY d.endpoint_id ORDER BY d.next_attempt_at, d.id)
                     + coalesce(b.n, 0) AS place
        FROM (SELECT id, endpoint_id, next_attempt_at FROM webhook_deliveries
              WHERE status = 'pending' AND next_attempt_at <= now()
                AND (claimed_until IS NULL OR claimed_until < now())
              ORDER BY next_attempt_at LIMIT :scan) d
        JOIN webhook_endpoints ep ON ep.id = d.endpoint_id AND ep.enabled
        LEFT JOIN busy b ON b.endpoint_id = d.endpoint_id
    ), picked AS (
        SELECT d.id FROM webhook_deliveries d JOIN due ON due.id = d.id
        WHERE due.place <= :per_endpoint
          AND d.status = 'pending' AND (d.claimed_until IS NULL OR d.claimed_until < now())
        ORDER BY d.next_attempt_at, d.id
        LIMIT :room
        FOR UPDATE OF d SKIP LOCKED
    )
    UPDATE webhook_deliveries d
    SET claimed_by = :me, claimed_until = now() + make_interval(secs => :lease)
    FROM picked, events e, webhook_endpoints ep
    WHERE d.id = picked.id AND e.seq = d.event_seq AND ep.id = d.endpoint_id
    RETURNING d.id, d.attempts, d.endpoint_id, e.id AS event_id, e.occurred_at, e.request_id, e.body,
              ep.url, ep.secret, ep.previous_secret, ep.previous_secret_expires_at
    """
)

FINISH = sa.text(
    """
    UPDATE webhook_deliveries d
    SET status = v.status, attempts = d.attempts + 1, next_attempt_at = v.next_attempt_at,
        delivered_at = v.delivered_at, last_status_code = v.status_code, last_error = v.error,
        claimed_by = NULL, claimed_until = NULL
    FROM unnest(CAST(:ids AS uuid[]), CAST(:statuses AS text[]), CAST(:next AS timestamptz[]),
                CAST(:delivered AS timestamptz[]), CAST(:codes AS int[]), CAST(:errors AS text[]))
         AS v(id, status, next_attempt_at, delivered_at, status_code, error)
    WHERE d.id = v.id AND d.claimed_by = :me
    RETURNING d.id
    """
).columns(sa.column("id", sa.Uuid))
"""The outcomes of a batch of attempts, each only while the claim is still this worker's."""

LOG_ATTEMPTS = sa.text(
    """
    INSERT INTO webhook_attempts (id, delivery_id, attempted_at, status_code, duration_ms, error)
    SELECT v.id, v.delivery_id, v.attempted_at, v.status_code, v.duration_ms, v.error
    FROM unnest(CAST(:ids AS uuid[]), CAST(:deliveries AS uuid[]), CAST(:at AS timestamptz[]),
                CAST(:codes AS int[]), CAST(:durations AS int[]), CAST(:errors AS text[]))
         AS v(id, delivery_id, attempted_at, status_code, duration_ms, error)
    WHERE EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.id = v.delivery_id)
    """
)
"""The attempts themselves, claimed or not (they happened), unless the delivery is gone."""

LOCK_ENDPOINTS = sa.text(
    """
    SELECT id FROM webhook_endpoints
    WHERE id = ANY(CAST(:ids AS uuid[])) AND (failing_since IS NOT NULL OR id = ANY(CAST(:failed AS uuid[])))
    ORDER BY id
    FOR NO KEY UPDATE
    """
)
"""The endpoints whose run of failures this batch starts, continues or ends, locked in id order
(two workers recording at once never wait for each other in a circle)."""

ENDPOINTS_SUCCEEDED = sa.text(
    """
    UPDATE webhook_endpoints SET failing_since = NULL, updated_at = clock_timestamp()
    WHERE id = ANY(CAST(:ids AS uuid[])) AND failing_since IS NOT NULL
    """
)


@dataclass(frozen=True, slots=True)
class Job:
    """One claimed delivery, with what sending it needs."""

    id: UUID
    attempts: int
    endpoint_id: UUID
    event_id: UUID
    occurred_at: datetime
    request_id: str | None
    body: str
    url: str
    secret: str
    previous_secret: str | None
    previous_secret_expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class Attempt:
    status_code: int | None
    error: str | None
    started: datetime
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def signature_header(settings: Settings, job: Job, timestamp: datetime) -> str:
    """`webhook-signature`: `v1,<base64>` by the current secret, and after a rotation also by the
    previous one until it expires (space-separated, as Standard Webhooks specifies)."""
    sealed = [job.secret]
    expires = job.previous_secret_expires_at
    if job.previous_secret is not None and expires is not None and expires > timestamp:
        sealed.append(job.previous_secret)
    return " ".join(Webhook(unseal(settings, secret)).sign(str(job.event_id), timestamp, job.body) for secret in sealed)


def headers_for(settings: Settings, job: Job, timestamp: datetime) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "user-agent": f"score4climate-webhooks/{__version__}",
        "webhook-id": str(job.event_id),
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signature_header(settings, job, timestamp),
    }


def _describe(exc: BaseException, settings: Settings) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer within {settings.webhook_timeout_seconds:g} s"
    if isinstance(exc, outbound.OutboundRefused):
        return f"refused by the outbound policy: {exc}"
    if isinstance(exc, ValueError):  # unseal: SECRET_KEY changed since the secret was made
        return f"cannot sign: {exc}; rotate the endpoint's secret"
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:ERROR_LENGTH]


class Worker:
    """One delivery worker: `run` until stopped, or `run_once` (tests, the bench)."""

    def __init__(
        self,
        database: Database,
        settings: Settings,
        series: WebhookSeries | None = None,
        *,
        lease_seconds: float | None = None,
    ) -> None:
        self.database = database
        self.settings = settings
        self.series = series
        self.id = uuid7()
        self.lease_seconds = lease_seconds or settings.webhook_timeout_seconds + LEASE_MARGIN_SECONDS
        self.http = outbound.client(settings, max_connections=settings.webhook_concurrency)
        self._wake = asyncio.Event()
        self._in_flight: set[asyncio.Task[None]] = set()
        self._finished: list[tuple[Job, Attempt]] = []
        self._maintained = 0.0
        self.blobs = open_store(settings)
        self._swept = 0.0
        self._pact: asyncio.Task[int] | None = None

    async def close(self) -> None:
        if self._pact is not None:
            await asyncio.gather(self._pact, return_exceptions=True)
        if self._in_flight:
            await asyncio.gather(*self._in_flight, return_exceptions=True)
        await self.flush()
        await self.http.aclose()
        await close_store(self.blobs)

    # --- claiming and recording

    async def claim(self, room: int) -> list[Job]:
        """Claim up to `room` due deliveries for this worker."""
        if room <= 0:
            return []
        statement = CLAIM.bindparams(
            me=self.id,
            room=room,
            scan=max(room * 4, 100),
            per_endpoint=self.settings.webhook_endpoint_concurrency,
            lease=self.lease_seconds,
        )
        async with unit_of_work(self.database) as session:
            rows = (await session.exec(statement)).mappings().all()  # type: ignore[call-overload]
        return [Job(**row) for row in rows]

    def _outcome(self, job: Job, attempt: Attempt, now: datetime) -> tuple[str, datetime | None]:
        """The delivery's status after this attempt, and when the next attempt is due."""
        schedule = self.settings.webhook_retry_schedule
        if attempt.ok:
            return "delivered", None
        if job.attempts < len(schedule):
            return "pending", now + timedelta(seconds=schedule[job.attempts])
        return "failed", None

    async def record(self, finished: list[tuple[Job, Attempt]]) -> None:
        """A batch of attempts and their consequences, in one transaction: the endpoints first
        (in id order), then the deliveries, then the attempt log."""
        finished = list(finished)
        if not finished:
            return
        now = utcnow()
        outcomes = [self._outcome(job, attempt, now) for job, attempt in finished]
        succeeded = sorted({job.endpoint_id for job, attempt in finished if attempt.ok})
        failed = sorted({job.endpoint_id for job, attempt in finished if not attempt.ok} - set(succeeded))
        async with unit_of_work(self.database) as session:
            await session.exec(  # type: ignore[call-overload]
                LOCK_ENDPOINTS.bindparams(ids=[job.endpoint_id for job, _ in finished], failed=failed)
            )
            if succeeded:
                await session.exec(ENDPOINTS_SUCCEEDED.bindparams(ids=succeeded))  # type: ignore[call-overload]
            last_failure = {job.endpoint_id: attempt for job, attempt in finished if not attempt.ok}
            for endpoint_id in failed:
                await self._endpoint_failed(session, endpoint_id, last_failure[endpoint_id], now)
            claimed = set(
                (
                    await session.exec(  # type: ignore[call-overload]
                        FINISH.bindparams(
                            me=self.id,
                            ids=[job.id for job, _ in finished],
                            statuses=[status for status, _ in outcomes],
                            next=[due for _, due in outcomes],
                            delivered=[now if attempt.ok else None for _, attempt in finished],
                            codes=[attempt.status_code for _, attempt in finished],
                            errors=[attempt.error for _, attempt in finished],
                        )
                    )
                ).scalars()
            )
            await session.exec(  # type: ignore[call-overload]
                LOG_ATTEMPTS.bindparams(
                    ids=[uuid7() for _ in finished],
                    deliveries=[job.id for job, _ in finished],
                    at=[attempt.started for _, attempt in finished],
                    codes=[attempt.status_code for _, attempt in finished],
                    durations=[attempt.duration_ms for _, attempt in finished],
                    errors=[attempt.error for _, attempt in finished],
                )
            )
        for (job, attempt), (status, _) in zip(finished, outcomes, strict=True):
            self._observe(job, attempt, status, claimed=job.id in claimed, now=now)

    async def _endpoint_failed(self, session: Any, endpoint_id: UUID, attempt: Attempt, now: datetime) -> None:
        """Start or continue the endpoint's run of failures; disable it when the run is too long."""
        endpoint = await session.get(WebhookEndpoint, endpoint_id)
        if endpoint is None:
            return
        days = self.settings.webhook_disable_after_days
        if endpoint.failing_since is None:
            endpoint.failing_since = now
            endpoint.updated_at = now
        elif endpoint.enabled and endpoint.failing_since <= now - timedelta(days=days):
            endpoint.enabled = False
            endpoint.disabled_reason = (
                f"disabled on {now:%Y-%m-%d %H:%M} UTC: every delivery failed for {days:g} days since "
                f"{endpoint.failing_since:%Y-%m-%d %H:%M} UTC (last: {attempt.error}); fix the receiver, "
                "then PATCH enabled=true"
            )[:ERROR_LENGTH]
            endpoint.updated_at = now
            if self.series is not None:
                self.series.endpoints_disabled.inc()
            log.warning(
                "webhook endpoint disabled",
                extra={"endpoint_id": str(endpoint_id), "reason": endpoint.disabled_reason},
            )
        else:
            return
        session.add(endpoint)
        await session.flush()

    def _observe(self, job: Job, attempt: Attempt, status: str, *, claimed: bool, now: datetime) -> None:
        outcome = {"delivered": "delivered", "pending": "retry", "failed": "failed"}[status]
        fields = {
            "request_id": job.request_id,  # the write that caused the event
            "delivery_id": str(job.id),
            "endpoint_id": str(job.endpoint_id),
            "event_id": str(job.event_id),
            "outcome": outcome,
            "attempt": job.attempts + 1,
            "status_code": attempt.status_code,
            "error": attempt.error,
            "duration_ms": attempt.duration_ms,
        }
        if not claimed:
            fields["note"] = "the claim had expired; another worker may send it again"
        log.info("webhook delivery", extra=fields)
        if self.series is None:
            return
        self.series.deliveries.labels(outcome).inc()
        if attempt.ok:
            self.series.latency.observe(max((now - job.occurred_at).total_seconds(), 0.0))
        else:
            self.series.endpoint_failures.inc()

    # --- sending

    async def send(self, job: Job) -> Attempt:
        started = utcnow()
        clock = time.perf_counter()
        status_code: int | None = None
        error: str | None = None
        try:
            headers = headers_for(self.settings, job, started)
            status_code = await outbound.post(self.http, job.url, job.body.encode(), headers, self.settings)
            if not 200 <= status_code < 300:
                error = f"the receiver answered {status_code}"
        except (httpx.HTTPError, OSError, ValueError) as exc:
            error = _describe(exc, self.settings)
        return Attempt(status_code, error, started, round((time.perf_counter() - clock) * 1000))

    async def process(self, job: Job) -> None:
        """Send, and leave the outcome for the next batch to record."""
        request_id_var.set(job.request_id)  # the delivery logs with the request id of the write
        attempt = await self.send(job)
        self._finished.append((job, attempt))  # the list of now (a flush may have swapped it meanwhile)

    async def flush(self) -> None:
        """Record the outcomes sent so far (if the database is away, they are lost and the leases
        run out: the deliveries come back, with the same webhook-id)."""
        finished, self._finished = self._finished, []
        try:
            await self.record(finished)
        except Exception:
            log.exception("webhook delivery outcomes not recorded", extra={"count": len(finished)})

    async def run_once(self) -> int:
        """Claim what is due (up to WEBHOOK_CONCURRENCY), send it all, record; how many were sent."""
        jobs = await self.claim(self.settings.webhook_concurrency)
        await asyncio.gather(*(self.process(job) for job in jobs))
        await self.flush()
        return len(jobs) + await self.deliver_pact()

    async def deliver_pact(self) -> int:
        """The PACT callbacks that are due (app/services/pact_delivery.py), with this worker's
        HTTP client, lease and retry schedule."""
        return await pact_delivery.deliver_due(self.database, self.settings, self.http, self.id, self.lease_seconds)

    def _start_pact(self) -> None:
        """One round of PACT callbacks at a time, beside the webhook deliveries."""
        if self._pact is not None and not self._pact.done():
            return
        if self._pact is not None and not self._pact.cancelled() and self._pact.exception() is not None:
            log.warning("pact callbacks failed", extra={"error": type(self._pact.exception()).__name__})
        self._pact = asyncio.create_task(self.deliver_pact())

    # --- the loop

    async def maintain(self) -> None:
        """Every minute: drop events past their retention, and report the queue depth."""
        if time.monotonic() - self._maintained < MAINTENANCE_SECONDS:
            return
        self._maintained = time.monotonic()
        async with unit_of_work(self.database) as session:
            removed = await events.prune(session, self.settings.event_retention_days)
            depth = (
                await session.exec(sa.select(sa.func.count()).where(DELIVERIES.c.status == "pending"))  # type: ignore[call-overload]
            ).one()[0]
        if removed:
            log.info("events past their retention removed", extra={"count": removed})
        if self.series is not None:
            self.series.queue_depth.set(depth)
        await self.sweep_attachments()

    async def sweep_attachments(self) -> None:
        """Every hour: remove what an object store holds that no attachment names (after
        ATTACHMENT_SWEEP_GRACE_HOURS). Nothing to do for the PostgreSQL store."""
        if time.monotonic() - self._swept < SWEEP_SECONDS and self._swept:
            return
        self._swept = time.monotonic()
        grace = timedelta(hours=self.settings.attachment_sweep_grace_hours)
        try:
            swept = await attachments.sweep_orphans(lambda: unit_of_work(self.database), self.blobs, grace)
        except Exception:
            log.exception("attachment sweep failed; it runs again in an hour")
            return
        if swept is not None and (swept.objects or swept.uploads):
            log.info("orphaned attachment objects removed", extra={"objects": swept.objects, "uploads": swept.uploads})

    async def _listen(self) -> asyncpg.Connection | None:
        url = self.database.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        try:
            connection = await asyncpg.connect(url, timeout=5)
            await connection.add_listener(events.NOTIFY_CHANNEL, lambda *_: self._wake.set())
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            log.warning("cannot LISTEN for new deliveries; polling only", extra={"error": type(exc).__name__})
            return None
        return connection

    def _start(self, job: Job) -> None:
        task = asyncio.create_task(self.process(job))
        self._in_flight.add(task)

        def done(finished: asyncio.Task[None]) -> None:
            self._in_flight.discard(finished)
            self._wake.set()

        task.add_done_callback(done)

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until `stop` is set; in-flight deliveries are finished before returning."""
        listener = await self._listen()
        log.info("delivery worker started", extra={"worker_id": str(self.id)})
        try:
            while not stop.is_set():
                self._wake.clear()
                await self.flush()
                try:
                    await self.maintain()
                    for job in await self.claim(self.settings.webhook_concurrency - len(self._in_flight)):
                        self._start(job)
                    self._start_pact()
                except Exception as exc:  # the database may be briefly away; try again shortly
                    log.warning("delivery worker cannot reach the queue", extra={"error": type(exc).__name__})
                with contextlib.suppress(TimeoutError):
                    waiting = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
                    try:
                        await asyncio.wait_for(asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED), POLL_SECONDS)
                    finally:
                        for waiter in waiting:
                            waiter.cancel()
        finally:
            await self.close()
            if listener is not None:
                await listener.close()
            log.info("delivery worker stopped", extra={"worker_id": str(self.id)})
