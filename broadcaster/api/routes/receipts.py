"""/receipts/{route}/…: delivery receipts posted by carriers.

No Bearer token here: each route authenticates its callbacks with its own secret, read from the
environment variable the route names (``callback_secret_env``), compared in constant time, and given
either in the URL path (``/receipts/{route}/{secret}``, what eSMS's ``CallbackUrl`` can carry) or as
an ``X-Broadcaster-Signature: sha256=<hex>`` HMAC of the request (the body, or the query string of a
GET). A wrong or missing secret is answered 401: nothing stored, a metric, a masked log line.

The route's adapter turns the request into canonical receipts (``parse_callback``); garbage is
answered 400. Receipts go through the app's ``ReceiptSink``: written with their neighbours in one
transaction, and the carrier is answered 200 only once they are durable. GET and POST both work
(eSMS calls back with GET).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from broadcaster.config import ConfigError, RouteSettings, Settings
from broadcaster.logs import get_logger
from broadcaster.receipts import ReceiptSink
from carriers import create_adapter
from carriers.base import CallbackAdapter, CallbackRequest
from carriers.errors import CarrierError, MalformedPayload

log = get_logger(__name__)

router = APIRouter(prefix="/receipts", tags=["receipts"])

SIGNATURE_HEADER = "X-Broadcaster-Signature"
STORED_EXAMPLE = {"stored": 1}


def _problem(status: int, title: str, detail: str) -> JSONResponse:
    return JSONResponse(
        {"title": title, "status": status, "detail": detail}, status_code=status, media_type="application/problem+json"
    )


def _route(settings: Settings, name: str) -> RouteSettings | None:
    for routes in settings.routes.values():
        for route in routes:
            if route.name == name:
                return route
    return None


def _adapter(request: Request, route: RouteSettings) -> CallbackAdapter | None:
    """The route's adapter, made once per app; None when it takes no callbacks."""
    cache: dict[str, CallbackAdapter | None] = request.app.state.__dict__.setdefault("callback_adapters", {})
    if route.name not in cache:
        adapter = create_adapter(route.adapter, route.options, route.credentials())
        cache[route.name] = adapter if isinstance(adapter, CallbackAdapter) else None
    return cache[route.name]


def _signature_ok(secret: str, signature: str, payload: bytes) -> bool:
    expected = "sha256=" + hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), signature.strip().encode())


def _refuse(request: Request, route: str, why: str) -> JSONResponse:
    request.app.state.metrics.receipts_rejected.labels(route=route, reason=why).inc()
    log.warning("receipts.refused", route=route, reason=why, client=request.client.host if request.client else "")
    return _problem(401, "Unauthorized", "The callback secret is missing or wrong for this route.")


async def _handle(request: Request, route_name: str, secret: str | None, signature: str | None) -> JSONResponse:
    settings: Settings = request.app.state.settings
    route = _route(settings, route_name)
    if route is None:
        return _problem(404, "Not Found", f"No route named {route_name!r} is configured.")
    expected = route.callback_secret()
    body = await request.body() if request.method == "POST" else b""
    if not expected:
        return _refuse(request, route_name, "no_secret_configured")
    if secret is not None:
        if not hmac.compare_digest(secret.encode(), expected.encode()):
            return _refuse(request, route_name, "wrong_secret")
    elif signature is None:
        return _refuse(request, route_name, "missing_secret")
    else:
        payload = body if request.method == "POST" else request.url.query.encode()
        if not _signature_ok(expected, signature, payload):
            return _refuse(request, route_name, "wrong_signature")
    try:
        adapter = _adapter(request, route)
    except (ConfigError, CarrierError) as exc:
        log.error("receipts.route_unusable", route=route_name, error=str(exc))
        return _problem(503, "Service Unavailable", f"Route {route_name!r} cannot take receipts now: {exc}")
    if adapter is None:
        return _problem(404, "Not Found", f"Route {route_name!r} does not take receipts by callback.")
    callback = CallbackRequest(
        method=request.method, query=dict(request.query_params), headers=dict(request.headers), body=body
    )
    try:
        found = adapter.parse_callback(callback)
    except MalformedPayload as exc:
        request.app.state.metrics.receipts_rejected.labels(route=route_name, reason="malformed").inc()
        return _problem(400, "Bad Request", f"The receipt could not be read: {exc}")
    sink: ReceiptSink = request.app.state.receipt_sink
    stored = await sink.store(route_name, found)
    request.app.state.metrics.receipts_ingested.labels(route=route_name, source="callback").inc(stored)
    return JSONResponse({"stored": stored})


_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Stored (durably) before this answer.",
        "content": {"application/json": {"example": STORED_EXAMPLE}},
    },
    400: {"description": "The payload is not a receipt this route's carrier sends."},
    401: {"description": "Missing or wrong secret: nothing stored."},
    404: {"description": "No such route, or it does not take callbacks."},
}


def _parameter(name: str, where: str, description: str, required: bool = True) -> dict[str, Any]:
    return {"name": name, "in": where, "required": required, "description": description, "schema": {"type": "string"}}


# The handlers read their parameters from the request themselves: this is the busiest path of the
# service, and FastAPI's parameter machinery cost a third of each callback. The parameters are
# declared for the OpenAPI document below.
_ROUTE = _parameter("route", "path", "The route's name in broadcaster.toml.")
_SECRET = _parameter("secret", "path", "The route's callback secret.")
_SIGNATURE = _parameter(SIGNATURE_HEADER, "header", "sha256=<hex HMAC of the body or query string>", required=False)


async def receipt_with_secret(request: Request) -> JSONResponse:
    """A carrier's delivery receipt for ``route``, authenticated by the secret in the path."""
    return await _handle(request, request.path_params["route"], request.path_params["secret"], None)


async def receipt_signed(request: Request) -> JSONResponse:
    """A carrier's delivery receipt for ``route``, authenticated by an HMAC signature header."""
    return await _handle(request, request.path_params["route"], None, request.headers.get(SIGNATURE_HEADER))


# GET (what eSMS sends) and POST for each form, each with its own operation id in the OpenAPI document.
for _method in ("GET", "POST"):
    router.add_api_route(
        "/{route}/{secret}",
        receipt_with_secret,
        methods=[_method],
        responses=_RESPONSES,
        summary="Receipt (secret in path)",
        operation_id=f"receipt_with_secret_{_method.lower()}",
        openapi_extra={"parameters": [_ROUTE, _SECRET]},
    )
    router.add_api_route(
        "/{route}",
        receipt_signed,
        methods=[_method],
        responses=_RESPONSES,
        summary="Receipt (signed)",
        operation_id=f"receipt_signed_{_method.lower()}",
        openapi_extra={"parameters": [_ROUTE, _SIGNATURE]},
    )
