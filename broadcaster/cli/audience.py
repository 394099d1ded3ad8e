"""`broadcaster audience …`: subscriber lists."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from broadcaster.cli._app import err, out, progress_bar, state_of

app = typer.Typer(help="Subscriber lists.", no_args_is_help=True)


@app.command("import")
def audience_import(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="CSV or XLSX file.")],
    name: Annotated[str, typer.Option("--name", help="Audience name (created if new).")],
    province: Annotated[str | None, typer.Option(help="Province code (default: from the settings).")] = None,
    rejects: Annotated[Path | None, typer.Option(help="Write rejected rows to this CSV.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Import a subscriber list: good rows kept, bad rows written to --rejects with their reason."""
    from broadcaster import importer

    state = state_of(ctx)
    settings = state.load()
    engine = state.database()
    estimate = importer.estimate_rows(file)

    # Off the terminal (a pipe, a log file) rich would still leave an empty line on stderr.
    quiet = as_json or not err.is_terminal
    with progress_bar(f"Importing {file.name}", total=estimate, quiet=quiet) as advance:

        def progress(rows: int) -> None:
            advance(rows, rows if estimate is not None and rows > estimate else None)

        summary = importer.import_audience(
            engine,
            file,
            name=name,
            province_code=province or settings.province.code,
            rejects_path=rejects,
            progress=progress,
        )
    if as_json:
        print(json.dumps(summary.as_json(), ensure_ascii=False))
        return
    out.print(
        f"Audience [bold]{escape(summary.audience)}[/]: {summary.rows} rows, {summary.accepted} added, "
        f"{summary.duplicates} duplicates, {summary.rejected} rejected."
    )
    if summary.by_district:
        districts = ", ".join(f"{code} {n}" for code, n in sorted(summary.by_district.items()))
        out.print(f"Added by district: {districts}")
    if summary.rejected:
        reasons = ", ".join(f"{reason} {n}" for reason, n in summary.by_reason.most_common())
        out.print(f"Rejected by reason: {reasons}")
        if rejects:
            out.print(f"Rejected rows and their reasons: {escape(str(rejects))}")
        else:
            out.print("Use --rejects FILE.csv to see the rejected rows and why.")
