"""Every endpoint × every role: who may call what (viewer < operator < approver < admin).

The table below is the access policy; ``test_every_endpoint_is_in_the_table`` keeps it complete, so a
new endpoint cannot ship without its minimum role.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from broadcaster import campaigns
from broadcaster.api.tokens import ROLES
from broadcaster.config import Settings

from .conftest import ALL_DAY, AUDIENCE, NAMES, Tokens

CSV = "Số điện thoại,Quận/Huyện\n0912345678,Huyện Tân Biên\n".encode()

# (method, path, minimum role, request options). {campaign} is a draft created by the operator.
ENDPOINTS: list[tuple[str, str, str, dict[str, Any]]] = [
    ("GET", "/api/v1/me", "viewer", {}),
    ("GET", "/api/v1/audiences", "viewer", {}),
    ("GET", "/api/v1/audiences/{audience}", "viewer", {}),
    (
        "POST",
        "/api/v1/audiences/imports",
        "operator",
        {"files": {"file": ("list.csv", CSV, "text/csv")}, "data": {"name": "Danh sách thử"}},
    ),
    ("GET", "/api/v1/audiences/imports", "viewer", {}),
    ("GET", "/api/v1/audiences/imports/{job_id}", "viewer", {}),
    ("GET", "/api/v1/audiences/imports/{job_id}/rejects", "operator", {}),
    ("GET", "/api/v1/optouts", "viewer", {}),
    ("POST", "/api/v1/optouts", "operator", {"json": {"msisdns": ["0912345678"]}}),
    ("POST", "/api/v1/optouts/import", "operator", {"files": {"file": ("optout.csv", CSV, "text/csv")}}),
    ("GET", "/api/v1/templates", "viewer", {}),
    ("GET", "/api/v1/templates/preview", "viewer", {"params": {"template": "30-7/2024"}}),
    ("GET", "/api/v1/templates/{name}", "viewer", {}),
    ("GET", "/api/v1/campaigns", "viewer", {}),
    (
        "POST",
        "/api/v1/campaigns",
        "operator",
        {"json": {"name": "c", "template": "30-7/2024", "audiences": [AUDIENCE], "window": ALL_DAY}},
    ),
    ("GET", "/api/v1/campaigns/{campaign}", "viewer", {}),
    ("POST", "/api/v1/campaigns/{campaign}/submit", "operator", {}),
    ("POST", "/api/v1/campaigns/{submitted}/approve", "approver", {}),
    ("POST", "/api/v1/campaigns/{approved}/pause", "operator", {}),
    ("POST", "/api/v1/campaigns/{paused}/resume", "operator", {}),
    ("POST", "/api/v1/campaigns/{campaign}/cancel", "operator", {}),
    ("POST", "/api/v1/campaigns/{campaign}/dry-run", "operator", {}),
    ("POST", "/api/v1/campaigns/{campaign}/test-send", "operator", {"json": {"msisdns": ["0912345678"]}}),
    ("GET", "/api/v1/runs", "viewer", {}),
    ("GET", "/api/v1/runs/{run}", "viewer", {}),
    ("GET", "/api/v1/reports/{campaign}", "viewer", {}),
    ("GET", "/api/v1/audit", "admin", {}),
]


def _route_key(method: str, path: str) -> tuple[str, str]:
    """Placeholders named as in the app's routes."""
    for old, new in (
        ("{audience}", "{audience_id}"),
        ("{campaign}", "{campaign_id}"),
        ("{submitted}", "{campaign_id}"),
        ("{approved}", "{campaign_id}"),
        ("{paused}", "{campaign_id}"),
        ("{run}", "{run_id}"),
    ):
        path = path.replace(old, new)
    return method, path


def _ids(engine: Engine, settings: Settings, client: Any, tokens: Tokens, audience: Any) -> dict[str, str]:
    """Objects for the paths: campaigns in the states each action needs, a run, an import job."""

    def new(name: str) -> int:
        created = campaigns.create_campaign(
            engine,
            settings,
            campaigns.NewCampaign(
                name=name, template="30-7/2024", audiences=(AUDIENCE,), created_by=NAMES["operator"], window=ALL_DAY
            ),
        )
        assert created.id is not None
        return created.id

    draft, submitted, approved, paused = new("draft"), new("submitted"), new("approved"), new("paused")
    for cid in (submitted, approved, paused):
        campaigns.submit(engine, cid, NAMES["operator"])
    for cid in (approved, paused):
        campaigns.approve(engine, settings, cid, NAMES["approver"])
    campaigns.pause(engine, paused, NAMES["operator"])
    from broadcaster import planner
    from broadcaster.models import utcnow

    run = planner.create_run(engine, approved, utcnow(), settings)
    job = client.post(
        "/api/v1/audiences/imports",
        headers=tokens.headers("operator"),
        files={"file": ("bad.csv", "Số điện thoại,Quận/Huyện\n12,Nowhere\n".encode(), "text/csv")},
        data={"name": "Danh sách lỗi"},
    ).json()["id"]
    client.app.state.imports.wait(job)
    return {
        "{audience}": str(audience.audience_id),
        "{campaign}": str(draft),
        "{submitted}": str(submitted),
        "{approved}": str(approved),
        "{paused}": str(paused),
        "{run}": str(run.id),
        "{job_id}": job,
        "{name}": "30-7/2024",
    }


@pytest.mark.parametrize(
    ("method", "path", "minimum", "options"), ENDPOINTS, ids=[f"{m} {p}" for m, p, _, _ in ENDPOINTS]
)
def test_endpoint_by_role(
    method: str,
    path: str,
    minimum: str,
    options: dict[str, Any],
    engine: Engine,
    settings: Settings,
    client: TestClient,
    tokens: Tokens,
    audience: Any,
) -> None:
    """No token: 401; a role below the minimum: 403; the minimum role and above get through."""
    ids = _ids(engine, settings, client, tokens, audience)
    for placeholder, value in ids.items():
        path = path.replace(placeholder, value)
    anonymous = client.request(method, path, **options)
    assert anonymous.status_code == 401, anonymous.text
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    wrong = client.request(method, path, headers={"Authorization": "Bearer bct_not-a-real-token"}, **options)
    assert wrong.status_code == 401, wrong.text
    for role in ROLES:
        response = client.request(method, path, headers=tokens.headers(role), **options)
        if ROLES.index(role) < ROLES.index(minimum):
            assert response.status_code == 403, (role, response.text)
            assert response.headers["content-type"].startswith("application/problem+json")
        else:
            assert response.status_code not in (401, 403, 422, 500), (role, response.status_code, response.text)


def test_every_endpoint_is_in_the_table(app: Any) -> None:
    """Each /api/v1 operation of the OpenAPI document has a row above, and no row names one that is gone."""
    routes = {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        if path.startswith("/api/v1")
        for method in operations
    }
    table = {_route_key(method, path) for method, path, _, _ in ENDPOINTS}
    assert routes == table


def test_revoked_token_is_refused(client: TestClient, engine: Engine, tokens: Tokens) -> None:
    """A revoked token gets 401 at once."""
    from broadcaster.api.tokens import revoke_token

    assert client.get("/api/v1/me", headers=tokens.headers("viewer")).status_code == 200
    revoke_token(engine, NAMES["viewer"], actor="test")
    response = client.get("/api/v1/me", headers=tokens.headers("viewer"))
    assert response.status_code == 401
    assert "revoked" in response.json()["detail"]
