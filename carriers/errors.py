"""Failures of a whole adapter call, already classified for dispatch.

    CarrierError
    ├── RouteError          the route cannot send at all (bad credentials, no balance, IP not allowed,
    │                       bind lost): open the circuit breaker, keep the messages queued
    ├── TransientError      nothing was sent (connection refused, 5xx before acceptance): retry later
    │   └── ThrottledError  the carrier asked us to slow down; ``retry_after`` seconds
    ├── AmbiguousError      the request may have reached the carrier (read timeout): resend only with
    │                       the same idempotency key
    └── MalformedPayload    the peer sent something we cannot parse (a receipt, a response)

Each class names the ``FailureKind`` dispatch gives the messages of a failed call (``kind``);
``as_failed`` turns a raised error into the per-message ``Failed`` result an adapter may return
instead. ``AdapterOptionsError`` is a route's options or credentials being wrong (a configuration
mistake, not a carrier fault).

Adapters convert foreign exceptions (requests, smpplib, XML parsers) into these in one place, with
``raise … from exc``; nothing foreign escapes ``carriers/``. Messages never contain credentials.
"""

from __future__ import annotations

from carriers.base import Failed, FailureKind


class CarrierError(Exception):
    """Base class: ``code`` is the carrier's own code when it gave one."""

    kind: str = FailureKind.TRANSIENT

    def __init__(self, message: str, *, code: str = "") -> None:
        super().__init__(message)
        self.code = code


class RouteError(CarrierError):
    kind = FailureKind.ROUTE


class TransientError(CarrierError):
    kind = FailureKind.TRANSIENT


class ThrottledError(TransientError):
    kind = FailureKind.THROTTLED

    def __init__(self, message: str, *, code: str = "", retry_after: float | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class AmbiguousError(CarrierError):
    kind = FailureKind.AMBIGUOUS


class MalformedPayload(CarrierError):
    kind = FailureKind.TRANSIENT


class UnknownAdapter(LookupError):
    pass


class AdapterOptionsError(ValueError):
    """A route's options or credentials are missing or wrong: fix ``broadcaster.toml`` or the environment."""


def as_failed(exc: CarrierError, key: str) -> Failed:
    """The per-message result for submission ``key`` of a call that failed with ``exc``."""
    retry_after = exc.retry_after if isinstance(exc, ThrottledError) else None
    return Failed(key=key, kind=exc.kind, code=exc.code, reason=str(exc), retry_after=retry_after)
