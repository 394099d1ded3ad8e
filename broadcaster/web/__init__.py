"""The console: server-rendered pages in Vietnamese at ``/`` (Jinja2 templates under
``templates/console/``, CSS and a little plain JavaScript under ``static/``, no external CDN).

Pages call the same use-case functions as the API (``broadcaster.campaigns``, ``importer`` through
the import jobs, ``reports``) and the same read models (``broadcaster.api.queries``).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from broadcaster.web import labels
from broadcaster.web._render import STATIC_DIR, make_templates, render
from broadcaster.web.pages import LoginRequired, router


def error_page(request: Request, status: int, detail: str, extra: Any = None) -> Response:
    """The console's page for an error: what went wrong and what to do, in Vietnamese; never a traceback."""
    if status == 401:
        return RedirectResponse("/login", status_code=303)
    title, hint = labels.ERROR_PAGES.get(status, labels.ERROR_PAGES[500 if status >= 500 else 400])
    if isinstance(extra, Exception):
        hint = labels.ERROR_HINTS.get(type(extra).__name__, hint)
    fields: list[str] = []
    if isinstance(extra, list):
        for error in extra:
            where = ".".join(str(p) for p in error.get("loc", [])[1:]) or "?"
            fields.append(f"{where}: {labels.FIELD_ERRORS.get(str(error.get('type')), error.get('msg', ''))}")
    error_id = extra.get("error_id") if isinstance(extra, dict) else None
    if status == 404 and detail == f"nothing at {request.url.path}":
        detail = f"Không có trang nào ở địa chỉ {request.url.path}."
    if status >= 500:
        detail = ""
    return render(
        request,
        "error.html",
        {"status": status, "title": title, "hint": hint, "detail": detail, "fields": fields, "error_id": error_id},
        status_code=status,
    )


async def _login_required(request: Request, exc: Exception) -> Response:
    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    from urllib.parse import quote

    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)


def mount_console(app: FastAPI) -> None:
    app.state.console_templates = make_templates(app.state.settings)
    app.state.error_page = error_page
    app.add_exception_handler(LoginRequired, _login_required)
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    app.include_router(router, include_in_schema=False)


__all__ = ["error_page", "mount_console"]
