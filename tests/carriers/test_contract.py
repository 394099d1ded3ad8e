"""The carrier adapter contract, one table-driven suite for every built-in adapter.

Each adapter runs against a real peer on 127.0.0.1 (the in-process simulator's ``Smsc``, the HTTP
simulator speaking eSMS, a canned-answer HTTP server for exact eSMS cases, a SOAP responder for
Viettel). Every case checks, besides its own expectation: the outcome is per message and classified
(accepted, or failed ``permanent``/``transient``/``throttled`` with retry-after/``ambiguous``/``route``),
nothing but a ``CarrierError`` escapes, and no credential appears in results, exception text or log
output (captured at DEBUG, urllib3 included). The ``no_outside_traffic`` guard (conftest) fails any
attempt to leave 127.0.0.1, and canned peers fail on unused answers.

How to plug in another adapter (the SMPP adapter, or a carrier's own package):

1. Write a peer: an object with
   - ``secrets``: the credential values your adapter is given (checked never to leak);
   - ``stage(scenario, batch) -> Adapter``: arrange the peer so that ``batch`` meets ``scenario`` (the
     names and what they must produce are ``CASES`` below) and return a fresh adapter pointed at it.
     Numbers ending ``000000`` must be refused at submit, numbers ending ``999999`` reported
     undeliverable in their receipt;
   - ``seen()``: what reached the peer, normalised: objects with ``key``, ``msisdn`` (E.164), ``text`` and
     ``unicode`` (sent as UCS-2) attributes, like conftest's ``Seen``;
   - ``receipts(adapter, accepted) -> list[Receipt]``: the receipts the peer produces for these accepted
     messages, as the adapter parses them (callback, poll or stream) (only if you list ``receipts``);
   - ``garbage_receipts(adapter) -> list[callable]``: calls that make the adapter parse garbage
     receipts; each must raise ``MalformedPayload`` (empty list when receipts are not parsed);
   - ``verify()``: called at teardown (close adapters; fail on leftovers).
2. Give it a fixture in ``tests/carriers/conftest.py`` (or a conftest of your package's tests).
3. Add a line to ``PEERS``: fixture name, the adapter's registry name, and the scenarios the peer can
   stage. Remove the adapter from ``PENDING_PEERS`` if it is listed there.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Sequence
from dataclasses import dataclass

import pytest

from carriers import BUILTINS
from carriers.base import (
    Accepted,
    Adapter,
    CallbackAdapter,
    Failed,
    FailureKind,
    PollingAdapter,
    ReceiptMode,
    ReceiptStatus,
    Result,
    Submission,
)
from carriers.errors import CarrierError, MalformedPayload, as_failed

# -- the table -----------------------------------------------------------------------------------

ACCEPTED = "accepted"
A = Submission(key="101", msisdn="+84912345671", text="Hello 30/7, hotline 111", encoding="gsm7", sender="BRAND")
B = Submission(
    key="102", msisdn="+84987654322", text="Ngày toàn dân phòng, chống mua bán người", encoding="ucs2", sender="BRAND"
)
C = Submission(key="103", msisdn="+84355512343", text="Hello again", encoding="gsm7", sender="BRAND")
REFUSED = Submission(key="104", msisdn="+84912000000", text="Hello 30/7", encoding="gsm7", sender="BRAND")
UNDELIVERABLE = Submission(key="105", msisdn="+84912999999", text="Hello 30/7", encoding="gsm7", sender="BRAND")


@dataclass(frozen=True)
class Case:
    batch: tuple[Submission, ...]
    expect: tuple[str, ...]
    """Per message: ``accepted`` or the ``FailureKind`` of its failure."""


GARBAGE = ("garbage_malformed", "garbage_truncated", "garbage_html", "garbage_empty")
CASES: dict[str, Case] = {
    "accept": Case((A, B, C), (ACCEPTED, ACCEPTED, ACCEPTED)),
    "refuse": Case((A, REFUSED, C), (ACCEPTED, FailureKind.PERMANENT, ACCEPTED)),
    "transient": Case((A,), (FailureKind.TRANSIENT,)),  # the peer is busy (5xx, SOAP Server fault)
    "unreachable": Case((A,), (FailureKind.TRANSIENT,)),  # connection refused: nothing was sent
    "throttled": Case((A,), (FailureKind.THROTTLED,)),
    "ambiguous": Case((A,), (FailureKind.AMBIGUOUS,)),  # no answer after the request went out
    "reset": Case((A,), (FailureKind.AMBIGUOUS,)),  # connection reset after the request went out
    "route_auth": Case((A, B), (FailureKind.ROUTE, FailureKind.ROUTE)),
    "route_balance": Case((A,), (FailureKind.ROUTE,)),
    "resend": Case((A,), (ACCEPTED,)),  # then sent again with the same key: accepted, same provider id
    **{name: Case((A,), (FailureKind.TRANSIENT,)) for name in GARBAGE},  # MalformedPayload, classified
}
RECEIPTS = Case((A, UNDELIVERABLE, C), (ReceiptStatus.DELIVERED, ReceiptStatus.FAILED, ReceiptStatus.DELIVERED))

COMMON = frozenset({"accept", "refuse", "transient", "throttled", "ambiguous", "route_auth", "route_balance"})


@dataclass(frozen=True)
class PeerSpec:
    fixture: str
    adapter: str
    """The adapter's name in ``carriers.BUILTINS``."""
    scenarios: frozenset[str]
    receipts: bool = False


PEERS: dict[str, PeerSpec] = {
    "simulator": PeerSpec("simulator_peer", "simulator", COMMON | {"resend"}, receipts=True),
    "esms-simulator": PeerSpec(
        "esms_simulator_peer", "esms", COMMON | {"unreachable", "reset", "resend"}, receipts=True
    ),
    "esms-canned": PeerSpec("esms_canned_peer", "esms", COMMON | {"unreachable", "resend", *GARBAGE}, receipts=True),
    "viettel": PeerSpec("viettel_peer", "viettel", COMMON | {"unreachable", *GARBAGE}),
}
PENDING_PEERS = frozenset({"smpp"})
"""Built-in adapters whose peer is still to be plugged in here (see the module docstring)."""

SUBMIT_CASES = [
    pytest.param(peer, scenario, id=f"{peer}-{scenario}")
    for peer, spec in PEERS.items()
    for scenario in CASES
    if scenario in spec.scenarios
]
RECEIPT_PEERS = [name for name, spec in PEERS.items() if spec.receipts]


# -- helpers -------------------------------------------------------------------------------------


class Leaks:
    """Collects every text a case produced, to check that no credential is in any of them."""

    def __init__(self, secrets: Sequence[str]) -> None:
        self.secrets = [s for s in secrets if s]
        self.texts: list[str] = []

    def add(self, *texts: object) -> None:
        self.texts.extend(str(t) for t in texts)

    def check(self, caplog: pytest.LogCaptureFixture) -> None:
        texts = [*self.texts, caplog.text]
        found = [(secret, text[:200]) for secret in self.secrets for text in texts if secret in text]
        assert not found, f"credentials leaked: {found}"


def outcomes(adapter: Adapter, batch: Sequence[Submission], leaks: Leaks) -> list[Result]:
    """Per-message results, whether the adapter returned them or raised a ``CarrierError`` for the call."""
    try:
        results = adapter.submit(list(batch))
    except CarrierError as exc:
        leaks.add(exc, repr(exc), "".join(traceback.format_exception(exc)))
        results = [as_failed(exc, s.key) for s in batch]
    leaks.add(*(repr(r) for r in results))
    return results


def check_capabilities(adapter: Adapter) -> None:
    caps = adapter.capabilities
    assert caps.max_batch >= caps.min_batch >= 1
    assert caps.receipts and set(caps.receipts) <= {
        ReceiptMode.NONE,
        ReceiptMode.CALLBACK,
        ReceiptMode.POLL,
        ReceiptMode.STREAM,
    }
    assert (ReceiptMode.NONE in caps.receipts) == (caps.receipts == (ReceiptMode.NONE,))
    if ReceiptMode.POLL in caps.receipts:
        assert isinstance(adapter, PollingAdapter)
    if ReceiptMode.CALLBACK in caps.receipts:
        assert isinstance(adapter, CallbackAdapter)


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every log record at DEBUG (urllib3's request lines included), for the credentials check."""
    caplog.set_level(logging.DEBUG)
    return caplog


# -- the suite -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("peer_name", "scenario"), SUBMIT_CASES)
def test_submit(
    peer_name: str, scenario: str, request: pytest.FixtureRequest, debug_logs: pytest.LogCaptureFixture
) -> None:
    """Each scenario gives one classified result per message, in order, and leaks no credential."""
    peer = request.getfixturevalue(PEERS[peer_name].fixture)
    case = CASES[scenario]
    leaks = Leaks(peer.secrets)
    adapter = peer.stage(scenario, case.batch)
    leaks.add(repr(adapter))
    results = outcomes(adapter, case.batch, leaks)

    assert [r.key for r in results] == [s.key for s in case.batch]
    assert [ACCEPTED if isinstance(r, Accepted) else r.kind for r in results] == list(case.expect)
    for result in results:
        if isinstance(result, Accepted):
            assert result.provider_id and result.parts >= 1
        else:
            assert isinstance(result, Failed) and result.code and result.reason
            assert (result.retry_after is not None and result.retry_after > 0) == (result.kind == FailureKind.THROTTLED)
    provider_ids = [r.provider_id for r in results if isinstance(r, Accepted)]
    assert len(set(provider_ids)) == len(provider_ids)

    if scenario == "accept":
        check_capabilities(adapter)
        wanted = {(s.key, s.msisdn, s.text, s.encoding == "ucs2") for s in case.batch}
        assert {(m.key, m.msisdn, m.text, m.unicode) for m in peer.seen()} == wanted
    if scenario == "resend":
        assert adapter.capabilities.idempotency_keys
        again = outcomes(adapter, case.batch, leaks)
        assert again == results, "a resend with the same key is the same acceptance"
    leaks.check(debug_logs)


@pytest.mark.parametrize("peer_name", RECEIPT_PEERS)
def test_receipts(peer_name: str, request: pytest.FixtureRequest, debug_logs: pytest.LogCaptureFixture) -> None:
    """Receipts come out canonical: one final status per message, the undeliverable one failed with a code."""
    peer = request.getfixturevalue(PEERS[peer_name].fixture)
    leaks = Leaks(peer.secrets)
    adapter = peer.stage("receipts", RECEIPTS.batch)
    results = outcomes(adapter, RECEIPTS.batch, leaks)
    accepted = [r for r in results if isinstance(r, Accepted)]
    assert len(accepted) == len(RECEIPTS.batch)

    receipts = peer.receipts(adapter, accepted)
    leaks.add(*(repr(r) for r in receipts))
    assert receipts
    carriers = {"viettel", "vinaphone", "mobifone", "vietnamobile", "gmobile", "itel", "reddi"}
    finals: dict[str, set[str]] = {}
    for receipt in receipts:
        assert receipt.status in ReceiptStatus.ALL
        assert receipt.at.tzinfo is not None and receipt.at.utcoffset() is not None
        assert receipt.network is None or receipt.network in carriers
        if receipt.status != ReceiptStatus.ACCEPTED:
            finals.setdefault(receipt.provider_id.strip().lower(), set()).add(receipt.status)
            assert (receipt.error_code is not None) == (receipt.status == ReceiptStatus.FAILED)
    by_message = [finals.get(a.provider_id.strip().lower()) for a in accepted]
    assert by_message == [{status} for status in RECEIPTS.expect]
    leaks.check(debug_logs)


@pytest.mark.parametrize("peer_name", RECEIPT_PEERS)
def test_garbage_receipts(peer_name: str, request: pytest.FixtureRequest, debug_logs: pytest.LogCaptureFixture) -> None:
    """A receipt the adapter cannot read raises ``MalformedPayload``, nothing else."""
    peer = request.getfixturevalue(PEERS[peer_name].fixture)
    leaks = Leaks(peer.secrets)
    adapter = peer.stage("receipts", RECEIPTS.batch)
    outcomes(adapter, RECEIPTS.batch, leaks)
    attempts = peer.garbage_receipts(adapter)
    if ReceiptMode.CALLBACK in adapter.capabilities.receipts:
        assert attempts, "an adapter that parses callbacks is given garbage to parse"
    for attempt in attempts:
        with pytest.raises(MalformedPayload) as caught:
            attempt()
        leaks.add(caught.value, "".join(traceback.format_exception(caught.value)))
    if peer_name == "esms-simulator":  # let the simulator's callbacks finish before it stops
        peer.receiver.wait_for(lambda got: sum(c.query.get("SendStatus") == "5" for c in got) >= 6)
    leaks.check(debug_logs)


def test_every_builtin_adapter_has_a_peer() -> None:
    """Each built-in adapter runs this suite (or is listed as pending, to be plugged in)."""
    covered = {spec.adapter for spec in PEERS.values()}
    assert set(BUILTINS) - covered == set(PENDING_PEERS) - covered
    assert not (PENDING_PEERS & covered), "a pending adapter now has a peer: remove it from PENDING_PEERS"


def test_the_table_covers_every_failure_kind() -> None:
    """Between them the cases exercise acceptance and every kind of failure."""
    kinds = {kind for case in CASES.values() for kind in case.expect}
    assert kinds == {ACCEPTED, *FailureKind.ALL}
    assert all(spec.scenarios <= set(CASES) for spec in PEERS.values())
