"""The HTTP API (FastAPI) of broadcaster: ``create_app`` builds it; nothing is built at import time.

The names below are loaded on first use, so that importing ``broadcaster.api.tokens`` (as the CLI
does) does not import FastAPI.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from broadcaster.api._app import API_PREFIX, Service, create_app
    from broadcaster.api.metrics import Metrics
    from broadcaster.api.tokens import ROLES, Principal, Role, TokenError

_EXPORTS = {
    "API_PREFIX": "broadcaster.api._app",
    "Metrics": "broadcaster.api.metrics",
    "Principal": "broadcaster.api.tokens",
    "ROLES": "broadcaster.api.tokens",
    "Role": "broadcaster.api.tokens",
    "Service": "broadcaster.api._app",
    "TokenError": "broadcaster.api.tokens",
    "create_app": "broadcaster.api._app",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    msg = f"module 'broadcaster.api' has no attribute {name!r}"
    raise AttributeError(msg)


__all__ = ["API_PREFIX", "Metrics", "Principal", "ROLES", "Role", "Service", "TokenError", "create_app"]
