"""Structured JSON logs: one object per line, with the ids that tie lines together.

``complaint_id``, ``event_id`` and ``request_id`` live in context variables, so
every line logged while handling a request or an event carries them without
being passed around; ``trace_id`` and ``span_id`` come from the current
OpenTelemetry span the same way. Personal data (names, phones, e-mail addresses, complaint
text) is never logged: log ids, not content.
"""

from __future__ import annotations

import contextvars
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from pythonjsonlogger.json import JsonFormatter

from tousu_common.tracing import log_ids

_CONTEXT_FIELDS = ("service", "request_id", "complaint_id", "event_id")
_context: dict[str, contextvars.ContextVar[str | None]] = {
    name: contextvars.ContextVar(f"tousu_{name}", default=None) for name in _CONTEXT_FIELDS
}


class _ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in _context.items():
            value = var.get()
            if value is not None and not hasattr(record, name):
                setattr(record, name, value)
        ids = log_ids()
        if ids is not None and not hasattr(record, "trace_id"):
            record.trace_id, record.span_id = ids
        return True


@contextmanager
def event_context(**values: str | None) -> Iterator[None]:
    """Attach ids (``complaint_id=``, ``event_id=``, ...) to every line logged inside."""
    tokens = [(_context[name], _context[name].set(value)) for name, value in values.items()]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def bind(**values: str | None) -> None:
    """Set ids for the rest of the current context (e.g. once the complaint id is known)."""
    for name, value in values.items():
        _context[name].set(value)


def configure_logging(service: str, level: str = "INFO") -> None:
    _context["service"].set(service)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            static_fields={"service": service},
        )
    )
    handler.addFilter(_ContextFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    # aiokafka is chatty at INFO about group joins; keep its warnings.
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, root.level))
