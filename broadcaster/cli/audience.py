"""`broadcaster audience …`: subscriber lists."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from broadcaster.cli._app import out, progress_bar, state_of

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
    with progress_bar(f"Importing {file.name}", total=None, quiet=as_json) as advance:
        summary = importer.import_audience(
            engine,
            file,
            name=name,
            province_code=province or settings.province.code,
            rejects_path=rejects,
            progress=lambda rows: advance(rows, None),
        )
    if as_json:
        print(json.dumps(summary.as_json(), ensure_ascii=False))
        return
    out.print(
        f"Audience [bold]{name}[/]: {summary.rows} rows, {summary.accepted} added, "
        f"{summary.duplicates} duplicates, {summary.rejected} rejected."
    )
    if summary.rejected and rejects:
        out.print(f"Rejected rows and their reasons: {rejects}")
    elif summary.rejected:
        out.print("Use --rejects FILE.csv to see the rejected rows and why.")
