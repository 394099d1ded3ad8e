"""The ``broadcaster`` command (DESIGN §6).

Commands call use-case functions and print; they hold no business logic. A user's mistake is one
line on stderr and a non-zero exit, never a traceback; an unexpected failure is one line too, with
the traceback written to ``broadcaster.log`` in the workspace.
"""

from __future__ import annotations

import json
import sys
import tempfile
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import Engine

from audiences import divisions
from audiences.readers import ReadError
from broadcaster import db, logs
from broadcaster.campaigns import CampaignError
from broadcaster.compose import TemplateError
from broadcaster.config import SAMPLE, SETTINGS_FILE, ConfigError, Settings, load_settings
from broadcaster.importer import AudienceFileError
from broadcaster.reports import ReportError
from carriers.errors import UnknownAdapter

USER_ERRORS: tuple[type[Exception], ...] = (
    AudienceFileError,
    CampaignError,
    ConfigError,
    db.DatabaseError,
    ReadError,
    ReportError,
    TemplateError,
    UnknownAdapter,
)

app = typer.Typer(
    help="broadcaster: SMS awareness campaigns for provincial authorities.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(help="The database schema.", no_args_is_help=True)
audience_app = typer.Typer(help="Subscriber lists.", no_args_is_help=True)
optout_app = typer.Typer(help="Numbers that must never be messaged.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(audience_app, name="audience")
app.add_typer(optout_app, name="optout")

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def _error_line(message: str) -> None:
    """One plain line on stderr: no markup, no wrapping, whatever the terminal."""
    sys.stderr.write(f"error: {' '.join(message.split())}\n")


class Failure(Exception):
    """A message for the operator (already worded); exit code 1."""


@dataclass
class State:
    workspace: Path
    explicit_workspace: bool
    settings: Settings | None = None
    engine: Engine | None = None

    def load(self) -> Settings:
        if self.settings is None:
            self.settings = load_settings(self.workspace)
        return self.settings

    def database(self) -> Engine:
        """The migrated database of the workspace (the service migrates on start)."""
        if self.engine is None:
            self.engine = db.make_engine(self.load().database_url)
            db.migrate(self.engine)
        return self.engine


def _state(ctx: typer.Context) -> State:
    state: State = ctx.obj
    return state


@app.callback()
def main_callback(
    ctx: typer.Context,
    workspace: Annotated[
        Path | None,
        typer.Option("--dir", "-C", help="Workspace folder (holds broadcaster.toml).", envvar="BROADCASTER_WORKSPACE"),
    ] = None,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING or ERROR.")] = "WARNING",
) -> None:
    logs.configure(log_level)
    ctx.obj = State(workspace=workspace or Path.cwd(), explicit_workspace=workspace is not None)


@app.command()
def init(ctx: typer.Context) -> None:
    """Write a commented broadcaster.toml and create the database in the workspace."""
    state = _state(ctx)
    state.workspace.mkdir(parents=True, exist_ok=True)
    path = state.workspace / SETTINGS_FILE
    if path.exists():
        out.print(f"{path} already exists; left unchanged.")
    else:
        path.write_text(SAMPLE, encoding="utf-8")
        out.print(f"Wrote {path}")
    state.database()
    out.print(f"Database ready: {state.load().database_url}")


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Bring the database schema to the newest version."""
    state = _state(ctx)
    state.database()
    out.print(f"Database is up to date: {state.load().database_url}")


@audience_app.command("import")
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

    state = _state(ctx)
    settings = state.load()
    engine = state.database()
    with _progress(f"Importing {file.name}", total=None, quiet=as_json) as advance:
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


@optout_app.command("add")
def optout_add(
    ctx: typer.Context, msisdn: Annotated[list[str], typer.Argument(help="Phone numbers, in any usual form.")]
) -> None:
    """Never message these numbers again."""
    from broadcaster import optouts

    summary = optouts.add(_state(ctx).database(), enumerate(msisdn, start=1), "operator")
    for _, raw, message in summary.rejected:
        err.print(f"not added: {raw!r}: {message}")
    out.print(f"{summary.added} added, {summary.already} already opted out.")
    if summary.rejected:
        raise typer.Exit(1)


@optout_app.command("import")
def optout_import(ctx: typer.Context, file: Annotated[Path, typer.Argument(help="CSV or XLSX file.")]) -> None:
    """Opt out every number of a file (a column of phone numbers)."""
    from broadcaster import optouts

    summary = optouts.import_file(_state(ctx).database(), file)
    for row, raw, message in summary.rejected[:20]:
        err.print(f"{file.name}, row {row}: {raw!r}: {message}")
    out.print(f"{summary.rows} rows: {summary.added} added, {summary.already} already opted out, "
              f"{len(summary.rejected)} not phone numbers.")


@app.command()
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

    state = _state(ctx)
    settings = state.load()
    built = reports.build(state.database(), campaign, run, now=utcnow())
    province = divisions.load().province(settings.province.code)
    path = out_path or state.workspace / "reports" / f"campaign-{campaign}{f'-run-{run}' if run else ''}.{fmt}"
    reports.write(
        built, fmt, path, province=province.name if province else "", department=settings.province.department
    )
    status = "final" if built.final else f"provisional: {built.totals.pending} messages still in flight"
    out.print(f"Report written to {path} ({status}).")


@app.command()
def demo(
    ctx: typer.Context,
    workspace: Annotated[Path | None, typer.Option("--dir", help="Workspace (default: a new temporary folder).")] = None,
    subscribers: Annotated[int, typer.Option(min=100, max=200_000, help="Size of the sample audience.")] = 3000,
) -> None:
    """The whole job on the embedded default: sample audience, the 30/7 message, simulated carriers, report."""
    from broadcaster.demo import run_demo

    state = _state(ctx)
    if workspace is not None:
        state.workspace, state.explicit_workspace = workspace, True
    if not state.explicit_workspace:
        state.workspace = Path(tempfile.mkdtemp(prefix="broadcaster-demo-"))
    state.workspace.mkdir(parents=True, exist_ok=True)
    out.print(f"Workspace: {state.workspace}")
    engine = state.database()
    with _progress("Sending the 30/7 message", total=None, quiet=False) as advance:
        result = run_demo(
            engine,
            state.load(),
            subscribers=subscribers,
            on_planned=lambda queued: advance(0, queued),
            on_progress=lambda done, total: advance(done, total),
        )
    summary = result.import_summary
    out.print(
        f"Imported {summary.rows} rows of {result.audience_path.name}: {summary.accepted} subscribers, "
        f"{summary.duplicates} duplicates, {summary.rejected} rejected (reasons in {result.rejects_path.name})."
    )
    _district_table(result.report)
    check = "reconcile" if result.report.reconciles else "DO NOT reconcile"
    out.print(f"Totals {check}: targeted = delivered + failed + expired + skipped + cancelled + pending.")
    out.print(f"Report (CSV):  {result.csv_path}")
    out.print(f"Report (HTML): {result.html_path}")


def _district_table(built: Any) -> None:
    from broadcaster.reports import by_district

    table = Table(title="30/7 message by district")
    for column in ("Code", "District", "Targeted", "Delivered", "Failed", "Skipped", "Pending"):
        table.add_column(column, justify="right" if column not in ("District",) else "left")
    for row in [*by_district(built), built.totals]:
        table.add_row(
            row.district_code,
            row.district,
            *(str(getattr(row, n)) for n in ("targeted", "delivered", "failed", "skipped", "pending")),
        )
    out.print(table)


@contextmanager
def _progress(label: str, total: int | None, quiet: bool) -> Iterator[Any]:
    """A progress bar on a terminal (rich); ``advance(done, total)`` updates it."""
    if quiet:
        yield lambda done, total=None: None
        return
    columns = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task(label, total=total)

        def advance(done: int, new_total: int | None = None) -> None:
            if new_total is not None:
                progress.update(task, total=new_total)
            progress.update(task, completed=done)

        yield advance


def main() -> None:
    """Entry point: run the app, turning errors into one line on stderr."""
    try:
        app(standalone_mode=False)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err.print("Aborted.")
        sys.exit(130)
    except USER_ERRORS as exc:
        _error_line(str(exc))
        sys.exit(1)
    except Exception as exc:  # noqa: BLE001 - one line for the operator, the details in the log
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        log_path = Path.cwd() / "broadcaster.log"
        with log_path.open("a", encoding="utf-8") as handle:
            handle.write(logs.mask_text(traceback.format_exc()))
        _error_line(
            f"unexpected failure ({type(exc).__name__}: {logs.mask_text(str(exc))[:200]}); details in {log_path}"
        )
        sys.exit(2)
