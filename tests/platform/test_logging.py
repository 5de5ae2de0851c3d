"""JSON log lines through the standard library's queue pair: the access line's shape, the
request id taken on the caller's side, tracebacks, and nothing written on the request path."""

from __future__ import annotations

import io
import logging
import re
import sys
from collections.abc import Iterator
from datetime import UTC, datetime

import orjson
import pytest

from app import observability

FIELDS = {"request_id": "r1", "method": "GET", "path": "/v1/me", "route": "/v1/me", "status": 200, "caller": None}


@pytest.fixture
def stderr(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    observability.configure_logging("INFO")
    yield stream
    monkeypatch.undo()
    observability.configure_logging("WARNING")


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    observability.flush_logs()
    return [orjson.loads(line) for line in stream.getvalue().splitlines()]


def test_access_line_shape(stderr):
    observability.access_log.info("request", extra=dict(FIELDS))
    (line,) = lines(stderr)
    assert {k: line[k] for k in FIELDS} == FIELDS
    assert (line["level"], line["logger"], line["msg"]) == ("info", "app.access", "request")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", str(line["ts"]))
    assert abs((datetime.now(UTC) - datetime.fromisoformat(str(line["ts"]))).total_seconds()) < 5


def test_the_request_id_is_the_loggers_not_the_writers(stderr):
    token = observability.request_id_var.set("req-42")
    try:
        logging.getLogger("app.errors").warning("database unavailable", extra={"error": "OSError"})
    finally:
        observability.request_id_var.reset(token)
    (line,) = lines(stderr)
    assert (line["request_id"], line["level"], line["error"]) == ("req-42", "warning", "OSError")


def test_tracebacks_reach_the_line(stderr):
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("app.errors").exception("unhandled error")
    (line,) = lines(stderr)
    assert "ValueError: boom" in str(line["exc"])


def test_the_logging_call_only_queues(stderr, monkeypatch):
    """The line is formatted and written by the listener thread, not by the caller."""
    written: list[str] = []
    monkeypatch.setattr(observability.JsonFormatter, "format", lambda self, record: written.append("x") or "{}")
    observability.access_log.info("request", extra=dict(FIELDS))
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.handlers.QueueHandler)
    observability.flush_logs()
    assert written == ["x"]
