"""The one cursor-pagination helper: keyset pages, opaque signed cursors, `Link` and
`X-Next-Cursor` headers.

A cursor is `base64url(json) + "." + hmac`. It carries the last key of the page and a
fingerprint of who asked, which list, and with which filters: a cursor that was altered,
or replayed by another caller or with other filters, is a 400.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Generic, TypeVar
from uuid import UUID

import orjson
import sqlalchemy as sa
from fastapi import Depends, Query, Request, Response
from pydantic import BaseModel, Field
from pydantic.json_schema import SkipJsonSchema
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.datastructures import URL

from app.config import Settings
from app.errors import InvalidCursor
from app.security import sign

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(description="Pass as `cursor` to get the next page; null on the last page.")


class CountedPage(Page[T], Generic[T]):
    """A page of a list people browse: `total` is there only when `count=true` asked for it."""

    total: int | SkipJsonSchema[None] = Field(
        default=None,
        exclude_if=lambda value: value is None,
        description="How many items match the filters and `q` on all pages (only with `count=true`).",
    )


KeyParser = Callable[[str], Any]
PARSERS: dict[type, KeyParser] = {
    UUID: UUID,
    datetime: datetime.fromisoformat,
    date: date.fromisoformat,
    str: str,
    int: int,
    float: float,
}
NOT_IN_FINGERPRINT = ("cursor", "limit", "count")
"""A cursor stays valid with another page size, and with or without a total."""


def fingerprint(caller: str, path: str, query: Sequence[tuple[str, str]]) -> str:
    """Who asked for which list with which filters, search and sort (all but `cursor`, `limit`, `count`)."""
    filters = sorted((k, v) for k, v in query if k not in NOT_IN_FINGERPRINT)
    return hashlib.sha256(orjson.dumps([caller, path, filters])).hexdigest()[:16]


def decode_cursor(
    settings: Settings, cursor: str | None, fingerprint: str, parsers: Sequence[KeyParser]
) -> list[Any] | None:
    """The last key of the previous page, from a cursor this service signed for this fingerprint."""
    if cursor is None:
        return None
    try:
        payload_b64, signature = cursor.split(".", 1)
        payload = base64.urlsafe_b64decode(payload_b64 + "=" * (-len(payload_b64) % 4))
    except ValueError as exc:
        raise InvalidCursor("the cursor is malformed") from exc
    if not hmac.compare_digest(sign(settings, payload).encode(), signature.encode()):
        raise InvalidCursor("the cursor was altered or is not from this service")
    data = orjson.loads(payload)
    if data.get("f") != fingerprint:
        raise InvalidCursor("the cursor belongs to another caller, list or set of filters")
    values = data.get("k")
    if not isinstance(values, list) or len(values) != len(parsers):
        raise InvalidCursor("the cursor is malformed")
    try:
        return [None if value is None else parse(value) for parse, value in zip(parsers, values, strict=True)]
    except (TypeError, ValueError) as exc:
        raise InvalidCursor("the cursor is malformed") from exc


def encode_cursor(settings: Settings, fingerprint: str, values: Sequence[Any]) -> str:
    keys = [v if v is None else v.isoformat() if isinstance(v, date) else str(v) for v in values]
    payload = orjson.dumps({"k": keys, "f": fingerprint})
    b64 = base64.urlsafe_b64encode(payload).rstrip(b"=").decode()
    return f"{b64}.{sign(settings, payload)}"


def next_link(url: URL, cursor: str) -> str:
    """The `Link` header value pointing at the next page."""
    return f'<{url.include_query_params(cursor=cursor)}>; rel="next"'


def sort_keys(model: Any, sort: StrEnum | None) -> tuple[list[Any], bool]:
    """The ordering columns of `sort` (`field` or `-field` of `model`, then `id` as the
    tie-breaker), and whether they run descending. No sort: `id`, i.e. creation order."""
    if sort is None:
        return [model.id], False
    field = sort.value.removeprefix("-")
    return [getattr(model, field), model.id], sort.value.startswith("-")


def _parser(column: Any) -> KeyParser:
    """How a key of `column` is read back from a cursor (by the column's Python type)."""
    column_type = column.type
    if isinstance(column_type, sa.TypeDecorator):  # e.g. SQLModel's AutoString
        column_type = column_type.impl_instance
    return PARSERS[column_type.python_type]


def _nullable(column: Any) -> bool:
    return bool(getattr(getattr(column, "expression", column), "nullable", False))


def _after_key(keys: Sequence[Any], values: Sequence[Any], descending: bool) -> Any:
    """Rows strictly after the key `values` in the order of `keys` (NULLs last either way)."""
    if not any(_nullable(column) for column in keys):
        if descending:
            return sa.tuple_(*keys) < sa.tuple_(*values)
        return sa.tuple_(*keys) > sa.tuple_(*values)
    column, value = keys[0], values[0]
    rest = _after_key(keys[1:], values[1:], descending) if len(keys) > 1 else sa.false()
    if value is None:  # among the NULLs at the end: only the rest of the key decides
        return sa.and_(column.is_(None), rest)
    beyond = column < value if descending else column > value
    return sa.or_(beyond, column.is_(None), sa.and_(column == value, rest))


def _ordering(keys: Sequence[Any], descending: bool) -> list[Any]:
    ordered = [column.desc() if descending else column.asc() for column in keys]
    return [o.nulls_last() if _nullable(c) else o for o, c in zip(ordered, keys, strict=True)]


@dataclass
class PageParams:
    limit: int
    cursor: str | None
    request: Request
    response: Response
    total: int | None = None
    """Set by `fetch` when it was asked to count."""

    @property
    def _settings(self) -> Settings:
        """The app's own settings (its signing key), not the process-wide ones."""
        settings: Settings = self.request.app.state.settings
        return settings

    def fingerprint(self, caller: str) -> str:
        return fingerprint(caller, self.request.url.path, self.request.query_params.multi_items())

    def after(self, caller: str, parsers: Sequence[KeyParser]) -> list[Any] | None:
        """The last key of the previous page (from `cursor`), or None on the first page."""
        return decode_cursor(self._settings, self.cursor, self.fingerprint(caller), parsers)

    def next(self, caller: str, values: Sequence[Any]) -> str:
        """The cursor after the key `values`, also set as `Link` and `X-Next-Cursor` on `response`."""
        cursor = encode_cursor(self._settings, self.fingerprint(caller), values)
        self.response.headers["Link"] = next_link(self.request.url, cursor)
        self.response.headers["X-Next-Cursor"] = cursor
        return cursor

    async def fetch(
        self,
        session: AsyncSession,
        query: Any,
        caller: str,
        keys: Sequence[Any],
        *,
        descending: bool = False,
        count: bool = False,
    ) -> tuple[list[Any], str | None]:
        """Run `query` for one page in key order; returns the rows and the next cursor.

        `keys` are the ordering columns (unique together, the last one never NULL), e.g.
        `[Model.id]` or `[Model.name, Model.id]`; `descending` runs them all backwards. A
        nullable key sorts its NULLs last in both directions. `count` also sets `total`: one
        `COUNT(*)` over `query` as given (every filter, no cursor).
        """
        if count:
            counted = select(sa.func.count()).select_from(query.order_by(None).subquery())
            self.total = (await session.exec(counted)).one()
        parsers = [_parser(col) for col in keys]
        after = self.after(caller, parsers)
        if after is not None:
            query = query.where(_after_key(keys, after, descending))
        query = query.order_by(*_ordering(keys, descending)).limit(self.limit + 1)
        rows = list((await session.exec(query)).all())
        next_cursor = None
        if len(rows) > self.limit:
            rows = rows[: self.limit]
            last = rows[-1]
            next_cursor = self.next(caller, [getattr(last, col.key) for col in keys])
        return rows, next_cursor


async def page_params(
    request: Request,
    response: Response,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page (1–500).")] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=1024, description="Opaque cursor from `next_cursor`.")] = None,
) -> PageParams:
    return PageParams(limit=limit, cursor=cursor, request=request, response=response)


PageDep = Annotated[PageParams, Depends(page_params)]
