"""The ``broadcaster`` command (DESIGN §6).

Commands call use-case functions and print; they hold no business logic. A user's mistake is one
line on stderr and a non-zero exit, never a traceback; an unexpected failure is one line too, with
the traceback written to ``broadcaster.log`` in the current folder.

Each group of commands lives in a module of this package with its own ``typer.Typer``; this module
registers them and holds ``main``.
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path

import typer

from broadcaster import logs
from broadcaster.cli._app import USER_ERRORS, app, err, error_line

__all__ = ["app", "main"]

from broadcaster.cli import audience as _audience
from broadcaster.cli import optout as _optout
from broadcaster.cli import report as _report

app.add_typer(_audience.app, name="audience")
app.add_typer(_optout.app, name="optout")
app.command()(_report.report)

from broadcaster.cli import simulator as _simulator  # noqa: E402
from broadcaster.cli import worker as _worker  # noqa: E402

app.command()(_worker.worker)
app.command()(_simulator.simulator)


def main() -> None:
    """Entry point: run the app, turning errors into one line on stderr."""
    try:
        code = app(standalone_mode=False)  # a typer.Exit(code) comes back as the return value here
        if isinstance(code, int) and code:
            sys.exit(code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err.print("Aborted.")
        sys.exit(130)
    except USER_ERRORS as exc:
        error_line(str(exc))
        sys.exit(1)
    except Exception as exc:  # noqa: BLE001 - one line for the operator, the details in the log
        if _is_usage_error(exc):
            exc.show()  # type: ignore[attr-defined]
            sys.exit(exc.exit_code)  # type: ignore[attr-defined]
        log_path = Path.cwd() / "broadcaster.log"
        with log_path.open("a", encoding="utf-8") as handle:
            handle.write(logs.mask_text(traceback.format_exc()))
        error_line(
            f"unexpected failure ({type(exc).__name__}: {logs.mask_text(str(exc))[:200]}); details in {log_path}"
        )
        sys.exit(2)


# Command groups are imported last: each imports ``app`` from this module.
from broadcaster.cli import campaign as _campaign  # noqa: E402
from broadcaster.cli import serve as _serve  # noqa: E402, F401  (registers `broadcaster serve`)
from broadcaster.cli import template as _template  # noqa: E402
from broadcaster.cli import token as _token  # noqa: E402

app.add_typer(_template.app, name="template")
app.add_typer(_campaign.app, name="campaign")
app.add_typer(_token.app, name="token")


def _is_usage_error(exc: Exception) -> bool:
    """A bad option or argument (click's, or the copy of click that typer bundles)."""
    return any(cls.__name__ == "ClickException" for cls in type(exc).__mro__) and hasattr(exc, "show")
