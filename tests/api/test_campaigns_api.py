"""Campaigns over HTTP: the lifecycle through the use cases, the four-eyes rule, the audit trail."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from .conftest import ALL_DAY, AUDIENCE, NAMES, Tokens


def create(client: TestClient, tokens: Tokens, role: str = "operator", **fields: Any) -> dict[str, Any]:
    body = {"name": "30/7 Tây Ninh", "template": "30-7/2024", "audiences": [AUDIENCE], "window": ALL_DAY} | fields
    response = client.post("/api/v1/campaigns", headers=tokens.headers(role), json=body)
    assert response.status_code == 201, response.text
    return response.json()


class TestLifecycle:
    def test_create_submit_approve(self, client: TestClient, tokens: Tokens, audience: Any) -> None:
        """Created by the operator as a draft, submitted, approved by the approver (who is recorded)."""
        created = create(client, tokens)
        assert created["status"] == "draft" and created["created_by"] == NAMES["operator"]
        cid = created["id"]
        submitted = client.post(f"/api/v1/campaigns/{cid}/submit", headers=tokens.headers("operator"))
        assert submitted.json()["status"] == "awaiting_approval"
        approved = client.post(f"/api/v1/campaigns/{cid}/approve", headers=tokens.headers("approver"))
        assert approved.status_code == 200, approved.text
        assert approved.json()["status"] == "approved"
        assert approved.json()["approved_by"] == NAMES["approver"]
        shown = client.get(f"/api/v1/campaigns/{cid}", headers=tokens.headers("viewer")).json()
        assert shown["actions"] == ["pause", "cancel"]
        assert shown["audiences"] == [AUDIENCE]
        assert shown["schedule"] == "once, when approved"

    def test_creator_cannot_approve(self, client: TestClient, tokens: Tokens, audience: Any) -> None:
        """An approver who created the campaign is refused (409) with what to do; another approver may."""
        cid = create(client, tokens, role="approver")["id"]
        client.post(f"/api/v1/campaigns/{cid}/submit", headers=tokens.headers("approver"))
        refused = client.post(f"/api/v1/campaigns/{cid}/approve", headers=tokens.headers("approver"))
        assert refused.status_code == 409
        assert "another approver" in refused.json()["detail"]
        assert refused.headers["content-type"].startswith("application/problem+json")
        accepted = client.post(f"/api/v1/campaigns/{cid}/approve", headers=tokens.headers("admin"))
        assert accepted.status_code == 200 and accepted.json()["approved_by"] == NAMES["admin"]

    def test_refused_transition_says_why(self, client: TestClient, tokens: Tokens, audience: Any) -> None:
        """Approving a draft is a 409 whose detail names the status and the way forward."""
        cid = create(client, tokens)["id"]
        response = client.post(f"/api/v1/campaigns/{cid}/approve", headers=tokens.headers("approver"))
        assert response.status_code == 409
        assert "draft" in response.json()["detail"] and "submit" in response.json()["detail"]

    def test_pause_resume_cancel(self, client: TestClient, tokens: Tokens, audience: Any) -> None:
        """Pause and resume an approved campaign, then cancel it; a cancelled one cannot resume."""
        cid = create(client, tokens)["id"]
        client.post(f"/api/v1/campaigns/{cid}/submit", headers=tokens.headers("operator"))
        client.post(f"/api/v1/campaigns/{cid}/approve", headers=tokens.headers("approver"))
        paused = client.post(f"/api/v1/campaigns/{cid}/pause", headers=tokens.headers("operator"))
        assert paused.json()["status"] == "paused"
        resumed = client.post(f"/api/v1/campaigns/{cid}/resume", headers=tokens.headers("operator"))
        assert resumed.json()["status"] == "approved"
        cancelled = client.post(f"/api/v1/campaigns/{cid}/cancel", headers=tokens.headers("operator"))
        assert cancelled.json()["status"] == "cancelled"
        again = client.post(f"/api/v1/campaigns/{cid}/resume", headers=tokens.headers("operator"))
        assert again.status_code == 409

    def test_unknown_campaign_is_404(self, client: TestClient, tokens: Tokens) -> None:
        """A campaign id that does not exist is a 404 problem for every campaign endpoint."""
        for method, path in (
            ("GET", "/api/v1/campaigns/999"),
            ("POST", "/api/v1/campaigns/999/submit"),
            ("POST", "/api/v1/campaigns/999/dry-run"),
        ):
            response = client.request(method, path, headers=tokens.headers("admin"))
            assert response.status_code == 404, response.text
            assert "no campaign 999" in response.json()["detail"]

    def test_list_filters_by_status(self, client: TestClient, tokens: Tokens, audience: Any) -> None:
        """?status= keeps only campaigns in that status; the total counts them."""
        first = create(client, tokens)["id"]
        create(client, tokens, name="second")
        client.post(f"/api/v1/campaigns/{first}/submit", headers=tokens.headers("operator"))
        page = client.get("/api/v1/campaigns", params={"status": "awaiting_approval"}, headers=tokens.headers("viewer"))
        assert page.json()["total"] == 1 and page.json()["items"][0]["id"] == first
        assert client.get("/api/v1/campaigns", headers=tokens.headers("viewer")).json()["total"] == 2


class TestValidation:
    def test_template_must_be_a_name_not_a_path(
        self, client: TestClient, tokens: Tokens, audience: Any, tmp_path: Any
    ) -> None:
        """Over HTTP a template is a name of the templates folder: a file path is refused (422)."""
        outside = tmp_path / "evil.j2"
        outside.write_text("secret", encoding="utf-8")
        for ref in (str(outside), "../../etc/passwd", "nope"):
            response = client.post(
                "/api/v1/campaigns",
                headers=tokens.headers("operator"),
                json={"name": "x", "template": ref, "audiences": [AUDIENCE]},
            )
            assert response.status_code == 422, (ref, response.text)

    def test_past_time_is_refused(self, client: TestClient, tokens: Tokens, audience: Any) -> None:
        """A one-time schedule in the past is a 422 that says so."""
        response = client.post(
            "/api/v1/campaigns",
            headers=tokens.headers("operator"),
            json={"name": "x", "template": "30-7/2024", "audiences": [AUDIENCE], "run_at": "2020-07-30T08:00:00+07:00"},
        )
        assert response.status_code == 422
        assert "passed" in response.json()["detail"]

    def test_unknown_audience(self, client: TestClient, tokens: Tokens) -> None:
        """An audience that was never imported is refused with the way to import it."""
        response = client.post(
            "/api/v1/campaigns",
            headers=tokens.headers("operator"),
            json={"name": "x", "template": "30-7/2024", "audiences": ["Không có"]},
        )
        assert response.status_code == 409
        assert "import" in response.json()["detail"]

    def test_invalid_body_lists_errors(self, client: TestClient, tokens: Tokens) -> None:
        """A body that does not fit the schema is a 422 problem with one entry per error."""
        response = client.post("/api/v1/campaigns", headers=tokens.headers("operator"), json={"name": ""})
        assert response.status_code == 422
        body = response.json()
        assert body["status"] == 422 and body["errors"]
        assert {tuple(e["loc"][-1:]) for e in body["errors"]} >= {("name",), ("template",), ("audiences",)}


class TestDryRunAndTestSend:
    def test_dry_run_counts_the_audience(self, client: TestClient, tokens: Tokens, audience: Any) -> None:
        """Recipients + skipped of the dry run add up to the audience's subscribers."""
        cid = create(client, tokens)["id"]
        result = client.post(f"/api/v1/campaigns/{cid}/dry-run", headers=tokens.headers("operator")).json()
        totals = result["totals"]
        assert totals["subscribers"] == audience.accepted
        assert totals["recipients"] + sum(totals["skipped"].values()) == audience.accepted
        assert sum(row["recipients"] for row in result["rows"]) == totals["recipients"]

    def test_test_send_through_the_simulator(
        self, client: TestClient, tokens: Tokens, audience: Any, engine: Engine
    ) -> None:
        """A test message goes out through the number's route and is audited with the number masked."""
        cid = create(client, tokens)["id"]
        response = client.post(
            f"/api/v1/campaigns/{cid}/test-send",
            headers=tokens.headers("operator"),
            json={"msisdns": ["0912345678", "0276 3822 111"]},
        )
        assert response.status_code == 200, response.text
        good, bad = response.json()
        assert good["accepted"] and good["carrier"] == "vinaphone" and good["route"] == "sim-vinaphone"
        assert not bad["accepted"]
        with engine.connect() as conn:
            after = conn.execute(text("SELECT after FROM auditevent WHERE action = 'campaign.test_send'")).scalar_one()
        assert "0912345678" not in str(after) and "345678" not in str(after)


class TestAudit:
    def test_every_change_is_audited_with_its_actor(self, client: TestClient, tokens: Tokens, audience: Any) -> None:
        """Create, submit and approve appear in /api/v1/audit (admins only), newest first, with who did it."""
        cid = create(client, tokens)["id"]
        client.post(f"/api/v1/campaigns/{cid}/submit", headers=tokens.headers("operator"))
        client.post(f"/api/v1/campaigns/{cid}/approve", headers=tokens.headers("approver"))
        client.post("/api/v1/optouts", headers=tokens.headers("operator"), json={"msisdns": ["0912000111"]})
        page = client.get("/api/v1/audit", headers=tokens.headers("admin"), params={"object_type": "campaign"}).json()
        actions = [(e["action"], e["actor"]) for e in page["items"]]
        assert actions[:3] == [
            ("campaign.approve", NAMES["approver"]),
            ("campaign.submit", NAMES["operator"]),
            ("campaign.create", NAMES["operator"]),
        ]
        optouts = client.get("/api/v1/audit", headers=tokens.headers("admin"), params={"object_type": "optout"}).json()
        assert optouts["items"][0]["action"] == "optout.add" and optouts["items"][0]["actor"] == NAMES["operator"]
        assert client.get("/api/v1/audit", headers=tokens.headers("approver")).status_code == 403
