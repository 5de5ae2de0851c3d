"""Bits every router shares: query types, page shaping, the router factory.

The statuses and headers every operation can answer (401, 404, 422, 429, `ETag`, `Link`, ...)
are not declared here or on the routes: app/openapi.py derives them from each route."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from app.deps import known_query_only
from app.models.types import Rfc3339

UpdatedSince = Annotated[
    Rfc3339 | None,
    Query(description="Only objects changed at or after this instant (RFC 3339 with offset)."),
]

P = TypeVar("P", bound=BaseModel)


def page_of(page_model: type[P], public_model: type[BaseModel], rows: list[Any], next_cursor: str | None) -> P:
    return page_model(items=[public_model.model_validate(row) for row in rows], next_cursor=next_cursor)


def make_router(tag: str, prefix: str = "") -> APIRouter:
    """Routers are created here so that every route carries its tag (operation ids are
    `{tag}-{name}`) and refuses query parameters it does not declare (422)."""
    return APIRouter(prefix=prefix, tags=[tag], dependencies=[Depends(known_query_only)])
