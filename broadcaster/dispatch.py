"""Dispatch: claim due messages, hold each route's rate, send through the adapters, record the outcome.

A ``Dispatcher`` is one worker process's sending machinery:

- per route, ``concurrency`` sender threads; each claims a chunk of its carrier's due messages (only
  in runs that are open and inside their sending window), paces every request through the route's
  ``TokenBucket``, submits it and records the outcome of the chunk in one transaction;
- one monitor thread that refreshes the open runs, keeps the worker's heartbeat (a route's rate is
  shared among the live workers), returns leases of dead workers to the queue and closes finished runs;
- per polling route a receipt poller, per streaming route a receipt reader.

The loop holds no SQL (``broadcaster.queue`` owns it). Failures by class (``FailureKind``): permanent ->
``failed``; transient -> a few quick tries with jittered backoff (tenacity), then back to the queue
with ``next_attempt_at``; throttled -> back to the queue after Retry-After and the route slows down for
a while; ambiguous (the carrier may have the message) -> resent only on the same route with the same
idempotency key, or, where the route has no such key, left ``sent`` to await its receipt or expiry;
route-wide -> the route's circuit opens, its messages stay queued (or go to the carrier's next route),
the alert is recorded, and a single probe tests the route later. Attempts and age are capped per route.
"""

from __future__ import annotations

import math
import os
import random
import socket
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from tenacity import RetryError, Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from broadcaster import db, queue, receipts
from broadcaster.config import RouteSettings, Settings, parse_window
from broadcaster.logs import bind_context, get_logger
from broadcaster.models import RouteState, utcnow
from carriers import create_adapter
from carriers.base import Accepted, Adapter, Failed, FailureKind, PollingAdapter, Receipt, Submission
from carriers.errors import CarrierError, RouteError, ThrottledError, TransientError, as_failed

log = get_logger(__name__)

CIRCUIT_FIRST_OPEN = 15.0
CIRCUIT_MAX_OPEN = 600.0
THROTTLE_FACTOR = 0.5
THROTTLE_HOLD = 30.0
BACKOFF_BASE = 2.0
BACKOFF_MAX = 600.0
QUICK_TRIES = 3
MONITOR_INTERVAL = 0.25
IDLE_WAIT = 0.2
POLL_INTERVAL = 1.0
POLL_LIMIT = 1000
LATENCY_WEIGHT = 0.2
MIN_BATCH_WAIT = 60.0
"""Seconds a content too small for its route's requests waits for company before trying again."""
LATE_SLACK = 0.02
"""A caller that wakes this late keeps the pace's schedule (the window still caps every second)."""


class TokenBucket:
    """Paces requests so that no one-second window ever holds more than ``rate`` units.

    Checked at the moment a caller really goes, under one lock: a request may start when the
    previous one is at least ``its units / rate`` seconds old (smooth pacing; a caller that woke a
    little late does not push the schedule back, but nothing is hoarded while idle) and the units
    started in the last second plus its own stay within the rate (a sliding window, so a burst of
    late callers, or a multi-part request, cannot overshoot). Waiting callers recheck when their
    turn may have come; waiting respects ``stop``.
    """

    def __init__(
        self,
        rate: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        self.rate = rate
        self._clock = clock
        self._sleep = sleep
        self._next = clock()
        self._started: deque[tuple[float, float]] = deque()
        self._in_window = 0.0
        self._lock = threading.Lock()

    def try_acquire(self, units: float) -> float:
        """Start now if allowed (returns 0), else return how long to wait before asking again."""
        with self._lock:
            now = self._clock()
            started = self._started
            while started and started[0][0] <= now - 1.0:
                self._in_window -= started.popleft()[1]
            wait = self._next - now
            if started and self._in_window + units > self.rate:
                budget = self._in_window + units - self.rate
                for at, used in started:
                    budget -= used
                    if budget <= 0:
                        wait = max(wait, at + 1.0 - now)
                        break
            if wait > 0:
                return max(wait, 1e-4)
            started.append((now, units))
            self._in_window += units
            self._next = max(self._next, now - LATE_SLACK) + units / self.rate
            return 0.0

    def acquire(
        self,
        units: float = 1,
        stop: threading.Event | None = None,
        still_wanted: Callable[[], bool] | None = None,
    ) -> bool:
        """Wait for ``units``; False if ``stop`` was set, or ``still_wanted()`` turned false, meanwhile."""
        while (wait := self.try_acquire(units)) > 0:
            if stop is None:
                self._sleep(wait)
            elif stop.wait(min(wait, 0.1)) or (still_wanted is not None and not still_wanted()):
                return False
        return True


@dataclass
class Route:
    """A route as one worker sees it: adapter, pace, circuit breaker."""

    settings: RouteSettings
    carrier: str
    adapter: Adapter
    bucket: TokenBucket
    state: str = RouteState.CLOSED
    open_until: float = 0.0
    open_for: float = CIRCUIT_FIRST_OPEN
    reason: str = ""
    code: str = ""
    probing: bool = False
    slow_until: float = 0.0
    share: float = 1.0
    """This worker's share of the route's TPS (1 / live workers)."""
    seconds_per_message: float = 0.0
    """How long one thread takes per message on this route, lately (0: not measured yet)."""
    poll_after: str = ""
    """Where the next receipt poll resumes, in provider-id order."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def name(self) -> str:
        return self.settings.name

    def refresh_rate(self, now: float) -> None:
        factor = THROTTLE_FACTOR if now < self.slow_until else 1.0
        self.bucket.rate = max(0.1, self.settings.tps * self.share * factor)

    def batch_size(self, segments: int = 1) -> int:
        """Largest request: the adapter's limit, and no more than one second of the route's rate unless
        the adapter's smallest request is larger."""
        per_message = segments if self.settings.tps_unit == "part" else 1
        capabilities = self.adapter.capabilities
        limit = min(capabilities.max_batch, self.settings.batch or capabilities.max_batch)
        return max(1, capabilities.min_batch, min(limit, int(self.settings.tps / max(1, per_message))))

    def note_call(self, seconds: float, messages: int) -> None:
        """Keep a moving average of a sender thread's time per message (the carrier's latency)."""
        sample = seconds / max(1, messages)
        previous = self.seconds_per_message
        self.seconds_per_message = sample if previous == 0 else previous + LATENCY_WEIGHT * (sample - previous)

    def units(self, segments: int, count: int) -> float:
        return float(count * (segments if self.settings.tps_unit == "part" else 1))


@dataclass
class Outcome:
    """What happened to one claimed message, to be written with the rest of its chunk."""

    sent: list[tuple[int, str, str | None]] = field(default_factory=list)
    failed: list[tuple[int, str, str, str]] = field(default_factory=list)
    retries: list[queue.Retry] = field(default_factory=list)
    release: list[int] = field(default_factory=list)
    cancel: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.sent) + len(self.failed) + len(self.retries) + len(self.release) + len(self.cancel)


@dataclass
class Counters:
    sent: int = 0
    failed: int = 0
    retried: int = 0
    receipts: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, outcome: Outcome) -> None:
        with self.lock:
            self.sent += len(outcome.sent)
            self.failed += len(outcome.failed)
            self.retried += len(outcome.retries)


class Observer(Protocol):
    """What a dispatcher reports as it works; ``broadcaster.api.Metrics`` is one."""

    def submitted(self, route: str, seconds: float) -> None:
        """One submit call to ``route`` took ``seconds`` (retries included)."""

    def circuit(self, route: str, *, is_open: bool) -> None:
        """``route``'s circuit breaker opened (sending paused) or closed again."""

    def received(self, route: str, source: str, count: int) -> None:
        """``count`` receipts of ``route`` were stored, from ``source`` (poll or stream)."""


class _Unobserved:
    def submitted(self, route: str, seconds: float) -> None:
        pass

    def circuit(self, route: str, *, is_open: bool) -> None:
        pass

    def received(self, route: str, source: str, count: int) -> None:
        pass


def _even_pieces(group: list[queue.Claimed], size: int) -> list[list[queue.Claimed]]:
    """``group`` cut into the fewest pieces of at most ``size``, of nearly equal length (5,003 numbers
    go as 2,502 + 2,501, not 5,000 + 3: a route may need a minimum per request)."""
    pieces = math.ceil(len(group) / size)
    step = math.ceil(len(group) / pieces) if pieces else size
    return [group[i : i + step] for i in range(0, len(group), step)]


def in_window(window: str, zone: str, now: datetime) -> bool:
    start, end = parse_window(window)
    local = now.astimezone(ZoneInfo(zone)).time()
    return start <= local <= end


def backoff(attempts: int, rng: random.Random) -> float:
    """Jittered exponential backoff in seconds for the given attempt count."""
    ceiling = min(BACKOFF_MAX, BACKOFF_BASE * 2 ** max(0, attempts - 1))
    return rng.uniform(ceiling / 2, ceiling)


def _quick_retry(exc: BaseException) -> bool:
    return isinstance(exc, TransientError) and not isinstance(exc, ThrottledError)


class Dispatcher:
    """One worker: owns an adapter per route, sends what it claims, takes the receipts it can."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        *,
        owner: str | None = None,
        adapters: dict[str, Adapter] | None = None,
        clock: Callable[[], datetime] = utcnow,
        observer: Observer | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self.clock = clock
        self.observer: Observer = observer or _Unobserved()
        self.stop_event = threading.Event()
        self.counters = Counters()
        self._rng = random.Random()
        self._retrying = Retrying(  # keeps its per-call state in a thread-local: one serves every thread
            stop=stop_after_attempt(QUICK_TRIES),
            wait=wait_random_exponential(multiplier=0.05, max=1.0),
            retry=retry_if_exception(_quick_retry),
            reraise=True,
        )
        self._threads: list[threading.Thread] = []
        self._texts: dict[int, tuple[str, str, int, str]] = {}
        self._claimable: list[int] = []
        self._closed: dict[int, str] = {}
        self._due: set[str] = set()
        self._state_lock = threading.Lock()
        self.failure: BaseException | None = None
        self.routes: dict[str, list[Route]] = {}
        adapters = adapters or {}
        for carrier, route_settings in settings.routes.items():
            self.routes[carrier] = [
                Route(
                    settings=rs,
                    carrier=carrier,
                    adapter=adapters.get(rs.name) or create_adapter(rs.adapter, rs.options, rs.credentials()),
                    bucket=TokenBucket(rs.tps),
                )
                for rs in route_settings
            ]

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the monitor, the sender threads of every route and the receipt readers."""
        self._refresh()
        self._spawn("monitor", self._monitor_loop)
        for route in self.all_routes():
            for index in range(route.settings.concurrency):
                self._spawn(f"send-{route.name}-{index}", self._sender_loop, route)
            if isinstance(route.adapter, PollingAdapter):
                self._spawn(f"poll-{route.name}", self._poll_loop, route)
            elif callable(getattr(route.adapter, "receipts", None)):
                self._spawn(f"stream-{route.name}", self._stream_loop, route)

    def stop(self, timeout: float = 30.0) -> None:
        """Finish what is in flight, release what was claimed but not sent, leave the worker table."""
        self.stop_event.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        try:
            with self.engine.begin() as conn:
                queue.forget_worker(conn, self.owner)
                queue.complete_finished_runs(conn, self.clock())
        finally:
            for route in self.all_routes():
                route.adapter.close()

    def __enter__(self) -> Dispatcher:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def alive(self) -> bool:
        return self.failure is None and all(t.is_alive() for t in self._threads)

    def _spawn(self, name: str, target: Callable[..., None], *args: object) -> None:
        def guarded() -> None:
            try:
                target(*args)
            except BaseException as exc:  # a dead thread stops the worker loudly, never silently
                self.failure = exc
                log.exception("dispatch.thread_died", thread=name)
                self.stop_event.set()

        thread = threading.Thread(target=guarded, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def all_routes(self) -> Iterable[Route]:
        for routes in self.routes.values():
            yield from routes

    # -- monitor -------------------------------------------------------------------------------------

    def _monitor_loop(self) -> None:
        last_beat = 0.0
        while not self.stop_event.wait(MONITOR_INTERVAL):
            beat = time.monotonic() - last_beat >= self.settings.dispatch.heartbeat_seconds
            self._refresh(heartbeat=beat)
            if beat:
                last_beat = time.monotonic()

    def _refresh(self, heartbeat: bool = True) -> None:
        now = self.clock()
        if heartbeat:
            with self.engine.begin() as conn:
                queue.heartbeat(conn, self.owner, now)
                stale = timedelta(seconds=3 * self.settings.dispatch.heartbeat_seconds)
                workers = queue.live_workers(conn, now - stale)
                queue.release_expired_leases(conn, now)
                queue.complete_finished_runs(conn, now)
        with db.reading(self.engine) as conn:
            runs = queue.open_runs(conn)
            claimable = [r.id for r in runs if in_window(r.window, r.timezone, now)]
            due = queue.due_carriers(conn, now, claimable, self.routes)
            closed = queue.closed_runs(conn, self._claimed_runs())
        with self._state_lock:
            self._claimable, self._due, self._closed = claimable, due, closed
        mono = time.monotonic()
        for route in self.all_routes():
            if heartbeat:
                route.share = 1.0 / workers
            route.refresh_rate(mono)

    def _claimed_runs(self) -> set[int]:
        with self._state_lock:
            return set(self._claimable) | set(self._closed)

    def run_closed(self, run_id: int) -> str | None:
        with self._state_lock:
            return self._closed.get(run_id)

    # -- routing and the circuit breaker -------------------------------------------------------------

    def route_for(self, carrier: str) -> Route | None:
        """The carrier's first route that is not open (a half-open one gets a single probe)."""
        mono = time.monotonic()
        for route in self.routes.get(carrier, []):
            with route.lock:
                if route.state == RouteState.OPEN and mono >= route.open_until:
                    route.state = RouteState.HALF_OPEN
                if route.state != RouteState.OPEN:
                    return route
        return None

    def _open_circuit(self, route: Route, exc: CarrierError) -> None:
        with route.lock:
            if route.state == RouteState.HALF_OPEN:
                route.open_for = min(CIRCUIT_MAX_OPEN, route.open_for * 2)
            route.state = RouteState.OPEN
            route.open_until = time.monotonic() + route.open_for
            route.reason, route.code = str(exc), exc.code
        log.error("route.paused", route=route.name, code=exc.code, error=str(exc), retry_in=route.open_for)
        self.observer.circuit(route.name, is_open=True)
        self._report_route(route)

    def _close_circuit(self, route: Route) -> None:
        with route.lock:
            if route.state == RouteState.CLOSED:
                return
            route.state, route.open_for, route.reason, route.code = RouteState.CLOSED, CIRCUIT_FIRST_OPEN, "", ""
        log.info("route.resumed", route=route.name)
        self.observer.circuit(route.name, is_open=False)
        self._report_route(route)

    def _report_route(self, route: Route) -> None:
        with self.engine.begin() as conn:
            queue.report_route(
                conn,
                route=route.name,
                state=route.state,
                reason=route.reason,
                code=route.code,
                owner=self.owner,
                now=self.clock(),
            )

    # -- sending -------------------------------------------------------------------------------------

    def _sender_loop(self, route: Route) -> None:
        bind_context(route=route.name)
        while not self.stop_event.is_set():
            if not self.send_once(route):
                self.stop_event.wait(IDLE_WAIT * (0.5 + self._rng.random()))

    def send_once(self, route: Route) -> bool:
        """Claim one chunk for ``route`` and send it; False when there was nothing to do."""
        with self._state_lock:
            runs, due = list(self._claimable), route.carrier in self._due
        if not runs or not due or self.route_for(route.carrier) is not route:
            return False
        probe = False
        with route.lock:
            if route.state == RouteState.HALF_OPEN:
                if route.probing:
                    return False
                route.probing = probe = True
        try:
            limit = 1 if probe else self._chunk_size(route)
            with self.engine.begin() as conn:
                claimed = queue.claim(
                    conn,
                    owner=self.owner,
                    carrier=route.carrier,
                    route=route.name,
                    limit=limit,
                    now=self.clock(),
                    lease=timedelta(seconds=self.settings.dispatch.lease_seconds),
                    run_ids=runs,
                )
                self._load_texts(conn, claimed)
            if not claimed:
                return False
            outcome = self._send_chunk(route, claimed, full=len(claimed) >= limit)
            self._record(outcome)
            return True
        finally:
            if probe:
                route.probing = False

    def _chunk_size(self, route: Route) -> int:
        """About one second of work for one thread (its share of the route's rate, and what the carrier's
        latency lets it send), at least one request, at most ``dispatch.chunk`` unless a request is
        larger: a slow or capped route then ends its run with every thread busy, instead of a few
        threads working through large chunks alone."""
        per_thread = route.bucket.rate / route.settings.concurrency
        if route.seconds_per_message > 0:
            per_thread = min(per_thread, 1.0 / route.seconds_per_message)
        return max(route.batch_size(), min(math.ceil(per_thread), self.settings.dispatch.chunk))

    def _load_texts(self, conn: object, claimed: Sequence[queue.Claimed]) -> None:
        missing = {c.batch_id for c in claimed} - self._texts.keys()
        if missing:
            self._texts.update(queue.batch_texts(conn, missing))  # type: ignore[arg-type]

    def _groups(self, route: Route, claimed: Sequence[queue.Claimed]) -> list[list[queue.Claimed]]:
        """Requests to make: same-text groups for routes that need one content per request."""
        size = route.batch_size(max(self._texts[m.batch_id][2] for m in claimed))
        if route.adapter.capabilities.same_text_batches:
            by_text: dict[str, list[queue.Claimed]] = defaultdict(list)
            for message in claimed:
                by_text[self._texts[message.batch_id][0]].append(message)
            groups = list(by_text.values())
        else:
            groups = [list(claimed)]
        return [piece for group in groups for piece in _even_pieces(group, size)]

    def _send_chunk(self, route: Route, claimed: Sequence[queue.Claimed], full: bool = False) -> Outcome:
        outcome = Outcome()
        groups = self._groups(route, claimed)
        if full and len(groups) > 1 and len(groups[-1]) < route.adapter.capabilities.min_batch:
            # The claim cut its last content short: give that piece back, to lead the next claim.
            outcome.release.extend(m.id for m in groups.pop())
        for index, group in enumerate(groups):
            if self.stop_event.is_set() or route.state == RouteState.OPEN:
                for rest in groups[index:]:
                    outcome.release.extend(m.id for m in rest)
                break
            group = self._drop_closed(group, outcome)
            if group and not self._too_small(route, group, outcome):
                self._pace_and_submit(route, group, outcome)
        self.counters.add(outcome)
        return outcome

    def _pace_and_submit(self, route: Route, group: list[queue.Claimed], outcome: Outcome) -> None:
        """Wait for ``route``'s bucket, then submit what is still wanted (a run may be paused meanwhile)."""
        segments = self._texts[group[0].batch_id][2]
        wanted = lambda: all(self.run_closed(m.run_id) is None for m in group)  # noqa: E731
        if not route.bucket.acquire(route.units(segments, len(group)), self.stop_event, wanted):
            self._drop_closed(group, outcome, release_open=True)
        elif group := self._drop_closed(group, outcome):
            self._submit(route, group, outcome)

    def _too_small(self, route: Route, group: list[queue.Claimed], outcome: Outcome) -> bool:
        """A content with fewer numbers than the route's requests need (eSMS advertising: 30) goes by
        the carrier's next route that takes it; with none, it waits for company (a retry of the same
        content) without spending attempts, and fails with ``MIN_BATCH`` at the route's age cap."""
        need = route.adapter.capabilities.min_batch
        if len(group) >= need:
            return False
        other = next(
            (r for r in self.routes.get(route.carrier, []) if r.adapter.capabilities.min_batch <= len(group)),
            None,
        )
        if other is not None and other.state != RouteState.OPEN:
            self._pace_and_submit(other, group, outcome)
            return True
        now = self.clock()
        reason = (
            f"route {route.name} needs at least {need} numbers with the same text in a request and this "
            f"text has {len(group)} left for {route.carrier}; add a route for {route.carrier} that sends "
            "to one number at a time (e.g. eSMS customer care) as its second route"
        )
        for m in group:
            if now - m.queued_at > timedelta(hours=route.settings.max_age_hours):
                outcome.failed.append((m.id, route.name, "MIN_BATCH", reason))
            else:
                outcome.retries.append(
                    queue.Retry(m.id, now + timedelta(seconds=MIN_BATCH_WAIT), "MIN_BATCH", reason, refund=True)
                )
        log.warning("dispatch.batch_too_small", route=route.name, messages=len(group), needed=need)
        return True

    def _drop_closed(
        self, group: list[queue.Claimed], outcome: Outcome, release_open: bool = False
    ) -> list[queue.Claimed]:
        """Messages of runs paused or cancelled since the claim are not sent (nor, if asked, the rest)."""
        keep = []
        for message in group:
            status = self.run_closed(message.run_id)
            if status is None and release_open:
                outcome.release.append(message.id)
            elif status is None:
                keep.append(message)
            elif status == "cancelled":
                outcome.cancel.append(message.id)
            else:
                outcome.release.append(message.id)
        return keep

    def _submit(self, route: Route, group: Sequence[queue.Claimed], outcome: Outcome) -> None:
        texts = self._texts
        submissions = [
            Submission(key=str(m.id), msisdn=m.msisdn, text=t[0], encoding=t[1], sender=t[3])
            for m in group
            for t in (texts[m.batch_id],)
        ]
        started = time.monotonic()
        try:
            results: Sequence[Accepted | Failed] = self._call(route, submissions)
        except CarrierError as exc:
            if isinstance(exc, RouteError):
                self._open_circuit(route, exc)
            results = [as_failed(exc, s.key) for s in submissions]
        else:
            self._close_circuit(route)
        seconds = time.monotonic() - started
        route.note_call(seconds, len(submissions))
        self.observer.submitted(route.name, seconds)
        self._classify(route, group, results, outcome)

    def _call(self, route: Route, submissions: list[Submission]) -> list[Accepted | Failed]:
        """Submit, with a few quick jittered retries for failures that surely sent nothing."""
        try:
            return list(self._retrying(route.adapter.submit, submissions))
        except RetryError as exc:  # pragma: no cover - reraise=True hands back the last error
            raise TransientError(str(exc)) from exc

    def _classify(
        self,
        route: Route,
        group: Sequence[queue.Claimed],
        results: Sequence[Accepted | Failed],
        outcome: Outcome,
    ) -> None:
        by_key = {str(m.id): m for m in group}
        now = self.clock()
        max_age = timedelta(hours=route.settings.max_age_hours)
        for result in results:
            message = by_key[result.key]
            if isinstance(result, Accepted):
                outcome.sent.append((message.id, route.name, receipts.canonical_id(result.provider_id)))
            elif result.kind == FailureKind.PERMANENT:
                outcome.failed.append((message.id, route.name, result.code or result.kind, result.reason))
            elif result.kind == FailureKind.ROUTE:
                outcome.retries.append(
                    queue.Retry(message.id, now, result.code or result.kind, result.reason, refund=True)
                )
            elif message.attempts >= route.settings.max_attempts or now - message.queued_at > max_age:
                cap = "MAX_ATTEMPTS" if message.attempts >= route.settings.max_attempts else "MAX_AGE"
                outcome.failed.append((message.id, route.name, cap, f"{result.kind}: {result.reason}"))
            elif result.kind == FailureKind.AMBIGUOUS and not route.adapter.capabilities.idempotency_keys:
                outcome.sent.append((message.id, route.name, None))  # may have arrived: await receipt/expiry
            else:
                outcome.retries.append(self._retry(route, message, result, now))

    def _retry(self, route: Route, message: queue.Claimed, result: Failed, now: datetime) -> queue.Retry:
        if result.kind == FailureKind.THROTTLED:
            route.slow_until = time.monotonic() + THROTTLE_HOLD
            route.refresh_rate(time.monotonic())
        delay = result.retry_after if result.retry_after is not None else backoff(message.attempts, self._rng)
        return queue.Retry(
            message.id,
            now + timedelta(seconds=delay),
            result.code or result.kind,
            result.reason,
            resend_route=route.name if result.kind == FailureKind.AMBIGUOUS else None,
        )

    def _record(self, outcome: Outcome) -> None:
        if not len(outcome):
            return
        now = self.clock()
        with self.engine.begin() as conn:
            queue.mark_sent(conn, outcome.sent, now)
            by_route: dict[str, list[str]] = defaultdict(list)
            for _, route_name, provider_id in outcome.sent:
                if provider_id:
                    by_route[route_name].append(provider_id)
            for route_name, provider_ids in by_route.items():
                receipts.apply_unmatched(conn, route_name, provider_ids)
            queue.mark_failed(conn, outcome.failed, now)
            queue.requeue(conn, outcome.retries)
            queue.release(conn, outcome.release + outcome.cancel, cancelled=outcome.cancel)

    # -- receipts --------------------------------------------------------------------------------------

    def _poll_loop(self, route: Route) -> None:
        while not self.stop_event.wait(POLL_INTERVAL):
            self.poll_once(route)

    def poll_once(self, route: Route) -> int:
        adapter = route.adapter
        assert isinstance(adapter, PollingAdapter)
        with db.reading(self.engine) as conn:
            provider_ids = queue.sent_provider_ids(conn, route.name, POLL_LIMIT, route.poll_after)
        route.poll_after = provider_ids[-1] if len(provider_ids) == POLL_LIMIT else ""  # short page: wrap
        if not provider_ids:
            return 0
        try:
            found = adapter.poll(provider_ids)
        except CarrierError as exc:
            log.warning("receipts.poll_failed", route=route.name, error=str(exc))
            return 0
        return self._ingest(route, found, "poll")

    def _stream_loop(self, route: Route) -> None:
        read: Callable[..., list[Receipt]] = route.adapter.receipts  # type: ignore[attr-defined]
        while not self.stop_event.is_set():
            try:
                found = read(max_items=1000, timeout=0.5)
            except CarrierError as exc:
                log.warning("receipts.stream_failed", route=route.name, error=str(exc))
                self.stop_event.wait(1.0)
                continue
            self._ingest(route, found, "stream")

    def _ingest(self, route: Route, found: Sequence[Receipt], source: str) -> int:
        if not found:
            return 0
        with self.engine.begin() as conn:
            receipts.ingest(conn, route.name, found, self.clock())
        with self.counters.lock:
            self.counters.receipts += len(found)
        self.observer.received(route.name, source, len(found))
        return len(found)

    # -- running to completion (demo, tests, benchmarks) ---------------------------------------------

    def run_until(
        self,
        done: Callable[[], bool],
        *,
        timeout: float | None = None,
        check_every: float = 0.1,
        on_check: Callable[[], object] | None = None,
    ) -> bool:
        """Start, wait until ``done()`` (or ``timeout``), stop; True when done."""
        deadline = None if timeout is None else time.monotonic() + timeout
        self.start()
        try:
            while not done():
                if on_check:
                    on_check()
                if self.failure is not None:
                    raise RuntimeError("a dispatch thread died") from self.failure
                if deadline is not None and time.monotonic() > deadline:
                    return False
                time.sleep(check_every)
            return True
        finally:
            self.stop()
