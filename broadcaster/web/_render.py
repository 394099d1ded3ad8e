"""Rendering console pages: one Jinja2 environment per app, Vietnamese formats, the CSRF cookie."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from broadcaster.api import queries
from broadcaster.config import Settings
from broadcaster.web import labels, session

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"


def number(value: Any) -> str:
    """Vietnamese thousands separator: 1.234.567; decimals with a comma."""
    if value is None:
        return "–"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.1f}".replace(",", " ").replace(".", ",").replace(" ", ".")
    return f"{int(value):,}".replace(",", ".")


def percent(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 1) if whole else 0.0


def make_templates(settings: Settings) -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
    env = templates.env
    zone = settings.zone

    def local(value: datetime | None, fmt: str = "%H:%M %d/%m/%Y") -> str:
        if value is None:
            return "–"
        if value.tzinfo is None:
            from datetime import UTC

            value = value.replace(tzinfo=UTC)
        return value.astimezone(zone).strftime(fmt)

    env.filters.update(
        number=number,
        local=local,
        dictsum=lambda d: sum(d.values()) if d else 0,
        json_vi=lambda value: json.dumps(value, ensure_ascii=False, sort_keys=True),
        district=queries.district_name,
    )
    env.globals.update(
        labels=labels,
        percent=percent,
        timezone=settings.campaign.timezone,
        STATUSES_SHOWN=("delivered", "failed", "expired", "skipped", "cancelled", "sent", "sending", "queued"),
    )
    return templates


def render(
    request: Request, name: str, context: dict[str, Any] | None = None, *, status_code: int = 200
) -> HTMLResponse:
    templates: Jinja2Templates = request.app.state.console_templates
    values = {"user": getattr(request.state, "principal", None), "csrf_token": session.csrf_token(request)}
    values.update(context or {})
    response = templates.TemplateResponse(request, f"console/{name}", values, status_code=status_code)
    session.set_csrf_cookie(request, response)
    return response
