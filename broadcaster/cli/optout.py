"""`broadcaster optout …`: numbers that must never be messaged."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from broadcaster.cli._app import err, out, state_of

app = typer.Typer(help="Numbers that must never be messaged.", no_args_is_help=True)


@app.command("add")
def optout_add(
    ctx: typer.Context, msisdn: Annotated[list[str], typer.Argument(help="Phone numbers, in any usual form.")]
) -> None:
    """Never message these numbers again."""
    from broadcaster import optouts

    summary = optouts.add(state_of(ctx).database(), enumerate(msisdn, start=1), "operator")
    for _, raw, message in summary.rejected:
        err.print(f"not added: {raw!r}: {message}")
    out.print(f"{summary.added} added, {summary.already} already opted out.")
    if summary.rejected:
        raise typer.Exit(1)


@app.command("import")
def optout_import(ctx: typer.Context, file: Annotated[Path, typer.Argument(help="CSV or XLSX file.")]) -> None:
    """Opt out every number of a file (a column of phone numbers)."""
    from broadcaster import optouts

    summary = optouts.import_file(state_of(ctx).database(), file)
    for row, raw, message in summary.rejected[:20]:
        err.print(f"{file.name}, row {row}: {raw!r}: {message}")
    out.print(f"{summary.rows} rows: {summary.added} added, {summary.already} already opted out, "
              f"{len(summary.rejected)} not phone numbers.")
