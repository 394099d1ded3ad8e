"""The console in a real browser: headless Chromium (Debian's) driven by Playwright against uvicorn.

An operator signs in, creates a campaign from the 30/7 template through the wizard, sees its preview
and submits it; an approver signs in and approves it; the run goes out and the dashboard follows it
to the end; the report downloads. Dispatch is not part of the app's services yet, so the test process
fires the run (``scheduler.fire``) and dispatches it (``Dispatcher``, in-process simulators) while the
browser watches. Every page is kept as a screenshot under ``artifacts/browser/`` (gitignored) and the
test's tmp folder.

Skipped when Playwright or /usr/bin/chromium is missing, unless BROADCASTER_REQUIRE_BROWSER=1.
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from broadcaster import campaigns, db, demo, queue, scheduler
from broadcaster.api import create_app
from broadcaster.api.tokens import create_token
from broadcaster.config import Settings, load_settings
from broadcaster.dispatch import Dispatcher

from .conftest import AUDIENCE, import_sample

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REQUIRE = os.environ.get("BROADCASTER_REQUIRE_BROWSER") == "1"
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "browser"


def _browser_or_skip() -> Any:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        if REQUIRE:
            pytest.fail(f"BROADCASTER_REQUIRE_BROWSER=1 but Playwright is not installed ({exc})")
        pytest.skip("Playwright is not installed")
    if not Path(CHROMIUM).exists():
        if REQUIRE:
            pytest.fail(f"BROADCASTER_REQUIRE_BROWSER=1 but {CHROMIUM} is missing (apt-get install chromium)")
        pytest.skip(f"{CHROMIUM} is missing")
    return sync_playwright


@dataclass
class Server:
    url: str
    settings: Settings
    engine: Any
    tokens: dict[str, str]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """uvicorn serving the app on a free port of 127.0.0.1, over a SQLite workspace with an audience."""
    import uvicorn

    settings = load_settings(tmp_path / "ws", environ={})
    engine = db.make_engine(settings.database_url)
    db.migrate(engine)
    import_sample(engine, tmp_path, 400)
    tokens = {
        name: create_token(engine, name, role, actor="test").token
        for name, role in (("op-lan", "operator"), ("appr-minh", "approver"), ("admin-an", "admin"))
    }
    port = _free_port()
    config = uvicorn.Config(create_app(settings, engine), host="127.0.0.1", port=port, log_level="warning")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield Server(f"http://127.0.0.1:{port}", settings, engine, tokens)
    finally:
        uv.should_exit = True
        thread.join(20)
        engine.dispose()


class Shots:
    """Numbered screenshots in the test's tmp folder, copied to artifacts/browser/."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0
        folder.mkdir(parents=True, exist_ok=True)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for old in ARTIFACTS.glob("*.png"):
            old.unlink()

    def take(self, page: Any, name: str) -> Path:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        shutil.copy(path, ARTIFACTS / path.name)
        return path


def _dispatch_in_background(server: Server, campaign_id: int) -> tuple[threading.Thread, int]:
    """Fire the approved campaign now and send its run at a pace the dashboard can follow."""
    routes = {c: [r.model_copy(update={"tps": 120.0}) for r in rs] for c, rs in server.settings.routes.items()}
    slow = server.settings.model_copy(update={"routes": routes})
    now = scheduler.utcnow()
    summary = scheduler.fire(server.engine, slow, campaign_id, now, now)
    assert summary is not None and summary.queued > 0
    run_id = summary.run_id

    def done() -> bool:
        with server.engine.connect() as conn:
            return queue.in_flight(conn, run_id) == 0

    dispatcher = Dispatcher(server.engine, slow, adapters=demo.demo_adapters(slow))
    thread = threading.Thread(target=dispatcher.run_until, args=(done,), kwargs={"timeout": 120}, daemon=True)
    thread.start()
    return thread, run_id


def test_campaign_from_wizard_to_report(server: Server, tmp_path: Path) -> None:
    """Sign in, create from the 30/7 template, preview, submit, approve as another person, watch, download."""
    sync_playwright = _browser_or_skip()
    shots = Shots(tmp_path / "screenshots")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="vi-VN", accept_downloads=True)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        try:
            campaign_id = _operator_creates_and_submits(page, server, shots)
            _approver_approves(page, server, shots, campaign_id)
            thread, run_id = _dispatch_in_background(server, campaign_id)
            _dashboard_follows_the_run(page, server, shots, run_id)
            thread.join(120)
            _report_downloads(page, server, shots, campaign_id, tmp_path)
            _import_with_rejects(page, server, shots, tmp_path)
            _audit_log(page, server, shots)
        finally:
            shots.take(page, "last")
            browser.close()
    assert errors == [], f"JavaScript errors: {errors}"
    assert shots.count >= 12


def _sign_in(page: Any, server: Server, name: str) -> None:
    page.goto(f"{server.url}/login")
    page.fill("#token", server.tokens[name])
    page.click("button[type=submit]")
    page.wait_for_url(f"{server.url}/")


def _operator_creates_and_submits(page: Any, server: Server, shots: Shots) -> int:
    page.goto(f"{server.url}/")
    page.wait_for_url(re.compile(r"/login"))
    shots.take(page, "dang-nhap")
    page.fill("#token", "bct_sai")
    page.click("button[type=submit]")
    assert "Mã truy cập không đúng" in page.inner_text("main")
    shots.take(page, "dang-nhap-sai-ma")
    _sign_in(page, server, "op-lan")
    shots.take(page, "tong-quan-trong")
    page.click("text=Tạo chiến dịch")
    page.check("input[name=template][value='30-7/2024']")
    page.check("input[name=encoding][value='']")
    shots.take(page, "wizard-1-mau-tin")
    page.click("text=Tiếp: xem trước")
    preview = page.inner_text("table.preview")
    assert "Tong dai quoc gia 111" in preview or "Tổng đài quốc gia 111" in preview
    assert "Không dấu (GSM-7)" in preview
    shots.take(page, "wizard-2-xem-truoc")
    page.click("text=Tiếp: chọn danh sách")
    page.check(f"input[name=audience][value='{AUDIENCE}']")
    shots.take(page, "wizard-3-danh-sach")
    page.click("text=Tiếp: lịch gửi")
    page.fill("#name", "Ngày toàn dân phòng, chống mua bán người 30/7")
    page.check("input[name=schedule][value=now]")
    page.fill("input[name=window_start]", "00:00")
    page.fill("input[name=window_end]", "23:59")
    shots.take(page, "wizard-4-lich-gui")
    page.click("text=Tiếp: xác nhận")
    assert "Xác nhận" in page.inner_text("main")
    shots.take(page, "wizard-5-xac-nhan")
    page.click("text=Tạo và gửi duyệt")
    page.wait_for_url(re.compile(r"/campaigns/\d+\?done=create_submit"))
    assert "Chờ duyệt" in page.inner_text(".heading")
    assert "không thể tự duyệt" in page.inner_text("main")
    shots.take(page, "chien-dich-cho-duyet")
    found = re.search(r"/campaigns/(\d+)", page.url)
    assert found
    page.click("text=Đăng xuất")
    page.wait_for_url(re.compile(r"/login"))
    return int(found.group(1))


def _approver_approves(page: Any, server: Server, shots: Shots, campaign_id: int) -> None:
    _sign_in(page, server, "appr-minh")
    page.click("nav >> text=Duyệt")
    shots.take(page, "duyet-danh-sach")
    page.click("text=Xem và duyệt")
    page.click("button:has-text('Duyệt')")
    page.wait_for_url(re.compile(rf"/campaigns/{campaign_id}\?done=approve"))
    assert "Đã duyệt" in page.inner_text(".heading")
    shots.take(page, "chien-dich-da-duyet")
    assert campaigns.get_campaign(server.engine, campaign_id).approved_by == "appr-minh"


def _dashboard_follows_the_run(page: Any, server: Server, shots: Shots, run_id: int) -> None:
    page.goto(f"{server.url}/")
    card = page.locator(f"[data-run='{run_id}']")
    card.wait_for(timeout=30_000)
    shots.take(page, "tong-quan-dang-gui")
    # The page is not reloaded: the badge and the bars change by polling the JSON endpoint.
    page.wait_for_function(
        f"document.querySelector(\"[data-run='{run_id}'] .run-status .badge\").textContent.includes('Hoàn thành')",
        timeout=90_000,
    )
    done = card.locator(".totals [data-field=done]").inner_text()
    targeted = card.locator(".totals [data-field=targeted]").inner_text()
    assert done == targeted
    page.wait_for_timeout(1000)  # the bars' width transition, for the screenshot only
    shots.take(page, "tong-quan-hoan-thanh")
    page.click(f"[data-run='{run_id}'] h2 a")
    assert "Theo huyện và nhà mạng" in page.inner_text("main")
    shots.take(page, "dot-gui")


def _report_downloads(page: Any, server: Server, shots: Shots, campaign_id: int, tmp_path: Path) -> None:
    page.goto(f"{server.url}/reports/{campaign_id}")
    assert "Số liệu khớp" in page.inner_text("main")
    shots.take(page, "bao-cao")
    with page.expect_download() as download_info:
        page.click("a.button:has-text('CSV')")
    path = tmp_path / "report.csv"
    download_info.value.save_as(path)
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    assert rows, "the CSV report has rows"
    with page.expect_download() as xlsx_info:
        page.click("a.button:has-text('XLSX')")
    assert xlsx_info.value.suggested_filename.endswith(".xlsx")


def _import_with_rejects(page: Any, server: Server, shots: Shots, tmp_path: Path) -> None:
    path = demo.write_audience(tmp_path / "danh-sach-moi.csv", 500, seed=7)
    page.goto(f"{server.url}/audiences")
    page.set_input_files("#file", str(path))
    page.fill("#name", "Danh sách bổ sung")
    shots.take(page, "nhap-danh-sach")
    page.click("button:has-text('Nhập danh sách')")
    page.wait_for_url(re.compile(r"/audiences/imports/"))
    page.locator("text=Đã nhập xong").wait_for(timeout=60_000)
    shots.take(page, "nhap-xong")
    with page.expect_download() as rejects:
        page.click("text=Tải tệp các dòng bị loại")
    saved = tmp_path / "rejects.csv"
    rejects.value.save_as(saved)
    assert "lý do" in saved.read_text(encoding="utf-8-sig").splitlines()[0]


def _audit_log(page: Any, server: Server, shots: Shots) -> None:
    page.click("text=Đăng xuất")
    _sign_in(page, server, "admin-an")
    page.click("nav >> text=Nhật ký")
    text = page.inner_text("main")
    assert "Duyệt" in text and "appr-minh" in text and "Nhập danh sách" in text
    shots.take(page, "nhat-ky")
    page.goto(f"{server.url}/khong-co-trang-nay")
    assert "Không tìm thấy" in page.inner_text("main")
    shots.take(page, "loi-404")
