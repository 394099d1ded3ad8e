"""`broadcaster optout …`: numbers that must never be messaged."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from broadcaster.cli._app import err, out, state_of

app = typer.Typer(help="Numbers that must never be messaged.", no_args_is_help=True)

SHOWN_REJECTED = 20


@app.command("add")
def optout_add(
    ctx: typer.Context, msisdn: Annotated[list[str], typer.Argument(help="Phone numbers, in any usual form.")]
) -> None:
    """Never message these numbers again (they stay in their audiences, skipped as opted out)."""
    from broadcaster import optouts

    summary = optouts.add(state_of(ctx).database(), enumerate(msisdn, start=1), "operator")
    for _, raw, message in summary.rejected:
        err.print(f"not added: {raw!r}: {message}", markup=False, highlight=False)
    out.print(f"{summary.added} added, {summary.already} already opted out.")
    if summary.rejected_count:
        # Not typer.Exit: broadcaster.cli.main runs the app with standalone_mode=False, where click
        # returns typer.Exit's code instead of raising it, and main() exits 0.
        raise SystemExit(1)


@app.command("import")
def optout_import(ctx: typer.Context, file: Annotated[Path, typer.Argument(help="CSV or XLSX file.")]) -> None:
    """Opt out every number of a file (the column of phone numbers)."""
    from broadcaster import optouts

    summary = optouts.import_file(state_of(ctx).database(), file)
    for row, raw, message in summary.rejected[:SHOWN_REJECTED]:
        err.print(f"{file.name}, row {row}: {raw!r}: {message}", markup=False, highlight=False)
    if summary.rejected_count > SHOWN_REJECTED:
        err.print(f"… and {summary.rejected_count - SHOWN_REJECTED} more rows that are not phone numbers.")
    out.print(
        f"{summary.rows} rows: {summary.added} added, {summary.already} already opted out, "
        f"{summary.rejected_count} not phone numbers."
    )
