"""A simulated SMSC: behaves like a carrier, sends nothing.

``Smsc`` is the simulated network. It accepts submissions, honours idempotency keys (a resend with a
known key is answered with the first answer: over HTTP that is eSMS code 124), decides each call's and
each number's fate, and produces receipts when they are due. ``SimulatorAdapter`` is the in-process
route to it (receipts by polling); ``carriers.simulator_http`` puts the same ``Smsc`` behind the eSMS
wire protocol, with receipts by callback or polling.

Behaviour is data (``Behaviour``), switchable while the SMSC runs (``Smsc.switch``), and comes in named
presets (``PRESETS``, combined with ``Behaviour.named("flaky,slow")``):

=================== =========================================================================
happy               everything accepted and delivered
slow                latency with a long tail (``latency`` + exponential ``latency_jitter``)
flaky               busy answers (HTTP 503) and connection resets at a rate
timeouts            no answer at a rate, half of them after the message was accepted
throttling          a TPS cap answered with 429 and Retry-After
rejecting           numbers matching a pattern refused at submit; others undeliverable at a rate
auth, balance       every call fails route-wide (eSMS 101, 103)
late-receipts       receipts minutes late, spread out
duplicate-receipts  some final receipts sent twice
out-of-order        intermediate receipts that arrive after the final one, finals reordered
early-receipts      receipts sent before the submit response (callback mode)
=================== =========================================================================

Every decision is a pure function of the seed and the inputs (the idempotency key, the attempt
number of that key, the number, the clock for the TPS cap), so a run is reproducible and a resend of
the same number meets the same fate in its receipt.

Two levels of decision:

- per call (one ``submit`` in process, one HTTP request): route-wide fault, TPS cap, latency,
  connection reset, timeout before or after acceptance;
- per message: refusal by pattern, a busy answer (``transient_rate``; over HTTP one message is one
  customer-care request, so it is the request's 503), undeliverable in its receipt, receipt timing,
  duplicates, order and early receipts.
"""

from __future__ import annotations

import hashlib
import heapq
import math
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from functools import lru_cache
from types import MappingProxyType
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
from carriers.errors import AdapterOptionsError, AmbiguousError, RouteError, ThrottledError, TransientError

ERROR_UNDELIVERABLE = "UNDELIV"
ERROR_REFUSED = "REJECTD"
ERROR_BUSY = "BUSY"
ERROR_THROTTLED = "THROTTLED"
ERROR_RESET = "RESET"
ERROR_TIMEOUT = "TIMEOUT"

ROUTE_FAULTS: Mapping[str, str] = {
    "auth": "101",
    "no_price": "102",
    "balance": "103",
    "brandname": "104",
    "ip": "140",
    "locked": "143",
}
"""Route-wide faults the simulator can stage -> the eSMS code it answers over HTTP."""

# Two digits after the trunk 0 -> original carrier (the simulator's idea of the serving network).
NETWORKS: Mapping[str, str] = {
    **dict.fromkeys(("86", "96", "97", "98", "32", "33", "34", "35", "36", "37", "38", "39"), "viettel"),
    **dict.fromkeys(("88", "91", "94", "81", "82", "83", "84", "85"), "vinaphone"),
    **dict.fromkeys(("89", "90", "93", "70", "76", "77", "78", "79"), "mobifone"),
    **dict.fromkeys(("92", "52", "56", "58"), "vietnamobile"),
    **dict.fromkeys(("99", "59"), "gmobile"),
    "87": "itel",
    "55": "reddi",
}

_NO_META: Mapping[str, str] = MappingProxyType({})
_GAP = 0.01
"""Seconds between a receipt and its duplicate, or a final receipt and a late intermediate one."""


@lru_cache(maxsize=64)
def _compiled(pattern: str) -> re.Pattern[str] | None:
    return re.compile(pattern) if pattern else None


@dataclass(frozen=True, slots=True, kw_only=True)
class Behaviour:
    latency: float = 0.0
    """Seconds each call takes at least."""
    latency_jitter: float = 0.0
    """Mean of an exponentially distributed extra delay per call (a long tail)."""
    transient_rate: float = 0.0
    """Share of messages answered busy (in process a ``Failed`` transient; over HTTP a 503), per attempt."""
    reset_rate: float = 0.0
    """Share of calls whose connection is reset without an answer (nothing accepted)."""
    timeout_rate: float = 0.0
    """Share of calls never answered; nothing was accepted (the caller cannot tell)."""
    timeout_after_accept_rate: float = 0.0
    """Share of calls never answered although the messages were accepted (the caller cannot tell)."""
    tps_limit: float = 0.0
    """Messages a second accepted on average (0: no cap); above it calls are throttled (429, Retry-After)."""
    refuse_pattern: str = ""
    """Numbers matching this regular expression are refused permanently at submit time."""
    undeliverable_pattern: str = ""
    """Numbers matching this regular expression are accepted, then reported undeliverable."""
    undeliverable_rate: float = 0.0
    """Share of numbers that are accepted but reported undeliverable in their receipt."""
    route_fault: str = ""
    """Non-empty: every call fails route-wide with this fault (one of ``ROUTE_FAULTS``)."""
    receipt_delay: float = 0.0
    """Seconds between acceptance and the final receipt."""
    receipt_jitter: float = 0.0
    """Up to this many seconds more per message (receipts then arrive in another order than sent)."""
    intermediate_receipts: bool = False
    """Send an intermediate receipt ("sent, awaiting the network") halfway to the final one."""
    duplicate_rate: float = 0.0
    """Share of final receipts sent twice."""
    reorder_rate: float = 0.0
    """Share of messages whose intermediate receipt arrives after the final one."""
    early_receipt_rate: float = 0.0
    """Share of messages whose final receipt is due at once (callback mode: before the submit answer)."""
    seed: int = 0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name.endswith("_rate") and not 0.0 <= value <= 1.0:
                msg = f"simulator option {f.name} is a share between 0 and 1, not {value!r}"
                raise AdapterOptionsError(msg)
            if isinstance(value, float) and value < 0:
                msg = f"simulator option {f.name} cannot be negative ({value!r})"
                raise AdapterOptionsError(msg)
        for name in ("refuse_pattern", "undeliverable_pattern"):
            try:
                _compiled(getattr(self, name))
            except re.error as exc:
                msg = f"simulator option {name}: {getattr(self, name)!r} is not a regular expression ({exc})"
                raise AdapterOptionsError(msg) from exc
        if self.route_fault and self.route_fault not in ROUTE_FAULTS:
            msg = f"simulator option route_fault: {self.route_fault!r} is not one of {', '.join(ROUTE_FAULTS)}"
            raise AdapterOptionsError(msg)

    @classmethod
    def named(cls, names: str | Iterable[str] = "happy", **overrides: Any) -> Behaviour:
        """The presets ``names`` (comma-separated or a list) laid over each other, then ``overrides``."""
        if isinstance(names, str):
            names = [n.strip() for n in names.split(",") if n.strip()]
        values: dict[str, Any] = {}
        for name in names:
            preset = PRESETS.get(name)
            if preset is None:
                msg = f"unknown simulator behaviour {name!r} (behaviours: {', '.join(PRESETS)})"
                raise AdapterOptionsError(msg)
            values.update(_changed(preset))
        values.update({name: _coerce(name, value) for name, value in overrides.items()})
        return cls(**values)

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> Behaviour:
        """From a route's options: field values, plus ``behaviour`` naming presets to start from."""
        options = dict(options)
        names = options.pop("behaviour", "happy")
        return cls.named(names, **options)

    def describe(self) -> dict[str, Any]:
        """The fields that differ from the happy defaults."""
        return _changed(self)


def _changed(behaviour: Behaviour) -> dict[str, Any]:
    default = Behaviour()
    values = {f.name: getattr(behaviour, f.name) for f in fields(behaviour)}
    return {name: value for name, value in values.items() if value != getattr(default, name)}


_FIELD_TYPES: dict[str, type] = {f.name: type(getattr(Behaviour(), f.name)) for f in fields(Behaviour)}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _coerce(name: str, value: Any) -> Any:
    """A field's value from a string (command line, TOML) or a number, checked against the field's type."""
    kind = _FIELD_TYPES.get(name)
    if kind is None:
        msg = f"unknown simulator option {name!r} (options: behaviour, {', '.join(sorted(_FIELD_TYPES))})"
        raise AdapterOptionsError(msg)
    try:
        if kind is bool:
            if isinstance(value, str):
                if value.strip().lower() not in _TRUE | _FALSE:
                    raise ValueError(value)
                return value.strip().lower() in _TRUE
            return bool(value)
        if kind is int and isinstance(value, float) and not value.is_integer():
            raise ValueError(value)
        return kind(value)
    except (TypeError, ValueError) as exc:
        msg = f"simulator option {name} must be a {kind.__name__}, not {value!r}"
        raise AdapterOptionsError(msg) from exc


PRESETS: Mapping[str, Behaviour] = {
    "happy": Behaviour(),
    "slow": Behaviour(latency=0.05, latency_jitter=0.25),
    "flaky": Behaviour(transient_rate=0.1, reset_rate=0.05),
    "timeouts": Behaviour(timeout_rate=0.05, timeout_after_accept_rate=0.05),
    "throttling": Behaviour(tps_limit=20.0),
    "rejecting": Behaviour(refuse_pattern=r"0$", undeliverable_rate=0.1),
    "auth": Behaviour(route_fault="auth"),
    "balance": Behaviour(route_fault="balance"),
    "late-receipts": Behaviour(receipt_delay=30.0, receipt_jitter=60.0),
    "duplicate-receipts": Behaviour(duplicate_rate=0.3),
    "out-of-order": Behaviour(receipt_jitter=1.0, intermediate_receipts=True, reorder_rate=0.5),
    "early-receipts": Behaviour(early_receipt_rate=1.0),
}


def _fraction(seed: int, *parts: str) -> float:
    """A stable pseudo-random number in [0, 1) for the given inputs."""
    digest = hashlib.blake2b("|".join((str(seed), *parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def network_of(msisdn: str) -> str | None:
    """The carrier the simulator says serves ``msisdn`` (``+84…``, ``84…`` or ``0…``), if it knows."""
    digits = msisdn.lstrip("+")
    national = digits[2:] if digits.startswith("84") else digits.removeprefix("0")
    return NETWORKS.get(national[:2])


class Outcome:
    """What one call to the SMSC came to."""

    ANSWERED = "answered"
    THROTTLED = "throttled"
    ROUTE_FAULT = "route_fault"
    BUSY = "busy"
    RESET = "reset"
    TIMEOUT = "timeout"


@dataclass(frozen=True, slots=True, kw_only=True)
class Call:
    outcome: str
    """One of ``Outcome``."""
    results: tuple[Result, ...] = ()
    """One per submission when answered; after a timeout, what the SMSC kept (the caller never hears)."""
    known: frozenset[str] = frozenset()
    """Keys answered from the idempotency memory (a resend: eSMS code 124)."""
    latency: float = 0.0
    retry_after: float = 0.0
    fault: str = ""
    """The route fault's name (``ROUTE_FAULTS``) when ``outcome`` is ``ROUTE_FAULT``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """What the SMSC holds about an accepted message."""

    provider_id: str
    key: str
    msisdn: str
    text: str
    encoding: str
    accepted_at: float
    final_at: float
    """Clock time at which the final receipt is due."""
    status: str
    """The final ``ReceiptStatus``."""
    error_code: str | None
    network: str | None
    sandbox: bool = False
    meta: Mapping[str, str] = field(default_factory=dict)
    """Whatever the front end needs to report on it (HTTP: callback URL, request id, SMSID)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """A receipt the SMSC sends (or hands to a poll): the message and the status it reports."""

    message: Message
    status: str
    copy: int = 1
    """2 for a duplicate."""

    def receipt(self) -> Receipt:
        final = self.status != ReceiptStatus.ACCEPTED
        stat = {ReceiptStatus.DELIVERED: "DELIVRD", ReceiptStatus.FAILED: "UNDELIV"}.get(self.status, "ACCEPTD")
        return Receipt(
            provider_id=self.message.provider_id,
            status=self.status,
            error_code=self.message.error_code if final else None,
            network=self.message.network,
            at=datetime.now(UTC),
            raw=f"id:{self.message.provider_id} stat:{stat}",
        )


class Smsc:
    """The simulated network, shared by every adapter (or HTTP front end) that points at it.

    Thread-safe: one lock guards the state; nothing sleeps under it (latency is the caller's).
    """

    def __init__(self, behaviour: Behaviour | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self._behaviour = behaviour or Behaviour()
        self._clock = clock
        self._lock = threading.Lock()
        self._by_key: dict[str, Accepted] = {}
        self._messages: dict[str, Message] = {}
        self._attempts: dict[str, int] = {}
        self._due: list[tuple[float, int, Event]] = []
        self._early: dict[str, Event] = {}
        self._seq = 0
        self._next_id = 1
        self._tokens = 0.0
        self._stamp = clock()
        self._reset_bucket()
        self.submitted = 0
        """Distinct messages accepted (a resend with a known key does not count)."""
        self.deliveries: dict[str, int] = {}
        """Accepted messages per number: more than one means a number got the same message twice."""
        self.counts: dict[str, int] = dict.fromkeys(
            ("calls", "answered", "throttled", "route_fault", "reset", "timeout", "busy", "refused", "resent"), 0
        )
        """Calls by outcome and messages by fate, for tests and the HTTP front end's ``/_sim/stats``."""

    # -- behaviour -------------------------------------------------------------------------------

    @property
    def behaviour(self) -> Behaviour:
        return self._behaviour

    @behaviour.setter
    def behaviour(self, behaviour: Behaviour) -> None:
        self.switch(behaviour)

    def switch(self, behaviour: Behaviour) -> None:
        """Change the behaviour from now on (messages already accepted keep their fate)."""
        with self._lock:
            self._behaviour = behaviour
            self._reset_bucket()

    def _reset_bucket(self) -> None:
        self._tokens = max(1.0, self._behaviour.tps_limit)
        self._stamp = self._clock()

    def now(self) -> float:
        return self._clock()

    # -- submitting ------------------------------------------------------------------------------

    def call(
        self,
        batch: Sequence[Submission],
        *,
        call_key: str | None = None,
        sandbox: bool = False,
        meta: Mapping[str, str] | Sequence[Mapping[str, str]] | None = None,
        busy_per_call: bool = False,
    ) -> Call:
        """Decide one call: ``call_key`` names it for the per-call draws (default: first key and size).

        ``meta`` (one mapping for all, or one per submission) is kept with each accepted message.
        Sandbox messages are accepted and checked but produce no receipt and count as not delivered.
        ``busy_per_call``: draw ``transient_rate`` once for the call (an HTTP request answered 503)
        instead of once per message. The caller applies ``Call.latency`` (sleeping outside the lock).
        """
        behaviour = self._behaviour
        call_key = call_key or (f"{batch[0].key}/{len(batch)}" if batch else "-")
        with self._lock:
            self.counts["calls"] += 1
            now = self._clock()
            call_name = f"call:{call_key}"
            attempt = self._attempts.get(call_name, 0) + 1  # kept only while the call keeps failing
            latency = behaviour.latency
            if behaviour.latency_jitter:
                draw = _fraction(behaviour.seed, call_key, str(attempt), "latency")
                latency += -behaviour.latency_jitter * math.log1p(-draw)
            if behaviour.route_fault:
                self.counts["route_fault"] += 1
                return Call(outcome=Outcome.ROUTE_FAULT, fault=behaviour.route_fault, latency=latency)
            if behaviour.tps_limit:
                retry_after = self._take_tokens(now, len(batch) or 1)
                if retry_after:
                    self.counts["throttled"] += 1
                    return Call(outcome=Outcome.THROTTLED, retry_after=retry_after, latency=latency)
            self._attempts[call_name] = attempt
            if _fraction(behaviour.seed, call_key, str(attempt), "reset") < behaviour.reset_rate:
                self.counts["reset"] += 1
                return Call(outcome=Outcome.RESET, latency=latency)
            if _fraction(behaviour.seed, call_key, str(attempt), "timeout") < behaviour.timeout_rate:
                self.counts["timeout"] += 1
                return Call(outcome=Outcome.TIMEOUT, latency=latency)
            if busy_per_call and _fraction(behaviour.seed, call_key, str(attempt), "busy") < behaviour.transient_rate:
                self.counts["busy"] += 1
                return Call(outcome=Outcome.BUSY, latency=latency)
            metas = _metas(meta, len(batch))
            known = frozenset(item.key for item in batch if item.key in self._by_key)
            results = tuple(
                self._submit_one(item, now, sandbox, m, per_message_busy=not busy_per_call)
                for item, m in zip(batch, metas, strict=True)
            )
            self.counts["resent"] += len(known)
            late = _fraction(behaviour.seed, call_key, str(attempt), "late-timeout")
            if late < behaviour.timeout_after_accept_rate:
                self.counts["timeout"] += 1
                return Call(outcome=Outcome.TIMEOUT, results=results, known=known, latency=latency)
            self.counts["answered"] += 1
            del self._attempts[call_name]
            return Call(outcome=Outcome.ANSWERED, results=results, known=known, latency=latency)

    def _take_tokens(self, now: float, n: int) -> float:
        """0 when the call fits under the TPS cap (and takes its tokens), else seconds to wait."""
        rate = self._behaviour.tps_limit
        self._tokens = min(max(1.0, rate), self._tokens + (now - self._stamp) * rate)
        self._stamp = now
        if self._tokens >= 1.0 - 1e-9:  # float dust in clock differences must not cost a token
            self._tokens -= n  # a batch larger than the burst leaves a debt the next calls wait out
            return 0.0
        return (1.0 - self._tokens) / rate

    def _submit_one(
        self, item: Submission, now: float, sandbox: bool, meta: Mapping[str, str], *, per_message_busy: bool
    ) -> Result:
        behaviour = self._behaviour
        known = self._by_key.get(item.key)
        if known is not None:
            return known
        refuse = _compiled(behaviour.refuse_pattern)
        if refuse is not None and refuse.search(item.msisdn):
            self.counts["refused"] += 1
            return Failed(key=item.key, kind=FailureKind.PERMANENT, code=ERROR_REFUSED, reason="number refused")
        if per_message_busy and behaviour.transient_rate:
            name = f"msg:{item.key}"
            attempt = self._attempts.pop(name, 0) + 1  # kept only while the message is answered busy
            if _fraction(behaviour.seed, item.key, str(attempt), "busy") < behaviour.transient_rate:
                self._attempts[name] = attempt
                self.counts["busy"] += 1
                return Failed(key=item.key, kind=FailureKind.TRANSIENT, code=ERROR_BUSY, reason="SMSC busy")
        provider_id = f"sim{self._next_id:010d}"  # already canonical (stripped, lower case)
        self._next_id += 1
        accepted = Accepted(key=item.key, provider_id=provider_id)
        self._by_key[item.key] = accepted
        message = self._message(item, provider_id, now, sandbox, meta)
        self._messages[provider_id] = message
        if not sandbox:
            self.submitted += 1
            self.deliveries[item.msisdn] = self.deliveries.get(item.msisdn, 0) + 1
            self._schedule(message)
        return accepted

    def _message(
        self, item: Submission, provider_id: str, now: float, sandbox: bool, meta: Mapping[str, str]
    ) -> Message:
        behaviour = self._behaviour
        seed = behaviour.seed
        pattern = _compiled(behaviour.undeliverable_pattern)
        undeliverable = (pattern is not None and pattern.search(item.msisdn) is not None) or (
            _fraction(seed, item.msisdn, "u") < behaviour.undeliverable_rate
        )
        delay = behaviour.receipt_delay + behaviour.receipt_jitter * _fraction(seed, item.key, "delay")
        if _fraction(seed, item.key, "early") < behaviour.early_receipt_rate:
            delay = 0.0
        return Message(
            provider_id=provider_id,
            key=item.key,
            msisdn=item.msisdn,
            text=item.text,
            encoding=item.encoding,
            accepted_at=now,
            final_at=now + delay,
            status=ReceiptStatus.FAILED if undeliverable else ReceiptStatus.DELIVERED,
            error_code=ERROR_UNDELIVERABLE if undeliverable else None,
            network=network_of(item.msisdn),
            sandbox=sandbox,
            meta=dict(meta) if meta else _NO_META,
        )

    def _schedule(self, message: Message) -> None:
        behaviour = self._behaviour
        seed, key = behaviour.seed, message.key
        final = Event(message=message, status=message.status)
        intermediate = Event(message=message, status=ReceiptStatus.ACCEPTED)
        reorder = _fraction(seed, key, "reorder") < behaviour.reorder_rate
        if behaviour.intermediate_receipts and not reorder:  # pushed first: first at equal times
            self._push((message.accepted_at + message.final_at) / 2, intermediate)
        if _fraction(seed, key, "early") < behaviour.early_receipt_rate:
            self._early[_canonical(message.provider_id)] = final
        else:
            self._push(message.final_at, final)
        if _fraction(seed, key, "dup") < behaviour.duplicate_rate:
            self._push(message.final_at + _GAP, replace(final, copy=2))
        if reorder:
            self._push(message.final_at + 2 * _GAP, intermediate)

    def _push(self, due: float, event: Event) -> None:
        self._seq += 1
        heapq.heappush(self._due, (due, self._seq, event))

    def submit(self, batch: Sequence[Submission]) -> list[Result]:
        """The in-process call: sleeps the latency; a fault of the whole call is raised.

        A reset is raised as ``TransientError`` (in process nothing went out); a timeout as
        ``AmbiguousError`` whether or not the messages were accepted, as a real caller sees it.
        """
        call = self.call(batch)
        if call.latency:
            time.sleep(call.latency)
        if call.outcome == Outcome.ROUTE_FAULT:
            msg = f"simulated route-wide fault: {call.fault} (eSMS code {ROUTE_FAULTS[call.fault]})"
            raise RouteError(msg, code=call.fault)
        if call.outcome == Outcome.THROTTLED:
            msg = f"simulated throttling: over {self._behaviour.tps_limit:g} messages a second"
            raise ThrottledError(msg, code=ERROR_THROTTLED, retry_after=call.retry_after)
        if call.outcome == Outcome.RESET:
            raise TransientError("simulated connection reset before the call went out", code=ERROR_RESET)
        if call.outcome == Outcome.BUSY:
            raise TransientError("simulated SMSC busy", code=ERROR_BUSY)
        if call.outcome == Outcome.TIMEOUT:
            raise AmbiguousError("simulated timeout: no answer to the call", code=ERROR_TIMEOUT)
        return list(call.results)

    # -- receipts --------------------------------------------------------------------------------

    def accepted(self, key: str) -> Message | None:
        """The message accepted under idempotency key ``key``, if any."""
        with self._lock:
            known = self._by_key.get(key)
            return None if known is None else self._messages.get(_canonical(known.provider_id))

    def message(self, provider_id: str) -> Message | None:
        with self._lock:
            return self._messages.get(_canonical(provider_id))

    def final_status(self, provider_id: str) -> Message | None:
        """The message once its final receipt is due (state, as a status query sees it), else ``None``."""
        now = self._clock()
        with self._lock:
            message = self._messages.get(_canonical(provider_id))
        if message is None or message.sandbox or message.final_at > now:
            return None
        return message

    def take_early(self, provider_ids: Iterable[str]) -> list[Event]:
        """The early receipts of these messages (the HTTP front end sends them before its answer)."""
        with self._lock:
            return [event for pid in provider_ids if (event := self._early.pop(_canonical(pid), None)) is not None]

    def pop_due(self, provider_ids: Sequence[str] | None = None) -> list[Event]:
        """Receipt events whose time has come (all, or only for these ids), each handed out once.

        Early receipts not taken by ``take_early`` are handed out here too. Ids match whatever their
        case or surrounding space (broadcaster stores them canonical: stripped, lower case).
        """
        now = self._clock()
        wanted = None if provider_ids is None else {_canonical(p) for p in provider_ids}
        out: list[Event] = []
        kept: list[tuple[float, int, Event]] = []
        with self._lock:
            for pid in list(self._early) if wanted is None else [p for p in wanted if p in self._early]:
                out.append(self._early.pop(pid))
            while self._due and self._due[0][0] <= now:
                entry = heapq.heappop(self._due)
                if wanted is not None and _canonical(entry[2].message.provider_id) not in wanted:
                    kept.append(entry)
                    continue
                out.append(entry[2])
            for entry in kept:
                heapq.heappush(self._due, entry)
        return out

    def due_receipts(self, provider_ids: Sequence[str] | None = None) -> list[Receipt]:
        """Receipts whose time has come (all of them, or only for these ids), each handed out once."""
        return [event.receipt() for event in self.pop_due(provider_ids)]

    def next_due(self) -> float | None:
        """Clock time of the next scheduled receipt, if any."""
        with self._lock:
            if self._early:
                return self._clock()
            return self._due[0][0] if self._due else None

    @property
    def pending_receipts(self) -> int:
        with self._lock:
            return len(self._due) + len(self._early)


def _canonical(provider_id: str) -> str:
    return provider_id.strip().lower()


def _metas(meta: Mapping[str, str] | Sequence[Mapping[str, str]] | None, n: int) -> Sequence[Mapping[str, str]]:
    if meta is None:
        return [{}] * n
    if isinstance(meta, Mapping):
        return [meta] * n
    if len(meta) != n:
        msg = f"{len(meta)} metadata mappings for {n} submissions"
        raise ValueError(msg)
    return meta


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
        """Options: ``behaviour`` (preset names) and any ``Behaviour`` field; no credentials needed."""
        del credentials  # the simulator needs none
        return cls(Smsc(Behaviour.from_options(options)))

    def submit(self, batch: Sequence[Submission]) -> list[Result]:
        return self.smsc.submit(batch)

    def poll(self, provider_ids: Sequence[str]) -> list[Receipt]:
        return self.smsc.due_receipts(provider_ids)

    def close(self) -> None:
        return None


__all__ = sorted(
    [
        "NETWORKS",
        "PRESETS",
        "ROUTE_FAULTS",
        "Behaviour",
        "Call",
        "Event",
        "Message",
        "Outcome",
        "SimulatorAdapter",
        "Smsc",
        "network_of",
    ]
)
