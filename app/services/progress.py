"""Progress records: kept current on every write, read as pre-built JSON.

Keeping them current. A `before_flush` listener notes the enterprise of every object written
in a session (anything with an `enterprise_id`, the enterprise itself, a training's enrolled
enterprises, or everything when reference data changes). Right before the transaction
commits (`app.db.ProgrammeSession.commit`), `refresh_pending` recomputes those records in one
SQL statement. Both are registered by `install()` at start-up, not on import.

Why incremental sync misses nothing. The refresh first takes one transaction-scoped advisory
lock (after the enterprises' key-share locks; the lock order is in locking.py) and only then
stamps `updated_at` (`clock_timestamp()`, kept strictly increasing); the lock is held until
commit. So a later stamp always belongs to a later commit: whatever a reader sees is a
prefix of the stamps, and a record that commits after the reader looked carries a stamp
above everything it saw. Asking again with `updated_since` = the highest
`updated_at` received (inclusive) therefore returns every change, at the cost of
serialising the short final step of writes that touch progress.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import re
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from functools import cache
from typing import Any, cast
from uuid import UUID

import asyncpg
import orjson
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects.postgresql import ARRAY, DOUBLE_PRECISION, JSONB, aggregate_order_by
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement, Select
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.db import ProgrammeSyncSession, ReadOnly, before_commit
from app.errors import NotFound, ServiceUnavailable, Unauthorized
from app.http import etag_matches
from app.models.api_clients import ApiClient
from app.models.attachments import Attachment
from app.models.enterprises import Enterprise
from app.models.enums import MetricKind
from app.models.progress import ProgressRecord
from app.models.reference import EmissionFactor, Metric
from app.models.trainings import Enrollment, Training
from app.models.types import Role
from app.models.users import User
from app.pagination import PARSERS
from app.principal import Principal
from app.security import PrincipalKind, TokenClaims
from app.services import events, locking, progress_sql
from app.services.access import Action, Resource, require, visible_enterprise_ids, visible_enterprises
from app.services.auth import live_principal, principal_row
from app.services.locking import share_enterprises

DIRTY = "progress_dirty"
ALL = "progress_all"


def _note(session: Session, objects: Iterable[Any]) -> bool:
    dirty: set[UUID] = session.info.setdefault(DIRTY, set())
    trainings: set[UUID] = session.info.setdefault("progress_trainings", set())
    noted = False
    for obj in objects:
        if isinstance(obj, Enterprise):
            dirty.add(obj.id)
        elif isinstance(obj, Metric | EmissionFactor):
            session.info[ALL] = True
        elif isinstance(obj, Training):
            trainings.add(obj.id)
        elif (enterprise_id := getattr(obj, "enterprise_id", None)) is not None and not isinstance(
            obj, ProgressRecord | Attachment
        ):
            dirty.add(enterprise_id)
        else:
            continue
        noted = True
    return noted


def _collect(session: Session, _ctx: Any, _instances: Any) -> None:
    if _note(session, [*session.new, *session.dirty, *session.deleted]):
        session.info["progress_pending"] = True


async def refresh_pending(session: AsyncSession) -> None:
    """Recompute the records noted in this transaction (runs right before commit)."""
    if session.new or session.dirty or session.deleted:
        await session.flush()
    info = session.info
    if not info.pop("progress_pending", False):
        return
    ids: set[UUID] = info.pop(DIRTY, set())
    trainings: set[UUID] = info.pop("progress_trainings", set())
    everything = info.pop(ALL, False)
    if trainings:
        enrolled = select(Enrollment.enterprise_id).where(Enrollment.training_id.in_(trainings))  # type: ignore[attr-defined]
        ids.update((await session.exec(enrolled)).all())
    if everything:
        ids.update((await session.exec(select(Enterprise.id))).all())
    await refresh(session, ids)


def install() -> None:
    """Keep progress records current in every `ProgrammeSession` of the process: note what a
    flush writes, refresh the noted records right before commit. Called at start-up
    (`create_app`, the CLI's `open_database`); calling it again changes nothing."""
    if not event.contains(ProgrammeSyncSession, "before_flush", _collect):
        event.listen(ProgrammeSyncSession, "before_flush", _collect)
    before_commit(refresh_pending)


async def refresh(session: AsyncSession, enterprise_ids: Iterable[UUID]) -> None:
    """Recompute and stamp these records, taking the locks of step 3 in locking.py: the
    enterprises (`FOR KEY SHARE`), then the progress lock, then the records."""
    ids = sorted(set(enterprise_ids))
    if not ids:
        return
    await share_enterprises(session, ids)
    await locking.commit_order_lock(session)
    for start in range(0, len(ids), 2000):
        chunk = [str(i) for i in ids[start : start + 2000]]
        await session.exec(sa.text(progress_sql.UPSERT).bindparams(ids=chunk))  # type: ignore[call-overload]
    events.note_progress(session, ids)


async def outdated(session: AsyncSession, limit: int) -> list[UUID]:
    """Enterprises whose record an older formula built (`progress_sql.FORMULA`), at most `limit`."""
    query = (
        select(ProgressRecord.enterprise_id)
        .where(ProgressRecord.formula < progress_sql.FORMULA)
        .order_by(RECORDS.c.enterprise_id)
        .limit(limit)
    )
    return list((await session.exec(query)).all())


async def get_record(session: AsyncSession, principal: Principal, enterprise_id: UUID) -> bytes:
    """One enterprise's record as JSON bytes (computed live if it was never stored)."""
    return (await get_stored(session, principal, enterprise_id))[0]


async def get_stored(session: AsyncSession, principal: Principal, enterprise_id: UUID) -> tuple[bytes, datetime]:
    """One enterprise's record as JSON bytes and its `updated_at` (computed and stored first if
    it was never stored). One statement checks visibility and reads the stored text (no ORM
    object is loaded)."""
    require(principal, Resource.progress, Action.read)
    query = (
        select(Enterprise.id, ProgressRecord.body, ProgressRecord.updated_at)
        .select_from(Enterprise)
        .outerjoin(ProgressRecord, ProgressRecord.enterprise_id == Enterprise.id)  # type: ignore[arg-type]
        .where(Enterprise.id == enterprise_id, visible_enterprises(principal))
    )
    found = (await session.exec(query)).first()
    if found is None:
        raise NotFound("enterprise not found")
    _, stored, updated_at = found
    if stored is None:
        await refresh(session, [enterprise_id])
        stored_now = select(ProgressRecord.body, ProgressRecord.updated_at).where(
            ProgressRecord.enterprise_id == enterprise_id
        )
        stored, updated_at = (await session.exec(stored_now)).one()
    return str(stored).encode(), updated_at


def visible_keys(principal: Principal) -> Any:
    query = select(ProgressRecord.updated_at, ProgressRecord.enterprise_id)
    if not principal.is_admin:
        query = query.where(ProgressRecord.enterprise_id.in_(visible_enterprise_ids(principal)))  # type: ignore[attr-defined]
    return query


LARGE_PAGE = 100
"""Pages with more records than this are built a few at a time (see `list_records`)."""
LARGE_PAGE_WAIT_SECONDS = 10.0

BODIES = sa.text(
    "SELECT convert_to(p.body, 'UTF8') FROM unnest(:ids, :stamps) WITH ORDINALITY AS k(id, at, n)"
    " JOIN progress_records p ON p.enterprise_id = k.id AND p.updated_at = k.at ORDER BY k.n"
).bindparams(
    sa.bindparam("ids", type_=ARRAY(sa.Uuid())),
    sa.bindparam("stamps", type_=ARRAY(sa.DateTime(timezone=True))),
)
"""The record text of a page's keys, in their order, as UTF-8 bytes (no decoding into `str` and
encoding back: a page is megabytes). Only a record still at the stamp its key carried is read:
one re-stamped since the keys were read is left out of this page (it will come at its new,
higher place in the order), so a page never shows a stamp newer than writes the client has not
yet seen — its `updated_at` watermark stays safe."""


@dataclass(frozen=True, slots=True)
class Statement:
    """A read compiled once for PostgreSQL's driver: its SQL and the name behind each
    positional parameter; values the expressions carry themselves (e.g. the `active` link
    status) are `fixed`."""

    sql: str
    names: tuple[str, ...]
    fixed: dict[str, Any]

    @classmethod
    def of(cls, query: Any) -> Statement:
        compiled = query.compile(dialect=asyncpg_dialect())  # type: ignore[no-untyped-call]
        fixed = {name: _plain(value) for name, value in compiled.params.items() if value is not None}
        return cls(compiled.string, tuple(compiled.positiontup or ()), fixed)

    def args(self, values: dict[str, Any]) -> list[Any]:
        return [values[name] if name in values else self.fixed.get(name) for name in self.names]


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


def caller(kind: PrincipalKind, role: Role) -> tuple[Any, Principal]:
    """The caller of a read whose own statement checks it: `me`, the row of the token's account
    if it is live (`auth.principal_row`: active, at the token's `auth_version`, its login not
    ended) and has the token's role; and the principal that is `me`'s columns, so that the
    visibility rules (`access.visible_enterprise_ids`) read the caller from that statement.
    The token's claims are the statement's parameters `subject`, `version` and `family`."""
    model: Any = User if kind == "user" else ApiClient
    row = principal_row(kind, sa.bindparam("subject"), sa.bindparam("version"), sa.bindparam("family", type_=sa.Uuid()))
    me = row.add_columns(model.id).where(model.role == role).cte("me")
    column = [sa.select(c).scalar_subquery() for c in me.c]
    principal = Principal(
        kind=kind,
        id=cast(UUID, column[3]),
        role=role,
        organisation_id=cast(UUID, column[1]),
        enterprise_id=cast(UUID, column[2]),
    )
    return me, principal


def claim_values(claims: TokenClaims) -> dict[str, Any]:
    return {"subject": claims.subject, "version": claims.version, "family": claims.family_id}


@cache
def record_statement(kind: PrincipalKind, role: Role) -> Statement:
    """`body, updated_at` of the record `enterprise_id` if the caller may see it; no row when
    the caller is not live, one of NULLs when the record is not found."""
    me, principal = caller(kind, role)
    record = select(ProgressRecord.body, ProgressRecord.updated_at).where(
        ProgressRecord.enterprise_id == sa.bindparam("enterprise_id", type_=sa.Uuid())
    )
    if not principal.is_admin:
        record = record.where(ProgressRecord.enterprise_id.in_(visible_enterprise_ids(principal)))  # type: ignore[attr-defined]
    found = record.subquery("r")
    return Statement.of(sa.select(found.c.body, found.c.updated_at).select_from(me.outerjoin(found, sa.true())))


def _principal(claims: TokenClaims) -> Principal:
    """The caller as the token names it (role and organisation: neither changes for an account)."""
    principal = Principal(
        kind=claims.kind, id=claims.subject, role=Role(claims.role), organisation_id=claims.organisation_id
    )
    require(principal, Resource.progress, Action.read)
    return principal


async def read_record(reads: ReadOnly, claims: TokenClaims, enterprise_id: UUID) -> tuple[bytes, datetime]:
    """An enterprise's record and its `updated_at`, in one statement that also checks the
    caller (401) and what it may see. A record not found that way (hidden, no such enterprise,
    or never stored) is left to `get_stored` in a transaction: 404, or computed and stored."""
    principal = _principal(claims)
    stmt = record_statement(claims.kind, principal.role)
    values = claim_values(claims)
    values["enterprise_id"] = enterprise_id
    row = await reads.connection.fetchrow(stmt.sql, *stmt.args(values))
    if row is None:
        raise Unauthorized("the access token is no longer valid")
    if row[0] is not None:
        return row[0].encode(), row[1]
    async with reads.writing() as session:
        return await get_stored(session, await live_principal(session, claims), enterprise_id)


KEYS = (ProgressRecord.updated_at, ProgressRecord.enterprise_id)
KEY_PARSERS = [PARSERS[datetime], PARSERS[UUID]]


@cache
def page_statement(kind: PrincipalKind, role: Role, country: bool, sector: bool, since: bool, after: bool) -> Statement:
    """`updated_at, enterprise_id` of one page (at most `n` keys, after `after_at, after_id`);
    no row when the caller is not live, one of NULLs when the page is empty."""
    me, principal = caller(kind, role)
    query = visible_keys(principal)
    if country:
        query = query.where(ProgressRecord.country == sa.bindparam("country", type_=sa.String()))
    if sector:
        query = query.where(ProgressRecord.sector == sa.bindparam("sector", type_=sa.String()))
    if since:
        query = query.where(ProgressRecord.updated_at >= sa.bindparam("since", type_=sa.DateTime(timezone=True)))
    if after:
        after_key = (
            sa.bindparam("after_at", type_=sa.DateTime(timezone=True)),
            sa.bindparam("after_id", type_=sa.Uuid()),
        )
        query = query.where(sa.tuple_(*KEYS) > sa.tuple_(*after_key))
    found = query.order_by(*KEYS).limit(sa.bindparam("n", type_=sa.Integer())).subquery("k")
    keyed = (
        sa.select(found.c.updated_at, found.c.enterprise_id)
        .select_from(me.outerjoin(found, sa.true()))
        .order_by(found.c.updated_at, found.c.enterprise_id)
    )
    return Statement.of(keyed)


@dataclass(frozen=True, slots=True)
class ProgressPage:
    items: list[bytes]
    last: tuple[datetime, UUID] | None
    """The key after which the next page starts; None on the last page."""
    etag: str
    """From what identifies the page's content: its keys (records are immutable per
    `updated_at`), whether more follow, the list's fingerprint (caller, path, filters) and the
    representation; no byte of the records is hashed."""
    modified: bool = True
    """False when `If-None-Match` named the ETag (304): the records were not read."""


def page_etag(fingerprint: str, keys: Sequence[tuple[datetime, UUID]], more: bool, media_type: str) -> str:
    digest = hashlib.sha256(f"{fingerprint}|{media_type}|{more}".encode())
    for at, enterprise_id in keys:
        digest.update(f"|{at.isoformat()},{enterprise_id}".encode())
    return f'"{digest.hexdigest()[:24]}"'


@dataclass(frozen=True, slots=True)
class PageQuery:
    """What the caller asked for: the validated query, and where it asked (for the cursor)."""

    limit: int
    after: list[Any] | None
    fingerprint: str
    country: str | None
    sector: str | None
    updated_since: datetime | None


async def read_page(
    reads: ReadOnly,
    claims: TokenClaims,
    query: PageQuery,
    large_pages: asyncio.Semaphore,
    media_type: str,
    if_none_match: str | None,
) -> ProgressPage:
    """A page of records in (updated_at, enterprise_id) order, as JSON bytes; not `modified`
    when `if_none_match` names its ETag (304: the records are not read).

    Two statements: the page's keys (an index range; the caller's check in the same
    statement: 401 when no row comes back), then the record text of those rows only, at the
    stamps the keys carried (see `BODIES`: the page is as of the keys' snapshot). Reading and
    encoding a large page's text (500 records are ~4 MB) takes the database and this process a
    while; `large_pages` lets only a few such pages do so at once, so that small reads — an
    incremental pull of recent changes, a single record — are not queued behind a bulk sync."""
    principal = _principal(claims)
    stmt = page_statement(
        claims.kind,
        principal.role,
        query.country is not None,
        query.sector is not None,
        query.updated_since is not None,
        query.after is not None,
    )
    values = claim_values(claims)
    values.update(n=query.limit + 1, country=query.country, sector=query.sector, since=query.updated_since)
    if query.after is not None:
        values["after_at"], values["after_id"] = query.after
    rows = await reads.connection.fetch(stmt.sql, *stmt.args(values))
    if not rows:
        raise Unauthorized("the access token is no longer valid")
    keys: list[tuple[datetime, UUID]] = [(row[0], row[1]) for row in rows if row[1] is not None]
    more = len(keys) > query.limit
    keys = keys[: query.limit]
    etag = page_etag(query.fingerprint, keys, more, media_type)
    last = keys[-1] if more else None
    if if_none_match and etag_matches(if_none_match, etag):
        return ProgressPage([], last, etag, modified=False)
    if len(keys) <= LARGE_PAGE:
        return ProgressPage(await _bodies(reads.connection, keys), last, etag)
    await take_turn(large_pages)
    try:
        return ProgressPage(await _bodies(reads.connection, keys), last, etag)
    finally:
        large_pages.release()


async def take_turn(large_pages: asyncio.Semaphore) -> None:
    """Wait for a turn to read a large page; 503 after LARGE_PAGE_WAIT_SECONDS (the request
    holds a database connection meanwhile, which must not wait without bound)."""
    try:
        async with asyncio.timeout(LARGE_PAGE_WAIT_SECONDS):
            await large_pages.acquire()
    except TimeoutError as exc:
        raise ServiceUnavailable("too many large pages are being read; retry shortly") from exc


BODIES_STATEMENT = Statement.of(BODIES)


async def _bodies(connection: asyncpg.Connection, keys: list[tuple[datetime, UUID]]) -> list[bytes]:
    if not keys:
        return []
    values = {"ids": [key[1] for key in keys], "stamps": [key[0] for key in keys]}
    rows = await connection.fetch(BODIES_STATEMENT.sql, *BODIES_STATEMENT.args(values))
    return [row[0] for row in rows]


def page_bytes(items: list[bytes], next_cursor: str | None) -> bytes:
    """`{"items":[...],"next_cursor":...}` in one copy: a page is megabytes, and every
    intermediate `+` would allocate (and fault in) another buffer of that size."""
    parts = [b'{"items":[']
    for item in items:
        parts += (item, b",")
    if items:
        parts.pop()
    parts += (b'],"next_cursor":', orjson.dumps(next_cursor), b"}")
    return b"".join(parts)


CSV_COLUMNS = [
    "enterprise_id",
    "enterprise_name",
    "country",
    "sector",
    "updated_at",
    "metric",
    "unit",
    "direction",
    "ghg_scope",
    "baseline_value",
    "baseline_per_year",
    "baseline_period_start",
    "baseline_period_end",
    "latest_value",
    "latest_per_year",
    "latest_period_start",
    "latest_period_end",
    "latest_verified",
    "change_abs",
    "change_pct",
    "improved",
    "baseline_tco2e_per_year",
    "latest_tco2e_per_year",
    "reduction_tco2e_per_year",
]


def _csv_rows(record: dict[str, Any]) -> list[list[Any]]:
    """One row per metric. The tCO2e cells are the row's own metric's figures where the totals
    count it (a baseline and a latest tCO2e), else empty: a column's sum is the enterprise's
    total (the record apportions the rounding so that they add up exactly)."""
    ent = record["enterprise"]
    head = [ent["id"], ent["name"], ent["country"], ent["sector"], record["updated_at"]]
    metrics = record["metrics"] or [None]
    rows = []
    for m in metrics:
        if m is None:
            rows.append(head + [None] * 19)
            continue
        b, latest, tco2e = m["baseline"] or {}, m["latest"] or {}, m.get("tco2e") or {}
        bt, lt = tco2e.get("baseline_per_year"), tco2e.get("latest_per_year")
        rows.append(
            head
            + [m["metric"], m["unit"], m["direction"], m.get("ghg_scope")]
            + [b.get("value"), b.get("per_year"), b.get("period_start"), b.get("period_end")]
            + [
                latest.get("value"),
                latest.get("per_year"),
                latest.get("period_start"),
                latest.get("period_end"),
                latest.get("verified"),
            ]
            + [m["change_abs"], m["change_pct"], m["improved"]]
            + ([bt, lt, round(bt - lt, 2)] if bt is not None and lt is not None else [None, None, None])
        )
    return rows


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?([eE][+-]?\d+)?")


def _cell(value: Any) -> Any:
    """JSON spelling for booleans and nulls, so CSV and JSON read the same. Text that a
    spreadsheet would run as a formula (starting with = + - @, a tab or a carriage return, as an
    enterprise named `=HYPERLINK(…)` would) gets a leading `'`; numbers stay numbers."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def csv_lines(items: list[bytes], header: bool) -> bytes:
    """One CSV row per enterprise and metric (an enterprise without metrics gets one row)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if header:
        writer.writerow(CSV_COLUMNS)
    for item in items:
        writer.writerows([_cell(v) for v in row] for row in _csv_rows(orjson.loads(item)))
    return buffer.getvalue().encode()


async def stream_csv(items: list[bytes]) -> AsyncIterator[bytes]:
    for start in range(0, len(items), 100):
        yield csv_lines(items[start : start + 100], header=start == 0)
    if not items:
        yield csv_lines([], header=True)


RECORDS: sa.Table = ProgressRecord.__table__  # type: ignore[attr-defined]
FLOAT8: DOUBLE_PRECISION[float] = DOUBLE_PRECISION()


JSON_NULL = sa.cast(sa.literal("null", sa.Text), JSONB)
"""JSON's `null` (a key present without a value), not SQL's NULL."""


def _rounded(value: Any) -> Any:
    """`round(value::numeric, 2)::float8`: two decimals, answered as a JSON number."""
    return sa.cast(sa.func.round(sa.cast(value, sa.Numeric), 2), FLOAT8)


def _median(value: Any) -> Any:
    return _rounded(sa.func.percentile_cont(sa.literal(0.5, FLOAT8)).within_group(value))


def portfolio_query(scope: ColumnElement[bool]) -> Select[tuple[str]]:
    """The portfolio of the records within `scope`, as JSON text: one statement, aggregated
    in PostgreSQL from the stored records."""
    rec = sa.select(RECORDS.c.record).where(scope).cte("rec")
    metrics = sa.func.jsonb_array_elements(rec.c.record["metrics"]).table_valued(sa.column("value", JSONB)).alias("x")
    x = metrics.c.value
    catalogue: sa.Table = Metric.__table__  # type: ignore[attr-defined]
    m = (
        sa.select(
            x["metric"].astext.label("metric"),
            (catalogue.c.kind == MetricKind.flow).label("flow"),
            x["unit"].astext.label("unit"),
            x["direction"].astext.label("direction"),
            sa.cast(x["change_abs"].astext, FLOAT8).label("change_abs"),
            sa.cast(x["change_pct"].astext, FLOAT8).label("change_pct"),
            sa.cast(x["improved"].astext, sa.Boolean).label("improved"),
        )
        .select_from(rec)
        .join(metrics, sa.true())
        .join(catalogue, catalogue.c.code == x["metric"].astext)
        .where(x["baseline"] != JSON_NULL, x["latest"] != JSON_NULL)
        .cte("m")
    )
    per_metric = (
        sa.select(
            m.c.metric,
            sa.func.min(m.c.unit).label("unit"),
            sa.func.min(m.c.direction).label("direction"),
            sa.func.count().label("measured"),
            sa.func.count().filter(m.c.improved).label("improved"),
            # a sum of percentages means nothing: level metrics get medians and counts only
            _rounded(sa.func.sum(m.c.change_abs).filter(m.c.flow)).label("total_abs"),
            _median(m.c.change_abs).label("median_abs"),
            _median(m.c.change_pct).label("median_pct"),
        )
        .group_by(m.c.metric)
        .cte("per_metric")
    )
    completed = rec.c.record["programme"]["modules_completed"]
    each_module = sa.func.jsonb_array_elements_text(completed).table_valued("value").alias("x")
    modules = (
        sa.select(each_module.c.value.label("module"), sa.func.count().label("n"))
        .select_from(rec)
        .join(each_module, sa.true())
        .group_by(each_module.c.value)
        .cte("modules")
    )
    by_status = sa.func.jsonb_each_text(rec.c.record["ideas"]["by_status"]).table_valued("k", "v").render_derived("e")
    ideas = (
        sa.select(by_status.c.k.label("status"), sa.func.sum(sa.cast(by_status.c.v, sa.Integer)).label("n"))
        .select_from(rec)
        .join(by_status, sa.true())
        .group_by(by_status.c.k)
        .cte("ideas")
    )
    metric_object = sa.func.jsonb_build_object(
        "metric", per_metric.c.metric,
        "unit", per_metric.c.unit,
        "direction", per_metric.c.direction,
        "enterprises_measured", per_metric.c.measured,
        "enterprises_improved", per_metric.c.improved,
        "total_change_abs", per_metric.c.total_abs,
        "median_change_abs", per_metric.c.median_abs,
        "median_change_pct", per_metric.c.median_pct,
    )  # fmt: skip
    reduction = rec.c.record["emissions"]["reduction_tco2e_per_year"].astext
    emissions = rec.c.record["emissions"]
    each_scope = sa.func.jsonb_array_elements(emissions["by_scope"]).table_valued(sa.column("value", JSONB)).alias("s")
    sv = each_scope.c.value
    scopes = (
        sa.select(
            sa.cast(sv["scope"].astext, sa.Integer).label("scope"),
            sa.func.count().label("n"),
            sa.func.sum(sa.cast(sv["baseline_tco2e_per_year"].astext, sa.Numeric)).label("b"),
            sa.func.sum(sa.cast(sv["latest_tco2e_per_year"].astext, sa.Numeric)).label("l"),
        )
        .select_from(rec)
        .join(each_scope, sa.true())
        .group_by(sa.text("1"))
        .cte("scopes")
    )
    scope_object = sa.func.jsonb_build_object(
        "scope", scopes.c.scope,
        "enterprises", scopes.c.n,
        "baseline_tco2e_per_year", sa.cast(scopes.c.b, FLOAT8),
        "latest_tco2e_per_year", sa.cast(scopes.c.l, FLOAT8),
        "reduction_tco2e_per_year", sa.cast(scopes.c.b - scopes.c.l, FLOAT8),
    )  # fmt: skip
    ix = emissions["intensity"]
    intensities = (
        sa.select(
            ix["output_unit"].astext.label("unit"),
            sa.func.count().label("n"),
            _median(sa.cast(ix["baseline_kg_co2e_per_unit"].astext, FLOAT8)).label("b"),
            _median(sa.cast(ix["latest_kg_co2e_per_unit"].astext, FLOAT8)).label("l"),
            _median(sa.cast(ix["change_pct"].astext, FLOAT8)).label("pct"),
        )
        .select_from(rec)
        .where(ix != JSON_NULL)
        .group_by(sa.text("1"))
        .cte("intensities")
    )
    intensity_object = sa.func.jsonb_build_object(
        "output_unit", intensities.c.unit,
        "enterprises", intensities.c.n,
        "median_baseline_kg_co2e_per_unit", intensities.c.b,
        "median_latest_kg_co2e_per_unit", intensities.c.l,
        "median_change_pct", intensities.c.pct,
    )  # fmt: skip
    body = sa.func.jsonb_build_object(
        "enterprises", sa.select(sa.func.count()).select_from(rec).scalar_subquery(),
        "modules_completed", sa.func.coalesce(
            sa.select(sa.func.jsonb_object_agg(modules.c.module, modules.c.n)).scalar_subquery(),
            sa.func.jsonb_build_object(),
        ),
        "ideas_by_status", sa.func.coalesce(
            sa.select(sa.func.jsonb_object_agg(ideas.c.status, ideas.c.n)).scalar_subquery(),
            sa.func.jsonb_build_object(),
        ),
        "metrics", sa.func.coalesce(
            sa.select(sa.func.jsonb_agg(aggregate_order_by(metric_object, per_metric.c.metric))).scalar_subquery(),
            sa.func.jsonb_build_array(),
        ),
        "total_reduction_tco2e_per_year", sa.cast(
            sa.select(sa.func.round(sa.func.sum(sa.cast(reduction, sa.Numeric)), 2)).scalar_subquery(), FLOAT8
        ),
        "by_scope", sa.func.coalesce(
            sa.select(sa.func.jsonb_agg(aggregate_order_by(scope_object, scopes.c.scope))).scalar_subquery(),
            sa.func.jsonb_build_array(),
        ),
        "intensity", sa.func.coalesce(
            sa.select(
                sa.func.jsonb_agg(aggregate_order_by(intensity_object, intensities.c.unit.nulls_last()))
            ).scalar_subquery(),
            sa.func.jsonb_build_array(),
        ),
    )  # fmt: skip
    return sa.select(sa.cast(body, sa.Text))


async def portfolio(session: AsyncSession, principal: Principal) -> bytes:
    """Aggregates over the caller's enterprises, computed in PostgreSQL from the stored records."""
    require(principal, Resource.progress, Action.read)
    scope = sa.true() if principal.is_admin else RECORDS.c.enterprise_id.in_(visible_enterprise_ids(principal))
    return str(await session.scalar(portfolio_query(scope))).encode()
