"""`/v1/events`: the caller's event feed (what changed, removals included), oldest first."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request, Response

from app.deps import CurrentPrincipal, SessionDep, SettingsDep
from app.errors import Unprocessable
from app.http import JSON
from app.models.events import EventPage, EventType
from app.pagination import DEFAULT_LIMIT, MAX_LIMIT
from app.routers.common import make_router
from app.services import events as service

router = make_router("events", "/v1/events")


def parse_types(value: str | None) -> list[EventType]:
    """`types=a,b` → the event types; an unknown one is 422 (naming the known ones)."""
    if not value:
        return []
    found: list[EventType] = []
    for name in (part.strip() for part in value.split(",")):
        if name not in EventType._value2member_map_:
            raise Unprocessable(
                f"unknown event type {name!r}; known: {', '.join(t.value for t in EventType)}", loc=("query", "types")
            )
        found.append(EventType(name))
    return found


@router.get("", name="list", summary="List your events (the feed)", response_model=EventPage)
async def list_events(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: CurrentPrincipal,
    after: Annotated[
        str | None,
        Query(max_length=1024, description="`next_cursor` of your previous call; left out, the feed's start."),
    ] = None,
    types: Annotated[
        str | None, Query(max_length=2000, description="Comma-separated event types to list (default: all).")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Events per page (1–500).")] = DEFAULT_LIMIT,
) -> Response:
    """The events you may see, oldest first: you receive an event when you could see its subject
    when it happened (a buyer also receives the revocation of its own links: drop that
    enterprise). Resume from `next_cursor` every time — it is always present — and you miss
    nothing, even while writes commit as you page. `Link: rel="next"` is set when more events
    are already waiting. A cursor older than the retention (EVENT_RETENTION_DAYS, 30 by
    default) answers 410 `cursor-expired`: resynchronise in full, then follow the feed again."""
    bodies, cursor, more = await service.feed(session, settings, principal, after, parse_types(types), limit)
    headers = {"X-Next-Cursor": cursor}
    if more:
        headers["Link"] = f'<{request.url.include_query_params(after=cursor)}>; rel="next"'
    body = b'{"items":[' + ",".join(bodies).encode() + b'],"next_cursor":"' + cursor.encode() + b'"}'
    return Response(body, media_type=JSON, headers=headers)
