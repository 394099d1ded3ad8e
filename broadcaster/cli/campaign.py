"""`broadcaster campaign …`: create, edit, approve and follow campaigns (DESIGN §6).

Times on the command line are local (the settings time zone, Asia/Ho_Chi_Minh by default); they are
stored in UTC and shown local again.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from broadcaster import campaigns
from broadcaster.cli._app import out, state_of
from broadcaster.config import Settings
from broadcaster.models import utcnow

app = typer.Typer(help="Campaigns: schedule, approve, pause, resume, cancel, follow.", no_args_is_help=True)

Actor = Annotated[str, typer.Option("--as", help="Who you are (recorded in the audit log).")]
CampaignId = Annotated[int, typer.Argument(help="Campaign id (see 'broadcaster campaign list').")]
At = Annotated[
    str | None,
    typer.Option("--at", help="Send once at this local time: '2025-07-30 08:00' or '30/07/2025 08:00'."),
]
Cron = Annotated[str | None, typer.Option("--cron", help="Recurring: a cron expression, e.g. '0 8 * * mon,wed'.")]
Weekly = Annotated[
    str | None, typer.Option("--weekly", help="Recurring: days of the week, e.g. mon,wed (or t2,t4); needs --time.")
]
AtTime = Annotated[str | None, typer.Option("--time", help="Time of day for --weekly, HH:MM.")]
From = Annotated[
    str | None, typer.Option("--from", help="First day of a recurring schedule: 1/7, 1/7/2025 or 2025-07-01.")
]
Until = Annotated[str | None, typer.Option("--until", help="Last day of a recurring schedule (included).")]
Window = Annotated[str | None, typer.Option("--window", help="Sending window HH:MM-HH:MM (default from the settings).")]
Encoding = Annotated[str | None, typer.Option("--encoding", help="auto, unicode or ascii.")]
By = Annotated[str | None, typer.Option("--by", help="Group recipients by district (default) or commune.")]
Districts = Annotated[
    list[str] | None, typer.Option("--district", help="Only these district codes (repeatable; default: all).")
]
Sender = Annotated[str | None, typer.Option("--sender", help="Brandname (default from the settings).")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _schedule(
    settings: Settings,
    at: str | None,
    cron: str | None,
    weekly: str | None,
    at_time: str | None,
    start: str | None,
    until: str | None,
) -> campaigns.Schedule:
    zone = settings.zone
    if cron is not None and weekly is not None:
        msg = "give --cron or --weekly, not both"
        raise campaigns.ScheduleError(msg)
    if weekly is not None:
        if at_time is None:
            msg = "--weekly needs --time HH:MM (the local time of day to send)"
            raise campaigns.ScheduleError(msg)
        cron = campaigns.weekly_cron([weekly], at_time)
    elif at_time is not None:
        msg = "--time goes with --weekly DAYS; for a single send use --at '2025-07-30 08:00'"
        raise campaigns.ScheduleError(msg)
    today = utcnow().astimezone(zone).date()
    return campaigns.Schedule(
        run_at=campaigns.parse_local_datetime(at, zone) if at is not None else None,
        cron=cron,
        active_from=campaigns.parse_day(start, today) if start is not None else None,
        active_until=campaigns.parse_day(until, today) if until is not None else None,
    )


@app.command()
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Option("--name", help="Campaign name.")],
    template: Annotated[str, typer.Option("--template", help="A name from templates/ or a .j2 file.")],
    audience: Annotated[list[str], typer.Option("--audience", help="Audience name (repeatable).")],
    actor: Actor,
    at: At = None,
    cron: Cron = None,
    weekly: Weekly = None,
    at_time: AtTime = None,
    start: From = None,
    until: Until = None,
    window: Window = None,
    encoding: Encoding = None,
    by: By = None,
    district: Districts = None,
    sender: Sender = None,
) -> None:
    """Create a draft campaign and print its id. Without --at/--cron/--weekly it sends once, when approved."""
    state = state_of(ctx)
    settings = state.load()
    schedule = _schedule(settings, at, cron, weekly, at_time, start, until)
    campaign = campaigns.create_campaign(
        state.database(),
        settings,
        campaigns.NewCampaign(
            name=name,
            template=template,
            audiences=tuple(audience),
            created_by=actor,
            encoding=encoding,
            sender=sender,
            window=window,
            run_at=schedule.run_at,
            cron=schedule.cron,
            active_from=schedule.active_from,
            active_until=schedule.active_until,
            districts=tuple(district) if district else None,
            group_by=by or "district",
        ),
    )
    print(campaign.id)


@app.command()
def edit(
    ctx: typer.Context,
    campaign_id: CampaignId,
    actor: Actor,
    name: Annotated[str | None, typer.Option("--name", help="New name.")] = None,
    template: Annotated[str | None, typer.Option("--template", help="New template.")] = None,
    audience: Annotated[
        list[str] | None, typer.Option("--audience", help="Replace the audiences (repeatable).")
    ] = None,
    at: At = None,
    cron: Cron = None,
    weekly: Weekly = None,
    at_time: AtTime = None,
    start: From = None,
    until: Until = None,
    window: Window = None,
    encoding: Encoding = None,
    by: By = None,
    district: Districts = None,
    all_districts: Annotated[bool, typer.Option("--all-districts", help="Remove the district filter.")] = False,
    sender: Sender = None,
) -> None:
    """Change a campaign that has not run yet; it goes back to draft and needs approval again."""
    state = state_of(ctx)
    settings = state.load()
    schedule = None
    if any(v is not None for v in (at, cron, weekly, at_time, start, until)):
        schedule = _schedule(settings, at, cron, weekly, at_time, start, until)
    changes = campaigns.CampaignChanges(
        name=name,
        template=template,
        encoding=encoding,
        sender=sender,
        window=window,
        schedule=schedule,
        audiences=tuple(audience) if audience else None,
        districts=() if all_districts else (tuple(district) if district else None),
        group_by=by,
    )
    campaign = campaigns.update_campaign(state.database(), settings, campaign_id, changes, actor)
    out.print(f"Campaign {campaign.id} is now {campaign.status}; submit it for approval when ready.")


def _lifecycle(ctx: typer.Context, campaign_id: int, action: str, actor: str) -> None:
    state = state_of(ctx)
    settings = state.load()
    engine = state.database()
    if action == "approve":
        campaign = campaigns.approve(engine, settings, campaign_id, actor)
    else:
        campaign = campaigns.transition(engine, campaign_id, action, actor)
    out.print(f"Campaign {campaign.id} is now {campaign.status.replace('_', ' ')}.")


@app.command()
def submit(ctx: typer.Context, campaign_id: CampaignId, actor: Actor) -> None:
    """Submit a draft for approval."""
    _lifecycle(ctx, campaign_id, "submit", actor)


@app.command()
def approve(ctx: typer.Context, campaign_id: CampaignId, actor: Actor) -> None:
    """Approve a submitted campaign (not your own): it then runs on its schedule."""
    _lifecycle(ctx, campaign_id, "approve", actor)


@app.command()
def pause(ctx: typer.Context, campaign_id: CampaignId, actor: Actor) -> None:
    """Pause a campaign and its open runs: sending stops within a dispatch pass."""
    _lifecycle(ctx, campaign_id, "pause", actor)


@app.command()
def resume(ctx: typer.Context, campaign_id: CampaignId, actor: Actor) -> None:
    """Resume a paused campaign and its runs."""
    _lifecycle(ctx, campaign_id, "resume", actor)


@app.command()
def cancel(ctx: typer.Context, campaign_id: CampaignId, actor: Actor) -> None:
    """Cancel a campaign: its queued messages are cancelled and it never fires again."""
    _lifecycle(ctx, campaign_id, "cancel", actor)


@app.command()
def rerun(
    ctx: typer.Context,
    campaign_id: CampaignId,
    run: Annotated[int, typer.Option("--run", help="The missed run to send now.")],
    actor: Actor,
) -> None:
    """Send a run that was missed (the service was down longer than the misfire grace)."""
    state = state_of(ctx)
    summary = campaigns.rerun(state.database(), state.load(), campaign_id, run, actor)
    out.print(
        f"Run {summary.run_id} planned: {summary.queued} messages queued, {summary.skipped} skipped; "
        "it is sent inside the campaign's sending window."
    )


def _local(value: str | None) -> str:
    return datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M") if value else "-"


@app.command("list")
def list_(ctx: typer.Context, as_json: AsJson = False) -> None:
    """Every campaign with its status and schedule."""
    state = state_of(ctx)
    settings = state.load()
    engine = state.database()
    now = utcnow()
    rows = [campaigns.describe(engine, settings, c.id, now=now) for c in campaigns.list_campaigns(engine) if c.id]
    if as_json:
        print(json.dumps(rows, ensure_ascii=False))
        return
    if not rows:
        out.print("No campaigns yet: 'broadcaster campaign create --help' shows how to create one.")
        return
    table = Table(title=f"Campaigns (times in {settings.zone.key})")
    for column in ("ID", "Name", "Status", "Schedule", "Next", "Runs", "Created by", "Approved by"):
        table.add_column(column, justify="right" if column in ("ID", "Runs") else "left")
    for row in rows:
        table.add_row(
            str(row["id"]),
            row["name"],
            row["status"],
            row["schedule"]["text"],
            _local(row["next_firing"]),
            str(len(row["runs"])),
            row["created_by"],
            row["approved_by"] or "-",
        )
    out.print(table)


@app.command()
def show(ctx: typer.Context, campaign_id: CampaignId, as_json: AsJson = False) -> None:
    """One campaign: settings, schedule, next firing and its runs."""
    state = state_of(ctx)
    settings = state.load()
    info = campaigns.describe(state.database(), settings, campaign_id)
    if as_json:
        print(json.dumps(info, ensure_ascii=False))
        return
    _show(info)


def _show(info: dict[str, Any]) -> None:
    out.print(f"[bold]Campaign {info['id']}[/]: {info['name']}  ({info['status']})", highlight=False)
    area = ", ".join(info["districts"]) if info["districts"] else "all"
    lines = [
        ("Template", f"{info['template']} (encoding {info['encoding']}, sender {info['sender']})"),
        ("Audiences", ", ".join(info["audiences"])),
        ("Districts", f"{area} (grouped by {info['group_by']})"),
        ("Schedule", f"{info['schedule']['text']} ({info['timezone']})"),
        ("Next firing", _local(info["next_firing"])),
        ("Sending window", info["window"]),
        ("Created by", f"{info['created_by']} at {_local(info['created_at'])}"),
        ("Approved by", f"{info['approved_by']} at {_local(info['approved_at'])}" if info["approved_by"] else "-"),
    ]
    for label, value in lines:
        out.print(f"  {label + ':':<16}{value}", highlight=False)
    if not info["runs"]:
        out.print("  No runs yet.")
        return
    table = Table(title="Runs")
    for column in ("Run", "Scheduled for", "Status", "Targeted", "Completed", "Numbers purged"):
        table.add_column(column)
    for run in info["runs"]:
        table.add_row(
            str(run["id"]),
            _local(run["scheduled_for"]),
            run["status"],
            str(run["targeted"]),
            _local(run["completed_at"]),
            _local(run["purged_at"]),
        )
    out.print(table)


@app.command("test-send")
def send_test_command(
    ctx: typer.Context,
    campaign_id: CampaignId,
    to: Annotated[list[str], typer.Option("--to", help="Number to send the test to (repeatable, or comma-separated).")],
    actor: Actor,
) -> None:
    """Send the campaign's text (first district) to a few numbers through the real routes, before approval."""
    state = state_of(ctx)
    numbers = [n.strip() for value in to for n in value.split(",") if n.strip()]
    results = campaigns.send_test(state.database(), state.load(), campaign_id, numbers, actor)
    for result in results:
        verdict = "accepted" if result.accepted else "failed"
        route = f" via {result.route}" if result.route else ""
        out.print(f"{result.number}: {verdict}{route} ({result.detail})", highlight=False)
    failed = [r for r in results if not r.accepted]
    if failed:
        msg = f"test-send: {len(failed)} of {len(results)} numbers failed (see above); nothing was approved or changed"
        raise campaigns.CampaignError(msg)


@app.command("dry-run")
def dry_run(ctx: typer.Context, campaign_id: CampaignId, as_json: AsJson = False) -> None:
    """What a run would be, without sending or writing anything: recipients, skips, segments and cost."""
    state = state_of(ctx)
    result = campaigns.dry_run(state.database(), state.load(), campaign_id)
    if as_json:
        print(json.dumps(result.as_json(), ensure_ascii=False))
        return
    table = Table(title=f"Campaign {campaign_id}: dry run (nothing is sent)")
    for column in ("Code", "District", "Carrier", "Recipients", "Skipped", "Enc.", "Parts/msg", "Parts", "Cost (VND)"):
        table.add_column(column, justify="left" if column in ("District", "Carrier", "Skipped") else "right")
    for row in result.rows:
        skipped = ", ".join(f"{reason} {n}" for reason, n in row.skipped.items()) or "-"
        table.add_row(
            row.district_code,
            row.district,
            row.carrier,
            str(row.recipients),
            skipped,
            row.encoding or "-",
            str(row.segments_per_message or "-"),
            str(row.segments),
            f"{row.cost:,.0f}" if row.cost is not None else "-",
        )
    totals = result.totals
    skipped_total = ", ".join(f"{reason} {n}" for reason, n in totals["skipped"].items()) or "-"
    cost = f"{totals['cost']:,.0f}" if totals["cost"] is not None else "- (set prices in broadcaster.toml)"
    table.add_row("", "Total", "", str(totals["recipients"]), skipped_total, "", "", str(totals["segments"]), cost)
    out.print(table)
