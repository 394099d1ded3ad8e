"""Dependencies of the API routes, as ``Annotated`` aliases.

``SettingsDep``, ``EngineDep`` and ``SessionDep`` come from ``app.state`` (set by ``create_app``);
``CurrentUser`` is the principal of the Bearer token; ``Viewer``/``Operator``/``Approver``/``Admin``
also require at least that role (``tokens.ROLES`` orders them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from sqlmodel import Session

from broadcaster.api import tokens
from broadcaster.api.jobs import ImportJobs
from broadcaster.api.metrics import Metrics
from broadcaster.api.tokens import Principal, Role
from broadcaster.config import Settings

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="token",
    description="An API token from `broadcaster token create --name N --role viewer|operator|approver|admin`.",
)


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def get_session(engine: Annotated[Engine, Depends(get_engine)]) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session:
        yield session


def get_imports(request: Request) -> ImportJobs:
    imports: ImportJobs = request.app.state.imports
    return imports


def get_metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


SettingsDep = Annotated[Settings, Depends(get_settings)]
EngineDep = Annotated[Engine, Depends(get_engine)]
SessionDep = Annotated[Session, Depends(get_session)]
ImportsDep = Annotated[ImportJobs, Depends(get_imports)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]


def current_user(
    request: Request,
    engine: EngineDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    if credentials is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "this endpoint needs an API token: send 'Authorization: Bearer <token>' "
            "(create one with 'broadcaster token create')",
            headers={"WWW-Authenticate": "Bearer"},
        )
    principal = tokens.authenticate(engine, credentials.credentials)
    if principal is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "the API token is unknown or revoked; ask an administrator for a new one",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    request.state.principal = principal
    return principal


CurrentUser = Annotated[Principal, Depends(current_user)]


def require(role: str) -> Callable[[Principal], Principal]:
    """A dependency that lets through principals with at least ``role``."""

    def dependency(user: CurrentUser) -> Principal:
        if not user.may(role):
            msg = f"this needs the {role} role or higher; the token {user.name!r} has the {user.role} role"
            raise HTTPException(status.HTTP_403_FORBIDDEN, msg)
        return user

    dependency.__name__ = f"require_{role}"
    return dependency


Viewer = Annotated[Principal, Depends(require(Role.VIEWER))]
Operator = Annotated[Principal, Depends(require(Role.OPERATOR))]
Approver = Annotated[Principal, Depends(require(Role.APPROVER))]
Admin = Annotated[Principal, Depends(require(Role.ADMIN))]
