"""Console sessions and CSRF tokens, signed with the app's secret (HMAC-SHA256).

The session cookie holds the token's id and an expiry, signed; it is HttpOnly and SameSite=Lax. Each
request looks the token up again, so revoking a token ends its console sessions at once. Every form
carries a CSRF token: the HMAC of a random value kept in a cookie of its own (the sign-in form too).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Any

from fastapi import Request, Response

from broadcaster.api import tokens
from broadcaster.api.tokens import Principal

SESSION_COOKIE = "bc_session"
CSRF_COOKIE = "bc_csrf"
CSRF_FIELD = "csrf_token"
SESSION_SECONDS = 12 * 3600


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _secret(request: Request) -> bytes:
    secret: bytes = request.app.state.session_secret
    return secret


def _mac(secret: bytes, purpose: str, value: str) -> str:
    return _b64(hmac.new(secret, f"{purpose}|{value}".encode(), hashlib.sha256).digest())


def sign(secret: bytes, payload: dict[str, Any]) -> str:
    body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    return f"{body}.{_mac(secret, 'session', body)}"


def unsign(secret: bytes, value: str, *, now: float | None = None) -> dict[str, Any] | None:
    body, _, mac = value.partition(".")
    if not body or not mac or not hmac.compare_digest(mac, _mac(secret, "session", body)):
        return None
    try:
        payload = json.loads(_unb64(body))
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("exp"), int | float):
        return None
    if payload["exp"] < (now if now is not None else time.time()):
        return None
    return payload


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def start(request: Request, response: Response, principal: Principal) -> None:
    value = sign(_secret(request), {"tid": principal.token_id, "exp": int(time.time()) + SESSION_SECONDS})
    response.set_cookie(
        SESSION_COOKIE, value, max_age=SESSION_SECONDS, httponly=True, samesite="lax", secure=_secure(request), path="/"
    )


def end(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")


def current(request: Request) -> Principal | None:
    value = request.cookies.get(SESSION_COOKIE)
    if not value:
        return None
    payload = unsign(_secret(request), value)
    if payload is None or not isinstance(payload.get("tid"), int):
        return None
    return tokens.principal_by_id(request.app.state.engine, payload["tid"])


def csrf_token(request: Request) -> str:
    """The CSRF token for this browser's forms; a new CSRF cookie is set with the response if needed."""
    seed = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "new_csrf_seed", None)
    if not seed:
        seed = secrets.token_urlsafe(24)
        request.state.new_csrf_seed = seed
    return _mac(_secret(request), "csrf", seed)


def set_csrf_cookie(request: Request, response: Response) -> None:
    seed = getattr(request.state, "new_csrf_seed", None)
    if seed:
        response.set_cookie(CSRF_COOKIE, seed, httponly=True, samesite="lax", secure=_secure(request), path="/")


def csrf_valid(request: Request, submitted: str | None) -> bool:
    seed = request.cookies.get(CSRF_COOKIE)
    if not seed or not submitted:
        return False
    return hmac.compare_digest(submitted, _mac(_secret(request), "csrf", seed))
