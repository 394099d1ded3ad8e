"""Prometheus metrics: one ``CollectorRegistry`` per app, nothing registered globally.

Two kinds of figures:

- computed from the database at scrape time (messages by status and route, queue depth by carrier),
  so every process reports the same truth whatever did the work;
- instruments that the dispatch and receipts code update as they work (submit latency, receipts
  ingested, circuit breaker state). They are attributes of ``Metrics``: pass the app's
  ``app.state.metrics`` (or the object given to ``create_app(metrics=...)``) to the dispatcher.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from broadcaster import db
from broadcaster.logs import get_logger
from broadcaster.models import MessageStatus

log = get_logger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
SUBMIT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class _DatabaseCollector(Collector):
    """Counts read from the ``message`` table when Prometheus scrapes.

    The status × route count reads the whole table (about 2 s for 500,000 messages on SQLite, 0.4 s
    with an index on (status, route)), so a result is reused for ``min_interval`` seconds: scrapes
    closer together than that cannot load the database.
    """

    def __init__(self, engine: Engine, min_interval: float = 10.0) -> None:
        self.engine = engine
        self.min_interval = min_interval
        self._lock = threading.Lock()
        self._cached: tuple[float, list[GaugeMetricFamily]] | None = None

    def describe(self) -> list[GaugeMetricFamily]:
        return []  # collected on demand only: describing would query the database at registration

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self._lock:
            now = time.monotonic()
            if self._cached is None or now - self._cached[0] >= self.min_interval:
                self._cached = (now, self._read())
            families = self._cached[1]
        yield from families

    def _read(self) -> list[GaugeMetricFamily]:
        messages = GaugeMetricFamily(
            "broadcaster_messages",
            "Messages by status and route (route empty before the first attempt).",
            labels=["status", "route"],
        )
        depth = GaugeMetricFamily(
            "broadcaster_queue_depth", "Messages queued for sending, by carrier.", labels=["carrier"]
        )
        up = GaugeMetricFamily("broadcaster_database_up", "1 when the database answered the last reading.")
        try:
            with db.reading(self.engine) as conn:
                by_status = conn.execute(
                    text("SELECT status, COALESCE(route, ''), COUNT(*) FROM message GROUP BY status, route")
                ).all()
                queued = conn.execute(
                    text("SELECT carrier, COUNT(*) FROM message WHERE status = :queued GROUP BY carrier"),
                    {"queued": MessageStatus.QUEUED},
                ).all()
        except SQLAlchemyError as exc:
            log.warning("metrics.database_unavailable", error=str(exc))
            up.add_metric([], 0)
            return [up]
        for status, route, count in by_status:
            messages.add_metric([status, route], int(count))
        for carrier, count in queued:
            depth.add_metric([carrier], int(count))
        up.add_metric([], 1)
        return [messages, depth, up]


class Metrics:
    """The metrics of one app. ``bind(engine)`` adds the database figures (``create_app`` does it)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.submit_latency = Histogram(
            "broadcaster_submit_latency_seconds",
            "Time an adapter took to answer one submit call, by route.",
            ["route"],
            buckets=SUBMIT_BUCKETS,
            registry=self.registry,
        )
        self.receipts_ingested = Counter(
            "broadcaster_receipts_ingested",
            "Receipts stored, by route and how they came (callback, poll, stream).",
            ["route", "source"],
            registry=self.registry,
        )
        self.receipts_rejected = Counter(
            "broadcaster_receipts_rejected",
            "Receipt callbacks refused, by route and reason (secret missing or wrong, malformed payload).",
            ["route", "reason"],
            registry=self.registry,
        )
        self.circuit_open = Gauge(
            "broadcaster_circuit_open",
            "1 while the route's circuit breaker is open (sending paused after a route-wide fault).",
            ["route"],
            registry=self.registry,
        )
        self.import_rows = Counter(
            "broadcaster_import_rows", "Rows read by audience imports started through the API.", registry=self.registry
        )
        self._bound = False

    # -- what a dispatcher reports (``broadcaster.dispatch.Observer``) --------------------------------

    def submitted(self, route: str, seconds: float) -> None:
        self.submit_latency.labels(route=route).observe(seconds)

    def circuit(self, route: str, *, is_open: bool) -> None:
        self.circuit_open.labels(route=route).set(1 if is_open else 0)

    def received(self, route: str, source: str, count: int) -> None:
        self.receipts_ingested.labels(route=route, source=source).inc(count)

    def bind(self, engine: Engine, *, min_interval: float = 10.0) -> None:
        """Add the figures read from ``engine`` at scrape time (reused for ``min_interval`` seconds)."""
        if not self._bound:
            self.registry.register(_DatabaseCollector(engine, min_interval))
            self._bound = True

    def render(self) -> bytes:
        return generate_latest(self.registry)
