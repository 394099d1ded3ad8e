"""Fixtures of the API tests: an app over the test's database (SQLite and PostgreSQL), a token per role,
and a small imported audience of Tây Ninh (the demo's generator)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from broadcaster import demo, importer
from broadcaster.api import create_app
from broadcaster.api.tokens import ROLES, create_token
from broadcaster.config import Settings

AUDIENCE = demo.AUDIENCE
NAMES = {"viewer": "viewer-vy", "operator": "op-lan", "approver": "appr-minh", "admin": "admin-an"}


@dataclass(frozen=True)
class Tokens:
    """One token per role (plus a second operator), and the Authorization header of each."""

    by_role: dict[str, str]
    second_operator: str

    def headers(self, role: str | None) -> dict[str, str]:
        if role is None:
            return {}
        token = self.second_operator if role == "operator2" else self.by_role[role]
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def app(engine: Engine, settings: Settings) -> FastAPI:
    return create_app(settings, engine)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def tokens(engine: Engine) -> Tokens:
    by_role = {role: create_token(engine, NAMES[role], role, actor="test").token for role in ROLES}
    second = create_token(engine, "op-binh", "operator", actor="test").token
    return Tokens(by_role, second)


def import_sample(engine: Engine, folder: Path, size: int = 300) -> importer.ImportSummary:
    path = demo.write_audience(folder / "audience.csv", size)
    return importer.import_audience(engine, path, name=AUDIENCE, province_code=demo.PROVINCE)


@pytest.fixture
def audience(engine: Engine, tmp_path: Path) -> importer.ImportSummary:
    return import_sample(engine, tmp_path)


ALL_DAY = "00:00-24:00"
"""Tests run at any hour: their campaigns send all day (real ones keep 07:00-22:00)."""


def send_run(engine: Engine, settings: Settings, campaign_id: int) -> int:
    """Fire an approved campaign now (the scheduler's ``fire``) and dispatch its run to the end through
    the demo's in-process simulators; returns the run id."""
    from broadcaster import queue, scheduler
    from broadcaster.dispatch import Dispatcher
    from broadcaster.models import utcnow

    fast = demo.demo_settings(settings)
    now = utcnow()
    summary = scheduler.fire(engine, fast, campaign_id, now, now)
    assert summary is not None
    run_id = summary.run_id

    def done() -> bool:
        with engine.connect() as conn:
            return queue.in_flight(conn, run_id) == 0

    finished = Dispatcher(engine, fast, adapters=demo.demo_adapters(fast)).run_until(done, timeout=120)
    assert finished, "the run did not finish within two minutes"
    return run_id
