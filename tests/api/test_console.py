"""The console through TestClient: sessions, CSRF, roles on pages, friendly errors, the wizard."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from broadcaster.api import create_app
from broadcaster.api.tokens import revoke_token
from broadcaster.config import Settings

from .conftest import ALL_DAY, AUDIENCE, NAMES, Tokens


def csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the page has a form with a CSRF token"
    return match.group(1)


def sign_in(client: TestClient, tokens: Tokens, role: str) -> None:
    client.cookies.clear()
    page = client.get("/login")
    response = client.post(
        "/login",
        data={"token": tokens.by_role[role], "csrf_token": csrf(page.text), "next": "/"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


class TestSession:
    def test_pages_need_a_session(self, client: TestClient) -> None:
        """Without a session every page leads to the sign-in page, keeping where the user wanted to go."""
        response = client.get("/campaigns", follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"] == "/login?next=%2Fcampaigns"

    def test_sign_in_sets_a_signed_httponly_lax_cookie(self, client: TestClient, tokens: Tokens) -> None:
        """The session cookie is HttpOnly and SameSite=Lax, holds no token, and opens the dashboard."""
        page = client.get("/login")
        response = client.post(
            "/login", data={"token": tokens.by_role["operator"], "csrf_token": csrf(page.text)}, follow_redirects=False
        )
        cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith("bc_session="))
        assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
        assert tokens.by_role["operator"] not in cookie
        dashboard = client.get("/")
        assert dashboard.status_code == 200 and NAMES["operator"] in dashboard.text

    def test_wrong_token_says_what_to_do(self, client: TestClient) -> None:
        """A wrong token keeps the user on the sign-in page with a Vietnamese explanation."""
        page = client.get("/login")
        response = client.post("/login", data={"token": "bct_wrong", "csrf_token": csrf(page.text)})
        assert response.status_code == 401
        assert "Mã truy cập không đúng" in response.text and "broadcaster token create" in response.text

    def test_forms_need_the_csrf_token(self, client: TestClient, tokens: Tokens) -> None:
        """A form posted without (or with a wrong) CSRF token is refused with a page that says to reload."""
        page = client.get("/login")
        for token in ("", "forged"):
            response = client.post("/login", data={"token": tokens.by_role["admin"], "csrf_token": token})
            assert response.status_code == 403
            assert "Hãy tải lại trang" in response.text
        assert csrf(page.text)

    def test_tampered_cookie_and_revoked_token(self, client: TestClient, tokens: Tokens, engine: Engine) -> None:
        """A cookie whose signature does not match, or whose token was revoked, is no session."""
        sign_in(client, tokens, "viewer")
        value = client.cookies.get("bc_session")
        assert value
        body, mac = value.split(".")
        client.cookies.set("bc_session", body + "." + mac[::-1])
        assert client.get("/", follow_redirects=False).status_code == 303
        client.cookies.set("bc_session", value)
        assert client.get("/", follow_redirects=False).status_code == 200
        revoke_token(engine, NAMES["viewer"], actor="test")
        assert client.get("/", follow_redirects=False).status_code == 303

    def test_sign_out(self, client: TestClient, tokens: Tokens) -> None:
        """Signing out ends the session."""
        sign_in(client, tokens, "viewer")
        page = client.get("/")
        client.post("/logout", data={"csrf_token": csrf(page.text)})
        assert client.get("/", follow_redirects=False).status_code == 303


class TestRolesOnPages:
    def test_viewer_cannot_create(self, client: TestClient, tokens: Tokens) -> None:
        """A viewer sees no create button and gets a Vietnamese 403 page on the wizard."""
        sign_in(client, tokens, "viewer")
        assert "Tạo chiến dịch" not in client.get("/campaigns").text
        response = client.get("/campaigns/new")
        assert response.status_code == 403
        assert "vai trò" in response.text and "Cần làm gì" in response.text

    def test_audit_page_is_for_admins(self, client: TestClient, tokens: Tokens) -> None:
        """Only admins see the audit log (link and page)."""
        sign_in(client, tokens, "approver")
        assert 'href="/audit"' not in client.get("/").text
        assert client.get("/audit").status_code == 403
        sign_in(client, tokens, "admin")
        assert client.get("/audit").status_code == 200


class TestErrorPages:
    def test_not_found_page(self, client: TestClient, tokens: Tokens) -> None:
        """An unknown page or campaign says so in Vietnamese, with what to do."""
        sign_in(client, tokens, "viewer")
        for path in ("/khong-co", "/campaigns/999"):
            response = client.get(path)
            assert response.status_code == 404
            assert "Không tìm thấy" in response.text and "Cần làm gì" in response.text

    def test_unexpected_error_page(self, engine: Engine, settings: Settings, tokens: Tokens) -> None:
        """An unexpected failure shows an error id and what to do, never the exception or a traceback."""
        app = create_app(settings, engine)

        @app.get("/boom")
        def boom() -> None:
            msg = "database password is hunter2"
            raise RuntimeError(msg)

        with TestClient(app, raise_server_exceptions=False) as client:
            response = client.get("/boom")
        assert response.status_code == 500
        assert "Đã xảy ra lỗi ngoài dự kiến" in response.text and "Mã lỗi" in response.text
        assert "hunter2" not in response.text and "Traceback" not in response.text

    def test_refused_action_page(self, client: TestClient, tokens: Tokens, audience: Any) -> None:
        """Approving one's own campaign from the console is refused with the reason and a way forward."""
        created = client.post(
            "/api/v1/campaigns",
            headers=tokens.headers("approver"),
            json={"name": "own", "template": "30-7/2024", "audiences": [AUDIENCE], "window": ALL_DAY},
        ).json()
        client.post(f"/api/v1/campaigns/{created['id']}/submit", headers=tokens.headers("approver"))
        sign_in(client, tokens, "approver")
        page = client.get(f"/campaigns/{created['id']}")
        assert 'value="approve"' not in page.text and "không thể tự duyệt" in page.text
        response = client.post(
            f"/campaigns/{created['id']}/action", data={"action": "approve", "csrf_token": csrf(page.text)}
        )
        assert response.status_code == 409
        assert "another approver" in response.text and "Người tạo chiến dịch không được tự duyệt" in response.text


class TestWizard:
    def test_from_template_to_submitted(self, client: TestClient, tokens: Tokens, audience: Any) -> None:
        """Template -> preview -> audience -> schedule -> confirm creates and submits the campaign."""
        sign_in(client, tokens, "operator")
        step1 = client.get("/campaigns/new")
        assert "30-7/2024" in step1.text
        step2 = client.get("/campaigns/new", params={"step": 2, "template": "30-7/2024", "encoding": "unicode"})
        assert "Có dấu (Unicode)" in step2.text and "Toàn dân tích cực" in step2.text
        step3 = client.get("/campaigns/new", params={"step": 3, "template": "30-7/2024"})
        assert AUDIENCE in step3.text and "Huyện Tân Biên" in step3.text
        missing = client.get("/campaigns/new", params={"step": 4, "template": "30-7/2024"})
        assert "Hãy chọn ít nhất một danh sách" in missing.text
        fields = {
            "template": "30-7/2024",
            "audience": AUDIENCE,
            "name": "30/7 từ console",
            "schedule": "now",
            "window_start": "00:00",
            "window_end": "23:59",
        }
        step5 = client.get("/campaigns/new", params={"step": 5, **fields})
        assert "Xác nhận" in step5.text and "Tạo và gửi duyệt" in step5.text
        created = client.post(
            "/campaigns/new", data={**fields, "csrf_token": csrf(step5.text), "submit_now": "1"}, follow_redirects=False
        )
        assert created.status_code == 303
        page = client.get(created.headers["location"])
        assert "Đã tạo chiến dịch và gửi đi duyệt" in page.text and "Chờ duyệt" in page.text
        listed = client.get("/api/v1/campaigns", headers=tokens.headers("viewer")).json()["items"][0]
        assert (listed["name"], listed["status"], listed["created_by"]) == (
            "30/7 từ console",
            "awaiting_approval",
            NAMES["operator"],
        )

    def test_schedule_in_the_past_is_explained(self, client: TestClient, tokens: Tokens, audience: Any) -> None:
        """A one-time schedule in the past sends the user back to the schedule step with the reason."""
        sign_in(client, tokens, "operator")
        response = client.get(
            "/campaigns/new",
            params={
                "step": 5,
                "template": "30-7/2024",
                "audience": AUDIENCE,
                "name": "x",
                "schedule": "once",
                "run_at": "2020-07-30T08:00",
            },
        )
        assert "Lịch gửi chưa đúng" in response.text and "already passed" in response.text
        assert 'value="5"' in response.text  # the schedule step's form leads on to the confirmation
