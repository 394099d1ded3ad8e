"""`broadcaster report`: the compliance report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from audiences import divisions
from broadcaster.cli._app import out, state_of


def report(
    ctx: typer.Context,
    campaign: Annotated[int, typer.Argument(help="Campaign id.")],
    fmt: Annotated[str, typer.Option("--format", help="csv, html or json.")] = "html",
    out_path: Annotated[Path | None, typer.Option("--out", help="File to write (default: reports/ in the workspace).")] = None,
    run: Annotated[int | None, typer.Option("--run", help="Only this run of the campaign.")] = None,
) -> None:
    """Write the compliance report of a campaign (all its runs, or one)."""
    from broadcaster import reports
    from broadcaster.models import utcnow

    state = state_of(ctx)
    settings = state.load()
    built = reports.build(state.database(), campaign, run, now=utcnow())
    province = divisions.load().province(settings.province.code)
    path = out_path or state.workspace / "reports" / f"campaign-{campaign}{f'-run-{run}' if run else ''}.{fmt}"
    reports.write(
        built, fmt, path, province=province.name if province else "", department=settings.province.department
    )
    status = "final" if built.final else f"provisional: {built.totals.pending} messages still in flight"
    out.print(f"Report written to {path} ({status}).")
