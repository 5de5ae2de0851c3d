"""The ceiling: a bare ASGI app (no framework, no ORM) that answers the two progress requests
with the same bytes as the real app, by running the equivalent SQL on an asyncpg pool.

    GET /v1/progress?limit=500[&cursor=...][&updated_since=...]
    GET /v1/enterprises/{id}/progress

Authentication is only parsed (the JWT payload is read, not verified): this measures what
the database plus a minimal HTTP layer can do, so each app figure can be given as a ratio.
Served with `uvicorn --factory bench.ceiling:create_app` (env CEILING_DSN and CEILING_SECRET, the app's signing key).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, quote
from uuid import UUID

import asyncpg
import orjson

BUYER_SCOPE = "enterprise_id IN (SELECT enterprise_id FROM supplier_links WHERE buyer_id = ${} AND status = 'active')"
SINGLE = "SELECT body, updated_at FROM progress_records WHERE enterprise_id = $1"
SINGLE_BUYER = SINGLE + " AND " + BUYER_SCOPE.format(2)
JSON_HEADERS = [(b"content-type", b"application/json")]


def _page_sql(buyer: bool, since: bool, after: bool) -> str:
    """The page's keys by keyset, then the record text (as UTF-8 bytes, as the app reads it) for
    those rows only. One statement: the app needs two, to know a page's size before reading it."""
    where, n = [], 0
    if buyer:
        n += 1
        where.append(BUYER_SCOPE.format(n))
    if since:
        n += 1
        where.append(f"updated_at >= ${n}")
    if after:
        where.append(f"(updated_at, enterprise_id) > (${n + 1}, ${n + 2})")
        n += 2
    n += 1
    cond = (" WHERE " + " AND ".join(where)) if where else ""
    return (
        "SELECT p.updated_at, p.enterprise_id, convert_to(p.body, 'UTF8') AS body FROM progress_records p"
        f" JOIN (SELECT updated_at, enterprise_id FROM progress_records{cond}"
        f" ORDER BY updated_at, enterprise_id LIMIT ${n}) k ON k.enterprise_id = p.enterprise_id"
        " ORDER BY p.updated_at, p.enterprise_id"
    )


PAGE_SQL = {(b, s, a): _page_sql(b, s, a) for b in (False, True) for s in (False, True) for a in (False, True)}


def _claims(headers: list[tuple[bytes, bytes]]) -> dict[str, Any] | None:
    for name, value in headers:
        if name == b"authorization":
            try:
                payload = value.split(b" ", 1)[1].split(b".")[1]
                claims: dict[str, Any] = orjson.loads(base64.urlsafe_b64decode(payload + b"=" * (-len(payload) % 4)))
                return claims
            except (IndexError, ValueError):
                return None
    return None


async def _keep(_: asyncpg.Connection) -> None:
    """No reset round trip on release (as the app's read pool): only single reads run here."""


class Ceiling:
    def __init__(self, dsn: str, secret: str) -> None:
        self.dsn = dsn
        self.key = secret.encode()
        self.pool: asyncpg.Pool | None = None

    def _sign(self, data: bytes) -> str:
        return hmac.new(self.key, data, hashlib.sha256).hexdigest()[:32]

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    self.pool = await asyncpg.create_pool(self.dsn, min_size=5, max_size=15, reset=_keep)
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    if self.pool is not None:
                        await self.pool.close()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        path: str = scope["path"]
        if path == "/healthz":
            return await self._reply(send, 200, b'{"status":"ok"}')
        claims = _claims(scope["headers"])
        if claims is None:
            return await self._reply(send, 401, b'{"title":"Unauthorized"}')
        if path == "/v1/progress":
            return await self._page(scope, send, claims)
        parts = path.split("/")
        if len(parts) == 5 and parts[1] == "v1" and parts[2] == "enterprises" and parts[4] == "progress":
            return await self._single(send, claims, UUID(parts[3]))
        await self._reply(send, 404, b'{"title":"Not Found"}')

    async def _reply(self, send: Any, status: int, body: bytes, extra: list[tuple[bytes, bytes]] | None = None) -> None:
        headers = JSON_HEADERS + [(b"content-length", str(len(body)).encode())] + (extra or [])
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _single(self, send: Any, claims: dict[str, Any], enterprise_id: UUID) -> None:
        assert self.pool is not None
        if claims.get("role") == "admin":
            row = await self.pool.fetchrow(SINGLE, enterprise_id)
        else:
            row = await self.pool.fetchrow(SINGLE_BUYER, enterprise_id, UUID(claims["org"]))
        if row is None:
            return await self._reply(send, 404, b'{"title":"Not Found"}')
        # The app's ETag: the record's key (records are immutable per `updated_at`), not its bytes.
        key = f"{enterprise_id}:{row[1].isoformat()}".encode()
        etag = f'"{hashlib.sha256(key).hexdigest()[:24]}"'.encode()
        await self._reply(send, 200, row[0].encode(), [(b"etag", etag)])

    async def _page(self, scope: dict[str, Any], send: Any, claims: dict[str, Any]) -> None:
        assert self.pool is not None
        query = parse_qsl(scope["query_string"].decode(), keep_blank_values=True)
        params = dict(query)
        limit = int(params.get("limit", "50"))
        caller = f"{claims['kind']}:{claims['sub']}"
        filters = sorted((k, v) for k, v in query if k not in ("cursor", "limit"))
        fingerprint = hashlib.sha256(orjson.dumps([caller, scope["path"], filters])).hexdigest()[:16]
        buyer = claims.get("role") != "admin"
        args: list[Any] = [UUID(claims["org"])] if buyer else []
        since = params.get("updated_since")
        if since is not None:
            args.append(datetime.fromisoformat(since))
        cursor = params.get("cursor")
        if cursor is not None:
            payload_b64 = cursor.split(".", 1)[0]
            keys = orjson.loads(base64.urlsafe_b64decode(payload_b64 + "=" * (-len(payload_b64) % 4)))["k"]
            args += [datetime.fromisoformat(keys[0]), UUID(keys[1])]
        args.append(limit + 1)
        rows = await self.pool.fetch(PAGE_SQL[(buyer, since is not None, cursor is not None)], *args)
        extra: list[tuple[bytes, bytes]] = []
        next_cursor = None
        more = len(rows) > limit
        rows = rows[:limit]
        digest = hashlib.sha256(f"{fingerprint}|application/json|{more}".encode())  # as the app's ETag
        for row in rows:
            digest.update(f"|{row[0].isoformat()},{row[1]}".encode())
        extra.append((b"etag", f'"{digest.hexdigest()[:24]}"'.encode()))
        if more:
            last = rows[-1]
            payload = orjson.dumps({"k": [last[0].isoformat(), str(last[1])], "f": fingerprint})
            b64 = base64.urlsafe_b64encode(payload).rstrip(b"=").decode()
            next_cursor = f"{b64}.{self._sign(payload)}"
            rest = "&".join(f"{k}={quote(v)}" for k, v in query if k != "cursor")
            host = next((v.decode() for k, v in scope["headers"] if k == b"host"), "localhost")
            link = f'<http://{host}{scope["path"]}?{rest}&cursor={next_cursor}>; rel="next"'
            extra.append((b"link", link.encode()))
        parts = [b'{"items":[']
        for row in rows:
            parts += (row[2], b",")
        if rows:
            parts.pop()
        parts += (b'],"next_cursor":', orjson.dumps(next_cursor), b"}")
        body = b"".join(parts)  # one copy of the megabytes, as the app does
        await self._reply(send, 200, body, extra)


def create_app() -> Ceiling:
    return Ceiling(os.environ["CEILING_DSN"], os.environ["CEILING_SECRET"])
