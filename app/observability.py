"""Observability in one place: request ids, the access log and JSON log lines, and the
Prometheus series (`Telemetry`; not to be confused with the programme's KPI catalogue, the
`metrics` of `/v1/metrics`).

Logging uses the standard library's own buffered pair: every logger writes to a
`QueueHandler` (a cheap, non-blocking put) and one `QueueListener` thread formats and writes
the lines, so a request never waits for a write to stderr.
"""

from __future__ import annotations

import atexit
import itertools
import logging
import logging.handlers
import os
import queue
import re
import secrets
import sys
import time
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import send_problem

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
access_log = logging.getLogger("app.access")
error_log = logging.getLogger("app.errors")

# --- request ids ----------------------------------------------------------------------------

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._\-]{1,128}$")
_ID_PREFIX = secrets.token_hex(8)
_id_counter = itertools.count(1)


def _reseed_request_ids() -> None:
    """A forked worker gets a prefix of its own (workers preloaded by a forking server)."""
    global _ID_PREFIX, _id_counter
    _ID_PREFIX, _id_counter = secrets.token_hex(8), itertools.count(1)


os.register_at_fork(after_in_child=_reseed_request_ids)


def new_request_id() -> str:
    """32 hex digits, unique without a system call: a random prefix per process and a counter."""
    return f"{_ID_PREFIX}{next(_id_counter):016x}"


def request_id_of(scope: Scope) -> str:
    """The caller's `X-Request-ID` when it is sane, else a new one."""
    incoming = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"x-request-id"), "")
    return incoming if _REQUEST_ID.match(incoming) else new_request_id()


# --- log lines ------------------------------------------------------------------------------

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "taskName",
    "color_message",  # uvicorn's ANSI-coloured duplicate of msg
    "request_id",  # set by RequestIdFilter, written first
}


class RequestIdFilter(logging.Filter):
    """Stamps each record with the request id of the task that logged it (read on the caller's
    side: the listener thread has no request context)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id:
            entry["request_id"] = request_id
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class _RecordQueueHandler(logging.handlers.QueueHandler):
    """Queues the record itself; the listener's handler formats it. (The base class formats
    on the caller's side, which would put the JSON encoding back on the request path.)"""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)  # tracebacks don't travel
        return record


_listener: logging.handlers.QueueListener | None = None


def configure_logging(level: str) -> None:
    """JSON lines on stderr through a queue and one writer thread; uvicorn's loggers join in and
    its access log is off (the app logs each request itself). Safe to call again."""
    global _listener
    if _listener is not None:
        _listener.stop()
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    writer = logging.StreamHandler(sys.stderr)
    writer.setFormatter(JsonFormatter())
    _listener = logging.handlers.QueueListener(records, writer, respect_handler_level=False)
    _listener.start()
    handler = _RecordQueueHandler(records)
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True
    # httpx logs every outbound request at INFO; the delivery worker logs each attempt itself.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, root.level))


def flush_logs() -> None:
    """Write every queued line now (at exit, and for tests)."""
    if _listener is not None:
        _listener.stop()
        _listener.start()


atexit.register(flush_logs)


# --- Prometheus series ----------------------------------------------------------------------


class Telemetry:
    """The Prometheus series of one app instance (own registry, so tests can build many apps)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "http_requests_total", "HTTP requests", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self.transaction_conflicts = Counter(
            "db_transaction_conflicts_total",
            "Transactions that lost to a concurrent one (by SQLSTATE), and whether the request was run "
            "again (retried) or answered 503 (gave_up)",
            ["sqlstate", "outcome"],
            registry=self.registry,
        )

        self.webhooks = WebhookSeries(self.registry)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one request (the labelled series are looked up once per method, route and status)."""
        series = self._series.get((method, route, status))
        if series is None:
            series = self.requests.labels(method, route, str(status)), self.latency.labels(method, route)
            self._series[(method, route, status)] = series
        series[0].inc()
        series[1].observe(seconds)


class WebhookSeries:
    """The delivery workers' series (in `serve` with an embedded worker, or `worker`'s own)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.queue_depth = Gauge(
            "webhook_queue_depth", "Deliveries pending (due now or waiting for a retry)", registry=registry
        )
        self.deliveries = Counter(
            "webhook_deliveries_total",
            "Delivery attempts by outcome: delivered (2xx), retry (failed, another attempt is scheduled), "
            "failed (failed for good)",
            ["outcome"],
            registry=registry,
        )
        self.latency = Histogram(
            "webhook_delivery_latency_seconds",
            "From the commit of the change to the receiver's 2xx",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600),
            registry=registry,
        )
        self.endpoint_failures = Counter(
            "webhook_endpoint_failures_total", "Failed delivery attempts (any endpoint)", registry=registry
        )
        self.endpoints_disabled = Counter(
            "webhook_endpoints_disabled_total",
            "Endpoints disabled for failing every delivery for WEBHOOK_DISABLE_AFTER_DAYS",
            registry=registry,
        )


# --- per request ----------------------------------------------------------------------------


def finish_request(telemetry: Telemetry, scope: Scope, status: int, started: float, request_id: str) -> None:
    """The Prometheus series and the access-log line of one request."""
    elapsed = time.perf_counter() - started
    route = getattr(scope.get("route"), "path", None) or "unmatched"
    method = scope["method"]
    telemetry.observe(method, route, status, elapsed)
    if access_log.isEnabledFor(logging.INFO):
        access_log.info(
            "request",
            extra={
                "request_id": request_id,
                "method": method,
                "path": scope["path"],
                "route": route,
                "status": status,
                "duration_ms": round(elapsed * 1000, 2),
                "caller": scope.get("state", {}).get("caller"),
            },
        )


class RequestContextMiddleware:
    """`X-Request-ID` on every response, one JSON access-log line and the series per request;
    a 500 for what no handler took, with the request id and without internals."""

    def __init__(self, app: ASGIApp, telemetry: Telemetry) -> None:
        self.app = app
        self.telemetry = telemetry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope)
        request_id_header = (b"x-request-id", request_id.encode())
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = request_id
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status, response_started = message["status"], True
                message["headers"] = [*message.get("headers", ()), request_id_header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            if response_started:
                raise
            error_log.exception("unhandled error", extra={"path": scope["path"]})
            await send_problem(send_with_id, 500, "internal-error", "an unexpected error occurred; it has been logged")
        finally:
            finish_request(self.telemetry, scope, status, started, request_id)
            request_id_var.reset(token)
