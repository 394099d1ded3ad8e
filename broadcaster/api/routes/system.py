"""The endpoints outside ``/api/v1``: ``/healthz`` and ``/metrics``; and ``/api/v1/me``."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from broadcaster import db
from broadcaster.api.deps import CurrentUser, EngineDep, MetricsDep
from broadcaster.api.errors import responses
from broadcaster.api.metrics import CONTENT_TYPE
from broadcaster.api.schemas import Health, Me

router = APIRouter(tags=["system"])
me_router = APIRouter(tags=["system"])


@router.get(
    "/healthz",
    response_model=Health,
    responses={503: {"model": Health, "description": "The database does not answer."}},
    summary="Liveness and database reachability",
)
def healthz(engine: EngineDep) -> Response:
    try:
        with db.reading(engine) as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError:
        return JSONResponse(Health(status="degraded", database="unavailable").model_dump(), status_code=503)
    return JSONResponse(Health(status="ok", database="ok").model_dump())


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE: {}}, "description": "Prometheus text format."}},
    summary="Prometheus metrics",
)
def metrics(metrics: MetricsDep) -> Response:
    return Response(metrics.render(), media_type=CONTENT_TYPE)


@me_router.get("/me", response_model=Me, responses=responses(401), summary="Who the token belongs to")
def me(user: CurrentUser) -> Me:
    return Me(name=user.name, role=user.role)
