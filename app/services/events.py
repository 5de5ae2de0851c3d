"""The event log: a transactional outbox written with every change someone may see.

Writing. Every audited write of an enterprise's programme data (`audit.record` calls
`note_change`) notes an event with its audience: who may see its subject at that moment, by
the visibility rules of the access module (`access.enterprise_audience`). Every progress
record refreshed in the transaction becomes a `progress.updated` event carrying the record.
Right before the transaction commits (after the progress refresh), `publish_pending` takes the
progress lock, inserts the events (numbered `seq` by an identity column), their recipients and
the webhook deliveries they call for, and notifies the workers. Nothing is announced for a
rolled-back change, and nothing committed goes unannounced.

Why the feed misses nothing. The lock is held until commit, and every event is numbered after
it is taken: a transaction with lower numbers has committed (or rolled back) before a later
one gets its first number. So whatever a reader sees is a prefix of the numbers that will ever
commit, and resuming after the highest number received returns every later event — the same
argument as for `updated_at` of progress records (app/services/progress.py).

Reading. `GET /v1/events` lists the caller's events (admins: all) after the cursor's number.
Events older than EVENT_RETENTION_DAYS are pruned (`prune`, run by the workers); a cursor from
before the pruned part answers 410 (`CursorExpired`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from uuid import UUID

import orjson
import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session, aliased
from sqlmodel.ext.asyncio.session import AsyncSession

from app.config import Settings
from app.errors import CursorExpired
from app.ids import utcnow, uuid7
from app.models.attachments import Attachment
from app.models.enterprises import Enterprise
from app.models.events import EVENT_LOG_STATE, EVENT_RECIPIENTS, EVENTS, EventType
from app.models.ideas import Idea
from app.models.results import Result
from app.models.supplier_links import SupplierLink
from app.models.trainings import Enrollment
from app.models.visits import Visit
from app.models.webhooks import DELIVERIES, WebhookEndpoint
from app.observability import request_id_var
from app.pagination import decode_cursor, encode_cursor, fingerprint
from app.principal import Principal
from app.services import access, locking

PENDING = "events_pending"
REFRESHED = "events_progress_refreshed"
NOTIFY_CHANNEL = "webhook_deliveries"
FEED_PATH = "/v1/events"

PAST = {
    "create": "created",
    "update": "updated",
    "delete": "deleted",
    "accept": "accepted",
    "revoke": "revoked",
    "verify": "verified",
    "transition": "transitioned",
    "assign_expert": "expert_assigned",
    "unassign_expert": "expert_unassigned",
}
"""Audited actions → the event of the change (`{subject}.{PAST[action]}`)."""

STATE_CHANGES = frozenset({"accept", "revoke", "verify", "transition", "assign_expert", "unassign_expert"})
"""Actions whose `changes` (status-like, small) travel in the event's data."""


@dataclass(frozen=True, slots=True)
class Subject:
    """Which enterprise an object of a type belongs to, and who besides the enterprise's own
    audience sees it (a supplier link's buyer)."""

    model: Any  # the table model; its `enterprise_id` (the enterprise's own `id`) names the enterprise
    buyers: bool | Callable[[Any], Any]  # or which of them, a condition on the (aliased) model
    experts: bool


SUBJECTS: dict[str, Subject] = {
    "enterprise": Subject(Enterprise, buyers=True, experts=True),
    "idea": Subject(Idea, buyers=True, experts=True),
    "result": Subject(Result, buyers=True, experts=True),
    "visit": Subject(Visit, buyers=False, experts=True),
    "enrollment": Subject(Enrollment, buyers=False, experts=True),
    "supplier_link": Subject(SupplierLink, buyers=False, experts=False),
    "attachment": Subject(Attachment, buyers=access.buyer_sees_attachment, experts=True),
}
"""The objects whose changes are events, with the roles that see them (docs/permissions.md):
buyers see an enterprise, its ideas, results and progress while their link is active, and
their own supplier links; visits and enrollments stay with the enterprise, its partner and its
experts; attachments go with their parent, to buyers only those they may read (of ideas and of
verified results). Users, organisations, trainings and reference data are not in the feed (a change of
reference data shows as `progress.updated` of the records it changes)."""


@dataclass(slots=True)
class Pending:
    id: UUID
    type: str
    subject_type: str
    subject_id: UUID
    enterprise_id: UUID | None
    data: dict[str, Any]
    recipients: set[UUID] = field(default_factory=set)
    within: Any = None
    """The (innermost) transaction the change was made in: rolled back, the event goes too."""


def _type_of(object_type: str, action: str) -> str | None:
    if object_type not in SUBJECTS or action not in PAST:
        return None
    name = f"{object_type}.{PAST[action]}"
    return name if name in EventType._value2member_map_ else None


def _subject_audience(subject: Subject, object_id: UUID) -> Any:
    """One statement: the object's enterprise, its buyer (supplier links), and each recipient."""
    model = aliased(subject.model, name="subject")  # an alias: the audience reads `enterprises` too
    enterprise: Any = model.id if subject.model is Enterprise else model.enterprise_id
    buyer: Any = model.buyer_id if subject.model is SupplierLink else sa.null()
    buyers = subject.buyers(model) if callable(subject.buyers) else subject.buyers
    audience = sa.lateral(access.enterprise_audience(enterprise, buyers=buyers, experts=subject.experts), "audience")
    return (
        sa.select(enterprise, buyer, audience.c.recipient)
        .select_from(sa.join(model, audience, sa.true()))
        .where(model.id == object_id)
    )


async def note_change(
    session: AsyncSession, action: str, object_type: str, object_id: UUID, changes: dict[str, Any]
) -> None:
    """Note the event of an audited change, with who may see its subject now (called before a
    delete, so that the audience of a deleted object is the one it had)."""
    event_type = _type_of(object_type, action)
    if event_type is None:
        return
    subject = SUBJECTS[object_type]
    rows = (await session.exec(_subject_audience(subject, object_id))).all()  # type: ignore[call-overload]
    if not rows:
        return
    enterprise_id, buyer = rows[0][0], rows[0][1]
    recipients: set[UUID] = {row[2] for row in rows if row[2] is not None}
    if buyer is not None:
        recipients.add(buyer)
    if action in ("assign_expert", "unassign_expert") and "user_id" in changes:
        recipients.add(UUID(str(changes["user_id"])))
    data: dict[str, Any] = {"enterprise_id": str(enterprise_id)}
    if buyer is not None:
        data["buyer_id"] = str(buyer)
    if action in STATE_CHANGES and changes:
        data["changes"] = changes
    sync = session.sync_session
    within = sync.get_nested_transaction() or sync.get_transaction()
    session.info.setdefault(PENDING, []).append(
        Pending(uuid7(), event_type, object_type, object_id, enterprise_id, data, recipients, within)
    )


def _inside(transaction: Any, ended: Any) -> bool:
    while transaction is not None:
        if transaction is ended:
            return True
        transaction = transaction.parent
    return False


def _forget_rolled_back(session: Session, previous_transaction: Any) -> None:
    """A rolled-back transaction or savepoint takes the events of its changes with it."""
    pending: list[Pending] | None = session.info.get(PENDING)
    if pending:
        session.info[PENDING] = [event for event in pending if not _inside(event.within, previous_transaction)]


def note_progress(session: AsyncSession, enterprise_ids: Iterable[UUID]) -> None:
    """The records of these enterprises were recomputed in this transaction."""
    session.info.setdefault(REFRESHED, set()).update(enterprise_ids)


def _body(event: Pending, occurred_at: str) -> str:
    return orjson.dumps(
        {
            "id": str(event.id),
            "type": event.type,
            "occurred_at": occurred_at,
            "subject": {"type": event.subject_type, "id": str(event.subject_id)},
            "data": event.data,
        }
    ).decode()


PROGRESS_EVENTS = sa.text(
    """
    INSERT INTO events (id, type, occurred_at, subject_type, subject_id, enterprise_id, request_id, body)
    SELECT k.id, 'progress.updated', k.at, 'enterprise', k.enterprise_id, k.enterprise_id, :request_id,
           '{"id":"' || k.id || '","type":"progress.updated","occurred_at":"'
           || to_char(k.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
           || '","subject":{"type":"enterprise","id":"' || k.enterprise_id || '"},"data":' || k.body || '}'
    FROM (SELECT gen_random_uuid() AS id, clock_timestamp() AS at, p.enterprise_id, p.body
          FROM progress_records p
          WHERE p.enterprise_id = ANY(CAST(:ids AS uuid[]))
          ORDER BY p.enterprise_id) k
    RETURNING seq, type, enterprise_id
    """
).columns(sa.column("seq", sa.BigInteger), sa.column("type", sa.String), sa.column("enterprise_id", sa.Uuid))
"""The `progress.updated` events of refreshed records: the record's stored JSON text is the
event's `data`, so the event shows the record exactly as the progress endpoint serves it (the
text is spliced in, not parsed again: records are ~14 KB)."""


NOTED_EVENTS = sa.text(
    """
    INSERT INTO events (id, type, occurred_at, subject_type, subject_id, enterprise_id, request_id, body)
    SELECT * FROM unnest(CAST(:ids AS uuid[]), CAST(:types AS text[]), CAST(:occurred AS timestamptz[]),
                         CAST(:subject_types AS text[]), CAST(:subject_ids AS uuid[]),
                         CAST(:enterprise_ids AS uuid[]), CAST(:request_ids AS text[]), CAST(:bodies AS text[]))
    RETURNING seq, id, type
    """
).columns(sa.column("seq", sa.BigInteger), sa.column("id", sa.Uuid), sa.column("type", sa.String))
"""The events noted in the transaction, in one statement."""

ENDPOINTS = WebhookEndpoint.__table__  # type: ignore[attr-defined]


def _publish(new: Any, audience: Any) -> Any:
    """One statement that, given the inserted events (`new`: seq, type) and their recipients
    (`audience`: seq, recipient), stores the recipients, queues a delivery for every enabled
    endpoint subscribed to the type whose organisation is a recipient (or that has none: an
    admin's), and notifies the workers when it queued any."""
    recipients = sa.insert(EVENT_RECIPIENTS).from_select(
        ["recipient", "seq"], sa.select(audience.c.recipient, audience.c.seq)
    )
    hears = sa.exists().where(audience.c.seq == new.c.seq, audience.c.recipient == ENDPOINTS.c.organisation_id)
    subscribed = sa.and_(ENDPOINTS.c.enabled, new.c.type == ENDPOINTS.c.event_types.any_())
    queued = (
        sa.insert(DELIVERIES)
        .from_select(
            ["endpoint_id", "event_seq"],
            sa.select(ENDPOINTS.c.id, new.c.seq)
            .select_from(new.join(ENDPOINTS, subscribed))
            .where(sa.or_(ENDPOINTS.c.organisation_id.is_(None), hears)),
        )
        .returning(DELIVERIES.c.id)
        .cte("queued")
    )
    first = sa.select(queued.c.id).limit(1).subquery()
    return sa.select(sa.func.pg_notify(NOTIFY_CHANNEL, "")).select_from(first).add_cte(recipients.cte("recipients"))


def _noted_events(pending: list[Pending], request_id: str | None) -> Any:
    """The noted events, their recipients and deliveries: one statement."""
    rows = _rows(pending, request_id)
    new = NOTED_EVENTS.bindparams(
        ids=[row["id"] for row in rows],
        types=[row["type"] for row in rows],
        occurred=[row["occurred_at"] for row in rows],
        subject_types=[row["subject_type"] for row in rows],
        subject_ids=[row["subject_id"] for row in rows],
        enterprise_ids=[row["enterprise_id"] for row in rows],
        request_ids=[row["request_id"] for row in rows],
        bodies=[row["body"] for row in rows],
    ).cte("new")
    pairs = [(event.id, recipient) for event in pending for recipient in sorted(event.recipients)]
    listed = (
        sa.func.unnest(
            sa.bindparam("recipient_events", [pair[0] for pair in pairs], type_=ARRAY(sa.Uuid)),
            sa.bindparam("recipient_keys", [pair[1] for pair in pairs], type_=ARRAY(sa.Uuid)),
        )
        .table_valued("event_id", "recipient")
        .render_derived(name="listed")
    )
    audience = (
        sa.select(new.c.seq, listed.c.recipient)
        .select_from(new.join(listed, listed.c.event_id == new.c.id))
        .cte("audience")
    )
    return _publish(new, audience)


def _progress_events(ids: list[str], request_id: str | None) -> Any:
    """The `progress.updated` events of these records, their recipients (each record's
    audience) and deliveries: one statement."""
    new = PROGRESS_EVENTS.bindparams(ids=ids, request_id=request_id).cte("new")
    of_record = sa.lateral(access.enterprise_audience(new.c.enterprise_id, buyers=True, experts=True), "a")
    audience = (
        sa.select(new.c.seq, of_record.c.recipient)
        .select_from(new.join(of_record, sa.true()))
        .where(of_record.c.recipient.is_not(None))
        .distinct()
        .cte("audience")
    )
    return _publish(new, audience)


def _rows(pending: list[Pending], request_id: str | None) -> list[dict[str, Any]]:
    """The `events` rows of noted events, stamped now (right before their commit)."""
    now = utcnow()
    stamp = now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return [
        {
            "id": event.id,
            "type": event.type,
            "occurred_at": now,
            "subject_type": event.subject_type,
            "subject_id": event.subject_id,
            "enterprise_id": event.enterprise_id,
            "request_id": request_id,
            "body": _body(event, stamp),
        }
        for event in pending
    ]


async def publish_pending(session: AsyncSession) -> None:
    """Write the events noted in this transaction, their recipients and their webhook
    deliveries (runs right before commit, after the progress refresh)."""
    pending: list[Pending] = session.info.pop(PENDING, [])
    refreshed: set[UUID] = session.info.pop(REFRESHED, set())
    if not pending and not refreshed:
        return
    await locking.commit_order_lock(session)
    request_id = request_id_var.get()
    if pending:
        await session.exec(_noted_events(pending, request_id))  # type: ignore[call-overload]
    if refreshed:
        await session.exec(_progress_events([str(i) for i in sorted(refreshed)], request_id))  # type: ignore[call-overload]


async def ping(session: AsyncSession, endpoint_id: UUID) -> tuple[UUID, UUID]:
    """A `webhook.ping` event for one endpoint only (it is in no one's feed), and its delivery."""
    await locking.commit_order_lock(session)
    data = {"endpoint_id": str(endpoint_id)}
    event = Pending(uuid7(), EventType.webhook_ping.value, "webhook_endpoint", endpoint_id, None, data)
    [row] = _rows([event], request_id_var.get())
    seq = (await session.exec(sa.insert(EVENTS).values(row).returning(EVENTS.c.seq))).one()[0]  # type: ignore[call-overload]
    delivery = (
        await session.exec(  # type: ignore[call-overload]
            sa.insert(DELIVERIES).values(endpoint_id=endpoint_id, event_seq=seq).returning(DELIVERIES.c.id)
        )
    ).one()[0]
    await session.exec(sa.text(f"NOTIFY {NOTIFY_CHANNEL}"))  # type: ignore[call-overload]
    return event.id, delivery


def install() -> None:
    """Register `publish_pending` as a before-commit step. Called at start-up after
    `progress.install()` (the events of refreshed records need the refresh first)."""
    from app.db import ProgrammeSyncSession, before_commit

    if not sa_event.contains(ProgrammeSyncSession, "after_soft_rollback", _forget_rolled_back):
        sa_event.listen(ProgrammeSyncSession, "after_soft_rollback", _forget_rolled_back)
    before_commit(publish_pending)


# --- The feed


def _fingerprint(principal: Principal, types: Sequence[EventType]) -> str:
    return fingerprint(principal.key, FEED_PATH, [("types", ",".join(sorted(t.value for t in types)))])


async def feed(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    after: str | None,
    types: Sequence[EventType],
    limit: int,
) -> tuple[list[str], str, bool]:
    """The caller's events after the cursor, oldest first: their JSON texts, the cursor to
    resume from (always one), and whether more are waiting."""
    access.require(principal, access.Resource.events, access.Action.read)
    mark = _fingerprint(principal, types)
    decoded = decode_cursor(settings, after, mark, [int])
    position: int = decoded[0] if decoded else 0
    state = (await session.exec(sa.select(EVENT_LOG_STATE.c.pruned_through))).first()  # type: ignore[call-overload]
    pruned = state[0] if state is not None else 0
    if decoded is not None and position < pruned:
        raise CursorExpired(
            f"events before this cursor were removed (kept {settings.event_retention_days} days): "
            "resynchronise in full, then follow the feed from its start"
        )
    query = (
        sa.select(EVENTS.c.seq, EVENTS.c.body).where(EVENTS.c.seq > position).order_by(EVENTS.c.seq).limit(limit + 1)
    )
    if principal.is_admin:
        query = query.where(EVENTS.c.type != EventType.webhook_ping.value)
    else:
        key = access.event_recipient_key(principal)
        query = query.join(EVENT_RECIPIENTS, EVENT_RECIPIENTS.c.seq == EVENTS.c.seq).where(
            EVENT_RECIPIENTS.c.recipient == key
        )
    if types:
        query = query.where(EVENTS.c.type.in_([t.value for t in types]))
    rows = (await session.exec(query)).all()  # type: ignore[call-overload]
    more = len(rows) > limit
    rows = rows[:limit]
    if rows:
        position = rows[-1].seq
    return [row.body for row in rows], encode_cursor(settings, mark, [position]), more


async def prune(session: AsyncSession, retention_days: int, chunk: int = 10_000) -> int:
    """Remove one chunk of the events older than the retention (a prefix of the numbers, with
    their recipients and deliveries); returns how many went."""
    cutoff = utcnow() - timedelta(days=retention_days)
    last = (
        await session.exec(sa.select(sa.func.max(EVENTS.c.seq)).where(EVENTS.c.occurred_at < cutoff))  # type: ignore[call-overload]
    ).one()[0]
    if last is None:
        return 0
    first = (await session.exec(sa.select(sa.func.min(EVENTS.c.seq)))).one()[0]  # type: ignore[call-overload]
    through = min(last, first + chunk - 1)
    removed = await session.exec(sa.delete(EVENTS).where(EVENTS.c.seq <= through))  # type: ignore[call-overload]
    upsert = pg_insert(EVENT_LOG_STATE).values(id=1, pruned_through=through)
    await session.exec(  # type: ignore[call-overload]
        upsert.on_conflict_do_update(
            index_elements=[EVENT_LOG_STATE.c.id],
            set_={"pruned_through": sa.func.greatest(EVENT_LOG_STATE.c.pruned_through, through)},
        )
    )
    return int(removed.rowcount or 0)
