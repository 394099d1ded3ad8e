"""The scheduler: fires campaign runs at their times, once, with exactly one scheduler leading.

Leadership. Any number of processes may start a ``Scheduler``; one leads. On PostgreSQL the leader
holds ``pg_try_advisory_lock`` (keyed by the schema) on a connection of its own, so the lock goes
when the process or its connection dies; on SQLite it holds ``fcntl.flock`` on
``<workspace>/scheduler.lock``. The others retry every ``LEADER_INTERVAL`` seconds.

Truth. Our tables are the truth and the APScheduler job store is derived from them, in memory: at
start and whenever a campaign changes (checked every ``LEADER_INTERVAL`` seconds, or at once with
``sync()``), each approved or active campaign gets one job with its trigger (a cron trigger inside its
date window, or a date trigger). A job only creates and plans the run (``planner.create_run`` +
``planner.plan_run``); dispatch sends it. Each firing is a ``Run`` unique per (campaign,
scheduled_for): a second attempt to create the same firing fails on the unique constraint and is a
no-op, so a firing never happens twice, even if two schedulers were to lead at once.

Misfires. ``tick(now)`` (run at start, by every job and every ``LEADER_INTERVAL`` seconds) looks for
every firing due since the campaign's approval (minus the grace) or its last run, whatever the job
store remembers. A firing less than ``campaign.misfire_grace_hours`` late is fired now; an older
one becomes a ``missed`` run with an alert (an ``AuditEvent`` ``run.missed`` and an error log line)
that ``broadcaster campaign rerun ID --run R`` sends after all. Nothing is silently dropped.

Time. The clock is injected (a callable returning aware UTC datetimes): tests call ``tick(now)`` and
the sweeps with the time they choose, and never sleep.
"""

from __future__ import annotations

import fcntl
import os
import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any, Protocol

from apscheduler.events import EVENT_JOB_ERROR, JobExecutionEvent
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel import Session, col, func, select

from broadcaster import campaigns, planner, sweeps
from broadcaster.campaigns import due_firings, next_firing, schedule_of
from broadcaster.config import Settings
from broadcaster.logs import get_logger
from broadcaster.models import Campaign, Run, utcnow

__all__ = [
    "LEADER_INTERVAL",
    "SWEEPS",
    "FileLeaderLock",
    "LeaderLock",
    "PostgresLeaderLock",
    "Scheduler",
    "TickReport",
    "due_firings",
    "fire",
    "leader_lock",
    "next_firing",
]

log = get_logger(__name__)

LEADER_INTERVAL = 10.0
"""Seconds between leadership checks, change checks and catch-up ticks."""
PLAN_RESUME_AFTER = timedelta(minutes=2)
"""A run still unplanned this long after it was created has lost its planner (planning a million
recipients takes well under a minute); the leader plans the rest."""
LOCK_FILE = "scheduler.lock"
SWEEPS: dict[str, float] = {
    "recover_leases": 30.0,
    "close_finished": 30.0,
    "expire_unreceipted": 300.0,
    "purge_numbers": 3600.0,
}
"""Sweep name (a function of ``broadcaster.sweeps``) -> seconds between runs."""
_ADVISORY_KEY = "hashtext('broadcaster.scheduler:' || current_schema())"


class LeaderLock(Protocol):
    def acquire(self) -> bool:
        """Take the lock if free (never blocks); True when held."""
        ...

    def alive(self) -> bool:
        """Still held (False once the holding connection is gone)."""
        ...

    def release(self) -> None: ...


class FileLeaderLock:
    """``fcntl.flock`` on a file: one holder per file across processes (and across open files)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: IO[str] | None = None

    def acquire(self) -> bool:
        if self._handle is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(f"{socket.gethostname()}:{os.getpid()}\n")
        handle.flush()
        self._handle = handle
        return True

    def alive(self) -> bool:
        return self._handle is not None

    def release(self) -> None:
        if self._handle is None:
            return
        try:
            fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
        finally:
            self._handle.close()
            self._handle = None


class PostgresLeaderLock:
    """A session-level advisory lock held on a dedicated connection (autocommit: never idle in a
    transaction). The server frees it when the connection ends."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._conn: Connection | None = None

    def acquire(self) -> bool:
        if self._conn is not None:
            return True
        conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            held = bool(conn.execute(text(f"SELECT pg_try_advisory_lock({_ADVISORY_KEY})")).scalar_one())
        except DBAPIError:
            conn.invalidate()
            conn.close()
            raise
        if not held:
            conn.close()
            return False
        self._conn = conn
        return True

    def alive(self) -> bool:
        if self._conn is None:
            return False
        try:
            self._conn.execute(text("SELECT 1"))
        except DBAPIError:
            self._conn.invalidate()
            self._conn.close()
            self._conn = None
            return False
        return True

    def release(self) -> None:
        if self._conn is None:
            return
        conn, self._conn = self._conn, None
        try:
            conn.execute(text(f"SELECT pg_advisory_unlock({_ADVISORY_KEY})"))
        except DBAPIError:
            conn.invalidate()  # the server drops the lock with the connection
        finally:
            conn.close()


def leader_lock(engine: Engine, settings: Settings) -> LeaderLock:
    if engine.dialect.name == "postgresql":
        return PostgresLeaderLock(engine)
    return FileLeaderLock(settings.workspace / LOCK_FILE)


def fire(
    engine: Engine, settings: Settings, campaign_id: int, scheduled_for: datetime, now: datetime
) -> planner.PlanSummary | None:
    """Create the firing's run and plan it; None when the firing already has a run (or the campaign was
    paused or cancelled meanwhile: the run is then paused, or cancelled unplanned)."""
    try:
        run = planner.create_run(engine, campaign_id, scheduled_for, settings)
    except IntegrityError:
        return None
    assert run.id is not None
    if not campaigns.admit_run(engine, campaign_id, run.id, now=now):
        log.info("run.not_planned", campaign=campaign_id, run=run.id, reason="campaign no longer scheduled")
        return None
    summary = planner.plan_run(engine, run.id, settings)
    log.info(
        "run.fired",
        campaign=campaign_id,
        run=run.id,
        scheduled_for=scheduled_for.astimezone(settings.zone).isoformat(),
        targeted=summary.targeted,
        queued=summary.queued,
    )
    return summary


@dataclass
class TickReport:
    leader: bool
    fired: list[int] = field(default_factory=list)
    """Runs created and planned."""
    missed: list[int] = field(default_factory=list)
    """Runs recorded as missed (too late to send)."""
    duplicates: int = 0
    """Firings that already had a run (another scheduler, or an earlier tick, made it)."""
    resumed: list[int] = field(default_factory=list)
    """Runs whose planner died part way, planned to the end."""


class Scheduler:
    """Leads (or waits to lead), fires due runs, and runs the sweeps; see the module docstring."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = utcnow,
        lock: LeaderLock | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.clock = clock
        self.lock = lock or leader_lock(engine, settings)
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self.grace = timedelta(hours=settings.campaign.misfire_grace_hours)
        self._leading = False
        self._tick_lock = threading.Lock()
        self._aps: BackgroundScheduler | None = None
        self._fingerprints: dict[int, tuple[Any, ...]] = {}
        self._sweeps_installed = False

    # -- leadership ---------------------------------------------------------------------------------

    @property
    def leading(self) -> bool:
        return self._leading

    def lead(self) -> bool:
        """Leading now? Tries to take the lock when not."""
        if self._leading:
            return True
        if self.lock.acquire():
            self._leading = True
            log.info("scheduler.elected", owner=self.owner)
        return self._leading

    def _demote(self) -> None:
        self._leading = False
        self.lock.release()
        if self._aps is not None:
            for job in self._aps.get_jobs():
                if job.id != "leader":
                    job.remove()
        self._fingerprints.clear()
        self._sweeps_installed = False

    # -- firing -------------------------------------------------------------------------------------

    def tick(self, now: datetime | None = None, campaign_ids: Iterable[int] | None = None) -> TickReport:
        """Fire (or record as missed) every firing due up to ``now`` that has no run yet."""
        now = now or self.clock()
        if not self.lead():
            return TickReport(leader=False)
        report = TickReport(leader=True)
        with self._tick_lock:
            for campaign, last_run in self._scheduled(campaign_ids):
                since = campaigns.firing_window_start(campaign, self.grace, last_run)
                if since is None or campaign.id is None:
                    continue
                for when in due_firings(campaign, since, now, self.settings.zone):
                    self._fire_one(campaign.id, when, now, report)
            self._resume_planning(now, report)
        return report

    def _resume_planning(self, now: datetime, report: TickReport) -> None:
        """Finish the planning of runs whose planner died (a crash, a restart mid-plan): their missing
        districts are planned, the ones already planned are left as they are."""
        for run_id in planner.unfinished_runs(self.engine, now - PLAN_RESUME_AFTER):
            summary = planner.plan_run(self.engine, run_id, self.settings)
            log.warning("run.planning_resumed", run=run_id, targeted=summary.targeted, queued=summary.queued)
            report.resumed.append(run_id)

    def _fire_one(self, campaign_id: int, when: datetime, now: datetime, report: TickReport) -> None:
        if now - when < self.grace:
            summary = fire(self.engine, self.settings, campaign_id, when, now)
            if summary is None:
                report.duplicates += 1
            else:
                report.fired.append(summary.run_id)
            return
        run = campaigns.record_missed(self.engine, self.settings, campaign_id, when, now=now)
        if run is None or run.id is None:
            report.duplicates += 1
        else:
            report.missed.append(run.id)

    def _scheduled(self, campaign_ids: Iterable[int] | None) -> list[tuple[Campaign, datetime | None]]:
        with Session(self.engine, expire_on_commit=False) as session:
            query = select(Campaign).where(col(Campaign.status).in_(campaigns.SCHEDULED))
            if campaign_ids is not None:
                query = query.where(col(Campaign.id).in_(list(campaign_ids)))
            found = list(session.exec(query.order_by(col(Campaign.id))))
            last = dict(
                session.exec(
                    select(Run.campaign_id, func.max(Run.scheduled_for))
                    .where(col(Run.campaign_id).in_([c.id for c in found] or [-1]))
                    .group_by(col(Run.campaign_id))
                ).all()
            )
        return [(c, campaigns.as_utc(last[c.id]) if c.id in last else None) for c in found]

    # -- sweeps -------------------------------------------------------------------------------------

    def sweep(self, name: str, now: datetime | None = None) -> object:
        """Run one sweep of ``broadcaster.sweeps`` now (only the leader sweeps)."""
        now = now or self.clock()
        if not self.lead():
            return None
        if name == "recover_leases":
            return sweeps.recover_leases(self.engine, now)
        if name == "expire_unreceipted":
            return sweeps.expire_unreceipted(self.engine, self.settings, now)
        if name == "close_finished":
            return sweeps.close_finished(self.engine, self.settings, now)
        if name == "purge_numbers":
            return sweeps.purge_numbers(self.engine, self.settings, now)
        msg = f"unknown sweep {name!r}; sweeps: {', '.join(SWEEPS)}"
        raise ValueError(msg)

    # -- the APScheduler side -----------------------------------------------------------------------

    def start(self, *, run_jobs: bool = True) -> None:
        """Elect, catch up on what was missed while down, build the jobs, start the background thread.

        The catch-up (the misfire policy) runs before this returns, so a run missed while the service
        was down is planned (or recorded missed) at start. A scheduler that does not lead starts too
        and keeps trying to lead. ``run_jobs=False`` builds the jobs without running them (to inspect
        ``jobs()``).
        """
        if self._aps is not None:
            return
        self._aps = BackgroundScheduler(
            timezone=self.settings.zone,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        self._aps.add_listener(self._job_failed, EVENT_JOB_ERROR)
        self._heartbeat()
        self._aps.add_job(self._heartbeat, IntervalTrigger(seconds=LEADER_INTERVAL), id="leader", replace_existing=True)
        self._aps.start(paused=not run_jobs)

    def shutdown(self, wait: bool = True) -> None:
        if self._aps is not None and self._aps.running:
            self._aps.shutdown(wait=wait)
        self._aps = None
        if self._leading:
            self._leading = False
            self.lock.release()
        self._fingerprints.clear()
        self._sweeps_installed = False

    def stop(self) -> None:
        """``shutdown()`` under the name the service lifespan calls."""
        self.shutdown()

    def __enter__(self) -> Scheduler:
        return self

    def __exit__(self, *_: object) -> None:
        self.shutdown()

    def jobs(self) -> dict[str, datetime | None]:
        """Job id -> next run time (aware), as the job store holds them."""
        if self._aps is None:
            return {}
        return {job.id: getattr(job, "next_run_time", None) for job in self._aps.get_jobs()}

    def _job_failed(self, event: JobExecutionEvent) -> None:
        log.error("scheduler.job_failed", job=event.job_id, error=repr(event.exception))

    def _heartbeat(self) -> None:
        if self._leading and not self.lock.alive():
            log.error("scheduler.leadership_lost", owner=self.owner)
            self._demote()
        if not self.lead():
            return
        if not self._sweeps_installed:
            self._install_sweeps()
        self.tick()
        self.sync()

    def _install_sweeps(self) -> None:
        assert self._aps is not None
        for name, seconds in SWEEPS.items():
            self._aps.add_job(
                self.sweep, IntervalTrigger(seconds=seconds), args=[name], id=f"sweep-{name}", replace_existing=True
            )
        self._sweeps_installed = True

    def sync(self) -> int:
        """Rebuild the jobs of campaigns that changed since the last sync; how many changed."""
        if self._aps is None or not self._leading:
            return 0
        now = self.clock()
        with Session(self.engine, expire_on_commit=False) as session:
            wanted = {
                c.id: c
                for c in session.exec(select(Campaign).where(col(Campaign.status).in_(campaigns.SCHEDULED)))
                if c.id is not None
            }
        changed = 0
        for campaign_id in list(self._fingerprints):
            campaign = wanted.get(campaign_id)
            if campaign is None or _fingerprint(campaign) != self._fingerprints[campaign_id]:
                self._remove_job(campaign_id)
                del self._fingerprints[campaign_id]
                changed += 1
        for campaign_id, campaign in wanted.items():
            if campaign_id in self._fingerprints:
                continue
            self._fingerprints[campaign_id] = _fingerprint(campaign)
            changed += 1
            trigger = self._trigger(campaign, now)
            if trigger is not None:
                self._aps.add_job(
                    self.tick,
                    trigger,
                    kwargs={"campaign_ids": [campaign_id]},
                    id=_job_id(campaign_id),
                    replace_existing=True,
                )
        return changed

    def _trigger(self, campaign: Campaign, now: datetime) -> BaseTrigger | None:
        """The campaign's next firings as an APScheduler trigger; None when nothing is left to fire
        (past firings are the catch-up tick's)."""
        if next_firing(campaign, now, self.settings.zone) is None:
            return None
        schedule = schedule_of(campaign)
        if schedule.cron is not None:
            return campaigns.cron_trigger(
                schedule.cron, self.settings.zone, schedule.active_from, schedule.active_until
            )
        return DateTrigger(run_date=schedule.run_at or campaign.approved_at, timezone=self.settings.zone)

    def _remove_job(self, campaign_id: int) -> None:
        assert self._aps is not None
        try:
            self._aps.remove_job(_job_id(campaign_id))
        except JobLookupError:
            pass  # a date job is gone once it has run


def _job_id(campaign_id: int) -> str:
    return f"campaign-{campaign_id}"


def _fingerprint(campaign: Campaign) -> tuple[Any, ...]:
    return (
        campaign.status,
        campaign.updated_at,
        campaign.approved_at,
        campaign.run_at,
        campaign.cron,
        campaign.active_from,
        campaign.active_until,
    )
