"""The eSMS adapter: wire format, code classification, advertising batches, callbacks and polling."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest

from carriers import create_adapter
from carriers._http import NO_RETRIES, Sessions, retry_after
from carriers.base import Accepted, CallbackRequest, Failed, FailureKind, ReceiptMode, ReceiptStatus, Submission
from carriers.errors import AdapterOptionsError, MalformedPayload, RouteError
from carriers.esms import (
    BATCH_SIZE_CODES,
    MESSAGE_CODES,
    RECEIVER_STATUS,
    ROUTE_CODES,
    SEND_ADS,
    SEND_CARE,
    TELCOS,
    EsmsAdapter,
    international,
    national,
)
from carriers.simulator import Behaviour
from carriers.simulator_http import SimulatorServer

API_KEY, SECRET_KEY = "esms-api-Q1w2e3", "esms-secret-R4t5y6"
CREDENTIALS = {"api_key": API_KEY, "secret_key": SECRET_KEY}
ROOT = "/MainService.svc/json/"
CARE, ADS, STATUS = ROOT + SEND_CARE, ROOT + SEND_ADS, ROOT + RECEIVER_STATUS
SIM_KEYS = {"api_key": "sim-api-key-7Q2xv", "secret_key": "sim-secret-key-Kp93z"}  # as conftest's sim_server


def sub(key: str, msisdn: str = "+84912345678", text: str = "Hello", encoding: str = "gsm7") -> Submission:
    return Submission(key=key, msisdn=msisdn, text=text, encoding=encoding, sender="SENDER")


def adapter_for(url: str, **options: Any) -> EsmsAdapter:
    base = {"base_url": url + ROOT, "concurrency": 1, "read_timeout": 5.0}
    return EsmsAdapter.from_options({**base, **options}, CREDENTIALS)


def sim_adapter(server: SimulatorServer, **options: Any) -> EsmsAdapter:
    base = {"base_url": server.base_url, "concurrency": 2, "read_timeout": 5.0, "poll_interval": 0}
    return EsmsAdapter.from_options({**base, **options}, SIM_KEYS)


OK = {"CodeResult": "100", "SMSID": "a1b2"}


class TestSending:
    def test_customer_care_request(self, canned: Any) -> None:
        """One POST per number with every field eSMS expects; the provider id is our RequestId."""
        canned.reply("POST", CARE, OK)
        adapter = adapter_for(canned.url, sandbox=True, callback_url="http://127.0.0.1:9/cb", campaign_id="30-7")
        (result,) = adapter.submit([sub("42", "+84912345678", "Xin chào", "ucs2")])
        assert result == Accepted(key="42", provider_id="42", parts=1)
        (request,) = canned.requests
        assert request.headers["content-type"] == "application/json"
        assert request.json() == {
            "ApiKey": API_KEY,
            "SecretKey": SECRET_KEY,
            "Phone": "0912345678",
            "Content": "Xin chào",
            "Brandname": "SENDER",
            "SmsType": "2",
            "IsUnicode": "1",
            "RequestId": "42",
            "Sandbox": "1",
            "CallbackUrl": "http://127.0.0.1:9/cb",
            "campaignid": "30-7",
        }

    def test_route_brandname_prefix_and_long_keys(self, canned: Any) -> None:
        """The route's brandname wins over the sender; RequestIds carry the prefix and stay within 50."""
        canned.reply("POST", CARE, OK, times=2)
        adapter = adapter_for(canned.url, brandname="SOKHCN", request_id_prefix="tn-")
        results = adapter.submit([sub("7"), sub("x" * 60)])
        bodies = [r.json() for r in canned.requests]
        assert [b["Brandname"] for b in bodies] == ["SOKHCN", "SOKHCN"]
        assert [b["IsUnicode"] for b in bodies] == ["0", "0"]
        assert bodies[0]["RequestId"] == "tn-7"
        assert len(bodies[1]["RequestId"]) <= 50 and bodies[1]["RequestId"].startswith("tn-")
        assert [r.provider_id for r in results if isinstance(r, Accepted)] == [b["RequestId"] for b in bodies]

    @pytest.mark.parametrize(
        ("code", "kind"),
        [
            *((code, FailureKind.ROUTE) for code in ROUTE_CODES),
            *((code, FailureKind.PERMANENT) for code in MESSAGE_CODES),
            *((code, FailureKind.TRANSIENT) for code in BATCH_SIZE_CODES),
            ("555", FailureKind.ROUTE),  # unknown: pause the route rather than fail every message
        ],
    )
    def test_codes_are_classified(self, canned: Any, code: str, kind: str) -> None:
        """Every documented code has its class; the reason names the code and says what to do."""
        canned.reply("POST", CARE, {"CodeResult": code, "ErrorMessage": "refused"})
        (result,) = adapter_for(canned.url).submit([sub("1")])
        assert isinstance(result, Failed) and result.kind == kind and result.code == code
        assert code in result.reason and "refused" in result.reason

    def test_124_on_our_resend_is_accepted(self, canned: Any) -> None:
        """RequestId already used means our earlier attempt got through: accepted, same provider id."""
        canned.reply("POST", CARE, {"CodeResult": "124", "ErrorMessage": "RequestId exists"})
        assert adapter_for(canned.url).submit([sub("9")]) == [Accepted(key="9", provider_id="9", parts=1)]

    def test_throttling_stops_the_rest_of_the_batch(self, canned: Any) -> None:
        """A 429 ends the batch: the messages not yet sent are throttled too, with the same wait."""
        canned.reply("POST", CARE, OK)
        when = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
        canned.reply("POST", CARE, "", status=429, headers={"Retry-After": when})
        results = adapter_for(canned.url).submit([sub("1"), sub("2"), sub("3")])
        assert isinstance(results[0], Accepted)
        assert [r.kind for r in results[1:] if isinstance(r, Failed)] == [FailureKind.THROTTLED] * 2
        assert all(isinstance(r, Failed) and 100 < (r.retry_after or 0) <= 120 for r in results[1:])
        assert len(canned.requests) == 2

    def test_answers_without_a_code_are_malformed(self, canned: Any) -> None:
        """Valid JSON without CodeResult is as unusable as garbage: transient, code MALFORMED."""
        canned.reply("POST", CARE, {"SMSID": "x"})
        (result,) = adapter_for(canned.url).submit([sub("1")])
        assert isinstance(result, Failed) and result.kind == FailureKind.TRANSIENT and result.code == "MALFORMED"

    def test_a_batch_is_sent_concurrently(self, sim_server: SimulatorServer) -> None:
        """Customer care fans a batch out over ``concurrency`` threads; results stay in order."""
        sim_server.switch(Behaviour(latency=0.05))
        adapter = sim_adapter(sim_server, concurrency=8)
        batch = [sub(str(i), f"+849123{i:05d}") for i in range(40)]
        results = adapter.submit(batch)
        assert [r.key for r in results] == [s.key for s in batch]
        assert all(isinstance(r, Accepted) for r in results) and sim_server.smsc.submitted == 40
        adapter.close()

    def test_ambiguous_then_resend_delivers_once(self, sim_server: SimulatorServer) -> None:
        """No answer after acceptance is ambiguous; the resend with the same key is 124, accepted; one delivery."""
        sim_server.switch(Behaviour(timeout_after_accept_rate=1.0))
        adapter = sim_adapter(sim_server, read_timeout=0.3)
        (first,) = adapter.submit([sub("77")])
        assert isinstance(first, Failed) and first.kind == FailureKind.AMBIGUOUS
        sim_server.switch(Behaviour())
        assert adapter.submit([sub("77")]) == [Accepted(key="77", provider_id="77", parts=1)]
        assert sim_server.smsc.deliveries == {"+84912345678": 1}
        adapter.close()


class TestAdvertising:
    def test_groups_by_text_and_needs_thirty(self, canned: Any) -> None:
        """One request per text with 30+ numbers; a smaller group comes back transient, unsent."""
        canned.reply("POST", ADS, {"CodeResult": "100", "SMSID": "ads-1"})
        adapter = adapter_for(canned.url, sms_type="advertising")
        caps = adapter.capabilities
        assert caps.same_text_batches and caps.min_batch == 30 and caps.max_batch == 5000
        assert not caps.idempotency_keys
        big = [sub(f"a{i}", f"+849123{i:05d}", "Ad one") for i in range(30)]
        small = [sub(f"b{i}", f"+849124{i:05d}", "Ad two") for i in range(5)]
        results = adapter.submit(big[:10] + small + big[10:])
        by_key = {r.key: r for r in results}
        (request,) = canned.requests
        body = request.json()
        assert body["SmsType"] == "1" and body["Content"] == "Ad one" and len(body["Phones"]) == 30
        assert body["Phones"][0] == "0912300000"
        rid = body["RequestId"]
        assert by_key["a0"] == Accepted(key="a0", provider_id=f"{rid}:84912300000", parts=1)
        assert all(isinstance(by_key[s.key], Failed) and by_key[s.key].code == "MIN_BATCH" for s in small)
        assert [r.key for r in results] == [s.key for s in big[:10] + small + big[10:]]

    def test_a_batch_size_code_is_transient(self, canned: Any) -> None:
        """107/120 (wrong number count) sends the request's messages back for another batch."""
        canned.reply("POST", ADS, {"CodeResult": "107"})
        results = adapter_for(canned.url, sms_type="1").submit([sub(str(i), f"+849123{i:05d}") for i in range(30)])
        assert {r.kind for r in results if isinstance(r, Failed)} == {FailureKind.TRANSIENT}

    def test_against_the_simulator_with_callbacks(self, sim_server: SimulatorServer, receiver: Any) -> None:
        """Per-number callbacks map to per-number provider ids; a refused number is reported failed."""
        sim_server.switch(Behaviour(refuse_pattern="00000$"))
        adapter = sim_adapter(sim_server, sms_type="1", callback_url=receiver.callback_url)
        batch = [sub(str(i), f"+849123{i:05d}", "Ad") for i in range(31)]
        results = adapter.submit(batch)
        assert all(isinstance(r, Accepted) for r in results)
        callbacks = receiver.wait_for(lambda got: len(got) >= 31)
        receipts = {r.provider_id: r for c in callbacks for r in adapter.parse_callback(c)}
        assert set(receipts) == {r.provider_id for r in results if isinstance(r, Accepted)}
        refused = receipts[f"{results[0].provider_id}"]
        assert refused.status == ReceiptStatus.FAILED and refused.error_code == "REFUSED"
        assert sum(r.status == ReceiptStatus.DELIVERED for r in receipts.values()) == 30
        adapter.close()


class TestReceipts:
    @pytest.mark.parametrize(
        ("query", "status", "error"),
        [
            ({"SendStatus": "1"}, ReceiptStatus.ACCEPTED, None),
            ({"SendStatus": "2"}, ReceiptStatus.ACCEPTED, None),
            ({"SendStatus": "7"}, ReceiptStatus.ACCEPTED, None),
            ({"SendStatus": "4"}, ReceiptStatus.FAILED, "REFUSED"),
            ({"SendStatus": "5", "SendSuccess": "1", "SendFailed": "0"}, ReceiptStatus.DELIVERED, None),
            ({"SendStatus": "5", "SendSuccess": "0", "SendFailed": "1"}, ReceiptStatus.FAILED, "UNDELIVERED"),
            ({"SendStatus": "5", "SendSuccess": "0", "SendFailed": "0"}, ReceiptStatus.FAILED, "UNDELIVERED"),
            ({"SendStatus": "9"}, ReceiptStatus.ACCEPTED, None),  # unknown: stays sent
        ],
    )
    def test_callback_statuses(self, query: dict[str, str], status: str, error: str | None) -> None:
        """SendStatus (and SendSuccess/SendFailed when finished) map to canonical statuses."""
        adapter = EsmsAdapter(api_key="k", secret_key="s")
        request = CallbackRequest(method="GET", query={"SMSID": "x", "RequestId": "12", "telcoid": "1", **query})
        (receipt,) = adapter.parse_callback(request)
        assert (receipt.provider_id, receipt.status, receipt.error_code) == ("12", status, error)
        assert receipt.network == "viettel" and "SendStatus=" in receipt.raw

    def test_telco_ids_name_carriers(self) -> None:
        """telcoid 1..7 are the seven carriers, by their lower-case names; unknown ids say nothing."""
        adapter = EsmsAdapter(api_key="k", secret_key="s")
        networks = [
            adapter.parse_callback(
                CallbackRequest(method="GET", query={"RequestId": "1", "SendStatus": "7", "telcoid": t})
            )[0].network
            for t in [*TELCOS, "0"]
        ]
        assert networks == ["viettel", "mobifone", "vinaphone", "vietnamobile", "gmobile", "itel", "reddi", None]

    def test_a_form_posted_callback_is_read_too(self) -> None:
        """Should eSMS POST a form instead of GET, the fields are read from the body."""
        adapter = EsmsAdapter(api_key="k", secret_key="s")
        body = b"RequestId=5&SendStatus=5&SendSuccess=1&SendFailed=0"
        (receipt,) = adapter.parse_callback(CallbackRequest(method="POST", body=body))
        assert receipt.status == ReceiptStatus.DELIVERED

    def test_polling(self, sim_server: SimulatorServer, debug_logs: pytest.LogCaptureFixture) -> None:
        """105 while pending; then the final status; each id at most once per poll_interval; no keys in logs."""
        sim_server.switch(Behaviour(receipt_delay=3600))
        adapter = sim_adapter(sim_server)
        assert adapter.capabilities.receipts == (ReceiptMode.POLL,)
        pending = adapter.submit([sub("p1")])
        assert adapter.poll(["p1"]) == []
        sim_server.switch(Behaviour(undeliverable_pattern="9$"))
        done = adapter.submit([sub("p2", "+84962345678"), sub("p3", "+84912345679")])
        receipts = {r.provider_id: r for r in adapter.poll(["P2", " p3", "unknown", "p1"])}  # any case
        assert {pid: r.status for pid, r in receipts.items()} == {
            "p2": ReceiptStatus.DELIVERED,
            "p3": ReceiptStatus.FAILED,
        }
        assert receipts["p2"].network == "viettel" and receipts["p3"].error_code == "UNDELIVERED"
        assert len(pending) == 1 and len(done) == 2
        adapter.close()
        assert API_KEY not in debug_logs.text and SIM_KEYS["secret_key"] not in debug_logs.text
        assert "GetSmsReceiverStatus_get" in debug_logs.text  # urllib3 did log the request line

    def test_poll_interval(self, sim_server: SimulatorServer) -> None:
        """An id is first asked one poll_interval after its send, then at most once per interval (the
        route is not flooded by each pass)."""
        sim_server.switch(Behaviour(receipt_delay=3600))
        now = [1000.0]
        adapter = sim_adapter(sim_server, poll_interval=600)
        adapter._clock = lambda: now[0]
        adapter.submit([sub("i1")])
        before = sim_server.stats()["requests"]
        adapter.poll(["i1"])
        assert sim_server.stats()["requests"] == before  # just sent: not asked yet
        now[0] += 600
        adapter.poll(["i1"])
        adapter.poll(["i1"])
        assert sim_server.stats()["requests"] == before + 1
        now[0] += 600
        adapter.poll(["i1"])
        assert sim_server.stats()["requests"] == before + 2
        adapter.close()

    def test_poll_errors(self, canned: Any) -> None:
        """A route-wide code raises RouteError; garbage raises MalformedPayload; neither names a key."""
        canned.reply("POST", CARE, OK, times=2)
        canned.reply("GET", STATUS, {"CodeResult": "101", "ErrorMessage": f"bad key {API_KEY}"})
        canned.reply("GET", STATUS, {"CodeResult": "100", "ReceiverList": "nope"})
        adapter = adapter_for(canned.url, poll_interval=0)
        adapter.submit([sub("1"), sub("2")])
        with pytest.raises(RouteError) as route:
            adapter.poll(["1"])
        with pytest.raises(MalformedPayload) as garbage:
            adapter.poll(["2"])
        for error in (route.value, garbage.value):
            assert API_KEY not in str(error) and SECRET_KEY not in str(error)
        assert canned.requests[2].query["RefId"] == "a1b2"


class TestPlumbing:
    def test_one_session_per_thread_without_retries(self) -> None:
        """Each thread gets its own session; its pool fits the route's concurrency; urllib3 retries nothing."""
        sessions = Sessions(concurrency=6)
        seen: list[Any] = []
        threads = [threading.Thread(target=lambda: seen.append(sessions.get())) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len({id(s) for s in seen}) == 3 and sessions.get() is sessions.get()
        adapter = sessions.get().get_adapter("http://127.0.0.1/")
        assert adapter.max_retries is NO_RETRIES and NO_RETRIES.total == 0 and NO_RETRIES.read is False
        assert adapter._pool_maxsize == 6  # type: ignore[attr-defined]
        sessions.close()

    def test_retry_after(self) -> None:
        """Retry-After as seconds or as an HTTP date; nonsense is ignored."""
        assert retry_after("7") == 7.0
        when = datetime(2030, 1, 1, 0, 1, tzinfo=UTC)
        assert retry_after(format_datetime(when, usegmt=True), now=lambda: when.timestamp() - 60) == 60.0
        assert retry_after("soon") is None and retry_after(None) is None

    def test_numbers(self) -> None:
        """E.164 to eSMS's national form and back to 84… for matching."""
        assert national("+84912345678") == "0912345678"
        assert international("0912345678") == international("+84912345678") == "84912345678"

    def test_registry_and_options(self) -> None:
        """The registry builds it; wrong options and missing credentials are one clear line, keys never in it."""
        adapter = create_adapter("esms", {"sms_type": "care"}, CREDENTIALS)
        assert isinstance(adapter, EsmsAdapter) and API_KEY not in repr(adapter)
        with pytest.raises(AdapterOptionsError, match="unknown esms option 'base_uri'"):
            create_adapter("esms", {"base_uri": "x"}, CREDENTIALS)
        with pytest.raises(AdapterOptionsError, match="secret_key"):
            create_adapter("esms", {}, {"api_key": API_KEY})
        with pytest.raises(AdapterOptionsError, match="sms_type"):
            create_adapter("esms", {"sms_type": "spam"}, CREDENTIALS)
        with pytest.raises(AdapterOptionsError, match="concurrency"):
            create_adapter("esms", {"concurrency": 0}, CREDENTIALS)


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog
