"""Dispatch: claim due messages, hold each route's rate, send through the adapters, record the outcome.

The loop holds no SQL (``broadcaster.queue`` owns it). Per pass: release leases of dead workers, find
the open runs whose sending window contains the present moment, and for each carrier with due
messages claim a chunk, pace it through the route's token bucket, submit it in the adapter's batch
size and record the results. Polling routes are asked for receipts of what they were sent.

Failures by class (``carriers.base.FailureKind``): permanent -> ``failed``; transient and throttled ->
back to the queue with a jittered exponential backoff until the route's attempt cap; ambiguous -> back
to the queue on the same route only if the route honours idempotency keys, else left ``sent`` to
await its receipt; route-wide -> the route's circuit opens for a while and its messages stay queued.
"""

from __future__ import annotations

import os
import random
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from broadcaster import queue, receipts
from broadcaster.config import RouteSettings, Settings, parse_window
from broadcaster.logs import get_logger
from broadcaster.models import utcnow
from carriers import create_adapter
from carriers.base import Accepted, Adapter, Failed, FailureKind, PollingAdapter, Submission
from carriers.errors import AmbiguousError, CarrierError, RouteError, ThrottledError

log = get_logger(__name__)

LEASE = timedelta(seconds=60)
CHUNK = 500
CIRCUIT_OPEN_SECONDS = 30.0
BACKOFF_BASE_SECONDS = 2.0
BACKOFF_MAX_SECONDS = 600.0
POLL_LIMIT = 1000


class TokenBucket:
    """At most ``rate`` tokens a second, with bursts up to ``burst`` (default: one second's worth)."""

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, rate)
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.burst
        self._stamp = clock()
        self._lock = threading.Lock()

    def acquire(self, n: int = 1) -> None:
        """Block until ``n`` tokens are available, then take them (``n`` may exceed the burst)."""
        while n > 0:
            take = min(n, int(self.burst)) or 1
            with self._lock:
                now = self._clock()
                self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
                self._stamp = now
                if self._tokens >= take:
                    self._tokens -= take
                    n -= take
                    continue
                wait = (take - self._tokens) / self.rate
            self._sleep(wait)


@dataclass
class Route:
    settings: RouteSettings
    carrier: str
    adapter: Adapter
    bucket: TokenBucket
    open_until: float = 0.0
    alert: str = ""

    @property
    def name(self) -> str:
        return self.settings.name


@dataclass
class PassReport:
    claimed: int = 0
    sent: int = 0
    failed: int = 0
    retried: int = 0
    receipts: int = 0
    completed_runs: list[int] = field(default_factory=list)

    @property
    def busy(self) -> bool:
        return bool(self.claimed or self.receipts)


def in_window(window: str, zone: str, now: datetime) -> bool:
    from zoneinfo import ZoneInfo

    start, end = parse_window(window)
    local = now.astimezone(ZoneInfo(zone)).time()
    return start <= local <= end


def backoff(attempts: int, rng: random.Random) -> float:
    """Full-jitter exponential backoff in seconds for the given attempt count."""
    ceiling = min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(0, attempts - 1))
    return rng.uniform(ceiling / 2, ceiling)


class Dispatcher:
    """One worker: owns an adapter per route and sends what it claims."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        *,
        owner: str | None = None,
        adapters: dict[str, Adapter] | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self.clock = clock
        self._rng = random.Random()
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

    def close(self) -> None:
        for routes in self.routes.values():
            for route in routes:
                route.adapter.close()

    def route_for(self, carrier: str) -> Route | None:
        """The first route of the carrier whose circuit is closed."""
        now = time.monotonic()
        return next((r for r in self.routes.get(carrier, []) if r.open_until <= now), None)

    def step(self) -> PassReport:
        """One pass over every carrier with due messages and every polling route."""
        report = PassReport()
        now = self.clock()
        with self.engine.begin() as conn:
            queue.release_expired_leases(conn, now)
            runs = [r.id for r in queue.open_runs(conn) if in_window(r.window, r.timezone, now)]
            carriers = queue.due_carriers(conn, now, runs)
        for carrier in carriers:
            route = self.route_for(carrier)
            if route is not None:
                self._send_chunk(route, runs, report)
        for routes in self.routes.values():
            for route in routes:
                if isinstance(route.adapter, PollingAdapter):
                    report.receipts += self._poll(route)
        with self.engine.begin() as conn:
            report.completed_runs = queue.complete_finished_runs(conn, self.clock())
        return report

    def _send_chunk(self, route: Route, runs: Sequence[int], report: PassReport) -> None:
        with self.engine.begin() as conn:
            claimed = queue.claim(
                conn, owner=self.owner, carrier=route.carrier, limit=CHUNK, now=self.clock(), lease=LEASE, run_ids=runs
            )
            texts = queue.batch_texts(conn, (c.batch_id for c in claimed))
        report.claimed += len(claimed)
        size = max(1, route.adapter.capabilities.max_batch)
        for start in range(0, len(claimed), size):
            part = claimed[start : start + size]
            submissions = [
                Submission(
                    key=str(c.id),
                    msisdn=c.msisdn,
                    text=texts[c.batch_id][0],
                    encoding=texts[c.batch_id][1],
                    sender=texts[c.batch_id][3],
                )
                for c in part
            ]
            route.bucket.acquire(sum(texts[c.batch_id][2] for c in part))
            self._submit(route, part, submissions, report)

    def _submit(
        self, route: Route, claimed: Sequence[queue.Claimed], submissions: list[Submission], report: PassReport
    ) -> None:
        try:
            results: Sequence[Accepted | Failed] = route.adapter.submit(submissions)
        except CarrierError as exc:
            results = [_failure_for(exc, s.key) for s in submissions]
            if isinstance(exc, RouteError):
                self._open_circuit(route, exc)
        self._record(route, claimed, results, report)

    def _open_circuit(self, route: Route, exc: CarrierError) -> None:
        route.open_until = time.monotonic() + CIRCUIT_OPEN_SECONDS
        route.alert = f"route {route.name} paused: {exc} (code {exc.code or '-'})"
        log.error("route.circuit_open", route=route.name, code=exc.code, error=str(exc))

    def _record(
        self,
        route: Route,
        claimed: Sequence[queue.Claimed],
        results: Sequence[Accepted | Failed],
        report: PassReport,
    ) -> None:
        by_key = {str(c.id): c for c in claimed}
        now = self.clock()
        sent: list[tuple[int, str, str | None]] = []
        failed: list[tuple[int, str, str, str]] = []
        retry: list[tuple[int, datetime, str, str]] = []
        keep_route: list[tuple[int, str]] = []
        for result in results:
            message = by_key[result.key]
            if isinstance(result, Accepted):
                sent.append((message.id, route.name, result.provider_id))
            elif result.kind == FailureKind.PERMANENT or message.attempts >= route.settings.max_attempts:
                failed.append((message.id, route.name, result.code or result.kind, result.reason))
            elif result.kind == FailureKind.AMBIGUOUS and not route.adapter.capabilities.idempotency_keys:
                sent.append((message.id, route.name, None))  # may have reached the carrier: await expiry
            elif result.kind == FailureKind.ROUTE:
                if route.open_until <= time.monotonic():
                    self._open_circuit(route, RouteError(result.reason, code=result.code))
                retry.append((message.id, now + timedelta(seconds=CIRCUIT_OPEN_SECONDS), result.code, result.reason))
            else:
                delay = result.retry_after or backoff(message.attempts, self._rng)
                retry.append((message.id, now + timedelta(seconds=delay), result.code or result.kind, result.reason))
                if result.kind == FailureKind.AMBIGUOUS:
                    keep_route.append((message.id, route.name))
        with self.engine.begin() as conn:
            queue.mark_sent(conn, sent, now)
            queue.mark_failed(conn, failed, now)
            queue.requeue(conn, retry, keep_route=keep_route)
        report.sent += len(sent)
        report.failed += len(failed)
        report.retried += len(retry)

    def _poll(self, route: Route) -> int:
        adapter = route.adapter
        assert isinstance(adapter, PollingAdapter)
        with self.engine.connect() as conn:
            provider_ids = queue.sent_provider_ids(conn, route.name, POLL_LIMIT)
        if not provider_ids:
            return 0
        try:
            found = adapter.poll(provider_ids)
        except CarrierError as exc:
            log.warning("receipts.poll_failed", route=route.name, error=str(exc))
            return 0
        with self.engine.begin() as conn:
            receipts.ingest(conn, route.name, found, self.clock())
        return len(found)

    def run_until(
        self,
        done: Callable[[], bool],
        *,
        stop: threading.Event | None = None,
        idle_sleep: float = 0.05,
        on_pass: Callable[[PassReport], Any] | None = None,
    ) -> None:
        """Pass after pass until ``done()`` or ``stop`` is set; sleeps briefly when there was nothing to do."""
        stop = stop or threading.Event()
        while not stop.is_set() and not done():
            report = self.step()
            if on_pass:
                on_pass(report)
            if not report.busy:
                stop.wait(idle_sleep)


def _failure_for(exc: CarrierError, key: str) -> Failed:
    if isinstance(exc, RouteError):
        kind = FailureKind.ROUTE
    elif isinstance(exc, AmbiguousError):
        kind = FailureKind.AMBIGUOUS
    elif isinstance(exc, ThrottledError):
        return Failed(key=key, kind=FailureKind.THROTTLED, code=exc.code, reason=str(exc), retry_after=exc.retry_after)
    else:
        kind = FailureKind.TRANSIENT
    return Failed(key=key, kind=kind, code=exc.code, reason=str(exc))
