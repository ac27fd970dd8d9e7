"""Log lines as structured events, as text or JSON, each carrying the id of its request.

An event is logged as `event.name field=value ...`. The request id lives in a context variable,
so lines logged from threadpool work carry it too; lines outside any request show `-`.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Literal

LogFormat = Literal["text", "json"]

REQUEST_ID_HEADER = "X-Request-ID"
NO_REQUEST = "-"

request_id: ContextVar[str] = ContextVar("xcads_request_id", default=NO_REQUEST)

# Ids from the caller are kept only if they cannot break a log line or smuggle markup.
_SANE_REQUEST_ID = re.compile(rb"[A-Za-z0-9][A-Za-z0-9._:@+=/-]{0,127}")
_EVENT = re.compile(r"[a-z0-9_]+(?:\.[a-z0-9_]+)+")
_FIELD = re.compile(r"""(\w+)=('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|\S*)""")
# LogRecord attributes that fields of an event must not overwrite in JSON output.
_RESERVED = frozenset({"time", "level", "logger", "event", "message", "request_id", "exception"})


def request_id_from(header: bytes | None) -> str:
    """Return the caller's X-Request-ID if it is sane, else a new one."""
    if header and _SANE_REQUEST_ID.fullmatch(header):
        return header.decode("ascii")
    return uuid.uuid4().hex


class RequestIdFilter(logging.Filter):
    """Put the current request id on every record as `request_id`."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Add the id; never drop a record."""
        record.request_id = request_id.get()
        return True


class TextFormatter(logging.Formatter):
    """One event per line: time, level, logger, event and fields, then the request id.

    CR and LF that a sender put into a field are escaped, so no input can forge a log line.
    """

    def __init__(self, fmt: str | None = None) -> None:
        super().__init__(fmt or "%(asctime)s %(levelname)s %(name)s %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        """Format and escape line breaks; add the request id when the record has one."""
        line = super().formatMessage(record)
        found = getattr(record, "request_id", None)
        if found is not None:
            line = f"{line} request_id={found}"
        return line.replace("\r", "\\r").replace("\n", "\\n")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, event, its fields, message, request id."""

    def format(self, record: logging.LogRecord) -> str:
        """Render the record; `field=value` pairs after an event name become members.

        A line of a library's own (uvicorn's) has no event name: its logger's name stands in.
        """
        message = record.getMessage()
        event, _, rest = message.partition(" ")
        structured = _EVENT.fullmatch(event) is not None
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "event": event if structured else record.name,
        }
        if structured:
            for name, value in _FIELD.findall(rest):
                if name not in _RESERVED:
                    line[name] = _field_value(value)
        line["message"] = message
        line["request_id"] = getattr(record, "request_id", NO_REQUEST)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def _field_value(value: str) -> object:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def configure_logging(level: str, log_format: LogFormat = "text") -> None:
    """Log to stderr, one event per line, as text or JSON, each line with its request id."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
