"""Per-caller rate limits: fixed windows in Redis when `REDIS_URL` is set, in-process otherwise."""

from __future__ import annotations

import logging
import time
from typing import Protocol

log = logging.getLogger("app.ratelimit")


class RateLimiter(Protocol):
    async def hit(self, key: str, limit: int, window_seconds: int) -> int:
        """Count one event; return 0 if allowed, else the seconds to wait."""
        ...

    async def peek(self, key: str, limit: int, window_seconds: int) -> int:
        """Like `hit` without counting: the seconds to wait if the key is over its limit."""
        ...


class MemoryRateLimiter:
    """Good for one process. Several workers each keep their own counts: use Redis then."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, int], int] = {}
        self._last_sweep = 0.0

    def _window(self, window_seconds: int) -> tuple[int, int]:
        now = time.time()
        window = int(now // window_seconds)
        if now - self._last_sweep > 60:
            self._last_sweep = now
            current = {int(now // w) for w in (60, 900)}
            self._counts = {k: v for k, v in self._counts.items() if k[1] in current or k[1] >= window}
        return window, int((window + 1) * window_seconds - now) + 1

    async def hit(self, key: str, limit: int, window_seconds: int) -> int:
        window, retry = self._window(window_seconds)
        slot = (f"{window_seconds}:{key}", window)
        count = self._counts.get(slot, 0) + 1
        self._counts[slot] = count
        return retry if count > limit else 0

    async def peek(self, key: str, limit: int, window_seconds: int) -> int:
        window, retry = self._window(window_seconds)
        return retry if self._counts.get((f"{window_seconds}:{key}", window), 0) >= limit else 0


class RedisRateLimiter:
    """Shared by every worker; fails open (logs) if Redis is unreachable."""

    def __init__(self, url: str) -> None:
        from redis.asyncio import Redis

        self._redis = Redis.from_url(url, socket_timeout=0.25, socket_connect_timeout=0.25)

    def _slot(self, key: str, window_seconds: int) -> tuple[str, int]:
        now = time.time()
        window = int(now // window_seconds)
        return f"s4c:rl:{window_seconds}:{key}:{window}", int((window + 1) * window_seconds - now) + 1

    async def hit(self, key: str, limit: int, window_seconds: int) -> int:
        slot, retry = self._slot(key, window_seconds)
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.incr(slot)
                pipe.expire(slot, window_seconds + 1)
                count, _ = await pipe.execute()
        except Exception as exc:  # the limiter must never take the API down
            log.warning("rate limiter unavailable", extra={"error": type(exc).__name__})
            return 0
        return retry if int(count) > limit else 0

    async def peek(self, key: str, limit: int, window_seconds: int) -> int:
        slot, retry = self._slot(key, window_seconds)
        try:
            count = await self._redis.get(slot)
        except Exception as exc:
            log.warning("rate limiter unavailable", extra={"error": type(exc).__name__})
            return 0
        return retry if count is not None and int(count) >= limit else 0

    async def close(self) -> None:
        await self._redis.aclose()


def make_limiter(redis_url: str | None) -> RateLimiter:
    return RedisRateLimiter(redis_url) if redis_url else MemoryRateLimiter()
