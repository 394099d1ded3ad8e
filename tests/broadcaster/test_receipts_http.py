"""Receipt callbacks over HTTP: authenticated per route, durable before 200, garbage answered 400."""

from __future__ import annotations

import hashlib
import hmac
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

import pytest
import requests
import uvicorn
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import Engine, text

from broadcaster import queue
from broadcaster.api import create_app
from broadcaster.config import RouteSettings, Settings
from broadcaster.models import utcnow

ROUTE = "esms-test"
SECRET = "s3cr3t-callback"


@pytest.fixture
def receipt_settings(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Viettel sends through an eSMS route whose callbacks carry SECRET."""
    monkeypatch.setenv("TEST_ESMS_KEY", "k")
    monkeypatch.setenv("TEST_ESMS_SECRET", "s")
    monkeypatch.setenv("TEST_CALLBACK_SECRET", SECRET)
    route = RouteSettings(
        name=ROUTE,
        adapter="esms",
        options={"base_url": "http://127.0.0.1:9/"},
        credentials_env={"api_key": "TEST_ESMS_KEY", "secret_key": "TEST_ESMS_SECRET"},
        callback_secret_env="TEST_CALLBACK_SECRET",
    )
    return settings.model_copy(update={"routes": {**settings.routes, "viettel": [route]}})


def sent_messages(engine: Engine, run_id: int) -> list[int]:
    """Mark the run's queued messages as sent on ROUTE, their ids as eSMS RequestIds."""
    with engine.begin() as conn:
        ids = [
            r[0]
            for r in conn.execute(
                text("SELECT id FROM message WHERE run_id = :r AND status = 'queued' ORDER BY id"),
                {"r": run_id},
            )
        ]
        conn.execute(text(f"UPDATE message SET status = 'sending' WHERE id IN ({','.join(map(str, ids))})"))
        queue.mark_sent(conn, [(i, ROUTE, str(i)) for i in ids], utcnow())
    return ids


def callback(message_id: int, **extra: str) -> dict[str, str]:
    query = {
        "SMSID": f"sms-{message_id}",
        "SendStatus": "5",
        "SendSuccess": "1",
        "SendFailed": "0",
        "RequestId": str(message_id),
        "telcoid": "1",
        "phonenumber": "84912345678",
    }
    query.update(extra)
    return query


def statuses(engine: Engine, ids: list[int]) -> dict[int, str]:
    with engine.connect() as conn:
        rows = conn.execute(text(f"SELECT id, status FROM message WHERE id IN ({','.join(map(str, ids))})"))
        return {r[0]: r[1] for r in rows}


def receipt_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT COUNT(*) FROM receipt")).scalar_one())


@pytest.fixture
def client(engine: Engine, receipt_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(receipt_settings, engine, console=False)) as c:
        yield c


class TestAuthentication:
    def test_secret_in_path_stores_and_applies(
        self, engine: Engine, client: TestClient, make_run: Callable[..., int]
    ) -> None:
        """GET with the right secret: 200 only after the receipt is stored and the message moved."""
        ids = sent_messages(engine, make_run(80))
        response = client.get(f"/receipts/{ROUTE}/{SECRET}", params=callback(ids[0]))
        assert response.status_code == 200 and response.json() == {"stored": 1}
        assert statuses(engine, ids[:2]) == {ids[0]: "delivered", ids[1]: "sent"}

    def test_wrong_or_missing_secret_stores_nothing(
        self, engine: Engine, client: TestClient, make_run: Callable[..., int]
    ) -> None:
        """A forged secret, a missing one, or a bad signature: 401 and nothing stored."""
        ids = sent_messages(engine, make_run(80))
        assert client.get(f"/receipts/{ROUTE}/guess", params=callback(ids[0])).status_code == 401
        assert client.get(f"/receipts/{ROUTE}", params=callback(ids[0])).status_code == 401
        forged = {"X-Broadcaster-Signature": "sha256=" + "0" * 64}
        assert client.get(f"/receipts/{ROUTE}", params=callback(ids[0]), headers=forged).status_code == 401
        assert receipt_count(engine) == 0
        assert statuses(engine, ids[:1]) == {ids[0]: "sent"}
        metrics = client.get("/metrics").text
        assert 'broadcaster_receipts_rejected_total{reason="wrong_secret",route="esms-test"} 1.0' in metrics

    def test_signature_header(self, engine: Engine, client: TestClient, make_run: Callable[..., int]) -> None:
        """An HMAC of the query string authenticates a GET callback."""
        ids = sent_messages(engine, make_run(80))
        query = urlencode(callback(ids[0], SendSuccess="0", SendFailed="1"))
        signature = "sha256=" + hmac.new(SECRET.encode(), query.encode(), hashlib.sha256).hexdigest()
        response = client.get(f"/receipts/{ROUTE}?{query}", headers={"X-Broadcaster-Signature": signature})
        assert response.status_code == 200
        assert statuses(engine, ids[:1]) == {ids[0]: "failed"}

    def test_unknown_route(self, client: TestClient) -> None:
        """A route that is not configured is 404."""
        assert client.get("/receipts/nowhere/x", params={"a": "b"}).status_code == 404


class TestPayloads:
    def test_duplicates_and_out_of_order(
        self, engine: Engine, client: TestClient, make_run: Callable[..., int]
    ) -> None:
        """Delivered twice, then an intermediate 'waiting': delivered once, all three kept."""
        ids = sent_messages(engine, make_run(80))
        for params in (callback(ids[0]), callback(ids[0]), callback(ids[0], SendStatus="7")):
            assert client.get(f"/receipts/{ROUTE}/{SECRET}", params=params).status_code == 200
        assert statuses(engine, ids[:1]) == {ids[0]: "delivered"}
        assert receipt_count(engine) == 3

    @hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(
        query=st.dictionaries(
            st.sampled_from(["SendStatus", "RequestId", "SMSID", "telcoid", "x", "SendSuccess"]),
            st.text(max_size=20),
            max_size=6,
        ),
        body=st.binary(max_size=200),
    )
    def test_garbage_is_answered_400_never_500(self, client: TestClient, query: dict[str, str], body: bytes) -> None:
        """Whatever a peer sends, the answer is 200 or 400 (never a crash), and the app keeps serving."""
        get = client.get(f"/receipts/{ROUTE}/{SECRET}", params=query)
        post = client.post(f"/receipts/{ROUTE}/{SECRET}", params=query, content=body)
        assert get.status_code in (200, 400) and post.status_code in (200, 400)
        assert client.get("/healthz").status_code == 200


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_burst_of_concurrent_callbacks_loses_none(
    engine: Engine, receipt_settings: Settings, make_run: Callable[..., int]
) -> None:
    """10,000 callbacks from 32 concurrent clients over real HTTP: every one stored, every message moved."""
    ids = sent_messages(engine, make_run(10_600))[:10_000]
    assert len(ids) == 10_000
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(receipt_settings, engine, console=False),
            host="127.0.0.1",
            port=port,
            log_config=None,
            access_log=False,
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    local = threading.local()

    def send(message_id: int) -> int:
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        return session.get(
            f"http://127.0.0.1:{port}/receipts/{ROUTE}/{SECRET}", params=callback(message_id), timeout=30
        ).status_code

    try:
        with ThreadPoolExecutor(32) as pool:
            codes = list(pool.map(send, ids))
    finally:
        server.should_exit = True
        thread.join(20)
    assert codes.count(200) == len(ids)
    assert receipt_count(engine) == len(ids)
    assert set(statuses(engine, ids).values()) == {"delivered"}
