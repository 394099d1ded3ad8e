"""Schemathesis against the OpenAPI document: generated requests (a few per operation, as an admin)
never get a server error, and every answer matches the documented status codes, media types and schemas.

Bounded: positive data only, a handful of examples per operation, on SQLite.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode, checks
from schemathesis.specs.openapi import checks as openapi_checks

from broadcaster import campaigns, db
from broadcaster.api import create_app
from broadcaster.api.tokens import create_token
from broadcaster.config import load_settings

from .conftest import ALL_DAY, AUDIENCE, import_sample, send_run

EXAMPLES_PER_OPERATION = 6


@dataclass
class Fuzzed:
    app: FastAPI
    headers: dict[str, str]
    known: dict[str, Any]
    """Path and query values naming objects that exist, so the requests reach past the 404s."""


@pytest.fixture
def fuzzed(tmp_path: Path) -> Iterator[Fuzzed]:
    workspace = load_settings(tmp_path, environ={})
    engine = db.make_engine(workspace.database_url)
    db.migrate(engine)
    import_sample(engine, tmp_path, 120)
    token = create_token(engine, "fuzz-admin", "admin", actor="test").token
    ids = []
    for name in ("draft", "submitted", "sent"):
        created = campaigns.create_campaign(
            engine,
            workspace,
            campaigns.NewCampaign(
                name=name, template="30-7/2024", audiences=(AUDIENCE,), created_by="op", window=ALL_DAY
            ),
        )
        ids.append(created.id)
    campaigns.submit(engine, ids[1], "op")
    campaigns.submit(engine, ids[2], "op")
    campaigns.approve(engine, workspace, ids[2], "appr")
    run_id = send_run(engine, workspace, ids[2])
    app = create_app(workspace, engine)
    # The lifespan starts the app's services (imports, receipts); schemathesis then calls the app directly.
    with TestClient(app):
        job = app.state.imports.submit(
            audience="Lỗi",
            province_code="72",
            filename="x.csv",
            actor="op",
            source=io.BytesIO("Số điện thoại,Huyện\n12,Không có\n".encode()),
        )
        app.state.imports.wait(job.id)
        known = {"campaign_id": ids, "run_id": [run_id], "audience_id": [1], "job_id": [job.id], "name": ["30-7/2024"]}
        yield Fuzzed(app, {"Authorization": f"Bearer {token}"}, known)
    engine.dispose()


def test_no_server_errors_and_documented_answers(fuzzed: Fuzzed) -> None:
    """For every operation: no 5xx; status codes, media types and bodies as documented."""
    api = schemathesis.openapi.from_asgi("/openapi.json", fuzzed.app)
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) > 20
    failures: list[str] = []
    for operation in operations:
        names = {p.name for p in operation.iter_parameters() if p.location == "path"} & set(fuzzed.known)
        variants: list[dict[str, Any]] = [{}]  # everything generated
        for value in fuzzed.known["campaign_id"] if "campaign_id" in names else [None]:
            pinned = {n: (value if n == "campaign_id" else fuzzed.known[n][0]) for n in names}
            if pinned:
                variants.append({"path_parameters": pinned})
        if operation.path.endswith("/templates/preview"):
            variants.append({"query": {"template": "30-7/2024"}})
        for overrides in variants:
            strategy = operation.as_strategy(GenerationMode.POSITIVE, **overrides)

            @given(case=strategy)
            @settings(
                max_examples=EXAMPLES_PER_OPERATION,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(HealthCheck),
                phases=[Phase.explicit, Phase.generate],
            )
            def check(case: Any) -> None:
                case.call_and_validate(headers=fuzzed.headers, checks=CHECKS)

            try:
                check()
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - collected, reported together below
                failures.append(f"{operation.label} {overrides}: {type(exc).__name__}: {str(exc)[:1500]}")
    assert not failures, "\n\n".join(failures)


CHECKS = [
    checks.not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_schema_conformance,
]
