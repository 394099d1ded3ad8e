"""`broadcaster serve`: migrate, then serve the API, the console and /metrics with uvicorn, with the
scheduler (it leads only if no other scheduler holds the lock) and a dispatch worker in-process."""

from __future__ import annotations

from typing import Annotated

import typer

from broadcaster.cli._app import app, err, state_of


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    dispatch: Annotated[bool, typer.Option(help="Send from this process too (off: API and scheduler only).")] = True,
) -> None:
    """API, console, scheduler and dispatch in one process (the database is migrated first)."""
    import uvicorn

    from broadcaster.api import Metrics, create_app
    from broadcaster.dispatch import Dispatcher
    from broadcaster.scheduler import Scheduler

    state = state_of(ctx)
    settings = state.load()
    engine = state.database()
    metrics = Metrics()
    services: list[Scheduler | Dispatcher] = [Scheduler(engine, settings)]
    if dispatch:
        services.append(Dispatcher(engine, settings, observer=metrics))
    application = create_app(settings, engine, services=services, metrics=metrics)
    err.print(f"broadcaster: console at http://{host}:{port}/ , API documentation at http://{host}:{port}/docs")
    uvicorn.run(application, host=host, port=port, log_config=None, server_header=False)


app.command()(serve)
