"""The ``broadcaster`` command (DESIGN §6): the app, its shared state and the core commands.

Commands call use-case functions and print; they hold no business logic. A user's mistake is one
line on stderr and a non-zero exit, never a traceback; an unexpected failure is one line too, with
the traceback written to ``broadcaster.log`` in the workspace.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from sqlalchemy import Engine

from audiences.readers import ReadError
from broadcaster import db, logs
from broadcaster.api.tokens import TokenError
from broadcaster.campaigns import CampaignError
from broadcaster.compose import PreviewError, TemplateError
from broadcaster.config import (
    SAMPLE,
    SETTINGS_FILE,
    ConfigError,
    Settings,
    load_settings,
)
from broadcaster.importer import AudienceFileError
from broadcaster.reports import ReportError
from carriers.errors import AdapterOptionsError, UnknownAdapter

USER_ERRORS: tuple[type[Exception], ...] = (
    AdapterOptionsError,
    AudienceFileError,
    CampaignError,
    ConfigError,
    db.DatabaseError,
    PreviewError,
    ReadError,
    ReportError,
    TemplateError,
    TokenError,
    UnknownAdapter,
)

app = typer.Typer(
    help="broadcaster: SMS awareness campaigns for provincial authorities.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(help="The database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def error_line(message: str) -> None:
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


def state_of(ctx: typer.Context) -> State:
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
    state = state_of(ctx)
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
    state = state_of(ctx)
    state.database()
    out.print(f"Database is up to date: {state.load().database_url}")


@app.command()
def demo(
    ctx: typer.Context,
    workspace: Annotated[
        Path | None, typer.Option("--dir", help="Workspace (default: a new temporary folder).")
    ] = None,
    subscribers: Annotated[int, typer.Option(min=100, max=200_000, help="Size of the sample audience.")] = 3000,
) -> None:
    """The whole job on the embedded default: sample audience, the 30/7 message, simulated carriers, report."""
    from broadcaster.demo import run_demo

    state = state_of(ctx)
    if workspace is not None:
        state.workspace, state.explicit_workspace = workspace, True
    if not state.explicit_workspace:
        state.workspace = Path(tempfile.mkdtemp(prefix="broadcaster-demo-"))
    state.workspace.mkdir(parents=True, exist_ok=True)
    out.print(f"Workspace: {state.workspace}")
    engine = state.database()
    with progress_bar("Sending the 30/7 message", total=None, quiet=False) as advance:
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
def progress_bar(label: str, total: int | None, quiet: bool) -> Iterator[Any]:
    """A progress bar on a terminal (rich); ``advance(done, total)`` updates it."""
    if quiet:
        yield lambda done, total=None: None
        return
    columns = [
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    ]
    with Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task(label, total=total)

        def advance(done: int, new_total: int | None = None) -> None:
            if new_total is not None:
                progress.update(task, total=new_total)
            progress.update(task, completed=done)

        yield advance
