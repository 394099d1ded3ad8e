"""`broadcaster worker`: dispatch alone (run more of them on PostgreSQL to scale out)."""

from __future__ import annotations

import signal
import threading
from typing import Annotated

import typer

from broadcaster.cli._app import err, state_of
from broadcaster.dispatch import Dispatcher
from broadcaster.logs import get_logger

log = get_logger(__name__)


def worker(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Option(help="Worker name in the heartbeat table (default: host:pid).")] = None,
) -> None:
    """Send queued messages until stopped; SIGTERM finishes what is in flight, releases the rest, exits 0."""
    state = state_of(ctx)
    dispatcher = Dispatcher(state.database(), state.load(), owner=name)
    stopping = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        log.info("worker.stopping", signal=signal.Signals(signum).name)
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    dispatcher.start()
    err.print(f"Worker {dispatcher.owner} sending; Ctrl-C or SIGTERM stops it.")
    while not stopping.wait(0.5):
        if not dispatcher.alive:
            dispatcher.stop()
            msg = f"a dispatch thread died: {dispatcher.failure!r}"
            raise RuntimeError(msg)
    dispatcher.stop()
    err.print(
        f"Worker {dispatcher.owner} stopped: {dispatcher.counters.sent} sent, {dispatcher.counters.failed} failed."
    )
