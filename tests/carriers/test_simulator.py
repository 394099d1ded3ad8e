"""The simulated SMSC: behaviours, determinism, receipts, and its HTTP front end (eSMS protocol)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections import Counter
from typing import Any

import pytest
import requests

from carriers import create_adapter
from carriers.base import Accepted, Failed, FailureKind, ReceiptStatus, Submission
from carriers.errors import AdapterOptionsError, AmbiguousError, RouteError, ThrottledError, TransientError
from carriers.simulator import PRESETS, ROUTE_FAULTS, Behaviour, Outcome, SimulatorAdapter, Smsc, network_of
from carriers.simulator_http import API_ROOT, SimulatorServer


class Clock:
    """A clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def sub(key: str, msisdn: str = "+84912345678", text: str = "Hello", encoding: str = "gsm7") -> Submission:
    return Submission(key=key, msisdn=msisdn, text=text, encoding=encoding, sender="BRAND")


def batch(n: int, start: int = 0) -> list[Submission]:
    return [sub(str(i), f"+849123{i:05d}") for i in range(start, start + n)]


class TestBehaviour:
    def test_presets_are_valid_and_named(self) -> None:
        """Every preset builds, and the documented names are all there."""
        assert {
            "happy",
            "slow",
            "flaky",
            "timeouts",
            "throttling",
            "rejecting",
            "auth",
            "balance",
            "late-receipts",
            "duplicate-receipts",
            "out-of-order",
            "early-receipts",
        } <= set(PRESETS)
        assert PRESETS["happy"].describe() == {}

    def test_named_presets_combine_and_overrides_win(self) -> None:
        """Presets lay over each other in order; explicit values (strings from a command line) come last."""
        behaviour = Behaviour.named("flaky,slow", transient_rate="0.5", intermediate_receipts="yes", seed="7")
        assert behaviour.transient_rate == 0.5 and behaviour.reset_rate == PRESETS["flaky"].reset_rate
        assert behaviour.latency == PRESETS["slow"].latency
        assert behaviour.intermediate_receipts is True and behaviour.seed == 7

    @pytest.mark.parametrize(
        ("options", "words"),
        [
            ({"nope": 1}, "unknown simulator option 'nope'"),
            ({"behaviour": "sleepy"}, "unknown simulator behaviour 'sleepy'"),
            ({"transient_rate": 1.5}, "between 0 and 1"),
            ({"latency": -1}, "cannot be negative"),
            ({"refuse_pattern": "("}, "not a regular expression"),
            ({"route_fault": "meteor"}, "route_fault"),
            ({"intermediate_receipts": "maybe"}, "must be a bool"),
            ({"seed": 1.5}, "must be a int"),
        ],
    )
    def test_bad_options_are_refused_with_their_name(self, options: dict[str, Any], words: str) -> None:
        """A wrong option is an AdapterOptionsError naming it (one line for the operator)."""
        with pytest.raises(AdapterOptionsError, match=re.escape(words)):
            Behaviour.from_options(options)

    def test_route_options_build_the_adapter(self) -> None:
        """The registry's simulator takes a preset name and fields from the route's options."""
        adapter = create_adapter("simulator", {"behaviour": "rejecting", "seed": 3}, {})
        assert isinstance(adapter, SimulatorAdapter)
        assert adapter.smsc.behaviour.refuse_pattern == PRESETS["rejecting"].refuse_pattern
        assert adapter.smsc.behaviour.seed == 3


class TestSmsc:
    def test_same_seed_same_fates(self) -> None:
        """Every decision is a function of the seed and the inputs: two SMSCs agree message by message."""
        behaviour = Behaviour(transient_rate=0.3, undeliverable_rate=0.3, seed=11)
        runs = []
        for _ in range(2):
            smsc = Smsc(behaviour, clock=Clock())
            results = smsc.submit(batch(200))
            receipts = smsc.due_receipts()
            runs.append(
                (
                    [r.kind if isinstance(r, Failed) else "ok" for r in results],
                    sorted((r.provider_id, r.status) for r in receipts),
                )
            )
        assert runs[0] == runs[1]
        kinds = Counter(runs[0][0])
        assert 30 < kinds[FailureKind.TRANSIENT] < 90 and kinds["ok"] > 100
        assert any(status == ReceiptStatus.FAILED for _, status in runs[0][1])

    def test_a_resend_is_answered_with_the_first_answer(self) -> None:
        """A known idempotency key gets its first acceptance back; the number gets the message once."""
        smsc = Smsc()
        first = smsc.submit([sub("k1")])
        again = smsc.submit([sub("k1")])
        assert again == first and isinstance(first[0], Accepted)
        assert smsc.submitted == 1 and smsc.deliveries == {"+84912345678": 1}

    def test_busy_is_decided_per_attempt(self) -> None:
        """A message answered busy eventually gets through when sent again."""
        smsc = Smsc(Behaviour(transient_rate=0.5, seed=1))
        attempts = 0
        while True:
            attempts += 1
            (result,) = smsc.submit([sub("k")])
            if isinstance(result, Accepted):
                break
            assert result.kind == FailureKind.TRANSIENT and attempts < 30
        assert smsc.submitted == 1

    def test_refused_numbers_fail_permanently(self) -> None:
        """Numbers matching the pattern are refused at submit; the others are accepted."""
        smsc = Smsc(Behaviour(refuse_pattern="0$"))
        results = smsc.submit([sub("a", "+84912345670"), sub("b", "+84912345671")])
        assert isinstance(results[0], Failed) and results[0].kind == FailureKind.PERMANENT
        assert isinstance(results[1], Accepted)

    def test_route_faults_raise_route_errors(self) -> None:
        """A route fault fails every call route-wide, with the fault's name as code."""
        for fault in ROUTE_FAULTS:
            with pytest.raises(RouteError) as caught:
                Smsc(Behaviour(route_fault=fault)).submit(batch(2))
            assert caught.value.code == fault

    def test_reset_is_transient_and_nothing_is_kept(self) -> None:
        """In process a reset means nothing went out: transient, and no message accepted."""
        smsc = Smsc(Behaviour(reset_rate=1.0))
        with pytest.raises(TransientError):
            smsc.submit(batch(1))
        assert smsc.submitted == 0

    def test_timeout_after_accept_is_ambiguous_and_a_resend_is_recognised(self) -> None:
        """The caller hears nothing although the SMSC kept the message; a resend gets the same id."""
        smsc = Smsc(Behaviour(timeout_after_accept_rate=1.0))
        with pytest.raises(AmbiguousError):
            smsc.submit([sub("k")])
        assert smsc.submitted == 1
        smsc.switch(Behaviour())
        (result,) = smsc.submit([sub("k")])
        assert isinstance(result, Accepted) and smsc.submitted == 1 and smsc.deliveries["+84912345678"] == 1

    def test_timeout_before_accept_keeps_nothing(self) -> None:
        """A timeout before acceptance is just as ambiguous to the caller, but the resend is new."""
        smsc = Smsc(Behaviour(timeout_rate=1.0))
        with pytest.raises(AmbiguousError):
            smsc.submit([sub("k")])
        assert smsc.submitted == 0
        smsc.switch(Behaviour())
        assert isinstance(smsc.submit([sub("k")])[0], Accepted)

    def test_throttling_holds_the_rate_and_says_when_to_come_back(self) -> None:
        """Over the TPS cap calls are throttled with the wait until a token is back."""
        clock = Clock()
        smsc = Smsc(Behaviour(tps_limit=10.0), clock=clock)
        accepted = sum(1 for _ in range(10) if smsc.call(batch(1)).outcome == Outcome.ANSWERED)
        assert accepted == 10
        with pytest.raises(ThrottledError) as caught:
            smsc.submit(batch(1, start=50))
        assert caught.value.retry_after == pytest.approx(0.1)
        clock.now += 0.1
        assert smsc.call(batch(1, start=60)).outcome == Outcome.ANSWERED

    def test_latency_is_a_tail_drawn_from_the_seed(self) -> None:
        """Each call's latency is at least ``latency`` and has an exponential tail of mean ``latency_jitter``."""
        smsc = Smsc(Behaviour(latency=0.01, latency_jitter=0.2, seed=5))
        draws = [smsc.call([sub(str(i))]).latency for i in range(400)]
        assert min(draws) >= 0.01
        assert 0.15 < sum(draws) / len(draws) - 0.01 < 0.25
        assert max(draws) > 0.5  # the tail

    def test_receipts_are_due_after_their_delay(self) -> None:
        """A receipt is handed out once, when its time has come, with its status and network."""
        clock = Clock()
        smsc = Smsc(Behaviour(receipt_delay=5.0, undeliverable_pattern="9$"), clock=clock)
        results = smsc.submit([sub("a", "+84912345678"), sub("b", "+84962345679")])
        ids = [r.provider_id for r in results if isinstance(r, Accepted)]
        assert smsc.due_receipts() == []
        clock.now += 5.0
        receipts = {r.provider_id: r for r in smsc.due_receipts(ids)}
        assert receipts[ids[0]].status == ReceiptStatus.DELIVERED and receipts[ids[0]].network == "vinaphone"
        assert receipts[ids[1]].status == ReceiptStatus.FAILED and receipts[ids[1]].error_code
        assert receipts[ids[1]].network == "viettel"
        assert smsc.due_receipts() == []

    def test_duplicates_intermediates_and_order(self) -> None:
        """Duplicates come twice; out-of-order messages have their intermediate receipt after the final."""
        clock = Clock()
        behaviour = Behaviour(receipt_delay=1.0, duplicate_rate=1.0, reorder_rate=1.0)
        smsc = Smsc(behaviour, clock=clock)
        (accepted,) = smsc.submit([sub("a")])
        assert isinstance(accepted, Accepted)
        clock.now += 10
        statuses = [r.status for r in smsc.due_receipts()]
        assert statuses == [ReceiptStatus.DELIVERED, ReceiptStatus.DELIVERED, ReceiptStatus.ACCEPTED]

    def test_intermediate_receipts_come_halfway(self) -> None:
        """With intermediate receipts on, a "sent" receipt precedes the final one."""
        clock = Clock()
        smsc = Smsc(Behaviour(receipt_delay=2.0, intermediate_receipts=True), clock=clock)
        smsc.submit([sub("a")])
        clock.now += 1.0
        assert [r.status for r in smsc.due_receipts()] == [ReceiptStatus.ACCEPTED]
        clock.now += 1.0
        assert [r.status for r in smsc.due_receipts()] == [ReceiptStatus.DELIVERED]

    def test_early_receipts_are_due_at_once(self) -> None:
        """An early receipt is due at acceptance, whatever the delay."""
        smsc = Smsc(Behaviour(receipt_delay=60.0, early_receipt_rate=1.0), clock=Clock())
        (accepted,) = smsc.submit([sub("a")])
        assert isinstance(accepted, Accepted)
        assert [e.message.provider_id for e in smsc.take_early([accepted.provider_id.lower()])] == [
            accepted.provider_id
        ]
        assert smsc.due_receipts() == []

    def test_behaviour_switches_while_running(self) -> None:
        """``switch`` changes what happens from now on; accepted messages keep their fate."""
        smsc = Smsc(clock=Clock())
        smsc.submit([sub("a")])
        smsc.switch(Behaviour(route_fault="balance"))
        with pytest.raises(RouteError):
            smsc.submit([sub("b")])
        assert smsc.submitted == 1 and len(smsc.due_receipts()) == 1

    def test_network_of(self) -> None:
        """The simulator's idea of the serving network, by prefix, in any number form."""
        assert network_of("+84961234567") == "viettel"
        assert network_of("0901234567") == "mobifone"
        assert network_of("84881234567") == "vinaphone"
        assert network_of("+84201234567") is None


# -- HTTP ------------------------------------------------------------------------------------------

KEYS = {"ApiKey": "k-123456", "SecretKey": "s-654321"}


def care(phone: str = "0912345678", **fields: Any) -> dict[str, Any]:
    body = {**KEYS, "Phone": phone, "Content": "Hello", "Brandname": "BRAND", "SmsType": "2", "IsUnicode": "0"}
    body.update(fields)
    return body


@pytest.fixture
def server() -> Any:
    with SimulatorServer(Smsc(), api_key=KEYS["ApiKey"], secret_key=KEYS["SecretKey"], hang=30.0) as running:
        yield running


def post(server: SimulatorServer, path: str, body: Any, timeout: float = 5.0) -> requests.Response:
    return requests.post(server.base_url + path, json=body, timeout=timeout)


class TestSimulatorServer:
    def test_binds_the_loopback_and_stops_cleanly(self, closed_port: int) -> None:
        """On port 0 it binds 127.0.0.1, serves, and refuses connections once stopped."""
        with SimulatorServer(Smsc()) as server:
            assert server.url.startswith("http://127.0.0.1:") and server.port > 0
            assert requests.get(server.url + "/_sim/stats", timeout=5).json()["calls"] == 0
            port = server.port
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://127.0.0.1:{port}/_sim/stats", timeout=5)

    def test_customer_care_send_and_idempotency(self, server: SimulatorServer) -> None:
        """100 with an SMSID; the same RequestId again is 124 with the first SMSID, and no second message."""
        first = post(server, "SendMultipleMessage_V4_post_json/", care(RequestId="r1")).json()
        again = post(server, "SendMultipleMessage_V4_post_json/", care(RequestId="r1")).json()
        assert first["CodeResult"] == "100" and first["SMSID"]
        assert again["CodeResult"] == "124" and again["SMSID"] == first["SMSID"]
        assert server.smsc.submitted == 1

    @pytest.mark.parametrize(
        ("body", "code"),
        [
            (care(SecretKey="wrong"), "101"),
            (care(Brandname=""), "104"),
            (care(phone="12345"), "108"),
            (care(SmsType="8"), "118"),
            (care(Content=""), "146"),
        ],
    )
    def test_refusals_carry_esms_codes(self, server: SimulatorServer, body: dict[str, Any], code: str) -> None:
        """Requests the carrier would refuse are answered with its code."""
        assert post(server, "SendMultipleMessage_V4_post_json/", body).json()["CodeResult"] == code

    def test_behaviour_over_http(self, server: SimulatorServer) -> None:
        """Refused number 99, busy 503, throttled 429 with Retry-After, route fault with its code."""
        server.switch(Behaviour(refuse_pattern="0$"))
        assert post(server, "SendMultipleMessage_V4_post_json", care("0912345670")).json()["CodeResult"] == "99"
        server.switch(Behaviour(transient_rate=1.0))
        assert post(server, "SendMultipleMessage_V4_post_json", care()).status_code == 503
        server.switch(Behaviour(tps_limit=0.01))
        assert post(server, "SendMultipleMessage_V4_post_json", care(RequestId="t1")).json()["CodeResult"] == "100"
        throttled = post(server, "SendMultipleMessage_V4_post_json", care(RequestId="t2"))
        assert throttled.status_code == 429 and 90 <= int(throttled.headers["Retry-After"]) <= 100
        server.switch(Behaviour(route_fault="balance"))
        assert post(server, "SendMultipleMessage_V4_post_json", care()).json()["CodeResult"] == "103"

    def test_resets_and_timeouts(self, server: SimulatorServer) -> None:
        """A reset drops the connection; a timeout after acceptance keeps the message and says nothing."""
        server.switch(Behaviour(reset_rate=1.0))
        with pytest.raises(requests.ConnectionError):
            post(server, "SendMultipleMessage_V4_post_json", care(RequestId="x"))
        assert server.smsc.submitted == 0
        server.switch(Behaviour(timeout_after_accept_rate=1.0))
        with pytest.raises(requests.ReadTimeout):
            post(server, "SendMultipleMessage_V4_post_json", care(RequestId="y"), timeout=0.3)
        assert server.smsc.submitted == 1

    def test_advertising_sizes(self, server: SimulatorServer) -> None:
        """30 to 5,000 distinct valid numbers: fewer is 107, more is 120, in range one SMSID for all."""
        body = care(SmsType="1")
        del body["Phone"]
        phones = [f"09123{i:05d}" for i in range(5001)]
        too_few = post(server, "SendMultipleSMSBrandname_json/", {**body, "Phones": phones[:29] + ["bad"] * 5})
        too_many = post(server, "SendMultipleSMSBrandname_json/", {**body, "Phones": phones})
        fine = post(server, "SendMultipleSMSBrandname_json/", {**body, "Phones": phones[:30], "RequestId": "ads1"})
        assert too_few.json()["CodeResult"] == "107" and too_many.json()["CodeResult"] == "120"
        assert fine.json()["CodeResult"] == "100" and server.smsc.submitted == 30

    def test_receipt_status_query(self, server: SimulatorServer) -> None:
        """105 until the receipt is due, then the number's entry; wrong keys 101."""
        server.switch(Behaviour(receipt_delay=3600))
        smsid = post(server, "SendMultipleMessage_V4_post_json", care(RequestId="q1")).json()["SMSID"]
        url = server.base_url + "GetSmsReceiverStatus_get"
        assert requests.get(url, params={**KEYS, "RefId": smsid}, timeout=5).json()["CodeResult"] == "105"
        wrong = requests.get(url, params={**KEYS, "SecretKey": "no", "RefId": smsid}, timeout=5).json()
        assert wrong["CodeResult"] == "101"
        server.switch(Behaviour())
        smsid = post(server, "SendMultipleMessage_V4_post_json", care("0961234567", RequestId="q2")).json()["SMSID"]
        answer = requests.get(url, params={**KEYS, "RefId": smsid}, timeout=5).json()
        assert answer["CodeResult"] == "100"
        assert answer["ReceiverList"] == [
            {"Phone": "0961234567", "NetworkName": "Viettel", "IsSent": True, "SentResult": True, "Retry": 0}
        ]

    def test_callbacks_with_duplicates_and_intermediates(self, server: SimulatorServer, receiver: Any) -> None:
        """Each receipt event is a GET to the CallbackUrl with eSMS's parameters; duplicates come twice."""
        server.switch(Behaviour(intermediate_receipts=True, duplicate_rate=1.0))
        post(
            server,
            "SendMultipleMessage_V4_post_json",
            care("0961234567", RequestId="c1", CallbackUrl=receiver.callback_url),
        )
        got = receiver.wait_for(lambda callbacks: len(callbacks) >= 3)
        assert [c.query["SendStatus"] for c in got] == ["7", "5", "5"]
        final = got[1]
        assert final.method == "GET"
        assert {k: final.query[k] for k in ("RequestId", "SendSuccess", "SendFailed", "telcoid", "phonenumber")} == {
            "RequestId": "c1",
            "SendSuccess": "1",
            "SendFailed": "0",
            "telcoid": "1",
            "phonenumber": "0961234567",
        }
        assert set(final.query) >= {"SMSID", "TotalReceiver", "TotalSent", "TotalPrice", "TypeId"}

    def test_early_receipts_arrive_before_the_answer(self, server: SimulatorServer, receiver: Any) -> None:
        """With early receipts the callback has been received by the time the submit answer is read."""
        server.switch(Behaviour(early_receipt_rate=1.0, receipt_delay=3600))
        answer = post(
            server, "SendMultipleMessage_V4_post_json", care(RequestId="e1", CallbackUrl=receiver.callback_url)
        )
        assert answer.json()["CodeResult"] == "100"
        assert [c.query["RequestId"] for c in receiver.received] == ["e1"]

    def test_out_of_order_callbacks(self, server: SimulatorServer, receiver: Any) -> None:
        """Out of order: the intermediate "sent" callback arrives after the final one."""
        server.switch(Behaviour(reorder_rate=1.0))
        post(server, "SendMultipleMessage_V4_post_json", care(RequestId="o1", CallbackUrl=receiver.callback_url))
        got = receiver.wait_for(lambda callbacks: len(callbacks) >= 2)
        assert [c.query["SendStatus"] for c in got] == ["5", "7"]

    def test_failed_callbacks_are_retried_then_dropped(self, server: SimulatorServer, receiver: Any) -> None:
        """A callback answered with an error is tried 6 times in all, then dropped and counted."""
        receiver.status = 500
        server.callback_retry_delay = 0.01
        post(server, "SendMultipleMessage_V4_post_json", care(RequestId="f1", CallbackUrl=receiver.callback_url))
        receiver.wait_for(lambda callbacks: len(callbacks) >= 6)
        server.stop()
        assert len(receiver.received) == 6 and server.stats()["callbacks_dropped"] == 1

    def test_remote_callback_urls_are_not_called(self, server: SimulatorServer) -> None:
        """Only loopback callback URLs are called unless allowed: the message is accepted, no callback."""
        answer = post(server, "SendMultipleMessage_V4_post_json", care(CallbackUrl="http://receipts.example.org/cb"))
        assert answer.json()["CodeResult"] == "100"
        assert server.stats()["callbacks_refused"] == 1

    def test_behaviour_endpoint(self, server: SimulatorServer) -> None:
        """An operator switches the behaviour over HTTP; a bad option is a 400 naming it."""
        url = server.url + "/_sim/behaviour"
        assert requests.post(url, json={"behaviour": "flaky", "seed": 4}, timeout=5).json()["seed"] == 4
        assert server.smsc.behaviour.transient_rate == PRESETS["flaky"].transient_rate
        bad = requests.post(url, json={"transient_rate": 3}, timeout=5)
        assert bad.status_code == 400 and "transient_rate" in bad.json()["ErrorMessage"]
        assert requests.get(url, timeout=5).json()["seed"] == 4

    def test_unknown_paths_and_bad_json(self, server: SimulatorServer) -> None:
        """Unknown endpoints are 404; a body that is not JSON is 400."""
        assert requests.get(server.url + API_ROOT + "Nope", timeout=5).status_code == 404
        bad = requests.post(server.base_url + "SendMultipleMessage_V4_post_json", data=b"{", timeout=5)
        assert bad.status_code == 400


def test_simulator_command(tmp_path: Any) -> None:
    """`broadcaster simulator --port 0` prints its URL, serves eSMS, and stops on Ctrl-C."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BROADCASTER_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "broadcaster", "simulator", "--port", "0", "-b", "rejecting", "--set", "seed=2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        match = re.search(r"(http://127\.0\.0\.1:\d+/MainService\.svc/json/)", first)
        assert match, first
        answer = requests.post(match.group(1) + "SendMultipleMessage_V4_post_json", json=care("0912345670"), timeout=5)
        assert answer.json()["CodeResult"] == "99"
        stats = json.loads(requests.get(match.group(1).split("/MainService")[0] + "/_sim/stats", timeout=5).text)
        assert stats["behaviour"]["seed"] == 2
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Stopped." in out
