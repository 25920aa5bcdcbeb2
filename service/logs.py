"""Structured logs: one line per event through the `logging` module, as JSON or as plain text.

    configure_logging("json")       # transduce serve --log-format json
    LOG.info("stream end", extra={"fields": {"stream_id": 3, "status": "OK"}})
    -> {"time": "2026-...Z", "level": "INFO", "logger": "transduce.service", "event": "stream end",
        "stream_id": 3, "status": "OK"}

Events carry their data in `extra={"fields": {...}}`, so both formats show the same keys.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import TextIO

__all__ = ["LOG", "JsonFormatter", "TextFormatter", "configure_logging", "LOG_FORMATS"]

LOG = logging.getLogger("transduce.service")
LOG_FORMATS = ("json", "text")


def _fields(record: logging.LogRecord) -> dict:
    fields = getattr(record, "fields", None)
    return dict(fields) if isinstance(fields, dict) else {}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601), level, logger, event, then the record's fields."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        line = {"time": f"{stamp}.{int(record.msecs):03d}Z", "level": record.levelname, "logger": record.name,
                "event": record.getMessage(), **_fields(record)}
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class TextFormatter(logging.Formatter):
    """`time level event key=value ...` for people reading a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of text."""
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(record.created))
        pairs = " ".join(f"{k}={v}" for k, v in _fields(record).items())
        return f"{stamp} {record.levelname} {record.getMessage()} {pairs}".rstrip()


def configure_logging(fmt: str = "text", stream: TextIO | None = None,
                      level: int = logging.INFO) -> logging.Handler:
    """Send the service's log records to `stream` (default stderr) in `fmt` (json|text); returns the
    handler (replacing one this function added before)."""
    if fmt not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {LOG_FORMATS}, got {fmt!r}")
    for old in [h for h in LOG.handlers if getattr(h, "_transduce", False)]:
        LOG.removeHandler(old)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler._transduce = True  # type: ignore[attr-defined] - marks the handler as ours
    LOG.addHandler(handler)
    LOG.setLevel(level)
    return handler
