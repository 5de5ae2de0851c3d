"""Per-caller rate limits (fixed windows) and the login throttle (growing delays): in Redis
when `REDIS_URL` is set, in-process otherwise."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis

log = logging.getLogger("app.ratelimit")


@dataclass(frozen=True, slots=True)
class Backoff:
    """A growing delay: `free` attempts, then each further one waits `base`, 2×, 4×, … seconds
    (at most `cap`) after the one before. The count is forgotten after `memory` quiet seconds."""

    free: int
    cap: float
    base: float = 1.0
    memory: int = 900

    def delay(self, attempts: int) -> float:
        """The wait imposed after the `attempts`-th attempt (0 while attempts stay free)."""
        if attempts < self.free:
            return 0.0
        return float(min(self.base * 2 ** min(attempts - self.free, 40), self.cap))


class RateLimiter(Protocol):
    async def hit(self, key: str, limit: int, window_seconds: int) -> int:
        """Count one event; return 0 if allowed, else the seconds to wait."""
        ...

    async def attempt(self, key: str, backoff: Backoff) -> int:
        """Atomically count one attempt before it is evaluated: 0 if it may go ahead (it is
        counted), else the seconds to wait (it is not counted). Concurrent attempts each get
        their own place in the count, so a burst cannot slip past the limit."""
        ...

    async def release(self, key: str) -> None:
        """Take back one counted attempt that turned out fine (a correct password): only
        failures stay counted. A wait already imposed still runs out as set."""
        ...


class MemoryRateLimiter:
    """Good for one process. Several workers each keep their own counts: use Redis then."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock  # seconds, for the windows and the login throttle (tests freeze it)
        self._counts: dict[tuple[str, int], int] = {}
        self._attempts: dict[str, tuple[int, float, float]] = {}  # key → (count, wait until, last seen)
        self._last_sweep = 0.0

    def _window(self, window_seconds: int) -> tuple[int, int]:
        now = self.clock()
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

    async def attempt(self, key: str, backoff: Backoff) -> int:
        # No await between reading and writing: atomic on the event loop.
        now = self.clock()
        count, until, seen = self._attempts.get(key, (0, 0.0, now))
        if now - seen > backoff.memory:
            count, until = 0, 0.0
        if now < until:
            return math.ceil(until - now)
        count += 1
        self._attempts[key] = (count, now + backoff.delay(count), now)
        if len(self._attempts) > 100_000:
            self._attempts = {k: v for k, v in self._attempts.items() if now - v[2] <= backoff.memory}
        return 0

    async def release(self, key: str) -> None:
        entry = self._attempts.get(key)
        if entry is not None and entry[0] > 0:
            self._attempts[key] = (entry[0] - 1, entry[1], entry[2])


# KEYS[1]: the attempt hash {n: count, until: ms}; ARGV: now ms, free, base ms, cap ms, memory s.
# Returns the milliseconds to wait (nothing counted), or 0 after counting the attempt.
_ATTEMPT_SCRIPT = """
local now = tonumber(ARGV[1])
local until_ms = tonumber(redis.call('HGET', KEYS[1], 'until') or '0')
if now < until_ms then return until_ms - now end
local n = redis.call('HINCRBY', KEYS[1], 'n', 1)
local free = tonumber(ARGV[2])
if n >= free then
  local exponent = math.min(n - free, 40)
  local wait = math.min(tonumber(ARGV[3]) * (2 ^ exponent), tonumber(ARGV[4]))
  redis.call('HSET', KEYS[1], 'until', now + wait)
end
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[5]))
return 0
"""
_RELEASE_SCRIPT = """
if tonumber(redis.call('HGET', KEYS[1], 'n') or '0') > 0 then redis.call('HINCRBY', KEYS[1], 'n', -1) end
return 0
"""


class RedisRateLimiter:
    """Shared by every worker; fails open (logs) if Redis is unreachable."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._attempt = self._redis.register_script(_ATTEMPT_SCRIPT)
        self._release = self._redis.register_script(_RELEASE_SCRIPT)

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

    async def attempt(self, key: str, backoff: Backoff) -> int:
        try:
            wait_ms = await self._attempt(
                keys=[f"s4c:att:{key}"],
                args=[
                    int(time.time() * 1000),
                    backoff.free,
                    int(backoff.base * 1000),
                    int(backoff.cap * 1000),
                    backoff.memory,
                ],
            )
        except Exception as exc:  # fails open like `hit`; the per-address limit still applies
            log.warning("rate limiter unavailable", extra={"error": type(exc).__name__})
            return 0
        return math.ceil(int(wait_ms) / 1000)

    async def release(self, key: str) -> None:
        try:
            await self._release(keys=[f"s4c:att:{key}"])
        except Exception as exc:
            log.warning("rate limiter unavailable", extra={"error": type(exc).__name__})

    async def close(self) -> None:
        await self._redis.aclose()


def make_limiter(redis_url: str | None) -> RateLimiter:
    if not redis_url:
        return MemoryRateLimiter()
    return RedisRateLimiter(Redis.from_url(redis_url, socket_timeout=0.25, socket_connect_timeout=0.25))
