"""The campaign lifecycle: transitions and their refusals, audit events, pause/resume/cancel acting on
runs and messages, edits, schedules, dry runs, test sends, and the `campaign` commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session, select

from broadcaster import campaigns, planner, queue, reports
from broadcaster.campaigns import CampaignChanges, CampaignError, NewCampaign, Schedule, ScheduleError
from broadcaster.config import Settings
from broadcaster.models import Audience, AuditEvent, Campaign, CampaignStatus, OptOut, Run, RunStatus, Subscriber
from broadcaster.scheduler import fire

ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
NOW = datetime(2025, 6, 20, 10, 0, tzinfo=ZONE).astimezone(UTC)
AT = datetime(2025, 7, 30, 8, 0, tzinfo=ZONE).astimezone(UTC)
S = CampaignStatus
STATES = (S.DRAFT, S.AWAITING_APPROVAL, S.APPROVED, S.ACTIVE, S.PAUSED, S.COMPLETED, S.CANCELLED)


def add_audience(engine: Engine, name: str, rows: list[tuple[str, str, str]]) -> None:
    """An audience of (msisdn, district code, carrier) rows, in this order (the first row of a number wins)."""
    with Session(engine) as session, session.begin():
        audience = Audience(name=name, province_code="72")
        session.add(audience)
        session.flush()
        for msisdn, district, carrier in rows:
            session.add(
                Subscriber(
                    audience_id=audience.id or 0,
                    msisdn=msisdn,
                    province_code="72",
                    district_code=district,
                    carrier=carrier,
                )
            )


def grid(prefix: str = "96", per_cell: int = 3) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    for district in ("703", "705", "706"):
        for carrier, p in (("viettel", prefix), ("vinaphone", "91")):
            rows.extend((f"+84{p}{district}{i:04d}", district, carrier) for i in range(per_cell))
    return rows


@pytest.fixture
def audience(engine: Engine) -> str:
    add_audience(engine, "Tây Ninh", grid())
    return "Tây Ninh"


def new(audience: str = "Tây Ninh", **fields: Any) -> NewCampaign:
    values: dict[str, Any] = {
        "name": "30/7",
        "template": "30-7/2024",
        "audiences": (audience,),
        "created_by": "op",
        "run_at": AT,
    }
    values.update(fields)
    return NewCampaign(**values)


def create(engine: Engine, settings: Settings, **fields: Any) -> int:
    campaign = campaigns.create_campaign(engine, settings, new(**fields), now=NOW)
    assert campaign.id is not None
    return campaign.id


def status_of(engine: Engine, campaign_id: int) -> str:
    with Session(engine) as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        return campaign.status


def events(engine: Engine, campaign_id: int) -> list[AuditEvent]:
    with Session(engine) as session:
        return list(
            session.exec(
                select(AuditEvent)
                .where(AuditEvent.object_type == "campaign", AuditEvent.object_id == str(campaign_id))
                .order_by(AuditEvent.id)  # type: ignore[arg-type]
            )
        )


def run_statuses(engine: Engine, campaign_id: int) -> list[str]:
    with Session(engine) as session:
        return [r.status for r in session.exec(select(Run).where(Run.campaign_id == campaign_id).order_by(Run.id))]  # type: ignore[arg-type]


def message_counts(engine: Engine, campaign_id: int) -> Counter[str]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT m.status, COUNT(*) FROM message m JOIN run r ON r.id = m.run_id "
                "WHERE r.campaign_id = :c GROUP BY m.status"
            ),
            {"c": campaign_id},
        ).all()
    return Counter({status: int(n) for status, n in rows})


def in_state(engine: Engine, settings: Settings, state: str) -> int:
    """A campaign brought to ``state`` the way it gets there; active and paused ones have a run with
    queued messages (and one sent), completed ones a finished run."""
    campaign_id = create(engine, settings)
    if state == S.DRAFT:
        return campaign_id
    campaigns.submit(engine, campaign_id, "op", now=NOW)
    if state == S.AWAITING_APPROVAL:
        return campaign_id
    if state == S.CANCELLED:
        campaigns.cancel(engine, campaign_id, "op", now=NOW)
        return campaign_id
    campaigns.approve(engine, settings, campaign_id, "boss", now=NOW)
    if state == S.APPROVED:
        return campaign_id
    summary = fire(engine, settings, campaign_id, AT, AT)
    assert summary is not None
    with engine.begin() as conn:
        conn.execute(
            queue.sql(
                "UPDATE message SET status = 'sent', route = 'sim-viettel', provider_id = 'P1', sent_at = :now "
                "WHERE id = (SELECT MIN(id) FROM message WHERE run_id = :r)"
            ),
            {"r": summary.run_id, "now": AT},
        )
    if state == S.PAUSED:
        campaigns.pause(engine, campaign_id, "op", now=AT)
    elif state == S.COMPLETED:
        with engine.begin() as conn:
            conn.execute(
                queue.sql("UPDATE message SET status = 'delivered', final_at = :now WHERE run_id = :r"),
                {"r": summary.run_id, "now": AT},
            )
            queue.complete_finished_runs(conn, AT)
        assert campaigns.complete_finished(engine, settings, AT) == [campaign_id]
    assert status_of(engine, campaign_id) == state
    return campaign_id


class TestLifecycle:
    def test_create_submit_approve_are_audited(self, engine: Engine, settings: Settings, audience: str) -> None:
        """Each transition writes who, what, when and the state before and after."""
        campaign_id = create(engine, settings)
        campaigns.submit(engine, campaign_id, "op", now=NOW + timedelta(minutes=1))
        campaigns.approve(engine, settings, campaign_id, "boss", now=NOW + timedelta(minutes=2))
        trail = [(e.actor, e.action, e.before, e.after, e.at) for e in events(engine, campaign_id)]
        assert trail == [
            ("op", "campaign.create", None, {"status": "draft", "approved_by": None}, NOW),
            (
                "op",
                "campaign.submit",
                {"status": "draft", "approved_by": None},
                {"status": "awaiting_approval", "approved_by": None},
                NOW + timedelta(minutes=1),
            ),
            (
                "boss",
                "campaign.approve",
                {"status": "awaiting_approval", "approved_by": None},
                {"status": "approved", "approved_by": "boss"},
                NOW + timedelta(minutes=2),
            ),
        ]
        campaign = campaigns.get_campaign(engine, campaign_id)
        assert campaign.approved_at == NOW + timedelta(minutes=2)

    def test_the_creator_cannot_approve(self, engine: Engine, settings: Settings, audience: str) -> None:
        """approve by the creator is refused with what to do; nothing changes and nothing is audited."""
        campaign_id = create(engine, settings)
        campaigns.submit(engine, campaign_id, "op", now=NOW)
        with pytest.raises(CampaignError) as caught:
            campaigns.approve(engine, settings, campaign_id, "op", now=NOW)
        assert str(caught.value) == "approve: you (op) created this campaign; another approver must approve it"
        assert status_of(engine, campaign_id) == S.AWAITING_APPROVAL
        assert [e.action for e in events(engine, campaign_id)] == ["campaign.create", "campaign.submit"]

    def test_the_last_editor_cannot_approve(self, engine: Engine, settings: Settings, audience: str) -> None:
        """Someone who edited the campaign cannot approve their own edit either."""
        campaign_id = create(engine, settings)
        campaigns.update_campaign(engine, settings, campaign_id, CampaignChanges(name="30/7 v2"), "boss", now=NOW)
        campaigns.submit(engine, campaign_id, "boss", now=NOW)
        with pytest.raises(CampaignError, match="you \\(boss\\) edited this campaign last"):
            campaigns.approve(engine, settings, campaign_id, "boss", now=NOW)
        campaigns.approve(engine, settings, campaign_id, "chief", now=NOW)
        assert status_of(engine, campaign_id) == S.APPROVED

    def test_editing_an_approved_campaign_returns_it_to_draft(
        self, engine: Engine, settings: Settings, audience: str
    ) -> None:
        """The edit clears the approval; the audit event shows the changed fields before and after."""
        campaign_id = in_state(engine, settings, S.APPROVED)
        later = AT + timedelta(days=1)
        campaign = campaigns.update_campaign(
            engine,
            settings,
            campaign_id,
            CampaignChanges(window="08:00-20:00", schedule=Schedule(run_at=later), districts=("703",)),
            "op",
            now=NOW,
        )
        assert (campaign.status, campaign.approved_by, campaign.approved_at) == (S.DRAFT, None, None)
        assert (campaign.send_window, campaign.run_at, campaign.district_codes) == ("08:00-20:00", later, ["703"])
        edit = events(engine, campaign_id)[-1]
        assert edit.action == "campaign.edit" and edit.actor == "op"
        assert edit.before == {
            "status": "approved",
            "approved_by": "boss",
            "send_window": "07:00-22:00",
            "run_at": AT.isoformat(),
            "district_codes": None,
        }
        assert edit.after == {
            "status": "draft",
            "approved_by": None,
            "send_window": "08:00-20:00",
            "run_at": later.isoformat(),
            "district_codes": ["703"],
        }

    def test_an_edit_that_changes_nothing_keeps_the_approval(
        self, engine: Engine, settings: Settings, audience: str
    ) -> None:
        """Saving the same values is not an edit: the campaign stays approved."""
        campaign_id = in_state(engine, settings, S.APPROVED)
        campaign = campaigns.update_campaign(engine, settings, campaign_id, CampaignChanges(name="30/7"), "op")
        assert campaign.status == S.APPROVED

    @pytest.mark.parametrize("state", [S.ACTIVE, S.PAUSED, S.COMPLETED, S.CANCELLED])
    def test_a_campaign_that_has_run_cannot_be_edited(
        self, engine: Engine, settings: Settings, audience: str, state: str
    ) -> None:
        """Once runs exist (or it is closed) an edit is refused with what to do instead."""
        campaign_id = in_state(engine, settings, state)
        with pytest.raises(CampaignError, match=f"edit: campaign {campaign_id} is {state}; edit needs it to be "):
            campaigns.update_campaign(engine, settings, campaign_id, CampaignChanges(name="x"), "op")

    # What each action allows, written out (not derived from TRANSITIONS, which it checks).
    ALLOWED: ClassVar[dict[str, dict[str, str]]] = {
        "submit": {S.DRAFT: S.AWAITING_APPROVAL},
        "approve": {S.AWAITING_APPROVAL: S.APPROVED},
        "pause": {S.APPROVED: S.PAUSED, S.ACTIVE: S.PAUSED},
        "resume": {S.PAUSED: S.ACTIVE},
        "cancel": {s: S.CANCELLED for s in (S.DRAFT, S.AWAITING_APPROVAL, S.APPROVED, S.ACTIVE, S.PAUSED)},
    }

    @pytest.mark.parametrize("action", sorted(ALLOWED))
    def test_every_state_times_every_action(
        self, engine: Engine, settings: Settings, audience: str, action: str
    ) -> None:
        """Each action succeeds from the states that allow it (to the right state) and is refused, with a
        message naming the state and what to do, from all the others."""
        outcomes: dict[str, str | None] = {}
        for state in STATES:
            campaign_id = in_state(engine, settings, state)
            before = len(events(engine, campaign_id))
            try:
                if action == "approve":
                    campaigns.approve(engine, settings, campaign_id, "boss", now=AT)
                else:
                    campaigns.transition(engine, campaign_id, action, "op", now=AT)
            except CampaignError as exc:
                message = str(exc)
                assert message.startswith(f"{action}: campaign {campaign_id} is {state.replace('_', ' ')}; ")
                assert status_of(engine, campaign_id) == state
                assert len(events(engine, campaign_id)) == before
                outcomes[state] = None
            else:
                outcomes[state] = status_of(engine, campaign_id)
                assert events(engine, campaign_id)[-1].action == f"campaign.{action}"
        expected = {state: self.ALLOWED[action].get(state) for state in STATES}
        assert outcomes == expected

    def test_resuming_a_campaign_that_never_fired_returns_it_to_approved(
        self, engine: Engine, settings: Settings, audience: str
    ) -> None:
        """Paused before its first firing, a campaign resumes as approved (it has no runs)."""
        campaign_id = in_state(engine, settings, S.APPROVED)
        campaigns.pause(engine, campaign_id, "op")
        assert campaigns.resume(engine, campaign_id, "op").status == S.APPROVED

    def test_refusals_say_what_to_do(self, engine: Engine, settings: Settings, audience: str) -> None:
        """A refused action names the state and the next step."""
        campaign_id = in_state(engine, settings, S.DRAFT)
        with pytest.raises(CampaignError) as caught:
            campaigns.approve(engine, settings, campaign_id, "boss")
        assert f"submit it for approval first ('broadcaster campaign submit {campaign_id}" in str(caught.value)
        with pytest.raises(CampaignError, match="unknown campaign action 'launch'"):
            campaigns.transition(engine, campaign_id, "launch", "op")
        with pytest.raises(CampaignError, match="no campaign with id 999"):
            campaigns.pause(engine, 999, "op")


class TestRunsFollowTheCampaign:
    def test_pause_resume_cancel_act_on_runs_and_messages(
        self, engine: Engine, settings: Settings, audience: str
    ) -> None:
        """Pause takes the run out of what dispatch may claim; resume puts it back; cancel cancels every
        queued message (final, with a time) and the run; totals still reconcile."""
        campaign_id = in_state(engine, settings, S.ACTIVE)
        with engine.connect() as conn:
            (run_id,) = [r.id for r in queue.open_runs(conn)]
        campaigns.pause(engine, campaign_id, "op", now=AT)
        assert run_statuses(engine, campaign_id) == [RunStatus.PAUSED]
        with engine.connect() as conn:
            assert queue.open_runs(conn) == []
        campaigns.resume(engine, campaign_id, "op", now=AT)
        assert run_statuses(engine, campaign_id) == [RunStatus.SENDING]
        with engine.connect() as conn:
            assert [r.id for r in queue.open_runs(conn)] == [run_id]
        campaigns.cancel(engine, campaign_id, "op", now=AT)
        assert run_statuses(engine, campaign_id) == [RunStatus.CANCELLED]
        assert message_counts(engine, campaign_id) == {"cancelled": 17, "sent": 1}
        with engine.connect() as conn:
            missing = conn.execute(
                text("SELECT COUNT(*) FROM message WHERE status = 'cancelled' AND final_at IS NULL")
            ).scalar_one()
        assert missing == 0
        cancel = events(engine, campaign_id)[-1]
        assert cancel.after == {
            "status": "cancelled",
            "approved_by": "boss",
            "runs_cancelled": 1,
            "messages_cancelled": 17,
        }
        built = reports.build(engine, campaign_id, now=AT)
        assert built.totals.targeted == 18 and built.totals.cancelled == 17 and built.totals.pending == 1

    def test_a_firing_racing_a_pause_or_cancel_is_held_back(
        self, engine: Engine, settings: Settings, audience: str
    ) -> None:
        """A run created for a campaign paused meanwhile is paused; for one cancelled, cancelled unplanned."""
        paused = in_state(engine, settings, S.APPROVED)
        cancelled = in_state(engine, settings, S.APPROVED)
        runs = {}
        for campaign_id in (paused, cancelled):
            run = planner.create_run(engine, campaign_id, AT, settings)
            runs[campaign_id] = run.id or 0
        campaigns.pause(engine, paused, "op", now=AT)
        campaigns.cancel(engine, cancelled, "op", now=AT)
        assert run_statuses(engine, paused) == [RunStatus.PAUSED]
        assert campaigns.admit_run(engine, paused, runs[paused], now=AT)
        assert run_statuses(engine, cancelled) == [RunStatus.CANCELLED]
        assert not campaigns.admit_run(engine, cancelled, runs[cancelled], now=AT)
        assert run_statuses(engine, cancelled) == [RunStatus.CANCELLED]


class TestSchedules:
    def test_local_times_are_stored_in_utc(self, engine: Engine, settings: Settings, audience: str) -> None:
        """--at 30/07/2025 08:00 (Asia/Ho_Chi_Minh) is stored as 01:00 UTC and shown local again."""
        run_at = campaigns.parse_local_datetime("30/07/2025 08:00", ZONE)
        assert run_at == datetime(2025, 7, 30, 1, 0, tzinfo=UTC)
        assert campaigns.parse_local_datetime("2025-07-30 08:00", ZONE) == run_at
        campaign_id = create(engine, settings, run_at=run_at)
        info = campaigns.describe(engine, settings, campaign_id, now=NOW)
        assert info["schedule"]["at"] == "2025-07-30T08:00:00+07:00"
        assert info["status"] == "draft" and info["next_firing"] is None

    def test_dates_and_weekly_schedules_are_read(self) -> None:
        """Dates as 1/7, 1/7/2025 or ISO; weekly days in English or Vietnamese."""
        today = date(2025, 6, 20)
        assert campaigns.parse_day("1/7", today) == date(2025, 7, 1)
        assert campaigns.parse_day("30/9/2025", today) == date(2025, 9, 30)
        assert campaigns.parse_day("2025-07-01", today) == date(2025, 7, 1)
        assert campaigns.weekly_cron(["mon,wed"], "08:30") == "30 8 * * mon,wed"
        assert campaigns.weekly_cron(["t4", "t2"], "7:05") == "5 7 * * mon,wed"
        with pytest.raises(ScheduleError, match="unknown day 'funday'"):
            campaigns.weekly_cron(["funday"], "08:00")
        with pytest.raises(ScheduleError, match="as a date"):
            campaigns.parse_day("31/2", today)

    @pytest.mark.parametrize(
        ("fields", "message"),
        [
            ({"run_at": NOW - timedelta(hours=1)}, "has already passed"),
            ({"run_at": AT, "cron": "0 8 * * *"}, "not both"),
            ({"run_at": None, "cron": "0 8 * * *"}, "needs its date window"),
            (
                {"run_at": None, "cron": "0 8 * *", "active_from": date(2025, 7, 1), "active_until": date(2025, 9, 30)},
                "has 4 fields",
            ),
            (
                {
                    "run_at": None,
                    "cron": "0 25 * * *",
                    "active_from": date(2025, 7, 1),
                    "active_until": date(2025, 9, 30),
                },
                "is not valid",
            ),
            (
                {
                    "run_at": None,
                    "cron": "0 8 * * *",
                    "active_from": date(2025, 9, 30),
                    "active_until": date(2025, 7, 1),
                },
                "ends .* before it starts",
            ),
            (
                {
                    "run_at": None,
                    "cron": "0 8 31 2 *",
                    "active_from": date(2025, 7, 1),
                    "active_until": date(2025, 9, 30),
                },
                "never fires",
            ),
            ({"run_at": None, "active_from": date(2025, 7, 1)}, "need a recurring schedule"),
            ({"audiences": ("Nobody",)}, "no audience named 'Nobody'"),
            ({"window": "22:00-07:00"}, "ends before it starts"),
            ({"districts": ("999",)}, "no district with code '999'"),
        ],
    )
    def test_unusable_schedules_are_refused_at_creation(
        self, engine: Engine, settings: Settings, audience: str, fields: dict[str, object], message: str
    ) -> None:
        """A campaign that could never run as written is refused when created, with the reason."""
        with pytest.raises(CampaignError, match=message):
            create(engine, settings, **fields)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT COUNT(*) FROM campaign")).scalar_one() == 0

    def test_approve_refuses_a_one_time_campaign_long_past(
        self, engine: Engine, settings: Settings, audience: str
    ) -> None:
        """Approved more than the misfire grace after its time, a one-time campaign would never run:
        approval is refused and says to edit the time."""
        campaign_id = create(engine, settings)
        campaigns.submit(engine, campaign_id, "op", now=NOW)
        with pytest.raises(CampaignError, match="edit its time"):
            campaigns.approve(engine, settings, campaign_id, "boss", now=AT + timedelta(hours=7))
        campaigns.approve(engine, settings, campaign_id, "boss", now=AT + timedelta(hours=5))


class TestDryRun:
    def test_dry_run_counts_what_the_planner_writes(self, engine: Engine, settings: Settings) -> None:
        """Recipients and skips (duplicate, opted out, outside the area) per district × carrier match the
        messages a real plan writes; the dry run itself writes none; cost uses the configured prices."""
        add_audience(engine, "A", grid())
        # B repeats two numbers of A (duplicates) and adds two of its own in district 707.
        add_audience(
            engine,
            "B",
            [
                ("+8496703" + "0000", "703", "viettel"),
                ("+8491705" + "0001", "705", "vinaphone"),
                ("+84967070001", "707", "viettel"),
                ("+84917070002", "707", "vinaphone"),
            ],
        )
        with Session(engine) as session, session.begin():
            session.add(OptOut(msisdn="+84967050002"))
        settings = settings.model_copy(update={"prices": {"viettel": 800.0, "vinaphone": 750.0}})
        campaign_id = create(
            engine, settings, audiences=("A", "B"), districts=("703", "705", "707"), encoding="unicode"
        )
        result = campaigns.dry_run(engine, settings, campaign_id, now=NOW)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT COUNT(*) FROM message")).scalar_one() == 0
        run = planner.create_run(engine, campaign_id, AT, settings)
        planner.plan_run(engine, run.id or 0, settings)
        with engine.connect() as conn:
            planned = conn.execute(
                text(
                    "SELECT district_code, carrier, status, skip_reason, COUNT(*), SUM(segments) FROM message "
                    "GROUP BY district_code, carrier, status, skip_reason"
                ),
            ).all()
        expected: dict[tuple[str, str], dict[str, int]] = {}
        segments: dict[tuple[str, str], int] = {}
        for district, carrier, status, reason, n, parts in planned:
            cell = expected.setdefault((district, carrier), {})
            cell[reason or status] = int(n)
            segments[(district, carrier)] = segments.get((district, carrier), 0) + int(parts or 0)
        got = {
            (r.district_code, r.carrier): {**r.skipped, **({"queued": r.recipients} if r.recipients else {})}
            for r in result.rows
        }
        assert got == expected
        assert {(r.district_code, r.carrier): r.segments for r in result.rows} == segments
        assert expected[("706", "viettel")] == {"outside_area": 3}
        assert expected[("703", "viettel")] == {"queued": 3, "duplicate": 1}
        assert expected[("705", "viettel")] == {"queued": 2, "opted_out": 1}
        row = next(r for r in result.rows if (r.district_code, r.carrier) == ("703", "viettel"))
        assert row.encoding == "ucs2" and row.segments_per_message == 4 and row.cost == 3 * 4 * 800.0
        totals = result.totals
        assert totals["recipients"] == sum(r.recipients for r in result.rows) == 13
        assert totals["cost"] == sum(r.cost or 0 for r in result.rows)


class TestTestSend:
    def test_test_send_goes_through_the_configured_routes(
        self, engine: Engine, settings: Settings, audience: str
    ) -> None:
        """Each number goes to the first route of its carrier; a refusal and a bad number are reported as
        failed; the audit event names the routes and masks the numbers."""
        routes = dict(settings.routes)
        routes["vinaphone"] = [routes["vinaphone"][0].model_copy(update={"options": {"refuse_pattern": "678$"}})]
        settings = settings.model_copy(update={"routes": routes})
        campaign_id = create(engine, settings)
        results = campaigns.send_test(
            engine, settings, campaign_id, ["0961234567", "0912345678", "12345"], "op", now=NOW
        )
        assert [(r.number, r.carrier, r.route, r.accepted) for r in results] == [
            ("0961234567", "viettel", "sim-viettel", True),
            ("0912345678", "vinaphone", "sim-vinaphone", False),
            ("12345", None, None, False),
        ]
        assert "number refused" in results[1].detail
        event = events(engine, campaign_id)[-1]
        assert event.action == "campaign.test_send" and event.actor == "op"
        dumped = json.dumps(event.after)
        assert "0961234567" not in dumped and "961234567" not in dumped and "+8496****567" in dumped
        assert status_of(engine, campaign_id) == S.DRAFT


def run_cli(workspace: Path, database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BROADCASTER_")}
    env["BROADCASTER_DATABASE_URL"] = database_url
    return subprocess.run(
        [sys.executable, "-m", "broadcaster", "--dir", str(workspace), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_campaign_commands(tmp_path: Path, database_url: str) -> None:
    """create prints the id; list and show (--json) show it with local times; the creator's approve is
    one line on stderr; dry-run --json counts recipients."""
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "people.csv").write_text(
        "Số điện thoại,Quận/Huyện\n0961234567,Huyện Tân Biên\n0912345678,Huyện Tân Châu\n", encoding="utf-8"
    )
    imported = run_cli(workspace, database_url, "audience", "import", str(workspace / "people.csv"), "--name", "P")
    assert imported.returncode == 0, imported.stderr
    created = run_cli(
        workspace,
        database_url,
        "campaign",
        "create",
        "--name",
        "Cao điểm",
        "--template",
        "30-7/2024",
        "--audience",
        "P",
        "--weekly",
        "mon,wed",
        "--time",
        "08:00",
        "--from",
        "1/7/2030",
        "--until",
        "30/9/2030",
        "--as",
        "op",
    )
    assert created.returncode == 0, created.stderr
    campaign_id = int(created.stdout.strip())
    listed = run_cli(workspace, database_url, "campaign", "list")
    assert listed.returncode == 0 and "Cao điểm" in listed.stdout and "draft" in listed.stdout
    shown = run_cli(workspace, database_url, "campaign", "show", str(campaign_id), "--json")
    info = json.loads(shown.stdout)
    assert info["schedule"]["cron"] == "0 8 * * mon,wed"
    assert (info["schedule"]["from"], info["schedule"]["until"]) == ("2030-07-01", "2030-09-30")
    assert info["status"] == "draft" and info["audiences"] == ["P"]
    assert run_cli(workspace, database_url, "campaign", "submit", str(campaign_id), "--as", "op").returncode == 0
    refused = run_cli(workspace, database_url, "campaign", "approve", str(campaign_id), "--as", "op")
    assert refused.returncode == 1
    assert refused.stderr == "error: approve: you (op) created this campaign; another approver must approve it\n"
    approved = run_cli(workspace, database_url, "campaign", "approve", str(campaign_id), "--as", "boss")
    assert approved.returncode == 0 and "approved" in approved.stdout
    shown = json.loads(run_cli(workspace, database_url, "campaign", "show", str(campaign_id), "--json").stdout)
    assert shown["next_firing"] == "2030-07-01T08:00:00+07:00"
    dry = json.loads(run_cli(workspace, database_url, "campaign", "dry-run", str(campaign_id), "--json").stdout)
    assert dry["totals"]["recipients"] == 2
    sent = run_cli(
        workspace, database_url, "campaign", "test-send", str(campaign_id), "--to", "0961234567,abc", "--as", "op"
    )
    assert sent.returncode == 1 and "0961234567: accepted via sim-viettel" in sent.stdout
    assert sent.stderr.startswith("error: test-send: 1 of 2 numbers failed")
    once = run_cli(
        workspace,
        database_url,
        "campaign",
        "create",
        "--name",
        "x",
        "--template",
        "30-7/2024",
        "--audience",
        "P",
        "--at",
        "2020-07-30 08:00",
        "--as",
        "op",
    )
    assert once.returncode == 1 and once.stderr.startswith("error: the time 2020-07-30 08:00 (Asia/Ho_Chi_Minh) has")


def test_per_recipient_template_is_refused_at_creation(engine, settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A template that varies per recipient is refused when the campaign is created, not when it fires."""
    from broadcaster import campaigns as lifecycle

    template = tmp_path / "personal.j2"
    template.write_text("Chào {{ name }}, hãy gọi {{ hotline }} khi cần.", encoding="utf-8")
    with pytest.raises(lifecycle.CampaignError, match="theo từng người nhận"):
        lifecycle.create_campaign(
            engine,
            settings,
            lifecycle.NewCampaign(name="p", template=str(template), audiences=(), created_by="op"),
        )
