"""Sweeps: the housekeeping that settles what no event settles by itself.

Each sweep is a use case (it owns its transactions) that the scheduler runs as a periodic job and
tests call directly with the time they choose:

- ``recover_leases``: messages leased by a worker that died go back to the queue;
- ``expire_unreceipted``: ``sent`` messages with no receipt past their route's validity become
  ``expired`` (``EXPIRED_NO_RECEIPT``; a carrier receipt arriving later still wins);
- ``close_finished``: queued messages of cancelled runs are cancelled, runs with nothing in flight
  are completed, and active campaigns whose last run is done and whose schedule has nothing left
  are completed;
- ``purge_numbers``: phone numbers of runs closed longer ago than the retention period are removed
  from their messages; every count the reports need (district, carrier, status, segments) stays.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine

from broadcaster import campaigns, db, queue
from broadcaster.config import RouteSettings, Settings
from broadcaster.logs import get_logger
from broadcaster.models import AuditEvent

log = get_logger(__name__)

DEFAULT_VALIDITY_HOURS = RouteSettings.model_fields["validity_hours"].default
"""For messages sent on a route no longer in the configuration."""


def recover_leases(engine: Engine, now: datetime) -> int:
    """Messages whose lease ran out (their worker died) go back to the queue; how many."""
    with engine.begin() as conn:
        released = queue.release_expired_leases(conn, now)
    if released:
        log.warning("sweep.leases_recovered", messages=released)
    return released


def expire_unreceipted(engine: Engine, settings: Settings, now: datetime) -> int:
    """``sent`` messages older than their route's ``validity_hours`` with no receipt become ``expired``."""
    routes = [route for carrier_routes in settings.routes.values() for route in carrier_routes]
    expired = 0
    with engine.begin() as conn:
        for route in routes:
            expired += queue.expire_sent(
                conn,
                before=now - timedelta(hours=route.validity_hours),
                now=now,
                route=route.name,
                reason=f"no delivery receipt within {route.validity_hours:g} hours",
            )
        expired += queue.expire_sent(
            conn,
            before=now - timedelta(hours=DEFAULT_VALIDITY_HOURS),
            now=now,
            other_than=[route.name for route in routes],
            reason=f"no delivery receipt within {DEFAULT_VALIDITY_HOURS:g} hours",
        )
    if expired:
        log.info("sweep.expired", messages=expired)
    return expired


@dataclass(frozen=True, slots=True)
class Closed:
    runs: list[int] = field(default_factory=list)
    cancelled_messages: int = 0
    campaigns: list[int] = field(default_factory=list)


def close_finished(engine: Engine, settings: Settings, now: datetime) -> Closed:
    """Cancel stray queued messages of cancelled runs, complete finished runs, then finished campaigns."""
    with engine.begin() as conn:
        cancelled = queue.cancel_orphans(conn, now)
        runs = queue.complete_finished_runs(conn, now)
    done = campaigns.complete_finished(engine, settings, now)
    if runs or done or cancelled:
        log.info("sweep.closed", runs=runs, campaigns=done, cancelled_messages=cancelled)
    return Closed(runs=runs, cancelled_messages=cancelled, campaigns=done)


@dataclass(frozen=True, slots=True)
class Purged:
    runs: list[int] = field(default_factory=list)
    numbers: int = 0


def purge_numbers(engine: Engine, settings: Settings, now: datetime) -> Purged:
    """Remove the phone numbers of runs closed more than ``retention_days`` ago; one transaction per run,
    each recorded in the audit log. Audiences (the subscriber lists) are kept."""
    before = now - timedelta(days=settings.campaign.retention_days)
    with db.reading(engine) as conn:
        run_ids = queue.runs_to_purge(conn, before)
    total = 0
    for run_id in run_ids:
        with engine.begin() as conn:
            numbers = queue.purge_run_numbers(conn, run_id, now)
            conn.execute(
                AuditEvent.__table__.insert(),  # type: ignore[attr-defined]
                {
                    "at": now,
                    "actor": campaigns.SCHEDULER,
                    "action": "run.purge",
                    "object_type": "run",
                    "object_id": str(run_id),
                    "before": None,
                    "after": {"numbers_removed": numbers, "retention_days": settings.campaign.retention_days},
                },
            )
        total += numbers
    if run_ids:
        log.info("sweep.purged", runs=run_ids, numbers=total, retention_days=settings.campaign.retention_days)
    return Purged(runs=run_ids, numbers=total)
