"""`broadcaster serve`: migrate, then serve the API, the console and /metrics with uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer

from broadcaster.cli._app import app, err, state_of


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
) -> None:
    """API, console and metrics in one process (the database is migrated first)."""
    import uvicorn

    from broadcaster.api import create_app

    state = state_of(ctx)
    settings = state.load()
    engine = state.database()
    application = create_app(settings, engine)
    err.print(f"broadcaster: console at http://{host}:{port}/ , API documentation at http://{host}:{port}/docs")
    uvicorn.run(application, host=host, port=port, log_config=None, server_header=False)


app.command()(serve)
