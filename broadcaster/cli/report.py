"""`broadcaster report`: the compliance report, or the message-level export for an audit."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from audiences import divisions
from broadcaster.cli._app import err, out, state_of

_DMY = re.compile(r"^\s*(\d{1,2})/(\d{1,2})/(\d{4})\s*$")


def _date(value: str | None, option: str) -> date | None:
    """``2024-07-30`` or ``30/07/2024`` (a local date)."""
    from broadcaster.reports import ReportError

    if value is None:
        return None
    try:
        match = _DMY.match(value)
        if match:
            day, month, year = (int(part) for part in match.groups())
            return date(year, month, day)
        return date.fromisoformat(value.strip())
    except ValueError as exc:
        msg = f"{option} {value!r} is not a date; write it as YYYY-MM-DD or DD/MM/YYYY (e.g. 2024-07-30)"
        raise ReportError(msg) from exc


def report(
    ctx: typer.Context,
    campaign: Annotated[int, typer.Argument(help="Campaign id.")],
    fmt: Annotated[
        str | None,
        typer.Option("--format", help="csv, xlsx, html or json (default: from --out's extension, else html)."),
    ] = None,
    out_path: Annotated[
        Path | None, typer.Option("--out", help="File to write (default: reports/ in the workspace).")
    ] = None,
    run: Annotated[int | None, typer.Option("--run", help="Only this run of the campaign.")] = None,
    start: Annotated[
        str | None, typer.Option("--from", help="Runs scheduled on or after this local date (YYYY-MM-DD).")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Runs scheduled on or before this local date (YYYY-MM-DD).")
    ] = None,
    messages: Annotated[
        bool, typer.Option("--messages", help="Export every message as CSV for an audit (numbers masked).")
    ] = False,
    reveal: Annotated[
        bool, typer.Option("--reveal", help="With --messages: write phone numbers in full (recorded in the audit log).")
    ] = False,
    actor: Annotated[str | None, typer.Option("--as", help="Who asks (required with --reveal).")] = None,
) -> None:
    """Write the compliance report of a campaign: one run, every run, or the runs of a period."""
    from broadcaster import reports
    from broadcaster.models import utcnow

    state = state_of(ctx)
    settings = state.load()
    first, last = _date(start, "--from"), _date(until, "--until")
    if reveal and not messages:
        msg = "--reveal only applies to the message export; add --messages"
        raise reports.ReportError(msg)
    if messages:
        if fmt not in (None, "csv"):
            msg = f"the message export is CSV only; drop --format {fmt}"
            raise reports.ReportError(msg)
        path = (
            out_path or state.workspace / "reports" / f"campaign-{campaign}{f'-run-{run}' if run else ''}-messages.csv"
        )
        summary = reports.export_messages(
            state.database(),
            campaign,
            path,
            run_id=run,
            start=first,
            end=last,
            timezone=settings.campaign.timezone,
            reveal=reveal,
            actor=actor,
        )
        numbers = "in full (recorded in the audit log)" if summary.revealed else "masked"
        out.print(f"{summary.messages} messages written to {path} (phone numbers {numbers}).")
        return
    if fmt is None:
        suffix = out_path.suffix.lower().lstrip(".") if out_path else ""
        fmt = suffix if suffix in reports.FORMATS else "html"
    if fmt not in reports.FORMATS:
        msg = f"unknown report format {fmt!r}; choose one of {', '.join(reports.FORMATS)}"
        raise reports.ReportError(msg)
    built = reports.build(
        state.database(),
        campaign,
        run,
        now=utcnow(),
        start=first,
        end=last,
        timezone=settings.campaign.timezone,
        prices=settings.prices,
    )
    province = divisions.load().province(settings.province.code)
    name = f"campaign-{campaign}{f'-run-{run}' if run else ''}{_period(first, last)}.{fmt}"
    path = out_path or state.workspace / "reports" / name
    reports.write(built, fmt, path, province=province.name if province else "", department=settings.province.department)
    status = "final" if built.final else f"provisional: {built.totals.pending} messages still in flight"
    out.print(f"Report written to {path} ({status}).")
    if not built.reconciles:
        failed = "; ".join(check.detail for check in built.checks if not check.ok)
        err.print(f"warning: the figures do not reconcile ({failed}); the report says so", markup=False)


def _period(first: date | None, last: date | None) -> str:
    if first is None and last is None:
        return ""
    return f"-{first.isoformat() if first else 'start'}-to-{last.isoformat() if last else 'now'}"
