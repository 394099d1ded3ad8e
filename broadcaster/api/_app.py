"""``create_app``: the FastAPI application of ``broadcaster serve`` (API, console, metrics).

Nothing is built at import time. The settings and the engine go on ``app.state``; background
services (the import runner, then whatever is passed in ``services``: the scheduler, dispatch
workers) are started in the lifespan in order and stopped in reverse order.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Protocol

from fastapi import APIRouter, FastAPI
from sqlalchemy import Engine

from broadcaster import db
from broadcaster.api import errors
from broadcaster.api.jobs import ImportJobs
from broadcaster.api.metrics import Metrics
from broadcaster.api.routes import audiences, audit, campaigns, optouts, receipts, reports, runs, system, templates
from broadcaster.config import Settings
from broadcaster.logs import get_logger
from broadcaster.receipts import ReceiptSink

log = get_logger(__name__)

API_PREFIX = "/api/v1"
DESCRIPTION = """
The HTTP interface of broadcaster: audiences, opt-outs, templates, campaigns and their lifecycle,
runs with live progress, reports, and the audit log.

**Authentication.** Every `/api/v1` endpoint takes `Authorization: Bearer <token>`; an
administrator creates tokens with `broadcaster token create --name N --role R`. Roles are ordered
`viewer < operator < approver < admin`: viewers read, operators import lists and create, submit,
pause, resume and cancel campaigns, approvers approve (never their own campaign), admins read the
audit log.

**Errors** are problem details (`application/problem+json`): `title`, `status`, a `detail` that says
what went wrong and what to do, and `errors` for invalid requests.
"""

TAGS = [
    {"name": "audiences", "description": "Subscriber lists: CSV/XLSX import in the background, rejected rows."},
    {"name": "opt-outs", "description": "Numbers that must never be messaged."},
    {"name": "templates", "description": "Message templates and their previews per district."},
    {"name": "campaigns", "description": "Campaigns and their lifecycle; every change is audited."},
    {"name": "runs", "description": "Firings of a campaign and their live progress."},
    {"name": "reports", "description": "The compliance report, in every format."},
    {"name": "audit", "description": "The audit log (admins)."},
    {"name": "receipts", "description": "Delivery receipts posted by carriers (authenticated per route)."},
    {"name": "system", "description": "Health, metrics, and who a token belongs to."},
]


class Service(Protocol):
    """A background service run by the app: started when it starts serving, stopped when it stops."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    started: list[Service] = []
    try:
        for service in [app.state.imports, app.state.receipt_sink, *app.state.services]:
            service.start()
            started.append(service)
            log.info("service.started", service=type(service).__name__)
        yield
    finally:
        for service in reversed(started):
            try:
                service.stop()
            finally:
                log.info("service.stopped", service=type(service).__name__)
        if app.state.owns_engine:
            app.state.engine.dispose()


def create_app(
    settings: Settings,
    engine: Engine | None = None,
    *,
    services: Sequence[Service] = (),
    metrics: Metrics | None = None,
    session_secret: bytes | None = None,
    console: bool = True,
) -> FastAPI:
    """The app over ``settings`` and ``engine`` (made from the settings if not given; never migrated
    here: ``broadcaster serve`` migrates first).

    ``services`` are started in order in the lifespan and stopped in reverse. ``metrics`` lets the
    caller build the metrics first and hand their instruments to those services. ``session_secret``
    signs the console's session cookies; without it a random one is made, so sessions end when the
    process does.
    """
    owns_engine = engine is None
    engine = engine or db.make_engine(settings.database_url)
    metrics = metrics or Metrics()
    metrics.bind(engine)

    app = FastAPI(
        title="broadcaster",
        version="0.1.0",
        summary="SMS awareness campaigns for provincial authorities.",
        description=DESCRIPTION,
        openapi_tags=TAGS,
        lifespan=_lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.owns_engine = owns_engine
    app.state.metrics = metrics
    app.state.services = list(services)
    app.state.imports = ImportJobs(engine, settings.workspace / "imports", on_rows=metrics.import_rows.inc)
    app.state.session_secret = session_secret or secrets.token_bytes(32)
    app.state.receipt_sink = ReceiptSink(engine, autostart=False)
    errors.install(app)

    # Carrier callbacks first: /receipts/{route}/... is the busiest path (bursts of thousands a second),
    # so it is matched before the API's routes. No Bearer token: each route has its own secret.
    app.include_router(receipts.router)
    app.include_router(system.router)
    api = APIRouter(prefix=API_PREFIX)
    api.include_router(system.me_router)
    for module in (audiences, optouts, templates, campaigns, runs, reports, audit):
        api.include_router(module.router)
    app.include_router(api)

    if console:
        from broadcaster.web import mount_console

        mount_console(app)
    return app
