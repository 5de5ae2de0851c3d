"""The one cursor-pagination helper: keyset pages, opaque signed cursors, `Link` header.

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
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar
from uuid import UUID

import orjson
import sqlalchemy as sa
from fastapi import Depends, Query, Request, Response
from pydantic import BaseModel, Field
from sqlmodel.ext.asyncio.session import AsyncSession

from app.config import Settings
from app.errors import InvalidCursor
from app.security import sign

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(description="Pass as `cursor` to get the next page; null on the last page.")


KeyParser = Callable[[str], Any]
PARSERS: dict[type, KeyParser] = {UUID: UUID, datetime: datetime.fromisoformat, str: str, int: int}


@dataclass
class PageParams:
    limit: int
    cursor: str | None
    request: Request
    response: Response

    @property
    def _settings(self) -> Settings:
        """The app's own settings (its signing key), not the process-wide ones."""
        settings: Settings = self.request.app.state.settings
        return settings

    def _fingerprint(self, caller: str) -> str:
        query = sorted((k, v) for k, v in self.request.query_params.multi_items() if k not in ("cursor", "limit"))
        raw = orjson.dumps([caller, self.request.url.path, query])
        return hashlib.sha256(raw).hexdigest()[:16]

    def _decode(self, caller: str, parsers: Sequence[KeyParser]) -> list[Any] | None:
        if self.cursor is None:
            return None
        try:
            payload_b64, signature = self.cursor.split(".", 1)
            payload = base64.urlsafe_b64decode(payload_b64 + "=" * (-len(payload_b64) % 4))
        except ValueError as exc:
            raise InvalidCursor("the cursor is malformed") from exc
        if not hmac.compare_digest(sign(self._settings, payload).encode(), signature.encode()):
            raise InvalidCursor("the cursor was altered or is not from this service")
        data = orjson.loads(payload)
        if data.get("f") != self._fingerprint(caller):
            raise InvalidCursor("the cursor belongs to another caller, list or set of filters")
        values = data.get("k")
        if not isinstance(values, list) or len(values) != len(parsers):
            raise InvalidCursor("the cursor is malformed")
        try:
            return [parse(value) for parse, value in zip(parsers, values, strict=True)]
        except (TypeError, ValueError) as exc:
            raise InvalidCursor("the cursor is malformed") from exc

    def _encode(self, caller: str, values: Sequence[Any]) -> str:
        keys = [v.isoformat() if isinstance(v, datetime) else str(v) for v in values]
        payload = orjson.dumps({"k": keys, "f": self._fingerprint(caller)})
        b64 = base64.urlsafe_b64encode(payload).rstrip(b"=").decode()
        return f"{b64}.{sign(self._settings, payload)}"

    async def fetch(
        self,
        session: AsyncSession,
        query: Any,
        caller: str,
        keys: Sequence[Any],
        wrap: Callable[[Any], Any] | None = None,
    ) -> tuple[list[Any], str | None]:
        """Run `query` for one page in key order; returns the rows and the next cursor.

        `keys` are the ordering columns (unique together), e.g. `[Model.id]` or
        `[Model.updated_at, Model.id]`. `wrap`, if given, turns the limited page query into
        the statement that is run (e.g. a join that reads wide columns only for the page's
        rows); it must keep the key columns, under their names, and the key order.
        """
        parsers = [PARSERS[col.type.python_type] for col in keys]
        after = self._decode(caller, parsers)
        if after is not None:
            query = query.where(sa.tuple_(*keys) > sa.tuple_(*after))
        query = query.order_by(*keys).limit(self.limit + 1)
        if wrap is not None:
            query = wrap(query)
        rows = list((await session.exec(query)).all())
        next_cursor = None
        if len(rows) > self.limit:
            rows = rows[: self.limit]
            last = rows[-1]
            values = [getattr(last, col.key) for col in keys]
            next_cursor = self._encode(caller, values)
            self.response.headers["Link"] = f'<{self.request.url.include_query_params(cursor=next_cursor)}>; rel="next"'
        return rows, next_cursor


async def page_params(
    request: Request,
    response: Response,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page (1–500).")] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=1024, description="Opaque cursor from `next_cursor`.")] = None,
) -> PageParams:
    return PageParams(limit=limit, cursor=cursor, request=request, response=response)


PageDep = Annotated[PageParams, Depends(page_params)]
