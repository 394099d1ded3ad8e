"""The app itself: services in the lifespan, health, metrics registries, errors, the OpenAPI document."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine

from broadcaster.api import Metrics, create_app
from broadcaster.config import Settings
from broadcaster.models import utcnow
from broadcaster.queue import sql

from .conftest import Tokens


class Recorder:
    def __init__(self, name: str, log: list[str], fail: bool = False) -> None:
        self.name, self.log, self.fail = name, log, fail

    def start(self) -> None:
        if self.fail:
            msg = f"{self.name} cannot start"
            raise RuntimeError(msg)
        self.log.append(f"start {self.name}")

    def stop(self) -> None:
        self.log.append(f"stop {self.name}")


class TestLifespan:
    def test_services_start_in_order_and_stop_in_reverse(self, engine: Engine, settings: Settings) -> None:
        """The given services start when the app starts serving and stop, in reverse order, when it stops."""
        log: list[str] = []
        app = create_app(settings, engine, services=[Recorder("scheduler", log), Recorder("dispatch", log)])
        with TestClient(app) as client:
            assert log == ["start scheduler", "start dispatch"]
            assert client.get("/healthz").status_code == 200
        assert log == ["start scheduler", "start dispatch", "stop dispatch", "stop scheduler"]

    def test_a_service_that_cannot_start_stops_the_others(self, engine: Engine, settings: Settings) -> None:
        """If a service fails to start, those already started are stopped and the app does not serve."""
        log: list[str] = []
        app = create_app(settings, engine, services=[Recorder("scheduler", log), Recorder("dispatch", log, fail=True)])
        with pytest.raises(RuntimeError, match="dispatch cannot start"), TestClient(app):
            pass
        assert log == ["start scheduler", "stop scheduler"]

    def test_nothing_is_built_at_import(self) -> None:
        """Importing the package creates no app, engine or settings (create_app does)."""
        import broadcaster.api._app as module

        assert not [name for name, value in vars(module).items() if isinstance(value, FastAPI | Engine | Settings)]


class TestHealthAndMetrics:
    def test_healthz(self, client: TestClient) -> None:
        """/healthz answers without a token and checks the database."""
        assert client.get("/healthz").json() == {"status": "ok", "database": "ok"}

    def test_each_app_has_its_own_registry(self, engine: Engine, settings: Settings) -> None:
        """Two apps in one process do not share instruments; what the dispatcher updates is exposed."""
        first, second = Metrics(), Metrics()
        app_one = create_app(settings, engine, metrics=first)
        app_two = create_app(settings, engine, metrics=second)
        first.submit_latency.labels(route="sim-viettel").observe(0.12)
        first.receipts_ingested.labels(route="sim-viettel", source="callback").inc(3)
        first.circuit_open.labels(route="esms-main").set(1)
        with TestClient(app_one) as one, TestClient(app_two) as two:
            body_one, body_two = one.get("/metrics").text, two.get("/metrics").text
        samples = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(body_one)
            for s in f.samples
        }
        assert samples[("broadcaster_receipts_ingested_total", (("route", "sim-viettel"), ("source", "callback")))] == 3
        assert samples[("broadcaster_submit_latency_seconds_count", (("route", "sim-viettel"),))] == 1
        assert samples[("broadcaster_circuit_open", (("route", "esms-main"),))] == 1
        assert app_one.state.metrics is first
        assert "sim-viettel" not in body_two

    def test_database_figures_are_reused_for_min_interval(self, engine: Engine) -> None:
        """Scrapes within ``min_interval`` reuse the last reading; with no interval each scrape reads anew."""
        cached, fresh = Metrics(), Metrics()
        cached.bind(engine, min_interval=3600)
        fresh.bind(engine, min_interval=0)

        def delivered(metrics: Metrics) -> float:
            families = text_string_to_metric_families(metrics.render().decode())
            return sum(
                s.value
                for f in families
                for s in f.samples
                if s.name == "broadcaster_messages" and s.labels["status"] == "delivered"
            )

        assert delivered(cached) == delivered(fresh) == 0
        with engine.begin() as conn:
            conn.execute(
                sql(
                    "INSERT INTO campaign (name, template_name, template_text, encoding_policy, sender, audience_ids, "
                    "group_by, send_window, status, created_by, created_at, updated_at) VALUES ('c', 't', 't', 'auto', "
                    "'S', '[]', 'district', '07:00-22:00', 'active', 'op', :now, :now)"
                ),
                {"now": utcnow()},
            )
            campaign = conn.execute(sql("SELECT MAX(id) FROM campaign")).scalar_one()
            conn.execute(
                sql(
                    "INSERT INTO run (campaign_id, scheduled_for, status, send_window, timezone, targeted, created_at) "
                    "VALUES (:c, :now, 'sending', '07:00-22:00', 'Asia/Ho_Chi_Minh', 1, :now)"
                ),
                {"c": campaign, "now": utcnow()},
            )
            run = conn.execute(sql("SELECT MAX(id) FROM run")).scalar_one()
            conn.execute(
                sql(
                    "INSERT INTO message (run_id, district_code, carrier, status, attempts, segments, queued_at, "
                    "route) VALUES (:r, '703', 'viettel', 'delivered', 1, 2, :now, 'sim-viettel')"
                ),
                {"r": run, "now": utcnow()},
            )
        assert delivered(fresh) == 1
        assert delivered(cached) == 0

    def test_metrics_content_type(self, client: TestClient) -> None:
        """Prometheus text format."""
        response = client.get("/metrics")
        assert response.headers["content-type"].startswith("text/plain")
        assert "# TYPE broadcaster_queue_depth gauge" in response.text


class TestErrors:
    def test_unexpected_error_is_a_problem_without_traceback(
        self, engine: Engine, settings: Settings, tokens: Tokens
    ) -> None:
        """An unexpected exception in the API is a 500 problem naming an error id, never a traceback."""
        app = create_app(settings, engine)

        @app.get("/api/v1/boom")
        def boom() -> None:
            msg = "secret detail 0912345678"
            raise RuntimeError(msg)

        with TestClient(app, raise_server_exceptions=False) as client:
            response = client.get("/api/v1/boom")
        assert response.status_code == 500
        body = response.json()
        assert body["status"] == 500 and "error id" in body["detail"]
        assert "Traceback" not in response.text and "secret" not in response.text and "0912345678" not in response.text

    def test_unknown_api_path_is_a_problem(self, client: TestClient) -> None:
        """A wrong API path is a JSON 404 problem, not a console page."""
        response = client.get("/api/v1/nothing-here")
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/problem+json")


class TestOpenAPI:
    def test_every_operation_is_documented(self, app: FastAPI) -> None:
        """Each operation has a summary, a tag, its error responses, and a bearer requirement under /api/v1."""
        document = app.openapi()
        assert document["components"]["securitySchemes"]["token"]["scheme"] == "bearer"
        for path, operations in document["paths"].items():
            for method, operation in operations.items():
                where = f"{method.upper()} {path}"
                assert operation.get("summary"), where
                assert operation.get("tags"), where
                if path.startswith("/api/v1"):
                    assert operation.get("security") == [{"token": []}], where
                    assert {"401", "403"} <= set(operation["responses"]) or path == "/api/v1/me", where

    def test_schemas_have_examples(self, app: FastAPI) -> None:
        """The main request and response shapes carry examples."""
        schemas: dict[str, Any] = app.openapi()["components"]["schemas"]
        for name in ("CampaignCreate", "CampaignOut", "Problem", "AudienceOut"):
            assert schemas[name].get("examples"), name
        assert schemas["ImportJobOut"]["properties"]["rejects_url"]["examples"]
