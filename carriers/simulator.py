"""A simulated SMSC: behaves like a carrier, sends nothing.

``Smsc`` is the simulated network: it accepts submissions, honours idempotency keys (a resend with a
known key is answered with the first answer), decides each number's fate and produces receipts when
they are due. ``SimulatorAdapter`` is the in-process route to it; receipts come by polling.

Behaviour is data (``Behaviour``): latency, a rate of transient failures, numbers refused at submit
time (a regular expression), a rate of numbers undeliverable in receipts, receipt delays, a route-wide
fault. Every decision about a number is a pure function of the seed and the number, so a run is
reproducible and a resend meets the same fate.
"""

from __future__ import annotations

import hashlib
import heapq
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from carriers.base import (
    Accepted,
    Capabilities,
    Failed,
    FailureKind,
    Receipt,
    ReceiptMode,
    ReceiptStatus,
    Result,
    Submission,
)
from carriers.errors import RouteError

ERROR_UNDELIVERABLE = "UNDELIV"
ERROR_REFUSED = "REJECTD"
ERROR_BUSY = "BUSY"


@dataclass(frozen=True, slots=True, kw_only=True)
class Behaviour:
    latency: float = 0.0
    """Seconds each submit call takes."""
    transient_rate: float = 0.0
    """Share of submissions answered with a transient error (decided per attempt)."""
    refuse_pattern: str = ""
    """Numbers matching this regular expression are refused permanently at submit time."""
    undeliverable_rate: float = 0.0
    """Share of numbers that are accepted but reported undeliverable in their receipt."""
    receipt_delay: float = 0.0
    """Seconds between acceptance and the receipt."""
    route_fault: str = ""
    """Non-empty: every call fails route-wide with this code (e.g. ``auth``, ``balance``)."""
    seed: int = 0

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> Behaviour:
        known = {f.name: f.type for f in fields(cls)}
        unknown = sorted(set(options) - set(known))
        if unknown:
            msg = f"unknown simulator option {unknown[0]!r} (options: {', '.join(sorted(known))})"
            raise ValueError(msg)
        values: dict[str, Any] = {}
        for name, value in options.items():
            default = getattr(cls(), name)
            values[name] = type(default)(value)
        return cls(**values)


def _fraction(seed: int, *parts: str) -> float:
    """A stable pseudo-random number in [0, 1) for the given inputs."""
    digest = hashlib.blake2b("|".join((str(seed), *parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


class Smsc:
    """The simulated network, shared by every adapter that points at it."""

    def __init__(self, behaviour: Behaviour | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.behaviour = behaviour or Behaviour()
        self._clock = clock
        self._lock = threading.Lock()
        self._by_key: dict[str, Accepted] = {}
        self._receipts: dict[str, Receipt] = {}
        self._due: list[tuple[float, str]] = []
        self._next_id = 1
        self.submitted = 0
        """Distinct messages accepted (a resend with a known key does not count)."""
        self.deliveries: dict[str, int] = {}
        """Accepted messages per number: more than one means a number got the same message twice."""

    def submit(self, batch: Sequence[Submission]) -> list[Result]:
        behaviour = self.behaviour
        if behaviour.route_fault:
            msg = f"simulated route-wide fault: {behaviour.route_fault}"
            raise RouteError(msg, code=behaviour.route_fault)
        if behaviour.latency:
            time.sleep(behaviour.latency)
        with self._lock:
            return [self._submit_one(item) for item in batch]

    def _submit_one(self, item: Submission) -> Result:
        behaviour = self.behaviour
        known = self._by_key.get(item.key)
        if known is not None:
            return known
        if behaviour.refuse_pattern and re.search(behaviour.refuse_pattern, item.msisdn):
            return Failed(key=item.key, kind=FailureKind.PERMANENT, code=ERROR_REFUSED, reason="number refused")
        if behaviour.transient_rate and _fraction(self._next_id, item.key, "t") < behaviour.transient_rate:
            self._next_id += 1
            return Failed(key=item.key, kind=FailureKind.TRANSIENT, code=ERROR_BUSY, reason="SMSC busy")
        provider_id = f"SIM{self._next_id:010d}"
        self._next_id += 1
        accepted = Accepted(key=item.key, provider_id=provider_id)
        self._by_key[item.key] = accepted
        self.submitted += 1
        self.deliveries[item.msisdn] = self.deliveries.get(item.msisdn, 0) + 1
        undeliverable = _fraction(behaviour.seed, item.msisdn, "u") < behaviour.undeliverable_rate
        self._receipts[provider_id] = Receipt(
            provider_id=provider_id,
            status=ReceiptStatus.FAILED if undeliverable else ReceiptStatus.DELIVERED,
            error_code=ERROR_UNDELIVERABLE if undeliverable else None,
            at=datetime.now(UTC),
            raw=f"id:{provider_id} stat:{'UNDELIV' if undeliverable else 'DELIVRD'}",
        )
        heapq.heappush(self._due, (self._clock() + behaviour.receipt_delay, provider_id))
        return accepted

    def due_receipts(self, provider_ids: Sequence[str] | None = None) -> list[Receipt]:
        """Receipts whose time has come (all of them, or only for these ids), each handed out once."""
        now = self._clock()
        wanted = None if provider_ids is None else set(provider_ids)
        out: list[Receipt] = []
        kept: list[tuple[float, str]] = []
        with self._lock:
            while self._due and self._due[0][0] <= now:
                due_at, provider_id = heapq.heappop(self._due)
                if wanted is not None and provider_id not in wanted:
                    kept.append((due_at, provider_id))
                    continue
                receipt = self._receipts.pop(provider_id)
                out.append(_stamped(receipt))
            for entry in kept:
                heapq.heappush(self._due, entry)
        return out

    @property
    def pending_receipts(self) -> int:
        with self._lock:
            return len(self._due)


def _stamped(receipt: Receipt) -> Receipt:
    return Receipt(
        provider_id=receipt.provider_id,
        status=receipt.status,
        error_code=receipt.error_code,
        at=datetime.now(UTC),
        raw=receipt.raw,
    )


class SimulatorAdapter:
    """The in-process route to an ``Smsc``; receipts by polling."""

    capabilities = Capabilities(
        max_batch=500,
        unicode=True,
        max_parts=10,
        idempotency_keys=True,
        receipts=(ReceiptMode.POLL,),
    )

    def __init__(self, smsc: Smsc) -> None:
        self.smsc = smsc

    @classmethod
    def from_options(cls, options: Mapping[str, Any], credentials: Mapping[str, str]) -> SimulatorAdapter:
        del credentials  # the simulator needs none
        return cls(Smsc(Behaviour.from_options(options)))

    def submit(self, batch: Sequence[Submission]) -> list[Result]:
        return self.smsc.submit(batch)

    def poll(self, provider_ids: Sequence[str]) -> list[Receipt]:
        return self.smsc.due_receipts(provider_ids)

    def close(self) -> None:
        return None
