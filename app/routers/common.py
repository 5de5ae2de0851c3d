"""Bits every router shares: query types, page shaping, the router factory.

The statuses and headers every operation can answer (401, 404, 422, 429, `ETag`, `Link`, ...)
are not declared here or on the routes: app/openapi.py derives them from each route."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Query
from pydantic import AfterValidator, BaseModel

from app.deps import known_query_only
from app.models.base import refuse_nul
from app.models.types import Rfc3339

UpdatedSince = Annotated[
    Rfc3339 | None,
    Query(description="Only objects changed at or after this instant (RFC 3339 with offset)."),
]


def _no_nul(text: str | None) -> str | None:
    refuse_nul(text)
    return text


Search = Annotated[
    str | None,
    AfterValidator(_no_nul),
    Query(
        min_length=1,
        max_length=200,
        description="Case-insensitive substring search (1-200 characters; `%`, `_` and `\\` match themselves). "
        "Which fields it looks in is said per list.",
    ),
]
Count = Annotated[
    bool,
    Query(description="`true` adds `total`, how many items match on all pages (one more COUNT query)."),
]

P = TypeVar("P", bound=BaseModel)


def page_of(
    page_model: type[P],
    public_model: type[BaseModel],
    rows: list[Any],
    next_cursor: str | None,
    total: int | None = None,
) -> P:
    items = [public_model.model_validate(row) for row in rows]
    if total is None:
        return page_model(items=items, next_cursor=next_cursor)
    return page_model(items=items, next_cursor=next_cursor, total=total)


def make_router(tag: str, prefix: str = "") -> APIRouter:
    """Routers are created here so that every route carries its tag (operation ids are
    `{tag}-{name}`) and refuses query parameters it does not declare (422)."""
    return APIRouter(prefix=prefix, tags=[tag], dependencies=[Depends(known_query_only)])
