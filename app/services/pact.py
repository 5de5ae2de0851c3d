"""The PACT v3 host system's rules: who may call, which footprints a buyer sees, their issue and
deprecation, the list filters, and the events buyers send (app/routers/pact.py is the HTTP side).

Footprints are issued lazily: each read first brings the `pact_footprints` rows of the caller's
visible suppliers up to date with their progress records (`sync`). A footprint whose content
is no longer current is marked deprecated, and the new one names it in `precedingPfIds`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar
from uuid import UUID

import httpx
import orjson
import sqlalchemy as sa
from pydantic import BaseModel, ValidationError
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from app import outbound, security
from app.config import Settings
from app.errors import ProblemError
from app.ids import utcnow, uuid7
from app.models import pact as wire
from app.models.enterprises import Enterprise
from app.models.pact import (
    EVENT_FULFILLED,
    EVENT_REJECTED,
    OUTBOX,
    SPEC_VERSION,
    AnswerData,
    CloudEvent,
    FootprintCriteria,
    PactCode,
    PactFootprint,
    PublishedData,
)
from app.models.progress import ProgressRecord
from app.models.types import Role
from app.pagination import PageParams
from app.principal import Principal
from app.services import auth as auth_service
from app.services import events as events_service
from app.services import pact_mapping
from app.services.access import visible_enterprise_ids

log = logging.getLogger("app.pact")

MAX_ANSWERED = 1000
"""At most this many footprints in one RequestFulfilled event."""


class PactProblem(ProblemError):
    """An error with PACT's own code (the `/pact` routes render every error as `{code, message}`)."""

    slug: ClassVar[str] = "bad-request"

    def __init__(self, status: int, code: PactCode, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message, headers=headers)
        self.status = status  # type: ignore[misc]
        self.code = code


# --- Who may call


async def pact_principal(session: AsyncSession, settings: Settings, token: str) -> Principal:
    """The buyer behind a bearer token: 401 (`BadRequest`, or `TokenExpired`) without a valid
    one, 403 `AccessDenied` for any other role."""
    challenge = {"WWW-Authenticate": 'Bearer realm="score4climate-pact", error="invalid_token"'}
    if not token:
        raise PactProblem(
            401, PactCode.BadRequest, "an access token is required (Authorization: Bearer <token>)", challenge
        )
    try:
        claims = security.decode_token(settings, token, "access")
    except security.TokenExpired as exc:
        raise PactProblem(401, PactCode.TokenExpired, "the access token has expired; get a new one", challenge) from exc
    except security.TokenInvalid as exc:
        raise PactProblem(401, PactCode.BadRequest, "the access token is invalid", challenge) from exc
    try:
        principal = await auth_service.live_principal(session, claims)
    except ProblemError as exc:
        raise PactProblem(401, PactCode.BadRequest, "the access token is no longer valid", challenge) from exc
    if principal.role is not Role.buyer:
        raise PactProblem(403, PactCode.AccessDenied, "only lead buyers' API clients read footprints here")
    return principal


# --- Issue and deprecation


def _row(issue: pact_mapping.Issue, now: datetime, preceding: list[UUID]) -> dict[str, Any]:
    return {
        "id": issue.id,
        "enterprise_id": issue.enterprise_id,
        "period_start": issue.period_start,
        "period_end": issue.period_end,
        "content_hash": issue.content_hash,
        "body": issue.body,
        "product_keys": issue.product_keys,
        "company_keys": issue.company_keys,
        "classification_keys": issue.classification_keys,
        "geography": issue.body["pcf"]["geographyCountry"].lower(),
        "validity_start": issue.validity_start,
        "validity_end": issue.validity_end,
        "preceding_ids": preceding,
        "created_at": now,
        "deprecated_at": None,
    }


async def sync(session: AsyncSession, principal: Principal) -> None:
    """Issue the current footprints of the caller's visible suppliers and deprecate the ones
    that are no longer current. Concurrent calls issue each footprint once (its id is its
    content's)."""
    visible = visible_enterprise_ids(principal)
    query = (
        select(  # type: ignore[call-overload]
            Enterprise.id,
            Enterprise.name,
            Enterprise.country,
            Enterprise.sector,
            Enterprise.products,
            Enterprise.output_unit,
            ProgressRecord.record,
        )
        .join(ProgressRecord, ProgressRecord.enterprise_id == Enterprise.id)  # type: ignore[arg-type]
        .where(Enterprise.id.in_(visible))  # type: ignore[attr-defined]
        .order_by(Enterprise.id)
    )
    current: list[pact_mapping.Issue] = []
    for eid, name, country, sector, products, unit, record in (await session.exec(query)).all():
        enterprise = pact_mapping.Enterprise(eid, name, country, sector, products, unit)
        current.extend(pact_mapping.footprints(enterprise, record))
    issued = (
        await session.exec(
            select(PactFootprint.id, PactFootprint.enterprise_id, PactFootprint.period_start, PactFootprint.period_end)  # type: ignore[call-overload]
            .where(PactFootprint.enterprise_id.in_(visible))  # type: ignore[attr-defined]
            .order_by(PactFootprint.id)
        )
    ).all()
    current_ids = {issue.id for issue in current}
    known = {row[0] for row in issued}
    stale = sorted(row[0] for row in issued if row[0] not in current_ids)
    now = utcnow()
    fresh = [
        _row(
            issue,
            now,
            sorted(
                row[0]
                for row in issued
                if row[0] not in current_ids
                and (row[1], row[2], row[3]) == (issue.enterprise_id, issue.period_start, issue.period_end)
            ),
        )
        for issue in current
        if issue.id not in known
    ]
    if fresh:
        await session.exec(pg_insert(PactFootprint).values(fresh).on_conflict_do_nothing(index_elements=["id"]))  # type: ignore[call-overload]
    if stale:
        await session.exec(  # type: ignore[call-overload]
            sa.update(PactFootprint)
            .where(PactFootprint.id.in_(stale), PactFootprint.deprecated_at.is_(None))  # type: ignore[attr-defined,union-attr]
            .values(deprecated_at=now)
        )


# --- Reading


@dataclass(frozen=True)
class Filters:
    """The list's filters (PACT v3): within one filter any value matches, filters combine with AND."""

    product_id: Sequence[str] = ()
    company_id: Sequence[str] = ()
    geography: Sequence[str] = ()
    classification: Sequence[str] = ()
    valid_on: datetime | None = None
    valid_after: datetime | None = None
    valid_before: datetime | None = None
    status: str | None = None

    @classmethod
    def of(cls, criteria: FootprintCriteria) -> Filters:
        return cls(
            criteria.productId or (),
            criteria.companyId or (),
            criteria.geography or (),
            criteria.classification or (),
            criteria.validOn,
            criteria.validAfter,
            criteria.validBefore,
            criteria.status,
        )

    def clauses(self) -> list[Any]:
        out: list[Any] = []

        def lower(values: Sequence[str]) -> Any:
            return sa.cast([v.lower() for v in values], sa.ARRAY(sa.String()))

        if self.product_id:
            out.append(PactFootprint.product_keys.overlap(lower(self.product_id)))  # type: ignore[attr-defined]
        if self.company_id:
            out.append(PactFootprint.company_keys.overlap(lower(self.company_id)))  # type: ignore[attr-defined]
        if self.classification:
            out.append(PactFootprint.classification_keys.overlap(lower(self.classification)))  # type: ignore[attr-defined]
        if self.geography:
            out.append(PactFootprint.geography.in_([g.lower() for g in self.geography]))  # type: ignore[attr-defined]
        if self.valid_on is not None:
            columns: Any = PactFootprint.__table__.c  # type: ignore[attr-defined]
            out.append(sa.and_(columns.validity_start <= self.valid_on, columns.validity_end >= self.valid_on))
        if self.valid_after is not None:
            out.append(PactFootprint.validity_start > self.valid_after)  # type: ignore[arg-type,operator]
        if self.valid_before is not None:
            out.append(PactFootprint.validity_end < self.valid_before)  # type: ignore[arg-type,operator]
        if self.status is not None:
            match self.status.lower():
                case "active":
                    out.append(PactFootprint.deprecated_at.is_(None))  # type: ignore[union-attr]
                case "deprecated":
                    out.append(PactFootprint.deprecated_at.is_not(None))  # type: ignore[union-attr]
                case _:
                    out.append(sa.false())
        return out


def _visible(principal: Principal, filters: Filters) -> Any:
    return select(PactFootprint).where(
        PactFootprint.enterprise_id.in_(visible_enterprise_ids(principal)),  # type: ignore[attr-defined]
        *filters.clauses(),
    )


def render(row: PactFootprint) -> dict[str, Any]:
    """The ProductFootprint as PACT sends it (absent fields left out)."""
    body = {
        "id": str(row.id),
        "specVersion": row.body.get("specVersion", SPEC_VERSION),
        "created": row.created_at.isoformat().replace("+00:00", "Z"),
        "status": "Active" if row.deprecated_at is None else "Deprecated",
        **{k: v for k, v in row.body.items() if k != "specVersion"},
    }
    if row.preceding_ids:
        body["precedingPfIds"] = [str(i) for i in row.preceding_ids]
    return body


async def list_footprints(
    session: AsyncSession, principal: Principal, filters: Filters, page: PageParams
) -> list[dict[str, Any]]:
    if page.cursor is None:
        await sync(session, principal)
    rows, _ = await page.fetch(session, _visible(principal, filters), principal.key, [PactFootprint.id])
    return [render(row) for row in rows]


async def get_footprint(session: AsyncSession, principal: Principal, footprint_id: UUID) -> dict[str, Any]:
    await sync(session, principal)
    row = (await session.exec(_visible(principal, Filters()).where(PactFootprint.id == footprint_id))).first()
    if row is None:
        raise PactProblem(404, PactCode.NotFound, f"no footprint {footprint_id}")
    return render(row)


def instant(value: str | None, name: str) -> datetime | None:
    """A date-time filter (RFC 3339; `Z` or an offset; a bare date is midnight UTC), or 400."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("z", "Z"))
    except ValueError as exc:
        raise PactProblem(400, PactCode.BadRequest, f"{name} is not an RFC 3339 date-time") from exc
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


# --- Events


def _parse(model: type[BaseModel], value: Any, what: str) -> Any:
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or what
        raise PactProblem(400, PactCode.BadRequest, f"invalid {what}: {where}: {first['msg']}") from exc


def requester_base(source: str, settings: Settings) -> str:
    """Where to answer a request: the event's `source`, an absolute URL (its `/3/events` suffix,
    if any, removed), acceptable to the outbound policy."""
    base = source.strip().rstrip("/").removesuffix("/3/events").rstrip("/")
    try:
        outbound.parse(base, settings)
    except outbound.OutboundRefused as exc:
        raise PactProblem(400, PactCode.BadRequest, f"the event's source is not a URL we can answer at: {exc}") from exc
    if httpx.URL(base).query:
        raise PactProblem(400, PactCode.BadRequest, "the event's source must not carry a query")
    return base


def answer_event(request: CloudEvent, base_url: str, pfs: list[dict[str, Any]]) -> dict[str, Any]:
    event: dict[str, Any] = {
        "specversion": "1.0",
        "id": str(uuid7()),
        "source": base_url,
        "time": utcnow().isoformat().replace("+00:00", "Z"),
    }
    if pfs:
        return {**event, "type": EVENT_FULFILLED, "data": {"requestEventId": request.id, "pfs": pfs}}
    return {
        **event,
        "type": EVENT_REJECTED,
        "data": {
            "requestEventId": request.id,
            "error": {
                "code": PactCode.NotFound.value,
                "message": "no footprint you may read matches the request's criteria",
            },
        },
    }


async def receive_event(
    session: AsyncSession, principal: Principal, settings: Settings, raw: bytes, base_url: str, request_id: str | None
) -> None:
    """Validate an event; a request is answered later, by the worker (a row of `pact_outbox`)."""
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise PactProblem(400, PactCode.BadRequest, "the body is not JSON") from exc
    event: CloudEvent = _parse(CloudEvent, payload, "event")
    match event.type:
        case wire.EVENT_CREATED:
            criteria: FootprintCriteria = _parse(FootprintCriteria, event.data, "event data")
            recipient = requester_base(event.source, settings)
            await sync(session, principal)
            query = _visible(principal, Filters.of(criteria)).order_by(PactFootprint.id).limit(MAX_ANSWERED)
            pfs = [render(row) for row in (await session.exec(query)).all()]
            answer = answer_event(event, base_url, pfs)
            await session.exec(  # type: ignore[call-overload]
                sa.insert(OUTBOX).values(
                    id=uuid7(), recipient=recipient, body=orjson.dumps(answer).decode(), request_id=request_id
                )
            )
            await session.exec(sa.text(f"NOTIFY {events_service.NOTIFY_CHANNEL}"))  # type: ignore[call-overload]
            log.info("pact request accepted", extra={"event_id": event.id, "footprints": len(pfs)})
        case wire.EVENT_PUBLISHED:
            _parse(PublishedData, event.data, "event data")
        case wire.EVENT_FULFILLED | wire.EVENT_REJECTED:
            _parse(AnswerData, event.data, "event data")
        case _:
            raise PactProblem(400, PactCode.BadRequest, f"unsupported event type {event.type!r}")
