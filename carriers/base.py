"""The carrier adapter contract: what crosses the boundary between broadcaster and a telecom network.

Only these frozen dataclasses cross it. An adapter

- declares its ``Capabilities``;
- implements ``submit(batch) -> list[Result]``: one result per submission, in order, each either
  ``Accepted`` (with the provider's id) or ``Failed`` with a ``kind`` from ``FailureKind``;
- raises one of ``carriers.errors`` when the whole call fails (route-wide fault, connection refused);
- returns canonical ``Receipt`` objects from ``parse_callback`` (callbacks), ``poll`` (polling) or
  ``receipts`` (a stream), depending on ``Capabilities.receipts``;
- releases its connections in ``close``.

The submission ``key`` is broadcaster's message id; adapters that support it send it as the carrier's
idempotency key (eSMS ``RequestId``, our SMPP reference), so a resend after an ambiguous timeout is
recognised by the carrier instead of delivered twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable


class ReceiptStatus:
    """Canonical receipt statuses (the carrier's own code is kept in ``Receipt.error_code``/``raw``)."""

    ACCEPTED = "sent"  # intermediate: accepted, buffered, awaiting the network's report
    DELIVERED = "delivered"
    FAILED = "failed"
    EXPIRED = "expired"

    ALL = (ACCEPTED, DELIVERED, FAILED, EXPIRED)


class FailureKind:
    """How a per-message failure is handled by dispatch."""

    TRANSIENT = "transient"  # not sent; retry later (connection refused, 5xx before acceptance)
    THROTTLED = "throttled"  # not sent; the carrier asks us to slow down (retry_after seconds)
    PERMANENT = "permanent"  # the carrier refused this message; never retry
    AMBIGUOUS = "ambiguous"  # may have reached the carrier (read timeout): resend only with the same key
    ROUTE = "route"  # the route cannot send at all (auth, balance): pause the route, keep the message

    ALL = (TRANSIENT, THROTTLED, PERMANENT, AMBIGUOUS, ROUTE)


class ReceiptMode:
    NONE = "none"
    CALLBACK = "callback"
    POLL = "poll"
    STREAM = "stream"


@dataclass(frozen=True, slots=True, kw_only=True)
class Capabilities:
    max_batch: int = 1
    """Most submissions one ``submit`` call accepts."""
    min_batch: int = 1
    """Fewest submissions with the same text one carrier request needs (eSMS advertising: 30); smaller
    groups come back ``Failed`` transient, to be sent again in a larger batch."""
    same_text_batches: bool = False
    """True when a multi-number request must carry one content for all numbers (eSMS advertising)."""
    unicode: bool = True
    max_parts: int = 8
    idempotency_keys: bool = False
    receipts: tuple[str, ...] = (ReceiptMode.NONE,)


@dataclass(frozen=True, slots=True, kw_only=True)
class Submission:
    key: str
    """Our message id; the idempotency key where the carrier supports one."""
    msisdn: str
    """E.164, ``+84…``."""
    text: str
    encoding: str
    """``gsm7`` or ``ucs2`` (see ``carriers.sms``)."""
    sender: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Accepted:
    key: str
    provider_id: str
    parts: int = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class Failed:
    key: str
    kind: str
    """One of ``FailureKind``."""
    code: str = ""
    reason: str = ""
    retry_after: float | None = None


Result = Accepted | Failed


@dataclass(frozen=True, slots=True, kw_only=True)
class Receipt:
    provider_id: str
    status: str
    """One of ``ReceiptStatus``."""
    at: datetime
    error_code: str | None = None
    network: str | None = None
    """The network that actually served the number, when the carrier says (a carrier name)."""
    part: int | None = None
    parts: int | None = None
    raw: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class CallbackRequest:
    """An HTTP callback as the receipts endpoint received it, free of any web framework."""

    method: str
    query: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""


@runtime_checkable
class Adapter(Protocol):
    """A route's connection to one carrier or aggregator."""

    capabilities: Capabilities

    def submit(self, batch: Sequence[Submission]) -> list[Result]:
        """Send the batch; one result per submission, in the same order."""
        ...

    def close(self) -> None:
        """Release connections and threads."""
        ...


@runtime_checkable
class PollingAdapter(Adapter, Protocol):
    def poll(self, provider_ids: Sequence[str]) -> list[Receipt]:
        """Receipts now known for these provider ids (absent ids: nothing new yet)."""
        ...


@runtime_checkable
class CallbackAdapter(Adapter, Protocol):
    def parse_callback(self, request: CallbackRequest) -> list[Receipt]:
        """Receipts in a carrier's callback; raises ``errors.MalformedPayload`` for garbage."""
        ...
