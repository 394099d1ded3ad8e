"""Shared fixtures: every database test runs on a real SQLite file and on a real PostgreSQL.

PostgreSQL: ``BROADCASTER_TEST_PG_URL`` names a server database to connect to (default: the local
server's ``postgres`` database, trust auth). The session creates a fresh database there and drops it
at the end; each test gets its own schema in it. Without a reachable server the PostgreSQL variants
skip, unless ``BROADCASTER_REQUIRE_PG=1`` (as in ``.ci/run``), where they fail, and where a session
in which no PostgreSQL test passed fails too.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from broadcaster import db
from broadcaster.config import Settings, load_settings

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
REQUIRE_PG = os.environ.get("BROADCASTER_REQUIRE_PG") == "1"


def _admin_url() -> str:
    return db.normalise_url(os.environ.get("BROADCASTER_TEST_PG_URL") or DEFAULT_PG_URL)


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """URL of a fresh PostgreSQL database for this test session."""
    admin_url = _admin_url()
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    name = f"broadcaster_test_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - any failure to reach the server means "no PostgreSQL here"
        admin.dispose()
        message = f"PostgreSQL not reachable at {make_url(admin_url).render_as_string()}: {exc}"
        if REQUIRE_PG:
            pytest.fail(message)
        pytest.skip(message)
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _pg_schema_url(request: pytest.FixtureRequest) -> Iterator[str]:
    base = request.getfixturevalue("pg_database")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    setup = create_engine(base, isolation_level="AUTOCOMMIT")
    with setup.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    yield url.render_as_string(hide_password=False)
    with setup.connect() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    setup.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database of each kind: a SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'broadcaster.db'}"
    else:
        yield from _pg_schema_url(request)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = db.make_engine(database_url)
    db.migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Default settings in a workspace of the test's own, pointing at the test's database."""
    return load_settings(tmp_path, environ={"BROADCASTER_DATABASE_URL": database_url})


@pytest.fixture
def make_run(engine: Engine, settings: Settings, tmp_path: Path):  # type: ignore[no-untyped-def]
    """A factory: import a synthetic Tây Ninh audience, approve a 30/7 campaign, plan one run; its id."""
    from broadcaster import campaigns, demo, importer, planner
    from broadcaster.models import utcnow

    made = [0]

    def make(size: int = 400, window: str = "00:00-24:00", run_settings: Settings | None = None) -> int:
        made[0] += 1
        name = f"audience-{made[0]}"
        run_settings = run_settings or settings
        path = demo.write_audience(tmp_path / f"{name}.csv", size, seed=size + made[0])
        importer.import_audience(engine, path, name=name, province_code="72")
        campaign = campaigns.create_campaign(
            engine,
            run_settings,
            campaigns.NewCampaign(name=name, template="30-7/2024", audiences=(name,), created_by="op", window=window),
        )
        assert campaign.id is not None
        campaigns.transition(engine, campaign.id, "submit", "op")
        campaigns.transition(engine, campaign.id, "approve", "boss")
        run = planner.create_run(engine, campaign.id, utcnow(), run_settings)
        assert run.id is not None
        planner.plan_run(engine, run.id, run_settings)
        return run.id

    return make


_pg_passed = 0


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    global _pg_passed
    if report.when == "call" and report.passed and "postgres" in report.keywords:
        _pg_passed += 1


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if hasattr(session.config, "workerinput"):
        return  # an xdist worker: the controller, which sees every report, decides
    if REQUIRE_PG and exitstatus == 0 and _pg_passed == 0:
        session.exitstatus = 1
        print("\nBROADCASTER_REQUIRE_PG=1 but no PostgreSQL test passed: failing the run.")
