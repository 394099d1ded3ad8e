"""Errors over HTTP: problem details (RFC 9457) for the API, friendly pages for the console.

Domain exceptions are mapped to a status here, in one place; routes let them rise. Nothing shows a
traceback: an unexpected failure is logged (phone numbers masked) under an error id, and the caller
sees that id and what to do.

Which form an error takes depends on the path: ``/api/``, ``/receipts/``, ``/metrics``, ``/healthz``
and the OpenAPI pages get JSON; everything else is the console and gets an HTML page, rendered by
``app.state.error_page`` (set when the console is mounted).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from audiences.readers import ReadError
from broadcaster.api.jobs import UploadError, UploadTooLarge
from broadcaster.api.tokens import TokenError
from broadcaster.campaigns import CampaignError, ScheduleError
from broadcaster.compose import PreviewError, TemplateError
from broadcaster.config import ConfigError
from broadcaster.importer import AudienceFileError
from broadcaster.logs import get_logger, mask_text
from broadcaster.reports import ReportError
from carriers.errors import UnknownAdapter

log = get_logger(__name__)

PROBLEM_JSON = "application/problem+json"
JSON_PREFIXES = ("/api/", "/receipts/", "/metrics", "/healthz", "/docs", "/redoc", "/openapi.json")

DOMAIN_ERRORS: dict[type[Exception], int] = {
    ScheduleError: 422,  # before CampaignError, its base
    CampaignError: 409,
    TokenError: 409,
    ConfigError: 409,
    TemplateError: 422,
    AudienceFileError: 422,
    ReadError: 422,
    PreviewError: 422,
    UnknownAdapter: 422,
    UploadTooLarge: 413,  # before UploadError, its base
    UploadError: 422,
    ReportError: 404,
}

ErrorPage = Callable[[Request, int, str, Any], Response]
"""(request, status, detail, extra) -> an HTML response for the console."""


def wants_json(request: Request) -> bool:
    return request.url.path.startswith(JSON_PREFIXES)


def problem(
    request: Request,
    status: int,
    detail: str,
    *,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
    }
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(jsonable_encoder(body), status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _respond(
    request: Request, status: int, detail: str, extra: Any = None, headers: dict[str, str] | None = None
) -> Response:
    page: ErrorPage | None = getattr(request.app.state, "error_page", None)
    if page is None or wants_json(request):
        errors = extra if isinstance(extra, list) else None
        return problem(request, status, detail, errors=errors, headers=headers)
    response = page(request, status, detail, extra)
    if headers:
        response.headers.update(headers)
    return response


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    return [
        {
            "loc": [str(part) for part in error.get("loc", ())],
            "msg": str(error.get("msg", "")),
            "type": error.get("type"),
        }
        for error in exc.errors()
    ]


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"nothing at {request.url.path}"
    return _respond(request, exc.status_code, detail, headers=getattr(exc, "headers", None))


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = _validation_errors(exc)
    fields = ", ".join(".".join(e["loc"][1:]) or e["loc"][0] for e in errors[:5] if e["loc"])
    detail = f"the request is not valid ({fields or 'body'}); see 'errors' for each problem"
    return _respond(request, 422, detail, errors)


async def _domain_error(request: Request, exc: Exception) -> Response:
    status = next((code for kind, code in DOMAIN_ERRORS.items() if isinstance(exc, kind)), 400)
    return _respond(request, status, str(exc), exc)


async def _unexpected(request: Request, exc: Exception) -> Response:
    error_id = uuid.uuid4().hex[:12]
    log.error(
        "http.unexpected_error",
        error_id=error_id,
        path=request.url.path,
        method=request.method,
        error=mask_text(f"{type(exc).__name__}: {exc}"),
        exc_info=exc,
    )
    detail = f"unexpected failure; the service log has the details under error id {error_id}"
    return _respond(request, 500, detail, {"error_id": error_id})


def install(app: FastAPI) -> None:
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    for kind in DOMAIN_ERRORS:
        app.add_exception_handler(kind, _domain_error)
    app.add_exception_handler(Exception, _unexpected)


def responses(*codes: int, ok: dict[str, Any] | None = None) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error statuses a route may answer, as problem details (422 always: any
    route with parameters may answer it), and ``ok`` for the 200 answer when it is not plain JSON."""
    from broadcaster.api.schemas import Problem

    described = {
        400: "The request cannot be served as sent.",
        401: "No token, or an unknown or revoked one.",
        403: "The token's role is not enough for this.",
        404: "Not found.",
        409: "Refused in the current state (the detail says why and what to do).",
        413: "The upload is too large.",
        422: "The request is not valid (see errors).",
    }
    problem_content = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    entries: dict[int | str, dict[str, Any]] = {
        code: {
            "model": Problem,
            "description": described.get(code, HTTPStatus(code).phrase),
            "content": problem_content,
        }
        for code in sorted({*codes, 422})
    }
    if ok is not None:
        entries[200] = ok
    return entries
