"""Logging: structlog for our events, the standard library's loggers routed through the same chain.

JSON lines when the output is not a terminal, readable lines when it is. Context (campaign, run,
district, route) is bound with ``bind_context`` and travels in contextvars. Phone numbers are personal
data: ``mask_phones`` rewrites every Vietnamese mobile number it finds in any string of an event,
tracebacks included, before anything is written.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

# A Vietnamese mobile number as it may be written: +84 / 84 / 0084 / 0 followed by 9 digits (new) or
# the 10-digit pre-2018 form; separators (space, dot, dash) may sit between digit groups. Numbers
# embedded in longer digit runs are left alone (they are ids, not phones).
_PHONE = re.compile(
    r"(?<![\d+])\(?"
    r"(?P<prefix>\+84|0084|84|0)"
    r"[\s.\-()]{0,2}"
    r"(?P<body>(?:1[2-9]\d|[35789]\d)(?:[\s.\-()]{0,2}\d){7,8})"
    r"(?!\d)"
)
_SEPARATORS = re.compile(r"[\s.\-()]")


def mask_text(text: str) -> str:
    """Mask every mobile number in ``text`` (example: ``+84912345678`` -> ``+8491****678``)."""
    if not any(char.isdigit() for char in text):
        return text
    return _PHONE.sub(_mask_match, text)


def _mask_match(match: re.Match[str]) -> str:
    prefix, body = match.group("prefix"), _SEPARATORS.sub("", match.group("body"))
    if len(body) not in (9, 10):
        return match.group(0)
    return f"{prefix}{body[:2]}{'*' * (len(body) - 5)}{body[-3:]}"


def _mask_value(value: Any) -> Any:
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {key: _mask_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_mask_value(item) for item in value)
    return value


def mask_phones(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: mask phone numbers in every value (run after exceptions are rendered)."""
    for key, value in event_dict.items():
        event_dict[key] = _mask_value(value)
    return event_dict


def bind_context(**values: Any) -> None:
    """Bind campaign/run/district/route (or anything else) to every event of this context."""
    structlog.contextvars.bind_contextvars(**values)


def clear_context() -> None:
    structlog.contextvars.clear_contextvars()


def configure(level: str = "INFO", stream: TextIO | None = None, json: bool | None = None) -> None:
    """Set up structlog and the standard library's logging; call once per process."""
    stream = stream or sys.stderr
    if json is None:
        json = not stream.isatty()
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    if json:
        shared.append(structlog.processors.format_exc_info)
    shared.append(mask_phones)
    renderer: Any = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if json
        else structlog.dev.ConsoleRenderer(colors=stream.isatty(), exception_formatter=_masked_traceback)
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "apscheduler", "sqlalchemy", "alembic"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)


def _masked_traceback(sio: TextIO, exc_info: Any) -> None:
    import traceback

    sio.write("\n" + mask_text("".join(traceback.format_exception(*exc_info))))


def get_logger(name: str | None = None) -> Any:
    return structlog.get_logger(name)
