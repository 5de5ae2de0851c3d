"""JSON log lines: the access line's shape, batching, and the fallback to plain logging."""

from __future__ import annotations

import io
import logging
import re
from datetime import UTC, datetime

import orjson

from app import logging as app_logging

FIELDS = {"request_id": "r1", "method": "GET", "path": "/v1/me", "route": "/v1/me", "status": 200, "caller": None}


def _configured(stream: io.StringIO) -> app_logging.BufferedStreamHandler:
    app_logging.configure_logging("INFO")
    handler = app_logging._handler
    assert handler is not None
    handler.flush()
    handler.setStream(stream)
    return handler


def test_access_line_is_batched_then_written_whole():
    stream = io.StringIO()
    handler = _configured(stream)
    try:
        app_logging.log_access(dict(FIELDS))
        assert stream.getvalue() == ""  # pending until the next flush (at most 0.2 s)
        handler.flush()
        line = orjson.loads(stream.getvalue())
        assert {k: line[k] for k in FIELDS} == FIELDS
        assert (line["level"], line["logger"], line["msg"]) == ("info", "app.access", "request")
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", line["ts"])
        written = datetime.fromisoformat(line["ts"])
        assert abs((datetime.now(UTC) - written).total_seconds()) < 5
    finally:
        app_logging.configure_logging("WARNING")


def test_warnings_are_written_at_once_after_what_is_pending():
    stream = io.StringIO()
    _configured(stream)
    try:
        app_logging.log_access(dict(FIELDS))
        logging.getLogger("app.errors").warning("database unavailable", extra={"error": "OSError"})
        lines = [orjson.loads(line) for line in stream.getvalue().splitlines()]
        assert [line["msg"] for line in lines] == ["request", "database unavailable"]
        assert lines[1]["level"] == "warning" and lines[1]["error"] == "OSError"
    finally:
        app_logging.configure_logging("WARNING")


def test_access_line_goes_through_logging_when_someone_else_configured_it():
    app_logging.configure_logging("INFO")
    root = logging.getLogger()
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    saved = root.handlers[:]
    root.handlers[:] = [Collect()]
    try:
        app_logging.log_access(dict(FIELDS))
    finally:
        root.handlers[:] = saved
        app_logging.configure_logging("WARNING")
    assert len(records) == 1 and records[0].getMessage() == "request" and records[0].status == 200
