"""Failures of a whole adapter call, already classified for dispatch.

    CarrierError
    ├── RouteError          the route cannot send at all (bad credentials, no balance, IP not allowed,
    │                       bind lost): open the circuit breaker, keep the messages queued
    ├── TransientError      nothing was sent (connection refused, 5xx before acceptance): retry later
    │   └── ThrottledError  the carrier asked us to slow down; ``retry_after`` seconds
    ├── AmbiguousError      the request may have reached the carrier (read timeout): resend only with
    │                       the same idempotency key
    └── MalformedPayload    the peer sent something we cannot parse (a receipt, a response)

Adapters convert foreign exceptions (requests, smpplib, XML parsers) into these in one place, with
``raise … from exc``; nothing foreign escapes ``carriers/``. Messages never contain credentials.
"""

from __future__ import annotations


class CarrierError(Exception):
    """Base class: ``code`` is the carrier's own code when it gave one."""

    def __init__(self, message: str, *, code: str = "") -> None:
        super().__init__(message)
        self.code = code


class RouteError(CarrierError):
    pass


class TransientError(CarrierError):
    pass


class ThrottledError(TransientError):
    def __init__(self, message: str, *, code: str = "", retry_after: float | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class AmbiguousError(CarrierError):
    pass


class MalformedPayload(CarrierError):
    pass


class UnknownAdapter(LookupError):
    pass
