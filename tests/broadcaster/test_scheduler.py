"""The scheduler: firings at their times and only once, the misfire policy, one leader, the sweeps.

Every test drives the scheduler with the time it chooses (``tick(now)``, sweeps called with ``now``):
nothing sleeps and nothing depends on the wall clock.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session, select

from broadcaster import campaigns, db, planner, queue, receipts, reports, sweeps
from broadcaster.config import Settings
from broadcaster.models import Audience, AuditEvent, Campaign, Run, RunStatus, Subscriber, utcnow
from broadcaster.scheduler import FileLeaderLock, PostgresLeaderLock, Scheduler, TickReport, due_firings, fire
from carriers.base import Receipt, ReceiptStatus

ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
NOW = datetime(2025, 6, 20, 10, 0, tzinfo=ZONE).astimezone(UTC)
"""When the campaigns of these tests are created and approved."""


def local(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    """A local (Asia/Ho_Chi_Minh) time as aware UTC."""
    return datetime(year, month, day, hour, minute, tzinfo=ZONE).astimezone(UTC)


def seed_audience(engine: Engine, name: str = "Tây Ninh", per_cell: int = 3) -> None:
    """Subscribers in three districts of Tây Ninh on two carriers."""
    with Session(engine) as session, session.begin():
        audience = Audience(name=name, province_code="72")
        session.add(audience)
        session.flush()
        for district in ("703", "705", "706"):
            for carrier, prefix in (("viettel", "96"), ("vinaphone", "91")):
                for i in range(per_cell):
                    session.add(
                        Subscriber(
                            audience_id=audience.id or 0,
                            msisdn=f"+84{prefix}{district}{i:04d}",
                            province_code="72",
                            district_code=district,
                            carrier=carrier,
                        )
                    )


def approved(
    engine: Engine,
    settings: Settings,
    *,
    at: datetime | None = None,
    cron: str | None = None,
    start: date | None = None,
    until: date | None = None,
    audience: str = "Tây Ninh",
    approved_at: datetime = NOW,
) -> int:
    """A campaign created, submitted and approved (by someone else) at ``approved_at``."""
    campaign = campaigns.create_campaign(
        engine,
        settings,
        campaigns.NewCampaign(
            name="30/7",
            template="30-7/2024",
            audiences=(audience,),
            created_by="op",
            run_at=at,
            cron=cron,
            active_from=start,
            active_until=until,
        ),
        now=approved_at,
    )
    assert campaign.id is not None
    campaigns.transition(engine, campaign.id, "submit", "op", now=approved_at)
    campaigns.approve(engine, settings, campaign.id, "boss", now=approved_at)
    return campaign.id


def runs_of(engine: Engine, campaign_id: int) -> list[Run]:
    with Session(engine) as session:
        return list(session.exec(select(Run).where(Run.campaign_id == campaign_id).order_by(Run.id)))  # type: ignore[arg-type]


def status_of(engine: Engine, campaign_id: int) -> str:
    with Session(engine) as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        return campaign.status


def messages(engine: Engine, run_id: int) -> Counter[str]:
    with engine.connect() as conn:
        return Counter({k: v for k, v in queue.status_counts(conn, run_id).items() if v})


def audit(engine: Engine, action: str) -> list[AuditEvent]:
    with Session(engine) as session:
        return list(session.exec(select(AuditEvent).where(AuditEvent.action == action)))


@pytest.fixture
def audience(engine: Engine) -> str:
    seed_audience(engine)
    return "Tây Ninh"


class AlwaysLeads:
    """A leader lock that every scheduler gets: two leaders at once, to show the unique constraint alone
    still fires each firing once."""

    def acquire(self) -> bool:
        return True

    def alive(self) -> bool:
        return True

    def release(self) -> None:
        return None


class TestDueFirings:
    def test_one_time_firing_is_inside_the_period_only(self, settings: Settings) -> None:
        """A one-time campaign has one firing: listed when the period holds it, never otherwise."""
        campaign = Campaign(
            name="x", template_name="t", template_text="", sender="S", created_by="op", run_at=local(2025, 7, 30, 8, 0)
        )
        at = local(2025, 7, 30, 8, 0)
        assert due_firings(campaign, at - timedelta(seconds=1), at, ZONE) == [at]
        assert due_firings(campaign, at, at + timedelta(days=1), ZONE) == []
        assert due_firings(campaign, NOW, at - timedelta(seconds=1), ZONE) == []
        assert at == datetime(2025, 7, 30, 1, 0, tzinfo=UTC), "08:00 in Hanoi is 01:00 UTC"

    def test_weekly_schedule_fires_on_its_days_inside_its_window(self, settings: Settings) -> None:
        """Mon and Wed at 08:00 local from 1/7 to 30/9: every such day in the window, none outside."""
        cron = campaigns.weekly_cron(["mon,wed"], "08:00")
        campaign = Campaign(
            name="x",
            template_name="t",
            template_text="",
            sender="S",
            created_by="op",
            cron=cron,
            active_from=date(2025, 7, 1),
            active_until=date(2025, 9, 30),
        )
        found = due_firings(campaign, local(2025, 1, 1, 0, 0), local(2025, 12, 31, 0, 0), ZONE)
        expected = [
            local(day.year, day.month, day.day, 8, 0)
            for day in (date(2025, 7, 1) + timedelta(days=n) for n in range(92))
            if day.weekday() in (0, 2)
        ]
        assert found == expected
        assert found[0] == local(2025, 7, 2, 8, 0), "1 July 2025 is a Tuesday"
        assert found[-1] == local(2025, 9, 29, 8, 0)
        assert all(f.astimezone(ZONE).hour == 8 for f in found)

    def test_window_days_are_inclusive(self, settings: Settings) -> None:
        """A daily schedule fires on the first and on the last day of its window."""
        campaign = Campaign(
            name="x",
            template_name="t",
            template_text="",
            sender="S",
            created_by="op",
            cron="30 21 * * *",
            active_from=date(2025, 7, 1),
            active_until=date(2025, 7, 3),
        )
        found = due_firings(campaign, NOW, local(2026, 1, 1, 0, 0), ZONE)
        assert found == [local(2025, 7, d, 21, 30) for d in (1, 2, 3)]

    def test_crontab_day_numbers_count_from_sunday(self, settings: Settings) -> None:
        """'0 9 * * 0' is Sunday and '1-5' Monday to Friday, as in crontab (APScheduler 3 alone differs)."""
        sunday = Campaign(
            name="x",
            template_name="t",
            template_text="",
            sender="S",
            created_by="op",
            cron="0 9 * * 0",
            active_from=date(2025, 7, 1),
            active_until=date(2025, 7, 31),
        )
        days = {f.astimezone(ZONE).weekday() for f in due_firings(sunday, NOW, local(2025, 8, 1, 0, 0), ZONE)}
        assert days == {6}
        weekdays = Campaign(
            name="x",
            template_name="t",
            template_text="",
            sender="S",
            created_by="op",
            cron="0 9 * * 1-5",
            active_from=date(2025, 7, 1),
            active_until=date(2025, 7, 31),
        )
        days = {f.astimezone(ZONE).weekday() for f in due_firings(weekdays, NOW, local(2025, 8, 1, 0, 0), ZONE)}
        assert days == {0, 1, 2, 3, 4}


class TestTick:
    def test_one_time_run_fires_once_at_its_time(self, engine: Engine, settings: Settings, audience: str) -> None:
        """Nothing before its time; at its time one run, planned into messages; never again after."""
        at = local(2025, 7, 30, 8, 0)
        campaign_id = approved(engine, settings, at=at)
        with Scheduler(engine, settings) as scheduler:
            assert scheduler.tick(NOW).fired == []
            assert scheduler.tick(at - timedelta(minutes=1)).fired == []
            assert runs_of(engine, campaign_id) == []
            report = scheduler.tick(at)
            assert len(report.fired) == 1
            for later in (at + timedelta(seconds=1), at + timedelta(minutes=5), at + timedelta(days=3)):
                assert scheduler.tick(later).fired == []
        runs = runs_of(engine, campaign_id)
        assert [r.scheduled_for for r in runs] == [at]
        assert runs[0].status == RunStatus.SENDING
        assert messages(engine, runs[0].id or 0) == {"queued": 18}
        assert status_of(engine, campaign_id) == "active"
        activations = audit(engine, "campaign.activate")
        assert [(e.actor, e.before, e.after) for e in activations] == [
            ("scheduler", {"status": "approved", "approved_by": "boss"}, {"status": "active", "approved_by": "boss"})
        ]

    def test_recurring_campaign_fires_on_its_days_only_inside_its_window(
        self, engine: Engine, settings: Settings, audience: str
    ) -> None:
        """Ticking every hour for three weeks: runs exactly on Mon and Wed at 08:00 between 30/6 and 9/7."""
        campaign_id = approved(
            engine,
            settings,
            cron=campaigns.weekly_cron(["mon", "wed"], "08:00"),
            start=date(2025, 6, 30),
            until=date(2025, 7, 9),
        )
        with Scheduler(engine, settings) as scheduler:
            now = local(2025, 6, 25, 0, 0)
            while now < local(2025, 7, 16, 0, 0):
                scheduler.tick(now)
                now += timedelta(hours=1)
        fired = [r.scheduled_for for r in runs_of(engine, campaign_id)]
        assert fired == [
            local(2025, 6, 30, 8, 0),
            local(2025, 7, 2, 8, 0),
            local(2025, 7, 7, 8, 0),
            local(2025, 7, 9, 8, 0),
        ]

    def test_run_missed_by_an_hour_fires_at_start(self, engine: Engine, settings: Settings, audience: str) -> None:
        """The service was down at 08:00 and starts at 09:00: the run fires at start (grace 6 h)."""
        at = local(2025, 7, 30, 8, 0)
        campaign_id = approved(engine, settings, at=at)
        scheduler = Scheduler(engine, settings, clock=lambda: at + timedelta(hours=1))
        scheduler.start(run_jobs=False)
        try:
            runs = runs_of(engine, campaign_id)
            assert [(r.scheduled_for, r.status) for r in runs] == [(at, RunStatus.SENDING)]
            assert messages(engine, runs[0].id or 0)["queued"] == 18
        finally:
            scheduler.shutdown()
        assert audit(engine, "run.missed") == []

    def test_run_missed_by_two_days_is_marked_missed_and_can_be_rerun(
        self, engine: Engine, settings: Settings, audience: str
    ) -> None:
        """Two days late: a 'missed' run with an alert and no messages; 'rerun' then plans it, once."""
        at = local(2025, 7, 30, 8, 0)
        campaign_id = approved(engine, settings, at=at)
        with Scheduler(engine, settings) as scheduler:
            report = scheduler.tick(at + timedelta(days=2))
            assert report.fired == [] and len(report.missed) == 1
            assert scheduler.tick(at + timedelta(days=2, hours=1)).missed == []
        (run,) = runs_of(engine, campaign_id)
        assert run.status == RunStatus.MISSED and run.scheduled_for == at
        assert messages(engine, run.id or 0) == {}
        (alert,) = audit(engine, "run.missed")
        assert alert.actor == "scheduler" and alert.object_id == str(run.id)
        assert alert.after is not None and alert.after["late_hours"] == 48.0
        assert f"rerun {campaign_id} --run {run.id}" in alert.after["rerun"]
        summary = campaigns.rerun(engine, settings, campaign_id, run.id or 0, "op", now=at + timedelta(days=2))
        assert summary.queued == 18
        assert runs_of(engine, campaign_id)[0].status == RunStatus.SENDING
        with pytest.raises(campaigns.CampaignError, match="only a missed run can be re-run"):
            campaigns.rerun(engine, settings, campaign_id, run.id or 0, "op")
        assert messages(engine, run.id or 0) == {"queued": 18}

    def test_paused_campaign_does_not_fire_and_catches_up_on_resume(
        self, engine: Engine, settings: Settings, audience: str
    ) -> None:
        """No firing while paused; after resume a recent firing fires, an old one is recorded missed."""
        cron = "0 8 * * *"
        campaign_id = approved(engine, settings, cron=cron, start=date(2025, 7, 1), until=date(2025, 7, 10))
        campaigns.pause(engine, campaign_id, "op", now=NOW)
        with Scheduler(engine, settings) as scheduler:
            assert scheduler.tick(local(2025, 7, 3, 9, 0)).fired == []
            assert runs_of(engine, campaign_id) == []
            campaigns.resume(engine, campaign_id, "op", now=local(2025, 7, 3, 9, 0))
            report = scheduler.tick(local(2025, 7, 3, 9, 0))
        statuses = [(r.scheduled_for.astimezone(ZONE).day, r.status) for r in runs_of(engine, campaign_id)]
        assert statuses == [(1, RunStatus.MISSED), (2, RunStatus.MISSED), (3, RunStatus.SENDING)]
        assert len(report.fired) == 1 and len(report.missed) == 2


class TestPlannerDied:
    def test_the_leader_plans_the_rest_of_the_run_once(self, engine: Engine, settings: Settings, audience: str) -> None:
        """A planner killed after its first district: the run stays half planned until the leader's
        tick two minutes later plans the other districts, each exactly once; a second resume adds nothing."""
        campaign_id = approved(engine, settings, at=local(2025, 7, 30, 8, 0))
        run = planner.create_run(engine, campaign_id, local(2025, 7, 30, 8, 0), settings)
        assert run.id is not None

        def killed(district: str, planned: int) -> None:
            raise SystemExit(f"planner killed after district {district}")

        with pytest.raises(SystemExit):
            planner.plan_run(engine, run.id, settings, on_district=killed)
        assert messages(engine, run.id) == {"queued": 6}  # one district of three
        with Scheduler(engine, settings) as scheduler:
            assert scheduler.tick(utcnow(), campaign_ids=[]).resumed == []  # its planner may still be at work
            report = scheduler.tick(utcnow() + timedelta(minutes=3), campaign_ids=[])
            assert report.resumed == [run.id]
            assert scheduler.tick(utcnow() + timedelta(minutes=4), campaign_ids=[]).resumed == []
        planner.plan_run(engine, run.id, settings)  # planning a planned run again changes nothing
        assert messages(engine, run.id) == {"queued": 18}
        with engine.connect() as conn:
            numbers = conn.execute(
                text("SELECT COUNT(*), COUNT(DISTINCT msisdn) FROM message WHERE run_id = :r"), {"r": run.id}
            ).one()
            planned_at = conn.execute(text("SELECT planned_at FROM run WHERE id = :r"), {"r": run.id}).scalar_one()
        assert numbers == (18, 18) and planned_at is not None


class TestOneFiring:
    def test_only_the_leader_fires(self, engine: Engine, settings: Settings, audience: str) -> None:
        """Two schedulers: the first to tick leads; the other does nothing until the leader stops."""
        at = local(2025, 7, 30, 8, 0)
        campaign_id = approved(engine, settings, at=at)
        first, second = Scheduler(engine, settings), Scheduler(engine, settings)
        try:
            assert first.tick(NOW).leader
            assert not second.tick(at).leader
            assert runs_of(engine, campaign_id) == []
            assert len(first.tick(at).fired) == 1
            first.shutdown()
            report = second.tick(at + timedelta(minutes=1))
            assert report.leader and report.fired == [] and report.missed == []
        finally:
            first.shutdown()
            second.shutdown()
        assert len(runs_of(engine, campaign_id)) == 1

    def test_two_leaders_racing_still_fire_once(self, engine: Engine, settings: Settings, audience: str) -> None:
        """Even with the leader lock bypassed, two schedulers ticking at once create one run: the unique
        (campaign, scheduled_for) constraint makes the second a no-op."""
        at = local(2025, 7, 30, 8, 0)
        campaign_id = approved(engine, settings, at=at)
        schedulers = [Scheduler(engine, settings, lock=AlwaysLeads()) for _ in range(4)]
        barrier = threading.Barrier(len(schedulers))
        reports: list[TickReport] = []

        def race(scheduler: Scheduler) -> None:
            barrier.wait()
            reports.append(scheduler.tick(at))

        threads = [threading.Thread(target=race, args=(s,)) for s in schedulers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sum(len(r.fired) for r in reports) == 1
        (run,) = runs_of(engine, campaign_id)
        assert messages(engine, run.id or 0) == {"queued": 18}

    def test_firing_the_same_time_concurrently_creates_one_run(
        self, engine: Engine, settings: Settings, audience: str
    ) -> None:
        """Four threads fire the same firing at the same instant: the unique (campaign, scheduled_for)
        constraint lets one create and plan its run; the others are no-ops; a later attempt too."""
        at = local(2025, 7, 30, 8, 0)
        campaign_id = approved(engine, settings, at=at)
        barrier = threading.Barrier(4)
        results: list[object] = []

        def race() -> None:
            barrier.wait()
            results.append(fire(engine, settings, campaign_id, at, at))

        threads = [threading.Thread(target=race) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(r is None for r in results) == [False, True, True, True]
        assert fire(engine, settings, campaign_id, at, at + timedelta(minutes=1)) is None
        (run,) = runs_of(engine, campaign_id)
        assert messages(engine, run.id or 0) == {"queued": 18}

    def test_file_lock_excludes_a_second_holder(self, settings: Settings) -> None:
        """On SQLite the leader holds flock on <workspace>/scheduler.lock; a second lock waits its turn."""
        path = settings.workspace / "scheduler.lock"
        first, second = FileLeaderLock(path), FileLeaderLock(path)
        assert first.acquire() and not second.acquire()
        first.release()
        assert second.acquire()
        second.release()

    @pytest.mark.postgres
    def test_advisory_lock_across_connections(self, pg_database: str) -> None:
        """On PostgreSQL two engines (as two processes would have) cannot both hold the leader lock, and a
        leader whose connection dies loses it to the other."""
        one, other = db.make_engine(pg_database), db.make_engine(pg_database)
        try:
            first, second = PostgresLeaderLock(one), PostgresLeaderLock(other)
            assert first.acquire()
            assert not second.acquire()
            assert first.alive()
            with other.connect() as conn:
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
                        "AND pid <> pg_backend_pid() AND database = (SELECT oid FROM pg_database "
                        "WHERE datname = current_database())"
                    )
                )
            assert not first.alive()
            assert second.acquire()
            second.release()
            assert first.acquire()
            first.release()
        finally:
            one.dispose()
            other.dispose()


class TestJobs:
    def test_jobs_are_built_from_the_tables(self, engine: Engine, settings: Settings, audience: str) -> None:
        """At start the leader has a job per scheduled campaign at its next firing, and the sweeps; a cancel
        removes the campaign's job at the next sync; a second scheduler holds only its leader check."""
        at = local(2025, 7, 30, 8, 0)
        campaign_id = approved(engine, settings, at=at)
        later = approved(engine, settings, at=at + timedelta(days=1))
        clock = [NOW]
        leader = Scheduler(engine, settings, clock=lambda: clock[0])
        follower = Scheduler(engine, settings, clock=lambda: clock[0])
        try:
            leader.start(run_jobs=False)
            follower.start(run_jobs=False)
            jobs = leader.jobs()
            assert jobs[f"campaign-{campaign_id}"] == at
            assert jobs[f"campaign-{later}"] == at + timedelta(days=1)
            assert {
                "leader",
                "sweep-recover_leases",
                "sweep-close_finished",
                "sweep-expire_unreceipted",
                "sweep-purge_numbers",
            } <= set(jobs)
            assert set(follower.jobs()) == {"leader"}
            # What APScheduler would call at the campaign's time: it fires that campaign's run.
            job = leader._aps.get_job(f"campaign-{campaign_id}")  # type: ignore[union-attr]
            clock[0] = at
            job.func(*job.args, **job.kwargs)
            assert [r.scheduled_for for r in runs_of(engine, campaign_id)] == [at]
            assert runs_of(engine, later) == []
            campaigns.cancel(engine, later, "op", now=at)
            leader.sync()
            assert f"campaign-{later}" not in leader.jobs()
        finally:
            leader.shutdown()
            follower.shutdown()


def sent_run(engine: Engine, settings: Settings, at: datetime) -> tuple[int, int]:
    """A fired run whose messages were all handed to the simulated routes at ``at``."""
    campaign_id = approved(engine, settings, at=at)
    summary = fire(engine, settings, campaign_id, at, at)
    assert summary is not None
    with engine.begin() as conn:
        conn.execute(
            queue.sql(
                "UPDATE message SET status = 'sent', route = 'sim-' || carrier, provider_id = 'sim' || id, "
                "sent_at = :now WHERE run_id = :run AND status = 'queued'"
            ),
            {"run": summary.run_id, "now": at},
        )
    return campaign_id, summary.run_id


class TestSweeps:
    def test_expiry_settles_sent_messages_past_validity(
        self, engine: Engine, settings: Settings, audience: str
    ) -> None:
        """Sent with no receipt: expired (EXPIRED_NO_RECEIPT) only after the route's validity; a carrier
        receipt arriving later still wins."""
        at = local(2025, 7, 30, 8, 0)
        routes = dict(settings.routes)
        routes["vinaphone"] = [routes["vinaphone"][0].model_copy(update={"validity_hours": 1})]
        settings = settings.model_copy(update={"routes": routes})
        _, run_id = sent_run(engine, settings, at)
        assert sweeps.expire_unreceipted(engine, settings, at + timedelta(minutes=59)) == 0
        assert sweeps.expire_unreceipted(engine, settings, at + timedelta(hours=2)) == 9  # vinaphone: 1 h
        assert sweeps.expire_unreceipted(engine, settings, at + timedelta(hours=71)) == 0
        assert sweeps.expire_unreceipted(engine, settings, at + timedelta(hours=73)) == 9  # viettel: 72 h
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT status, error_code, COUNT(*) FROM message WHERE run_id = :r GROUP BY status, error_code"),
                {"r": run_id},
            ).all()
            provider_id = conn.execute(
                text("SELECT provider_id FROM message WHERE run_id = :r AND carrier = 'viettel' ORDER BY id LIMIT 1"),
                {"r": run_id},
            ).scalar_one()
        assert rows == [("expired", "EXPIRED_NO_RECEIPT", 18)]
        with engine.begin() as conn:
            late = Receipt(provider_id=provider_id, status=ReceiptStatus.DELIVERED, at=at + timedelta(hours=80))
            assert receipts.ingest(conn, "sim-viettel", [late], at + timedelta(hours=80)) == 1
        assert messages(engine, run_id) == {"expired": 17, "delivered": 1}

    def test_expired_leases_go_back_to_the_queue(self, engine: Engine, settings: Settings, audience: str) -> None:
        """A message leased by a worker that died is queued again once its lease ends."""
        at = local(2025, 7, 30, 8, 0)
        campaign_id = approved(engine, settings, at=at)
        summary = fire(engine, settings, campaign_id, at, at)
        assert summary is not None
        with engine.begin() as conn:
            conn.execute(
                queue.sql(
                    "UPDATE message SET status = 'sending', lease_owner = 'dead', lease_until = :at WHERE run_id = :run"
                ),
                {"run": summary.run_id, "at": at + timedelta(seconds=60)},
            )
        assert sweeps.recover_leases(engine, at + timedelta(seconds=30)) == 0
        assert sweeps.recover_leases(engine, at + timedelta(seconds=61)) == 18
        assert messages(engine, summary.run_id) == {"queued": 18}

    def test_close_finished_completes_runs_then_the_campaign(
        self, engine: Engine, settings: Settings, audience: str
    ) -> None:
        """When every message is final the run completes; with no firing left, so does the campaign."""
        at = local(2025, 7, 30, 8, 0)
        campaign_id, run_id = sent_run(engine, settings, at)
        assert sweeps.close_finished(engine, settings, at).runs == []
        sweeps.expire_unreceipted(engine, settings, at + timedelta(hours=73))
        closed = sweeps.close_finished(engine, settings, at + timedelta(hours=73))
        assert closed.runs == [run_id] and closed.campaigns == [campaign_id]
        assert status_of(engine, campaign_id) == "completed"
        (event,) = audit(engine, "campaign.complete")
        assert event.actor == "scheduler" and event.before == {"status": "active", "approved_by": "boss"}

    def test_recurring_campaign_completes_only_after_its_last_firing(
        self, engine: Engine, settings: Settings, audience: str
    ) -> None:
        """A finished run does not complete a campaign that still has firings to come."""
        campaign_id = approved(engine, settings, cron="0 8 * * *", start=date(2025, 7, 1), until=date(2025, 7, 2))
        with Scheduler(engine, settings) as scheduler:
            for day in (1, 2):
                now = local(2025, 7, day, 8, 0)
                (run_id,) = scheduler.tick(now).fired
                with engine.begin() as conn:
                    conn.execute(
                        queue.sql("UPDATE message SET status = 'delivered', final_at = :now WHERE run_id = :r"),
                        {"r": run_id, "now": now},
                    )
                closed = sweeps.close_finished(engine, settings, now + timedelta(hours=1))
                assert closed.runs == [run_id]
                assert closed.campaigns == ([] if day == 1 else [campaign_id])
        assert status_of(engine, campaign_id) == "completed"

    def test_cancelled_runs_lose_stray_queued_messages(self, engine: Engine, settings: Settings, audience: str) -> None:
        """A lease released after the cancel puts a message back to queued; the sweep cancels it."""
        at = local(2025, 7, 30, 8, 0)
        campaign_id = approved(engine, settings, at=at)
        summary = fire(engine, settings, campaign_id, at, at)
        assert summary is not None
        with engine.begin() as conn:
            conn.execute(
                queue.sql(
                    "UPDATE message SET status = 'sending', lease_owner = 'w', lease_until = :at "
                    "WHERE id IN (SELECT MIN(id) FROM message WHERE run_id = :run)"
                ),
                {"run": summary.run_id, "at": at + timedelta(minutes=1)},
            )
        campaigns.cancel(engine, campaign_id, "op", now=at)
        assert messages(engine, summary.run_id) == {"cancelled": 17, "sending": 1}
        sweeps.recover_leases(engine, at + timedelta(minutes=2))
        closed = sweeps.close_finished(engine, settings, at + timedelta(minutes=2))
        assert closed.cancelled_messages == 1
        assert messages(engine, summary.run_id) == {"cancelled": 18}

    def test_retention_purge_removes_numbers_and_keeps_report_totals(
        self, engine: Engine, settings: Settings, audience: str
    ) -> None:
        """After retention_days the run's numbers are gone; the report (every count by district, carrier
        and status) is identical; audiences and younger runs keep their numbers."""
        at = local(2025, 7, 30, 8, 0)
        campaign_id, run_id = sent_run(engine, settings, at)
        with engine.begin() as conn:
            conn.execute(
                queue.sql(
                    "UPDATE message SET status = CASE WHEN id % 3 = 0 THEN 'failed' ELSE 'delivered' END, "
                    "final_at = :now WHERE run_id = :r"
                ),
                {"r": run_id, "now": at + timedelta(hours=1)},
            )
        sweeps.close_finished(engine, settings, at + timedelta(hours=1))
        before = reports.build(engine, campaign_id, now=at).as_json()
        assert sweeps.purge_numbers(engine, settings, at + timedelta(days=89)).runs == []
        purged = sweeps.purge_numbers(engine, settings, at + timedelta(days=91))
        assert purged.runs == [run_id] and purged.numbers == 18
        assert reports.build(engine, campaign_id, now=at).as_json() == before
        assert sum(before["totals"][k] for k in ("delivered", "failed")) == 18
        with engine.connect() as conn:
            left = conn.execute(text("SELECT COUNT(*) FROM message WHERE msisdn IS NOT NULL")).scalar_one()
            kept = conn.execute(text("SELECT COUNT(*) FROM subscriber WHERE msisdn IS NOT NULL")).scalar_one()
        assert (left, kept) == (0, 18)
        (run,) = runs_of(engine, campaign_id)
        assert run.purged_at is not None
        (event,) = audit(engine, "run.purge")
        assert event.after == {"numbers_removed": 18, "retention_days": 90}
        assert sweeps.purge_numbers(engine, settings, at + timedelta(days=200)).runs == []
