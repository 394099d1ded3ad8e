"""The campaign lifecycle (DESIGN §4), enforced in one place, every transition audited.

    draft -> awaiting_approval -> approved -> active -> completed
    approved/active -> paused -> (back to approved or active)
    draft/awaiting_approval/approved -> (edit) -> draft
    cancelled from any state before completed

``TRANSITIONS`` is the whole table; ``transition`` is the one function that moves a campaign, and the
use cases that change a campaign in other ways (``update_campaign``, ``rerun``, ``admit_run``,
``record_missed``, ``complete_finished``) go through the same rules. Pause, resume and cancel act on
the campaign's open runs too: pause sets them ``paused`` (dispatch claims only from runs that are
planning or sending), resume sets them back to ``sending``, cancel turns their queued messages into
``cancelled`` and the runs into ``cancelled``. Approval needs a person other than the creator (and
other than whoever edited it last). Each use case owns its transaction and writes an ``AuditEvent``
with the state before and after.

Schedules live here too, because they are part of what is approved: one time (``run_at``), recurring
(a cron expression evaluated in the settings time zone, inside the date window ``active_from`` ..
``active_until``, both days included), or none (the campaign fires once, when it is approved).
``due_firings`` lists the firings of a campaign in a period; the scheduler calls it.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import Engine, bindparam
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from audiences import divisions, phones
from broadcaster import compose, planner, queue
from broadcaster.config import ConfigError, Settings, parse_window
from broadcaster.logs import get_logger
from broadcaster.models import Audience, AuditEvent, Campaign, CampaignStatus, Run, RunStatus, SkipReason, utcnow
from carriers import create_adapter, sms
from carriers.base import Accepted, Adapter, Submission
from carriers.errors import CarrierError, UnknownAdapter

log = get_logger(__name__)

S = CampaignStatus
TRANSITIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "submit": {"from": (S.DRAFT,), "to": (S.AWAITING_APPROVAL,)},
    "approve": {"from": (S.AWAITING_APPROVAL,), "to": (S.APPROVED,)},
    "activate": {"from": (S.APPROVED,), "to": (S.ACTIVE,)},
    "complete": {"from": (S.ACTIVE,), "to": (S.COMPLETED,)},
    "pause": {"from": (S.APPROVED, S.ACTIVE), "to": (S.PAUSED,)},
    # Back to active when the campaign has runs, else to approved (it has not fired yet).
    "resume": {"from": (S.PAUSED,), "to": (S.APPROVED, S.ACTIVE)},
    "cancel": {"from": (S.DRAFT, S.AWAITING_APPROVAL, S.APPROVED, S.ACTIVE, S.PAUSED), "to": (S.CANCELLED,)},
    # Approved campaigns have no runs yet (the first firing activates them), so an edit never
    # changes what was already sent.
    "edit": {"from": (S.DRAFT, S.AWAITING_APPROVAL, S.APPROVED), "to": (S.DRAFT,)},
    "rerun": {"from": (S.APPROVED, S.ACTIVE, S.COMPLETED), "to": (S.ACTIVE,)},
}
ACTIONS = tuple(TRANSITIONS)
SCHEDULED = (S.APPROVED, S.ACTIVE)
"""Statuses whose schedule the scheduler follows."""
OPEN_RUNS = (RunStatus.PLANNING, RunStatus.SENDING, RunStatus.PAUSED)
CLOSED_RUNS = (RunStatus.COMPLETED, RunStatus.CANCELLED, RunStatus.MISSED)
SCHEDULER = "scheduler"
"""The actor of what the scheduler does by itself (activation, missed runs, completion)."""
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_VIETNAMESE_DAYS = {"t2": "mon", "t3": "tue", "t4": "wed", "t5": "thu", "t6": "fri", "t7": "sat", "cn": "sun"}
_CRON_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""Standard crontab day numbers (0 and 7 are Sunday) -> names (APScheduler 3 counts from Monday)."""
TEST_KEY_PREFIX = "test"


class CampaignError(Exception):
    """A lifecycle request that cannot be granted; the message says what to do instead."""


class ScheduleError(CampaignError):
    """A schedule that cannot be used (a time that cannot be read, a cron expression, a date window)."""


def _hints(campaign_id: int | None) -> dict[str, str]:
    ref = campaign_id if campaign_id is not None else "ID"
    return {
        S.DRAFT: f"submit it for approval first ('broadcaster campaign submit {ref} --as YOU')",
        S.AWAITING_APPROVAL: (
            f"another person must approve it first ('broadcaster campaign approve {ref} --as APPROVER')"
        ),
        S.APPROVED: (
            "it is approved and waits for its schedule; pause or cancel it, or edit it and have it approved again"
        ),
        S.ACTIVE: "it is running; pause it or cancel it",
        S.PAUSED: f"resume it first ('broadcaster campaign resume {ref} --as YOU') or cancel it",
        S.COMPLETED: "it has finished; create a new campaign to send again",
        S.CANCELLED: "it was cancelled; create a new campaign to send again",
    }


def _refusal(action: str, campaign: Campaign) -> str:
    rule = TRANSITIONS[action]
    status = campaign.status
    allowed = " or ".join(s.replace("_", " ") for s in rule["from"])
    if action != "edit" and status in rule["to"] and status not in rule["from"]:
        hint = f"it is already {status.replace('_', ' ')}"
    else:
        hint = _hints(campaign.id)[status]
    return f"{action}: campaign {campaign.id} is {status.replace('_', ' ')}; {action} needs it to be {allowed}; {hint}"


# Schedules ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Schedule:
    """When a campaign fires: once (``run_at``), on a cron expression inside a date window, or never
    by itself (all fields empty: once, when approved)."""

    run_at: datetime | None = None
    cron: str | None = None
    active_from: date | None = None
    active_until: date | None = None

    @property
    def recurring(self) -> bool:
        return self.cron is not None


def as_utc(value: datetime) -> datetime:
    """Timestamps read back from SQLite may come without their zone; they are UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def schedule_of(campaign: Campaign) -> Schedule:
    return Schedule(
        run_at=as_utc(campaign.run_at) if campaign.run_at else None,
        cron=campaign.cron,
        active_from=campaign.active_from,
        active_until=campaign.active_until,
    )


_DATETIME_FORMATS = (
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%d/%m/%Y %H:%M:%S",
    "%d-%m-%Y %H:%M",
)
_DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y")


def parse_local_datetime(value: str, zone: ZoneInfo) -> datetime:
    """``2025-07-30 08:00`` or ``30/07/2025 08:00`` in local time (or ISO with an offset) -> aware UTC."""
    text = " ".join(value.split())
    for fmt in _DATETIME_FORMATS:
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=zone).astimezone(UTC)
        except ValueError:
            continue
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        parsed = None
    if parsed is not None and parsed.tzinfo is not None:
        return parsed.astimezone(UTC)
    msg = (
        f"cannot read {value!r} as a date and time; write it as 2025-07-30 08:00 or 30/07/2025 08:00 "
        f"(local time, {zone.key})"
    )
    raise ScheduleError(msg)


def parse_day(value: str, today: date) -> date:
    """``2025-07-01``, ``1/7/2025`` or ``1/7`` (this year) -> a date."""
    text = value.strip()
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    match = re.fullmatch(r"(\d{1,2})[/-](\d{1,2})", text)
    if match:
        try:
            return date(today.year, int(match.group(2)), int(match.group(1)))
        except ValueError:
            pass
    msg = f"cannot read {value!r} as a date; write it as 2025-07-01, 1/7/2025 or 1/7 (day/month, this year)"
    raise ScheduleError(msg)


def weekly_cron(days: Iterable[str], at: str) -> str:
    """``["mon", "wed"]``, ``"08:30"`` -> ``"30 8 * * mon,wed"`` (Vietnamese ``t2``..``t7``, ``cn`` too)."""
    names = []
    for raw in days:
        for part in raw.split(","):
            day = part.strip().lower()
            if not day:
                continue
            day = _VIETNAMESE_DAYS.get(day, day[:3])
            if day not in WEEKDAYS:
                msg = f"unknown day {part.strip()!r}; use mon, tue, wed, thu, fri, sat, sun (or t2..t7, cn)"
                raise ScheduleError(msg)
            if day not in names:
                names.append(day)
    if not names:
        msg = "a weekly schedule needs at least one day, e.g. --weekly mon,wed"
        raise ScheduleError(msg)
    match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*", at)
    if not match or int(match.group(1)) > 23 or int(match.group(2)) > 59:
        msg = f"cannot read {at!r} as a time of day; write it as HH:MM, e.g. 08:30"
        raise ScheduleError(msg)
    ordered = sorted(names, key=WEEKDAYS.index)
    return f"{int(match.group(2))} {int(match.group(1))} * * {','.join(ordered)}"


def _day_of_week(field_text: str) -> str:
    """A crontab day-of-week field with numbers (0/7 Sunday) as the day names APScheduler 3 reads."""
    out: list[str] = []
    for part in field_text.split(","):
        base, _, step_text = part.partition("/")
        if not re.fullmatch(r"\*|\d(-\d)?", base) or (step_text and not step_text.isdigit()):
            out.append(part)  # names (mon-fri), or something APScheduler will judge
            continue
        start, end = (0, 6) if base == "*" else (int(base[0]), int(base[-1]))
        if start > 7 or end > 7 or end < start:
            msg = f"the day-of-week field {field_text!r} has an impossible day (0-7, 0 and 7 are Sunday)"
            raise ScheduleError(msg)
        step = int(step_text) if step_text else 1
        if step < 1:
            msg = f"the day-of-week field {field_text!r} has a step of 0"
            raise ScheduleError(msg)
        if base == "*" and not step_text:
            out.append("*")
            continue
        for number in range(start, end + 1, step):
            name = _CRON_DAYS[number]
            if name not in out:
                out.append(name)
    return ",".join(out)


def cron_trigger(expression: str, zone: ZoneInfo, start: date | None = None, until: date | None = None) -> CronTrigger:
    """A standard five-field crontab expression in ``zone``, limited to the days ``start`` .. ``until``."""
    fields = expression.split()
    if len(fields) != 5:
        msg = (
            f"the cron expression {expression!r} has {len(fields)} fields; it needs 5: "
            "minute hour day-of-month month day-of-week, e.g. '0 8 * * mon,wed'"
        )
        raise ScheduleError(msg)
    minute, hour, day, month, dow = fields
    try:
        return CronTrigger(
            minute=minute,
            hour=hour,
            day=day,
            month=month,
            day_of_week=_day_of_week(dow),
            timezone=zone,
            start_date=datetime.combine(start, time(0), tzinfo=zone) if start else None,
            end_date=datetime.combine(until, time(23, 59, 59), tzinfo=zone) if until else None,
        )
    except ValueError as exc:
        msg = f"the cron expression {expression!r} is not valid ({exc}); e.g. '0 8 * * mon,wed' is 08:00 Mon and Wed"
        raise ScheduleError(msg) from exc


def _window_end(schedule: Schedule, zone: ZoneInfo) -> datetime | None:
    if schedule.active_until is None:
        return None
    return datetime.combine(schedule.active_until + timedelta(days=1), time(0), tzinfo=zone)


def firings(
    schedule: Schedule,
    zone: ZoneInfo,
    since: datetime,
    until: datetime,
    approved_at: datetime | None = None,
    limit: int | None = None,
) -> list[datetime]:
    """Firing times (aware UTC) with ``since < t <= until``, oldest first."""
    if schedule.run_at is not None:
        at = schedule.run_at
        return [at] if since < at <= until else []
    if schedule.cron is None:
        approved = as_utc(approved_at) if approved_at else None
        return [approved] if approved is not None and since < approved <= until else []
    trigger = cron_trigger(schedule.cron, zone, schedule.active_from, schedule.active_until)
    end = _window_end(schedule, zone)
    found: list[datetime] = []
    cursor = since.astimezone(zone) + timedelta(microseconds=1)
    while limit is None or len(found) < limit:
        fire = trigger.get_next_fire_time(None, cursor)
        if fire is None or fire > until or (end is not None and fire >= end):
            break
        found.append(fire.astimezone(UTC))
        cursor = fire + timedelta(microseconds=1)
    return found


def due_firings(campaign: Campaign, since: datetime, until: datetime, zone: ZoneInfo) -> list[datetime]:
    """The campaign's firings with ``since < t <= until`` (aware UTC, oldest first)."""
    return firings(schedule_of(campaign), zone, since, until, campaign.approved_at)


_FAR = timedelta(days=3660)


def next_firing(campaign: Campaign, after: datetime, zone: ZoneInfo) -> datetime | None:
    """The first firing after ``after``, or None when the schedule has no more."""
    found = firings(schedule_of(campaign), zone, after, after + _FAR, campaign.approved_at, limit=1)
    return found[0] if found else None


def check_schedule(schedule: Schedule, zone: ZoneInfo, now: datetime) -> None:
    """Refuse a schedule that would never fire, or fire in the past; say how to fix it."""
    if schedule.run_at is not None and schedule.cron is not None:
        msg = "a campaign runs once (--at) or on a recurring schedule (--cron or --weekly), not both"
        raise ScheduleError(msg)
    if schedule.run_at is not None:
        if schedule.active_from or schedule.active_until:
            msg = "--from and --until belong to a recurring schedule (--cron or --weekly); a one-time --at needs none"
            raise ScheduleError(msg)
        if schedule.run_at <= now:
            local = schedule.run_at.astimezone(zone)
            msg = f"the time {local:%Y-%m-%d %H:%M} ({zone.key}) has already passed; choose a time in the future"
            raise ScheduleError(msg)
        return
    if schedule.cron is None:
        if schedule.active_from or schedule.active_until:
            msg = "--from and --until need a recurring schedule: add --cron EXPR or --weekly DAYS --time HH:MM"
            raise ScheduleError(msg)
        return
    if schedule.active_from is None or schedule.active_until is None:
        msg = "a recurring schedule needs its date window: --from DATE --until DATE (e.g. --from 1/7 --until 30/9)"
        raise ScheduleError(msg)
    if schedule.active_until < schedule.active_from:
        msg = (
            f"the date window ends ({schedule.active_until:%d/%m/%Y}) before it starts "
            f"({schedule.active_from:%d/%m/%Y}); swap --from and --until"
        )
        raise ScheduleError(msg)
    start = max(now, datetime.combine(schedule.active_from, time(0), tzinfo=zone) - timedelta(microseconds=1))
    if not firings(schedule, zone, start, start + _FAR, limit=1):
        msg = (
            f"the schedule {schedule.cron!r} never fires between {schedule.active_from:%d/%m/%Y} and "
            f"{schedule.active_until:%d/%m/%Y} from now on; check the days and the window"
        )
        raise ScheduleError(msg)


def describe_schedule(campaign: Campaign, zone: ZoneInfo) -> str:
    schedule = schedule_of(campaign)
    if schedule.run_at is not None:
        return f"once at {schedule.run_at.astimezone(zone):%Y-%m-%d %H:%M}"
    if schedule.cron is not None:
        window = ""
        if schedule.active_from and schedule.active_until:
            window = f" from {schedule.active_from:%d/%m/%Y} to {schedule.active_until:%d/%m/%Y}"
        return f"cron '{schedule.cron}'{window}"
    return "once, when approved"


# Creating and editing -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewCampaign:
    name: str
    template: str
    audiences: tuple[str, ...]
    created_by: str
    encoding: str | None = None
    sender: str | None = None
    window: str | None = None
    run_at: datetime | None = None
    districts: tuple[str, ...] | None = None
    group_by: str = "district"
    cron: str | None = None
    active_from: date | None = None
    active_until: date | None = None

    @property
    def schedule(self) -> Schedule:
        return Schedule(self.run_at, self.cron, self.active_from, self.active_until)


@dataclass(frozen=True, slots=True)
class CampaignChanges:
    """What an edit changes; ``None`` leaves a field as it is. ``districts=()`` removes the area filter;
    ``schedule`` replaces the whole schedule (``Schedule()``: once, when approved)."""

    name: str | None = None
    template: str | None = None
    encoding: str | None = None
    sender: str | None = None
    window: str | None = None
    schedule: Schedule | None = None
    audiences: tuple[str, ...] | None = None
    districts: tuple[str, ...] | None = None
    group_by: str | None = None


GROUPINGS = ("district", "commune")


def _audit(
    session: Session,
    actor: str,
    action: str,
    campaign: Campaign,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None = None,
    *,
    at: datetime | None = None,
) -> None:
    session.add(
        AuditEvent(
            at=at or utcnow(),
            actor=actor,
            action=f"campaign.{action}",
            object_type="campaign",
            object_id=str(campaign.id),
            before=before,
            after=after if after is not None else _state(campaign),
        )
    )


def _state(campaign: Campaign) -> dict[str, Any]:
    return {"status": campaign.status, "approved_by": campaign.approved_by}


def _move(
    session: Session,
    campaign: Campaign,
    action: str,
    actor: str,
    now: datetime,
    *,
    to: str | None = None,
    details: Mapping[str, Any] | None = None,
    before_details: Mapping[str, Any] | None = None,
) -> None:
    """The one place a campaign changes status: checked against ``TRANSITIONS``, then audited."""
    rule = TRANSITIONS[action]
    if campaign.status not in rule["from"]:
        raise CampaignError(_refusal(action, campaign))
    target = to or rule["to"][0]
    if target not in rule["to"]:
        msg = f"{action} cannot lead to {target}"
        raise ValueError(msg)
    before = _state(campaign)
    campaign.status = target
    if action == "approve":
        campaign.approved_by = actor
        campaign.approved_at = now
    elif action == "edit":
        campaign.approved_by = None
        campaign.approved_at = None
    campaign.updated_at = now
    session.add(campaign)
    _audit(
        session,
        actor,
        action,
        campaign,
        {**before, **(before_details or {})},
        {**_state(campaign), **(details or {})},
        at=now,
    )


def _run_audit(session: Session, actor: str, action: str, run: Run, at: datetime, **details: Any) -> None:
    session.add(
        AuditEvent(
            at=at,
            actor=actor,
            action=f"run.{action}",
            object_type="run",
            object_id=str(run.id),
            before=None,
            after={
                "campaign": run.campaign_id,
                "scheduled_for": as_utc(run.scheduled_for).isoformat(),
                "status": run.status,
                **details,
            },
        )
    )


def _check_window(window: str) -> None:
    try:
        parse_window(window)
    except ValueError as exc:
        raise CampaignError(str(exc)) from exc


def _check_sender(sender: str) -> None:
    if not 1 <= len(sender) <= 11:
        msg = f"the brandname {sender!r} has {len(sender)} characters; carriers accept 1 to 11"
        raise CampaignError(msg)


def _check_policy(policy: str) -> None:
    if policy not in sms.POLICIES:
        msg = f"unknown encoding policy {policy!r}; choose one of {', '.join(sms.POLICIES)}"
        raise CampaignError(msg)


def _check_grouping(group_by: str) -> None:
    if group_by not in GROUPINGS:
        msg = f"unknown grouping {group_by!r}; choose district or commune (--by district|commune)"
        raise CampaignError(msg)


def _check_districts(settings: Settings, districts: Sequence[str] | None) -> None:
    if not districts:
        return
    reference = divisions.load()
    for code in districts:
        district = reference.district(code)
        if district is None or district.province_code != settings.province.code:
            known = ", ".join(d.code for d in reference.districts(settings.province.code))
            msg = f"no district with code {code!r} in province {settings.province.code}; its districts: {known}"
            raise CampaignError(msg)


def _audience_ids(session: Session, names: Sequence[str]) -> list[int]:
    if not names:
        msg = "a campaign needs at least one audience (--audience NAME); 'broadcaster audience import' creates one"
        raise CampaignError(msg)
    ids = []
    for name in names:
        audience = session.exec(select(Audience).where(Audience.name == name)).first()
        if audience is None or audience.id is None:
            msg = f"no audience named {name!r}; import it first with 'broadcaster audience import'"
            raise CampaignError(msg)
        ids.append(audience.id)
    return ids


def _load_template(settings: Settings, ref: str) -> compose.Template:
    return compose.load_template(ref, settings.templates_dir)


def _check_sendable_per_district(template: compose.Template) -> None:
    """Runs render once per district; a text that changes per recipient cannot be sent yet."""
    if template.per_recipient:
        fields = ", ".join(sorted(template.variables & compose.RECIPIENT_FIELDS))
        msg = (
            f"Mẫu tin {template.name!r} dùng biến theo từng người nhận ({fields}); hiện chỉ gửi được nội dung "
            "theo từng huyện. Hãy bỏ các biến này khỏi mẫu tin."
        )
        raise CampaignError(msg)


def create_campaign(engine: Engine, settings: Settings, new: NewCampaign, *, now: datetime | None = None) -> Campaign:
    """Validate the template against the policy and the audiences, then store a draft."""
    now = now or utcnow()
    template = _load_template(settings, new.template)
    policy = new.encoding or template.meta.encoding or settings.campaign.encoding
    _check_policy(policy)
    window = new.window or settings.campaign.window
    _check_window(window)
    sender = new.sender or settings.campaign.sender
    _check_sender(sender)
    _check_grouping(new.group_by)
    _check_districts(settings, new.districts)
    problems = compose.validate_campaign(
        template, settings, policy=policy, sender=sender, districts=new.districts, campaign=new.name
    )
    if problems:
        raise CampaignError(" ".join(str(problem) for problem in problems))
    _check_sendable_per_district(template)
    check_schedule(new.schedule, settings.zone, now)
    with Session(engine, expire_on_commit=False) as session, session.begin():
        audience_ids = _audience_ids(session, new.audiences)
        campaign = Campaign(
            name=new.name,
            template_name=template.name,
            template_text=template.path.read_text(encoding="utf-8"),
            encoding_policy=policy,
            sender=sender,
            audience_ids=audience_ids,
            district_codes=list(new.districts) if new.districts else None,
            group_by=new.group_by,
            run_at=new.run_at,
            cron=new.cron,
            active_from=new.active_from,
            active_until=new.active_until,
            send_window=window,
            created_by=new.created_by,
            created_at=now,
            updated_at=now,
        )
        session.add(campaign)
        session.flush()
        _audit(session, new.created_by, "create", campaign, None, at=now)
    return campaign


_EDITABLE = (
    "name",
    "template_name",
    "encoding_policy",
    "sender",
    "send_window",
    "run_at",
    "cron",
    "active_from",
    "active_until",
    "audience_ids",
    "district_codes",
    "group_by",
)


def _snapshot(campaign: Campaign) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in _EDITABLE:
        value = getattr(campaign, name)
        values[name] = value.isoformat() if isinstance(value, date | datetime) else value
    values["template_text_length"] = len(campaign.template_text)
    return values


def _lock(session: Session, campaign_id: int) -> Campaign:
    """The campaign row, locked for this transaction (on SQLite the write lock is taken at BEGIN)."""
    campaign = session.exec(select(Campaign).where(Campaign.id == campaign_id).with_for_update()).first()
    if campaign is None:
        msg = f"no campaign with id {campaign_id}; 'broadcaster campaign list' shows them"
        raise CampaignError(msg)
    return campaign


def update_campaign(
    engine: Engine,
    settings: Settings,
    campaign_id: int,
    changes: CampaignChanges,
    actor: str,
    *,
    now: datetime | None = None,
) -> Campaign:
    """Edit a campaign that has not run yet; an approved or submitted campaign goes back to draft."""
    now = now or utcnow()
    template = _load_template(settings, changes.template) if changes.template is not None else None
    if changes.window is not None:
        _check_window(changes.window)
    if changes.sender is not None:
        _check_sender(changes.sender)
    if changes.group_by is not None:
        _check_grouping(changes.group_by)
    _check_districts(settings, changes.districts)
    if changes.schedule is not None:
        check_schedule(changes.schedule, settings.zone, now)
    with Session(engine, expire_on_commit=False) as session, session.begin():
        campaign = _lock(session, campaign_id)
        if campaign.status not in TRANSITIONS["edit"]["from"]:
            raise CampaignError(_refusal("edit", campaign))
        before_fields = _snapshot(campaign)
        if changes.name is not None:
            campaign.name = changes.name
        if template is not None:
            campaign.template_name = template.name
            campaign.template_text = template.path.read_text(encoding="utf-8")
        if changes.encoding is not None:
            campaign.encoding_policy = changes.encoding
        elif template is not None and template.meta.encoding:
            campaign.encoding_policy = template.meta.encoding
        _check_policy(campaign.encoding_policy)
        if changes.sender is not None:
            campaign.sender = changes.sender
        if changes.window is not None:
            campaign.send_window = changes.window
        if changes.schedule is not None:
            campaign.run_at = changes.schedule.run_at
            campaign.cron = changes.schedule.cron
            campaign.active_from = changes.schedule.active_from
            campaign.active_until = changes.schedule.active_until
        if changes.audiences is not None:
            campaign.audience_ids = _audience_ids(session, changes.audiences)
        if changes.districts is not None:
            campaign.district_codes = list(changes.districts) or None
        if changes.group_by is not None:
            campaign.group_by = changes.group_by
        after_fields = _snapshot(campaign)
        changed = sorted(k for k in after_fields if after_fields[k] != before_fields[k])
        if not changed:
            return campaign
        _move(
            session,
            campaign,
            "edit",
            actor,
            now,
            details={k: after_fields[k] for k in changed},
            before_details={k: before_fields[k] for k in changed},
        )
    return campaign


# The lifecycle ------------------------------------------------------------------------------------


def _last_editor(session: Session, campaign_id: int) -> str | None:
    event = session.exec(
        select(AuditEvent)
        .where(
            AuditEvent.object_type == "campaign",
            AuditEvent.object_id == str(campaign_id),
            AuditEvent.action == "campaign.edit",
        )
        .order_by(col(AuditEvent.id).desc())
    ).first()
    return event.actor if event else None


def _has_runs(session: Session, campaign_id: int) -> bool:
    return session.exec(select(Run.id).where(Run.campaign_id == campaign_id)).first() is not None


def transition(
    engine: Engine,
    campaign_id: int,
    action: str,
    actor: str,
    *,
    now: datetime | None = None,
    grace: timedelta | None = None,
) -> Campaign:
    """Apply a lifecycle action, refusing what the lifecycle does not allow.

    ``grace`` (the misfire grace) lets ``approve`` refuse a one-time campaign whose time passed longer
    ago than the scheduler would still send it.
    """
    if action not in TRANSITIONS or action in ("edit", "rerun"):
        usable = ", ".join(a for a in ACTIONS if a not in ("edit", "rerun"))
        msg = f"unknown campaign action {action!r}; actions: {usable}"
        raise CampaignError(msg)
    rule = TRANSITIONS[action]
    now = now or utcnow()
    with Session(engine, expire_on_commit=False) as session, session.begin():
        campaign = _lock(session, campaign_id)
        if campaign.status not in rule["from"]:
            raise CampaignError(_refusal(action, campaign))
        if action == "approve":
            _check_approver(session, campaign, actor, now, grace)
        details: dict[str, Any] = {}
        conn = session.connection()
        if action == "pause":
            details["runs_paused"] = queue.set_campaign_runs(
                conn, campaign_id, RunStatus.PAUSED, (RunStatus.PLANNING, RunStatus.SENDING), now
            )
        elif action == "resume":
            details["runs_resumed"] = queue.set_campaign_runs(
                conn, campaign_id, RunStatus.SENDING, (RunStatus.PAUSED,), now
            )
        elif action == "cancel":
            details["runs_cancelled"] = queue.set_campaign_runs(conn, campaign_id, RunStatus.CANCELLED, OPEN_RUNS, now)
            details["messages_cancelled"] = queue.cancel_queued(conn, campaign_id, now)
        resumed_to = (S.ACTIVE if _has_runs(session, campaign_id) else S.APPROVED) if action == "resume" else None
        _move(session, campaign, action, actor, now, to=resumed_to, details=details)
    if details:
        log.info(f"campaign.{action}", campaign=campaign_id, actor=actor, **details)
    return campaign


def _check_approver(session: Session, campaign: Campaign, actor: str, now: datetime, grace: timedelta | None) -> None:
    if actor == campaign.created_by:
        msg = f"approve: you ({actor}) created this campaign; another approver must approve it"
        raise CampaignError(msg)
    if actor == _last_editor(session, campaign.id or 0):
        msg = f"approve: you ({actor}) edited this campaign last; another approver must approve it"
        raise CampaignError(msg)
    if campaign.run_at is not None and grace is not None and as_utc(campaign.run_at) < now - grace:
        msg = (
            f"approve: campaign {campaign.id} was to run at {as_utc(campaign.run_at):%Y-%m-%d %H:%M} UTC, "
            f"longer ago than the scheduler still sends a late run; edit its time ('broadcaster campaign edit "
            f"{campaign.id} --at …') and submit it again"
        )
        raise CampaignError(msg)


def submit(engine: Engine, campaign_id: int, actor: str, *, now: datetime | None = None) -> Campaign:
    return transition(engine, campaign_id, "submit", actor, now=now)


def approve(
    engine: Engine, settings: Settings, campaign_id: int, actor: str, *, now: datetime | None = None
) -> Campaign:
    """Approve, refusing the creator, the last editor, and a one-time campaign whose time is long past."""
    grace = timedelta(hours=settings.campaign.misfire_grace_hours)
    return transition(engine, campaign_id, "approve", actor, now=now, grace=grace)


def pause(engine: Engine, campaign_id: int, actor: str, *, now: datetime | None = None) -> Campaign:
    return transition(engine, campaign_id, "pause", actor, now=now)


def resume(engine: Engine, campaign_id: int, actor: str, *, now: datetime | None = None) -> Campaign:
    return transition(engine, campaign_id, "resume", actor, now=now)


def cancel(engine: Engine, campaign_id: int, actor: str, *, now: datetime | None = None) -> Campaign:
    return transition(engine, campaign_id, "cancel", actor, now=now)


# What the scheduler and the sweeps do through the lifecycle ------------------------------------------


def admit_run(engine: Engine, campaign_id: int, run_id: int, *, now: datetime, actor: str = SCHEDULER) -> bool:
    """A firing's run was just created: may it be planned? The first one activates the campaign.

    Taken under the campaign's row lock, so that a pause or a cancel committed meanwhile is seen (the
    run is then paused, or cancelled and not planned).
    """
    with Session(engine, expire_on_commit=False) as session, session.begin():
        campaign = _lock(session, campaign_id)
        run = session.get(Run, run_id)
        if run is None:
            msg = f"no run with id {run_id}"
            raise CampaignError(msg)
        if campaign.status == S.APPROVED:
            _move(session, campaign, "activate", actor, now)
        if campaign.status == S.PAUSED and run.status in (RunStatus.PLANNING, RunStatus.SENDING):
            run.status = RunStatus.PAUSED
        elif campaign.status not in (S.ACTIVE, S.PAUSED):
            run.status = RunStatus.CANCELLED
            run.completed_at = now
        session.add(run)
        _run_audit(session, actor, "fired", run, now, campaign_status=campaign.status)
        return run.status != RunStatus.CANCELLED


def record_missed(
    engine: Engine, settings: Settings, campaign_id: int, scheduled_for: datetime, *, now: datetime
) -> Run | None:
    """A firing too late to send: a ``missed`` run (so it never fires twice) and an alert. None if the
    firing already has a run."""
    late = now - scheduled_for
    try:
        with Session(engine, expire_on_commit=False) as session, session.begin():
            campaign = _lock(session, campaign_id)
            run = Run(
                campaign_id=campaign_id,
                scheduled_for=scheduled_for,
                status=RunStatus.MISSED,
                send_window=campaign.send_window,
                timezone=settings.campaign.timezone,
                created_at=now,
                completed_at=now,
            )
            session.add(run)
            session.flush()
            if campaign.status == S.APPROVED:
                _move(session, campaign, "activate", SCHEDULER, now)
            _run_audit(
                session,
                SCHEDULER,
                "missed",
                run,
                now,
                late_hours=round(late.total_seconds() / 3600, 2),
                grace_hours=settings.campaign.misfire_grace_hours,
                rerun=f"broadcaster campaign rerun {campaign_id} --run {run.id} --as YOU",
            )
    except IntegrityError:
        return None
    log.error(
        "run.missed",
        campaign=campaign_id,
        run=run.id,
        scheduled_for=scheduled_for.astimezone(settings.zone).isoformat(),
        late_hours=round(late.total_seconds() / 3600, 2),
        hint=f"broadcaster campaign rerun {campaign_id} --run {run.id}",
    )
    return run


def rerun(
    engine: Engine,
    settings: Settings,
    campaign_id: int,
    run_id: int,
    actor: str,
    *,
    now: datetime | None = None,
) -> planner.PlanSummary:
    """Send a missed run after all: it is planned now (and sent inside its sending window)."""
    now = now or utcnow()
    with Session(engine, expire_on_commit=False) as session, session.begin():
        campaign = _lock(session, campaign_id)
        if campaign.status not in TRANSITIONS["rerun"]["from"]:
            raise CampaignError(_refusal("rerun", campaign))
        run = session.get(Run, run_id)
        if run is None or run.campaign_id != campaign_id:
            runs = [r.id for r in session.exec(select(Run).where(Run.campaign_id == campaign_id))]
            msg = f"rerun: run {run_id} does not belong to campaign {campaign_id} (its runs: {runs or 'none'})"
            raise CampaignError(msg)
        claimed = queue.reopen_missed_run(session.connection(), run_id)
        if not claimed:
            msg = (
                f"rerun: run {run_id} is {run.status}; only a missed run can be re-run "
                "('broadcaster campaign show' lists the runs and their status)"
            )
            raise CampaignError(msg)
        session.refresh(run)
        _move(session, campaign, "rerun", actor, now, details={"run": run_id})
        _run_audit(session, actor, "rerun", run, now)
    log.info("run.rerun", campaign=campaign_id, run=run_id, actor=actor)
    return planner.plan_run(engine, run_id, settings)


def complete_finished(engine: Engine, settings: Settings, now: datetime) -> list[int]:
    """Active campaigns whose runs are all closed and whose schedule has nothing left become completed."""
    grace = timedelta(hours=settings.campaign.misfire_grace_hours)
    with Session(engine) as session:
        candidates = [c.id for c in session.exec(select(Campaign).where(Campaign.status == S.ACTIVE)) if c.id]
    completed = []
    for campaign_id in candidates:
        with Session(engine, expire_on_commit=False) as session, session.begin():
            campaign = _lock(session, campaign_id)
            if campaign.status != S.ACTIVE:
                continue
            runs = list(session.exec(select(Run).where(Run.campaign_id == campaign_id)))
            if not runs or any(r.status not in CLOSED_RUNS for r in runs):
                continue
            last = max(as_utc(r.scheduled_for) for r in runs)
            since = max(last, _lower_bound(campaign, grace) or last)
            if due_firings(campaign, since, now, settings.zone) or next_firing(campaign, now, settings.zone):
                continue
            _move(session, campaign, "complete", SCHEDULER, now, details={"runs": len(runs)})
            completed.append(campaign_id)
    return completed


def _lower_bound(campaign: Campaign, grace: timedelta) -> datetime | None:
    """Firings are considered from the approval on, minus the misfire grace (a time that passed just
    before the approval still fires); None for a campaign never approved."""
    return as_utc(campaign.approved_at) - grace if campaign.approved_at else None


def firing_window_start(campaign: Campaign, grace: timedelta, last_run: datetime | None) -> datetime | None:
    """The scheduler looks for firings after this instant: the approval minus the grace, or the last run."""
    lower = _lower_bound(campaign, grace)
    if lower is None:
        return None
    return max(lower, last_run) if last_run else lower


# Reading ------------------------------------------------------------------------------------------


def get_campaign(engine: Engine, campaign_id: int) -> Campaign:
    with Session(engine, expire_on_commit=False) as session:
        campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        msg = f"no campaign with id {campaign_id}; 'broadcaster campaign list' shows them"
        raise CampaignError(msg)
    return campaign


def list_campaigns(engine: Engine) -> list[Campaign]:
    with Session(engine, expire_on_commit=False) as session:
        return list(session.exec(select(Campaign).order_by(col(Campaign.id))))


def _iso(value: datetime | None, zone: ZoneInfo) -> str | None:
    return as_utc(value).astimezone(zone).isoformat() if value else None


def describe(engine: Engine, settings: Settings, campaign_id: int, *, now: datetime | None = None) -> dict[str, Any]:
    """Everything about a campaign, times in the settings time zone (``campaign show --json``)."""
    now = now or utcnow()
    zone = settings.zone
    with Session(engine, expire_on_commit=False) as session:
        campaign = session.get(Campaign, campaign_id)
        if campaign is None:
            msg = f"no campaign with id {campaign_id}; 'broadcaster campaign list' shows them"
            raise CampaignError(msg)
        names = {
            a.id: a.name
            for a in session.exec(select(Audience).where(col(Audience.id).in_(campaign.audience_ids or [-1])))
        }
        runs = list(session.exec(select(Run).where(Run.campaign_id == campaign_id).order_by(col(Run.id))))
    upcoming = next_firing(campaign, now, zone) if campaign.status in (*SCHEDULED, S.PAUSED) else None
    return {
        "id": campaign.id,
        "name": campaign.name,
        "status": campaign.status,
        "template": campaign.template_name,
        "encoding": campaign.encoding_policy,
        "sender": campaign.sender,
        "audiences": [names.get(i, str(i)) for i in campaign.audience_ids],
        "districts": campaign.district_codes,
        "group_by": campaign.group_by,
        "window": campaign.send_window,
        "timezone": zone.key,
        "schedule": {
            "at": _iso(campaign.run_at, zone),
            "cron": campaign.cron,
            "from": campaign.active_from.isoformat() if campaign.active_from else None,
            "until": campaign.active_until.isoformat() if campaign.active_until else None,
            "text": describe_schedule(campaign, zone),
        },
        "next_firing": _iso(upcoming, zone),
        "created_by": campaign.created_by,
        "approved_by": campaign.approved_by,
        "approved_at": _iso(campaign.approved_at, zone),
        "created_at": _iso(campaign.created_at, zone),
        "updated_at": _iso(campaign.updated_at, zone),
        "runs": [
            {
                "id": r.id,
                "scheduled_for": _iso(r.scheduled_for, zone),
                "status": r.status,
                "targeted": r.targeted,
                "planned_at": _iso(r.planned_at, zone),
                "completed_at": _iso(r.completed_at, zone),
                "purged_at": _iso(r.purged_at, zone),
            }
            for r in runs
        ],
    }


# Test send and dry run -----------------------------------------------------------------------------


def _district_of_campaign(engine: Engine, campaign: Campaign) -> str:
    """The first district the campaign would send to (area filter applied)."""
    with engine.connect() as conn:
        codes = sorted(
            str(row[0])
            for row in conn.execute(
                queue.sql("SELECT DISTINCT district_code FROM subscriber WHERE audience_id IN :a").bindparams(
                    bindparam("a", expanding=True)
                ),
                {"a": list(campaign.audience_ids) or [-1]},
            )
        )
    area = campaign.district_codes
    inside = [c for c in codes if not area or c in area]
    if inside:
        return inside[0]
    if area:
        return sorted(area)[0]
    msg = f"campaign {campaign.id}: its audiences have no subscribers; import a list first"
    raise CampaignError(msg)


def _context(settings: Settings, campaign: Campaign, district_code: str, year: int) -> dict[str, Any]:
    reference = divisions.load()
    province = reference.province(settings.province.code)
    base = compose.base_context(
        campaign=campaign.name,
        province=province.name if province else settings.province.code,
        province_code=settings.province.code,
        department=settings.province.department,
        year=year,
    )
    district = reference.district(district_code)
    return compose.district_context(
        base,
        district_code=district_code,
        district=district.name if district else district_code,
        police_phone=settings.province.police_phones.get(district_code),
    )


def _template(settings: Settings, campaign: Campaign) -> compose.Template:
    return compose.parse_template(campaign.template_name, settings.workspace, campaign.template_text)


@dataclass(frozen=True, slots=True)
class SendTestResult:
    number: str
    """As given (shown to the operator who typed it; never logged)."""
    carrier: str | None
    route: str | None
    accepted: bool
    detail: str
    """Provider id when accepted; what went wrong otherwise."""


def send_test(
    engine: Engine,
    settings: Settings,
    campaign_id: int,
    numbers: Sequence[str],
    actor: str,
    *,
    adapters: Mapping[str, Adapter] | None = None,
    now: datetime | None = None,
) -> list[SendTestResult]:
    """Send the campaign's text (as rendered for its first district) to a few numbers through the
    configured routes, before approval; recorded in the audit log (numbers masked)."""
    now = now or utcnow()
    campaign = get_campaign(engine, campaign_id)
    if campaign.status in (S.COMPLETED, S.CANCELLED):
        msg = f"test-send: campaign {campaign_id} is {campaign.status}; {_hints(campaign_id)[campaign.status]}"
        raise CampaignError(msg)
    if not numbers:
        msg = "test-send needs at least one number: --to 0912345678"
        raise CampaignError(msg)
    template = _template(settings, campaign)
    district_code = _district_of_campaign(engine, campaign)
    context = _context(settings, campaign, district_code, now.astimezone(settings.zone).year)
    created: dict[str, Adapter] = {}
    results = []
    try:
        for number in numbers:
            results.append(_test_one(settings, campaign, template, context, number, adapters or {}, created))
    finally:
        for adapter in created.values():
            adapter.close()
    with Session(engine) as session, session.begin():
        _audit(
            session,
            actor,
            "test_send",
            campaign,
            None,
            {
                "status": campaign.status,
                "district": district_code,
                "results": [
                    {"number": phones.mask(_e164(r.number)), "route": r.route, "accepted": r.accepted} for r in results
                ],
            },
            at=now,
        )
    return results


def _e164(number: str) -> str:
    phone = phones.normalize(number)
    return phone.msisdn if isinstance(phone, phones.Phone) else "?"


def _test_one(
    settings: Settings,
    campaign: Campaign,
    template: compose.Template,
    context: Mapping[str, Any],
    number: str,
    given: Mapping[str, Adapter],
    created: dict[str, Adapter],
) -> SendTestResult:
    phone = phones.normalize(number)
    if isinstance(phone, phones.Rejection):
        return SendTestResult(number, None, None, False, f"not a Vietnamese mobile number ({phone.reason})")
    routes = settings.routes_for(phone.carrier)
    if not routes:
        return SendTestResult(number, phone.carrier, None, False, f"no route configured for {phone.carrier}")
    route = routes[0]
    adapter = given.get(route.name) or created.get(route.name)
    if adapter is None:
        try:
            adapter = create_adapter(route.adapter, route.options, route.credentials())
        except (ConfigError, UnknownAdapter, ValueError, CarrierError) as exc:
            return SendTestResult(number, phone.carrier, route.name, False, f"route not usable: {exc}")
        created[route.name] = adapter
    rendered = compose.measure(
        template, context, campaign.encoding_policy, unicode_allowed=adapter.capabilities.unicode
    )
    submission = Submission(
        key=f"{TEST_KEY_PREFIX}-{campaign.id}-{uuid.uuid4().hex[:12]}",
        msisdn=phone.msisdn,
        text=rendered.text,
        encoding=rendered.encoding,
        sender=campaign.sender,
    )
    try:
        result = adapter.submit([submission])[0]
    except CarrierError as exc:
        return SendTestResult(number, phone.carrier, route.name, False, f"{type(exc).__name__}: {exc}")
    if isinstance(result, Accepted):
        return SendTestResult(number, phone.carrier, route.name, True, result.provider_id)
    detail = f"{result.kind}{f' {result.code}' if result.code else ''}: {result.reason}"
    return SendTestResult(number, phone.carrier, route.name, False, detail)


@dataclass
class DryRunRow:
    district_code: str
    district: str
    carrier: str
    subscribers: int = 0
    recipients: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    encoding: str = ""
    segments_per_message: int = 0
    segments: int = 0
    price: float | None = None

    @property
    def cost(self) -> float | None:
        return None if self.price is None else self.segments * self.price


@dataclass
class DryRun:
    campaign: int
    rows: list[DryRunRow]

    @property
    def totals(self) -> dict[str, Any]:
        skipped: dict[str, int] = {}
        for row in self.rows:
            for reason, n in row.skipped.items():
                skipped[reason] = skipped.get(reason, 0) + n
        costs = [row.cost for row in self.rows if row.recipients]
        return {
            "subscribers": sum(r.subscribers for r in self.rows),
            "recipients": sum(r.recipients for r in self.rows),
            "skipped": skipped,
            "segments": sum(r.segments for r in self.rows),
            "cost": None if any(c is None for c in costs) else sum(c or 0 for c in costs),
        }

    def as_json(self) -> dict[str, Any]:
        return {
            "campaign": self.campaign,
            "totals": self.totals,
            "rows": [
                {
                    "district_code": r.district_code,
                    "district": r.district,
                    "carrier": r.carrier,
                    "subscribers": r.subscribers,
                    "recipients": r.recipients,
                    "skipped": r.skipped,
                    "encoding": r.encoding,
                    "segments_per_message": r.segments_per_message,
                    "segments": r.segments,
                    "price": r.price,
                    "cost": r.cost,
                }
                for r in self.rows
            ],
        }


# The same rules as the planner: the first row of a number across the campaign's audiences is the
# recipient, later rows are duplicates; then opted-out numbers; then districts outside the area.
_DRY_RUN = queue.sql(
    """
SELECT s.district_code, s.carrier,
       COUNT(*),
       SUM(CASE WHEN s.id <> f.first_id THEN 1 ELSE 0 END),
       SUM(CASE WHEN s.id = f.first_id AND o.msisdn IS NOT NULL THEN 1 ELSE 0 END)
FROM subscriber s
JOIN (SELECT msisdn, MIN(id) AS first_id FROM subscriber WHERE audience_id IN :audiences GROUP BY msisdn) f
  ON f.msisdn = s.msisdn
LEFT JOIN optout o ON o.msisdn = s.msisdn
WHERE s.audience_id IN :audiences
GROUP BY s.district_code, s.carrier
ORDER BY s.district_code, s.carrier
"""
).bindparams(bindparam("audiences", expanding=True))


def dry_run(engine: Engine, settings: Settings, campaign_id: int, *, now: datetime | None = None) -> DryRun:
    """What a run would be, without writing a message: recipients, skipped by reason, segments and cost
    per district and carrier (counted in SQL; each district's text rendered once)."""
    now = now or utcnow()
    campaign = get_campaign(engine, campaign_id)
    template = _template(settings, campaign)
    area = set(campaign.district_codes) if campaign.district_codes else None
    with engine.connect() as conn:
        rows = conn.execute(_DRY_RUN, {"audiences": list(campaign.audience_ids) or [-1]}).all()
    reference = divisions.load()
    year = now.astimezone(settings.zone).year
    rendered: dict[str, compose.Rendered] = {}
    out = []
    for district_code, carrier, total, duplicates, opted_out in rows:
        code, total, duplicates, opted_out = str(district_code), int(total), int(duplicates or 0), int(opted_out or 0)
        district = reference.district(code)
        row = DryRunRow(
            code,
            district.name if district else code,
            str(carrier),
            subscribers=total,
            price=settings.prices.get(str(carrier)),
        )
        rest = total - duplicates - opted_out
        skipped = {SkipReason.DUPLICATE: duplicates, SkipReason.OPTED_OUT: opted_out}
        if area is not None and code not in area:
            skipped[SkipReason.OUTSIDE_AREA] = rest
        else:
            if code not in rendered:
                rendered[code] = compose.measure(
                    template, _context(settings, campaign, code, year), campaign.encoding_policy
                )
            row.recipients = rest
            row.encoding = rendered[code].encoding
            row.segments_per_message = rendered[code].segments
            row.segments = rest * rendered[code].segments
        row.skipped = {reason: n for reason, n in skipped.items() if n}
        out.append(row)
    return DryRun(campaign=campaign_id, rows=out)
