"""Bits every router shares: query types, declared error responses, page shaping."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query
from pydantic import BaseModel

from app.errors import problem_responses
from app.models.types import Rfc3339

UpdatedSince = Annotated[
    Rfc3339 | None,
    Query(description="Only objects changed at or after this instant (RFC 3339 with offset)."),
]

READ_ERRORS = problem_responses(401, 404, 422, 429)
LIST_ERRORS = problem_responses(400, 401, 403, 422, 429)
WRITE_ERRORS = problem_responses(400, 401, 403, 404, 409, 412, 413, 415, 422, 429)  # 400: a body that is not JSON

P = TypeVar("P", bound=BaseModel)


def page_of(page_model: type[P], public_model: type[BaseModel], rows: list[Any], next_cursor: str | None) -> P:
    return page_model(items=[public_model.model_validate(row) for row in rows], next_cursor=next_cursor)


def make_router(tag: str, prefix: str = "") -> APIRouter:
    """Routers are created here so that every route carries its tag (operation ids are `{tag}-{name}`)."""
    return APIRouter(prefix=prefix, tags=[tag])
