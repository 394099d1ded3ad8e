"""Tests for carriers.smpp against a real SMPP server on 127.0.0.1.

The peer (``SmppPeer``, fixture ``smpp_peer``) is the ``smpp34`` package's SMSC server (Rust core,
asyncio face) behind a small relay on a free port. The server decides each submit (accept with an id
in hex or decimal, refuse with a chosen command_status, hold the response) and pushes ``deliver_sm``
receipts, in text or TLV form. The relay does what a well-behaved server library cannot: it records
every PDU the client sends as bytes, checks the bind credentials, answers a submit with a
``generic_nack``, injects unexpected PDUs and garbage, swallows ``enquire_link``, drops the connection
and refuses new ones. The peer runs its own event loop in a thread, so tests call it synchronously.

To reuse the peer from another test module (the contract suite), load this file by path and take
the fixture (pytest finds fixtures among a module's names)::

    spec = importlib.util.spec_from_file_location("smpp_peer_tests", Path(__file__).with_name("test_smpp.py"))
    peer_module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = peer_module  # dataclasses need the module registered
    spec.loader.exec_module(peer_module)
    smpp_peer = peer_module.smpp_peer  # or: with peer_module.SmppPeer(id_format="dec") as peer: ...
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest
import smpp34

from carriers import adapter_factory, create_adapter, sms
from carriers.base import Accepted, Adapter, Failed, FailureKind, ReceiptMode, ReceiptStatus, Submission
from carriers.errors import AdapterOptionsError, RouteError
from carriers.smpp import SmppAdapter, SmppOptions, parse_receipt_text, status_text

T = TypeVar("T")

BIND_RECEIVER = 0x00000001
BIND_TRANSMITTER = 0x00000002
SUBMIT_SM = 0x00000004
SUBMIT_SM_RESP = 0x80000004
DELIVER_SM = 0x00000005
DELIVER_SM_RESP = 0x80000005
BIND_TRANSCEIVER = 0x00000009
ENQUIRE_LINK = 0x00000015
ENQUIRE_LINK_RESP = 0x80000015
GENERIC_NACK = 0x80000000
INJECTED_SEQUENCES = 0x7F000000
TLV_RECEIPTED_MESSAGE_ID = 0x001E
TLV_MESSAGE_STATE = 0x0427
RELAY_TAG = 0x1400  # vendor TLV the relay adds to each submit: its index on the wire
MESSAGE_STATES = {
    "ENROUTE": 1,
    "DELIVRD": 2,
    "EXPIRED": 3,
    "DELETED": 4,
    "UNDELIV": 5,
    "ACCEPTD": 6,
    "UNKNOWN": 7,
    "REJECTD": 8,
}

SYSTEM_ID = "esme-7Qx"
PASSWORD = "pw-9Zk"
NUMBER = "+84912345678"
SENDER = "BCA"
MANDATED_2024 = (
    "Toàn dân tích cực tham gia phòng, chống mua bán người. Khi phát hiện dấu hiệu liên quan đến mua"
    " bán người hãy thông báo ngay cho cơ quan Công an nơi gần nhất hoặc Tổng đài quốc gia 111 để"
    " được tư vấn, hỗ trợ, hướng dẫn kịp thời"
)
FOLDED_2024 = sms.fold(MANDATED_2024).text


# The peer -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Frame:
    """One PDU as it crossed the relay."""

    command_id: int
    status: int
    sequence: int
    body: bytes

    @classmethod
    def parse(cls, raw: bytes) -> Frame:
        _, command_id, status, sequence = struct.unpack_from(">LLLL", raw)
        return cls(command_id, status, sequence, raw[16:])


@dataclass(frozen=True)
class Bind:
    command_id: int
    system_id: str
    password: str
    system_type: str


@dataclass
class Submit:
    """A submit_sm as it crossed the wire (decoded by smpp34's codec), and how it was answered."""

    sequence: int
    destination_addr: str
    source_addr: str
    source_addr_ton: int
    source_addr_npi: int
    dest_addr_ton: int
    dest_addr_npi: int
    esm_class: int
    data_coding: int
    registered_delivery: int
    short_message: bytes
    status: int
    message_id: str
    nack: bool = False

    @property
    def udh(self) -> tuple[int, int, int] | None:
        """(ref, total, seq) of a concatenation UDH (``05 00 03 ref total seq``), else None."""
        if not self.esm_class & 0x40:
            return None
        head = self.short_message[:6]
        assert head[:3] == b"\x05\x00\x03", head
        return head[3], head[4], head[5]

    @property
    def payload(self) -> bytes:
        return self.short_message[6:] if self.esm_class & 0x40 else self.short_message


@dataclass
class _Relayed:
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter | None = None
    outstanding: set[int] = field(default_factory=set)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _pdu(command_id: int, sequence: int, body: bytes = b"", status: int = 0) -> bytes:
    return struct.pack(">LLLL", 16 + len(body), command_id, status, sequence) + body


async def _read_pdu(reader: asyncio.StreamReader) -> bytes | None:
    try:
        head = await reader.readexactly(4)
        length = int.from_bytes(head, "big")
        if length < 16:
            return None
        return head + await reader.readexactly(length - 4)
    except (asyncio.IncompleteReadError, ConnectionError):
        return None


def receipt_text(receipt_id: str, stat: str, err: str = "000") -> str:
    delivered = 1 if stat == "DELIVRD" else 0
    return (
        f"id:{receipt_id} sub:001 dlvrd:{delivered:03d} submit date:2407301000 done date:2407301001"
        f" stat:{stat} err:{err} text:Toan dan tich cuc"
    )


class SmppPeer:
    """A scriptable SMSC on 127.0.0.1: ``smpp34``'s server behind a recording, fault-injecting relay.

    Decisions are taken in wire order by the relay (the server answers as told, after ``hold``/``delay``).
    Scripting (thread-safe, for the submits that come next):
      ``answer_next(*statuses)``   the next submits get these command_status values (0 accepts);
      ``refuse(destination, st)``  every submit to that number (``84…``) is refused with ``st``;
      ``nack_next(status)``        the relay answers the next submit with a generic_nack itself;
      ``hold()`` / ``release()``   hold every submit response until released;
      ``delay``                    seconds before each submit response;
      ``accepting``                False: new connections are closed at once;
      ``swallow_enquire_link``     True: the client's enquire_link never reaches the server;
      ``drop()``                   abort the client's connection.
    Pushing: ``push_receipt(id, stat, form="text"|"tlv"|"both")`` sends a deliver_sm receipt through
    the real server and returns the client's deliver_sm_resp status; ``inject(command_id, body)``
    sends a hand-made PDU (its answer is kept: ``answer_to(seq)``); ``inject_raw(bytes)`` sends garbage.
    Observing: ``submits`` (in wire order, decoded by smpp34's codec, with the status and id they
    were answered with), ``from_client``
    (every PDU the client sent), ``binds`` (credentials as sent), ``outstanding`` / ``max_outstanding``
    (submits without a response, counted on the wire), ``wait_for(predicate)``.
    Ids: ``id_format`` "hex" (``1A2B``, ``1A2C``…) or "dec" (``6699``…), counting from ``id_start``.
    """

    def __init__(
        self,
        *,
        system_id: str = SYSTEM_ID,
        password: str = PASSWORD,
        id_format: str = "hex",
        id_start: int = 0x1A2B,
    ) -> None:
        self.system_id = system_id
        self.password = password
        self.id_format = id_format
        self.host = "127.0.0.1"
        self.port = 0
        self.delay = 0.0
        self.accepting = True
        self.swallow_enquire_link = False
        self.submits: list[Submit] = []
        self.from_client: list[Frame] = []
        self.binds: list[Bind] = []
        self.max_outstanding = 0
        self._next_id = id_start
        self._lock = threading.Lock()
        self._script: deque[int] = deque()
        self._refused: dict[str, int] = {}
        self._nacks: deque[int] = deque()
        self._answers: dict[int, Frame] = {}
        self._next_injected = INJECTED_SEQUENCES
        self._connections: list[_Relayed] = []
        self._esme: Any = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="smpp-peer", daemon=True)
        self._released: asyncio.Event | None = None
        self._server: Any = None
        self._relay: asyncio.Server | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    def __enter__(self) -> SmppPeer:
        self._thread.start()
        self._call(self._start())
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            self._call(self._stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result(timeout)

    async def _start(self) -> None:
        self._released = asyncio.Event()
        self._released.set()
        for attempt in range(5):
            self._inner_port = _free_port()
            self._server = smpp34.Server(host="127.0.0.1", port=self._inner_port, system_id="TESTSMSC")
            try:
                await self._server.start()
                break
            except Exception:  # the free port was taken meanwhile: try another
                if attempt == 4:
                    raise
        self._spawn(self._events())
        self._relay = await asyncio.start_server(self._serve_client, "127.0.0.1", 0)
        self.port = self._relay.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        if self._relay is not None:
            self._relay.close()
        for conn in list(self._connections):
            self._abort(conn)
        for task in list(self._tasks):
            task.cancel()
        await self._server.stop()

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- the server side -----------------------------------------------------------------------

    async def _events(self) -> None:
        while True:
            event = await self._server.next()
            if isinstance(event, smpp34.Esme):
                self._esme = event
            elif isinstance(event, smpp34.Unbound):
                if self._esme is not None and self._esme.session_id == event.session_id:
                    self._esme = None
            elif isinstance(event, smpp34.SubmitSmEvent):
                self._spawn(self._on_submit(event))

    async def _on_submit(self, event: Any) -> None:
        """Answer a submit as the relay decided when it passed (the tag says which one it was)."""
        tags = [int.from_bytes(t.value, "big") for t in event.tlvs if t.tag == RELAY_TAG]
        record = self.submits[tags[0]] if tags else None
        assert self._released is not None
        await self._released.wait()
        if self.delay:
            await asyncio.sleep(self.delay)
        with contextlib.suppress(Exception):  # the session may be gone (dropped) by now
            if record is None:
                event.reject(0x08)  # ESME_RSYSERR
            elif record.status == 0:
                event.accept(record.message_id)
            else:
                event.reject(record.status)

    # -- the relay -----------------------------------------------------------------------------

    async def _serve_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.accepting:
            writer.transport.abort()
            return
        conn = _Relayed(client=writer)
        self._connections.append(conn)
        try:
            up_reader, conn.upstream = await asyncio.open_connection("127.0.0.1", self._inner_port)
            await asyncio.gather(self._from_client(conn, reader), self._from_server(conn, up_reader))
        finally:
            self._abort(conn)
            self._connections.remove(conn)

    async def _from_client(self, conn: _Relayed, reader: asyncio.StreamReader) -> None:
        assert conn.upstream is not None
        while (raw := await _read_pdu(reader)) is not None:
            frame = Frame.parse(raw)
            with self._lock:
                self.from_client.append(frame)
                if frame.sequence in self._answers or INJECTED_SEQUENCES <= frame.sequence < self._next_injected:
                    self._answers[frame.sequence] = frame
                    continue
            if frame.command_id in (BIND_TRANSCEIVER, BIND_TRANSMITTER, BIND_RECEIVER):
                if not self._check_bind(conn, frame):
                    return
            elif frame.command_id == ENQUIRE_LINK and self.swallow_enquire_link:
                continue
            elif frame.command_id == SUBMIT_SM:
                record = self._decide(conn, frame, raw)
                if record.nack:
                    with self._lock:
                        conn.outstanding.discard(frame.sequence)
                    conn.client.write(_pdu(GENERIC_NACK, frame.sequence, status=record.status))
                    continue
                # Tag the submit with its place on the wire: smpp34 may hand out events in another order.
                tag = struct.pack(">HHL", RELAY_TAG, 4, len(self.submits) - 1)
                raw = struct.pack(">L", len(raw) + len(tag)) + raw[4:] + tag
            conn.upstream.write(raw)
        self._abort(conn)

    def _decide(self, conn: _Relayed, frame: Frame, raw: bytes) -> Submit:
        """Record a submit in wire order and decide its answer (script, refused numbers, nacks)."""
        decoded = smpp34.decode(raw)
        assert isinstance(decoded, smpp34.SubmitSm)
        with self._lock:
            conn.outstanding.add(frame.sequence)
            self.max_outstanding = max(self.max_outstanding, len(conn.outstanding))
            nack = bool(self._nacks)
            if nack:
                status = self._nacks.popleft()
            elif self._script:
                status = self._script.popleft()
            else:
                status = self._refused.get(decoded.destination_addr, 0)
            message_id = ""
            if status == 0:
                message_id = f"{self._next_id:X}" if self.id_format == "hex" else str(self._next_id)
                self._next_id += 1
            record = Submit(
                sequence=frame.sequence,
                destination_addr=decoded.destination_addr,
                source_addr=decoded.source_addr,
                source_addr_ton=decoded.source_addr_ton,
                source_addr_npi=decoded.source_addr_npi,
                dest_addr_ton=decoded.dest_addr_ton,
                dest_addr_npi=decoded.dest_addr_npi,
                esm_class=decoded.esm_class,
                data_coding=decoded.data_coding,
                registered_delivery=decoded.registered_delivery,
                short_message=decoded.short_message,
                status=status,
                message_id=message_id,
                nack=nack,
            )
            self.submits.append(record)
        return record

    def _check_bind(self, conn: _Relayed, frame: Frame) -> bool:
        system_id, password, system_type = (part.decode("latin-1") for part in frame.body.split(b"\0")[:3])
        self.binds.append(Bind(frame.command_id, system_id, password, system_type))
        if system_id == self.system_id and password == self.password:
            return True
        conn.client.write(_pdu(frame.command_id | 0x80000000, frame.sequence, b"\0", status=0x0E))
        conn.client.close()
        return False

    async def _from_server(self, conn: _Relayed, reader: asyncio.StreamReader) -> None:
        while (raw := await _read_pdu(reader)) is not None:
            frame = Frame.parse(raw)
            if frame.command_id in (SUBMIT_SM_RESP, GENERIC_NACK):
                with self._lock:
                    conn.outstanding.discard(frame.sequence)
            conn.client.write(raw)
        self._abort(conn)

    @staticmethod
    def _abort(conn: _Relayed) -> None:
        conn.client.transport.abort()
        if conn.upstream is not None:
            conn.upstream.transport.abort()

    # -- scripting -----------------------------------------------------------------------------

    def answer_next(self, *statuses: int) -> None:
        with self._lock:
            self._script.extend(statuses)

    def refuse(self, destination: str, status: int) -> None:
        with self._lock:
            self._refused[destination] = status

    def nack_next(self, status: int) -> None:
        with self._lock:
            self._nacks.append(status)

    def hold(self) -> None:
        async def clear() -> None:
            assert self._released is not None
            self._released.clear()

        self._call(clear())

    def release(self) -> None:
        async def release() -> None:
            assert self._released is not None
            self._released.set()

        self._call(release())

    def drop(self) -> None:
        """Abort every client connection (no unbind, no FIN handshake)."""

        async def drop() -> None:
            for conn in list(self._connections):
                self._abort(conn)

        self._call(drop())

    def push_receipt(self, receipt_id: str, stat: str = "DELIVRD", *, form: str = "text", err: str = "000") -> int:
        """A deliver_sm receipt through the real server; returns the client's deliver_sm_resp status."""
        tlvs = []
        if form in ("tlv", "both"):
            tlvs = [
                smpp34.Tlv(TLV_RECEIPTED_MESSAGE_ID, receipt_id.encode() + b"\0"),
                smpp34.Tlv(TLV_MESSAGE_STATE, bytes([MESSAGE_STATES[stat]])),
            ]
        text = receipt_text(receipt_id, stat, err).encode() if form in ("text", "both") else b""
        return self.push_deliver(text, esm_class=0x04, tlvs=tlvs)

    def push_deliver(self, short_message: bytes, *, esm_class: int, tlvs: list[Any] | None = None) -> int:
        self.wait_for(lambda: self._esme is not None)  # the server reports a bind a moment after answering it
        esme = self._esme

        async def push() -> int:
            response = await esme.deliver_sm(
                SENDER, short_message, source_addr=NUMBER[1:], esm_class=esm_class, tlvs=tlvs or []
            )
            status: int = response.command_status
            return status

        return self._call(push())

    def inject(self, command_id: int, body: bytes = b"", status: int = 0) -> int:
        """A hand-made PDU to the client; returns its sequence number (see ``answer_to``)."""
        with self._lock:
            sequence = self._next_injected
            self._next_injected += 1
        self.inject_raw(_pdu(command_id, sequence, body, status))
        return sequence

    def inject_raw(self, data: bytes) -> None:
        async def send() -> None:
            for conn in self._connections:
                conn.client.write(data)

        self._call(send())

    def answer_to(self, sequence: int, timeout: float = 5.0) -> Frame:
        self.wait_for(lambda: sequence in self._answers, timeout)
        return self._answers[sequence]

    # -- observing -----------------------------------------------------------------------------

    @property
    def outstanding(self) -> int:
        with self._lock:
            return sum(len(conn.outstanding) for conn in self._connections)

    def sent(self, command_id: int) -> list[Frame]:
        with self._lock:
            return [f for f in self.from_client if f.command_id == command_id]

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"peer: condition not met within {timeout}s")
            time.sleep(0.01)


@pytest.fixture
def smpp_peer() -> Iterator[SmppPeer]:
    """A running SMSC on 127.0.0.1 (see ``SmppPeer``)."""
    with SmppPeer() as peer:
        yield peer


Connect = Callable[..., SmppAdapter]


@pytest.fixture
def connect(smpp_peer: SmppPeer) -> Iterator[Connect]:
    """Build a bound adapter to ``smpp_peer`` with test-sized timers; closed after the test."""
    made: list[SmppAdapter] = []

    def make(*, bound: bool = True, password: str = PASSWORD, **options: Any) -> SmppAdapter:
        settings = {
            "host": smpp_peer.host,
            "port": smpp_peer.port,
            "response_timeout": 2.0,
            "reconnect_min": 0.05,
            "reconnect_max": 0.2,
            **options,
        }
        adapter = SmppAdapter.from_options(settings, {"system_id": SYSTEM_ID, "password": password})
        made.append(adapter)
        if bound:
            assert adapter.wait_bound(5.0), "adapter did not bind"
        return adapter

    yield make
    for adapter in made:
        adapter.close()


def submission(
    key: str = "1", text: str = "Hello 111", *, msisdn: str = NUMBER, encoding: str | None = None
) -> Submission:
    return Submission(key=key, msisdn=msisdn, text=text, encoding=encoding or sms.encoding_for(text), sender=SENDER)


def accepted(result: Any) -> Accepted:
    assert isinstance(result, Accepted), result
    return result


def failed(result: Any) -> Failed:
    assert isinstance(result, Failed), result
    return result


def submit_in_thread(adapter: SmppAdapter, batch: list[Submission]) -> Future[list[Any]]:
    future: Future[list[Any]] = Future()

    def run() -> None:
        try:
            future.set_result(adapter.submit(batch))
        except BaseException as exc:  # noqa: BLE001 - handed to the test through the future
            future.set_exception(exc)

    threading.Thread(target=run, daemon=True).start()
    return future


# Registry and options -------------------------------------------------------------------------


class TestRegistry:
    def test_smpp_is_a_builtin_adapter(self) -> None:
        """``smpp`` resolves to SmppAdapter.from_options through the registry."""
        assert adapter_factory("smpp") == SmppAdapter.from_options

    def test_created_adapter_satisfies_the_contract(self, smpp_peer: SmppPeer) -> None:
        """create_adapter gives an Adapter with stream receipts and no idempotency keys."""
        adapter = create_adapter(
            "smpp", {"host": smpp_peer.host, "port": smpp_peer.port}, {"system_id": SYSTEM_ID, "password": PASSWORD}
        )
        try:
            assert isinstance(adapter, Adapter)
            assert adapter.capabilities.receipts == (ReceiptMode.STREAM,)
            assert adapter.capabilities.idempotency_keys is False
        finally:
            adapter.close()


class TestOptions:
    def test_defaults(self) -> None:
        """Only the host is required; the window defaults to 10."""
        options = SmppOptions.from_mapping({"host": "smsc.example"})
        assert (options.port, options.window, options.dest_addr_ton) == (2775, 10, 1)

    @pytest.mark.parametrize(
        ("options", "words"),
        [
            ({"host": "h", "windw": 3}, "unknown smpp option 'windw'"),
            ({"port": 2775}, "needs the option 'host'"),
            ({"host": "h", "window": "ten"}, "'window' must be int"),
            ({"host": "h", "window": 0}, "window must be at least 1"),
            ({"host": "h", "part_receipts": "some"}, "part_receipts must be one of"),
            ({"host": "h", "quick_ack": "sometimes"}, "quick_ack must be one of"),
        ],
    )
    def test_bad_options_are_refused(self, options: dict[str, Any], words: str) -> None:
        """Unknown names, wrong types and impossible values are AdapterOptionsErrors that say which."""
        with pytest.raises(AdapterOptionsError, match=words):
            SmppOptions.from_mapping(options)

    def test_missing_credentials_are_named(self) -> None:
        """A route without a password says which credential is missing and how to give it."""
        with pytest.raises(AdapterOptionsError, match=r"password.*credentials_env"):
            SmppAdapter.from_options({"host": "h"}, {"system_id": "x"})

    def test_too_long_password_is_refused_without_echoing_it(self) -> None:
        """smpplib would cut a long password silently; the error does not show the password."""
        secret = "longer-than-eight"
        with pytest.raises(AdapterOptionsError, match="password") as caught:
            SmppAdapter.from_options({"host": "h"}, {"system_id": "x", "password": secret})
        assert secret not in str(caught.value)


# Submitting: what reaches the wire ------------------------------------------------------------


class TestWire:
    def test_single_part_gsm7(self, smpp_peer: SmppPeer, connect: Connect) -> None:
        """A short ASCII text goes as one submit_sm: data_coding 0, no UDH, receipt requested."""
        adapter = connect()
        text = "Hello {111} €"
        result = accepted(adapter.submit([submission("7", text)])[0])
        [sent] = smpp_peer.submits
        assert (result.key, result.provider_id, result.parts) == ("7", sent.message_id, 1)
        assert (sent.data_coding, sent.esm_class, sent.registered_delivery) == (0, 0, 1)
        assert sent.short_message == b"Hello \x1b(111\x1b) \x1be"
        assert (sent.destination_addr, sent.dest_addr_ton, sent.dest_addr_npi) == ("84912345678", 1, 1)
        assert (sent.source_addr, sent.source_addr_ton, sent.source_addr_npi) == (SENDER, 5, 0)

    def test_single_part_ucs2(self, smpp_peer: SmppPeer, connect: Connect) -> None:
        """Vietnamese with diacritics goes as UTF-16BE with data_coding 8."""
        adapter = connect()
        text = "Gọi 111 ngay"
        accepted(adapter.submit([submission("1", text)])[0])
        [sent] = smpp_peer.submits
        assert sent.data_coding == 8
        assert sent.short_message.decode("utf-16-be") == text

    def test_source_ton_npi_from_options(self, smpp_peer: SmppPeer, connect: Connect) -> None:
        """source_addr_ton/npi and dest_addr_ton/npi from the options override the defaults."""
        adapter = connect(source_addr_ton=3, source_addr_npi=0, dest_addr_ton=0, dest_addr_npi=9)
        accepted(adapter.submit([submission()])[0])
        [sent] = smpp_peer.submits
        assert (sent.source_addr_ton, sent.source_addr_npi, sent.dest_addr_ton, sent.dest_addr_npi) == (3, 0, 0, 9)

    @pytest.mark.parametrize(
        ("text", "data_coding"),
        [
            (MANDATED_2024, 8),
            (FOLDED_2024, 0),
            ("a" * 152 + "€" + "b" * 10, 0),  # the escape pair would straddle the 153-septet boundary
            ("a" * 66 + "\U0001f600" + "b" * 10, 8),  # the surrogate pair would straddle 67 units
        ],
        ids=["ucs2-4-parts", "gsm7-2-parts", "escape-at-boundary", "surrogate-at-boundary"],
    )
    def test_multipart_udh_and_split(self, smpp_peer: SmppPeer, connect: Connect, text: str, data_coding: int) -> None:
        """Parts carry 05 00 03 ref total seq, esm_class 0x40, and the split of carriers.sms."""
        adapter = connect()
        result = accepted(adapter.submit([submission("m", text)])[0])
        expected = sms.encode_parts(text, sms.encoding_for(text))
        assert len(expected) > 1
        sent = smpp_peer.submits
        assert result.parts == len(expected) == len(sent)
        assert result.provider_id == sent[0].message_id
        [ref] = {s.udh[0] for s in sent if s.udh}
        assert [s.udh for s in sent] == [(ref, len(expected), n) for n in range(1, len(expected) + 1)]
        assert [s.payload for s in sent] == expected
        assert {(s.esm_class, s.data_coding, s.registered_delivery) for s in sent} == {(0x40, data_coding, 1)}
        if data_coding == 8:
            assert "".join(s.payload.decode("utf-16-be") for s in sent) == text  # strict: no split pair
        else:
            assert all(not s.payload.endswith(b"\x1b") for s in sent)

    def test_messages_get_distinct_references(self, smpp_peer: SmppPeer, connect: Connect) -> None:
        """Two long messages to the same number are told apart by their UDH reference."""
        adapter = connect()
        results = adapter.submit([submission("a", FOLDED_2024), submission("b", FOLDED_2024)])
        assert [accepted(r).parts for r in results] == [2, 2]
        refs = {s.udh[0] for s in smpp_peer.submits if s.udh}
        assert len(refs) == 2

    def test_text_outside_declared_encoding_is_refused_unsent(self, smpp_peer: SmppPeer, connect: Connect) -> None:
        """A GSM-7 submission with Vietnamese letters fails permanently and nothing is sent."""
        adapter = connect()
        result = failed(adapter.submit([submission("1", "Toàn dân", encoding=sms.GSM7)])[0])
        assert (result.kind, result.code) == (FailureKind.PERMANENT, "ENCODING")
        assert smpp_peer.submits == []

    def test_too_many_parts_is_refused_unsent(self, smpp_peer: SmppPeer, connect: Connect) -> None:
        """A text over the route's part cap fails permanently before sending."""
        adapter = connect(max_parts=3)
        result = failed(adapter.submit([submission("1", MANDATED_2024)])[0])
        assert (result.kind, result.code) == (FailureKind.PERMANENT, "TOO_LONG")
        assert "4 parts" in result.reason
        assert smpp_peer.submits == []


class TestWindow:
    def test_never_more_than_window_outstanding(self, smpp_peer: SmppPeer, connect: Connect) -> None:
        """With responses held, the adapter stops at ``window`` submits and resumes on release."""
        adapter = connect(window=3)
        smpp_peer.hold()
        future = submit_in_thread(adapter, [submission(str(n)) for n in range(10)])
        smpp_peer.wait_for(lambda: smpp_peer.outstanding == 3)
        time.sleep(0.2)  # room for a window bug to send a fourth
        assert len(smpp_peer.submits) == 3
        smpp_peer.release()
        results = future.result(10)
        assert [accepted(r).key for r in results] == [str(n) for n in range(10)]
        assert smpp_peer.max_outstanding == 3

    def test_window_holds_with_slow_responses(self, smpp_peer: SmppPeer, connect: Connect) -> None:
        """Multipart messages under slow responses still keep at most ``window`` on the wire."""
        adapter = connect(window=4)
        smpp_peer.delay = 0.05  # long enough for the adapter to fill its window
        results = adapter.submit([submission(str(n), MANDATED_2024) for n in range(5)])
        assert [accepted(r).parts for r in results] == [4] * 5
        assert smpp_peer.max_outstanding == 4

    def test_results_follow_responses_by_sequence(self, smpp_peer: SmppPeer, connect: Connect) -> None:
        """Each result carries the id the SMSC gave that message, in batch order."""
        adapter = connect(window=5)
        results = adapter.submit([submission(str(n), f"message {n}") for n in range(12)])
        by_text = {s.short_message.decode(): s.message_id for s in smpp_peer.submits}
        assert [accepted(r).provider_id for r in results] == [by_text[f"message {n}"] for n in range(12)]


# Submitting: failures -------------------------------------------------------------------------


class TestFailures:
    @pytest.mark.parametrize(
        ("status", "kind"),
        [
            (0x58, FailureKind.THROTTLED),
            (0x14, FailureKind.THROTTLED),
            (0x08, FailureKind.TRANSIENT),
            (0x0B, FailureKind.PERMANENT),
            (0x45, FailureKind.PERMANENT),
            (0x04, FailureKind.ROUTE),
        ],
    )
    def test_command_status_is_classified(self, smpp_peer: SmppPeer, connect: Connect, status: int, kind: str) -> None:
        """Throttling, system errors, refusals and bind faults map to their failure kinds."""
        adapter = connect(throttle_retry_after=0.05)
        smpp_peer.answer_next(status)
        result = failed(adapter.submit([submission()])[0])
        assert (result.kind, result.code) == (kind, f"0x{status:02X}")
        assert status_text(status) in result.reason
        assert (result.retry_after is not None) == (kind == FailureKind.THROTTLED)

    def test_mixed_batch_keeps_order(self, smpp_peer: SmppPeer, connect: Connect) -> None:
        """A refused number among accepted ones fails alone; results stay in batch order."""
        adapter = connect()
        smpp_peer.refuse("84900000000", 0x0B)
        batch = [submission("a"), submission("b", msisdn="+84900000000"), submission("c")]
        results = adapter.submit(batch)
        assert [type(r) for r in results] == [Accepted, Failed, Accepted]
        assert [r.key for r in results] == ["a", "b", "c"]
        assert failed(results[1]).reason.startswith("SMSC refused the message: 0x0B ESME_RINVDSTADR")

    @pytest.mark.parametrize(
        ("status", "kind", "name"),
        [
            (0x03, FailureKind.PERMANENT, "ESME_RINVCMDID"),
            (0x58, FailureKind.THROTTLED, "ESME_RTHROTTLED"),
            (0x0400, FailureKind.PERMANENT, "vendor-specific status"),
        ],
    )
    def test_generic_nack_answer_is_classified(
        self, smpp_peer: SmppPeer, connect: Connect, status: int, kind: str, name: str
    ) -> None:
        """A generic_nack in place of submit_sm_resp fails the message by its status, vendor codes too."""
        adapter = connect(throttle_retry_after=0.01)
        smpp_peer.nack_next(status)
        result = failed(adapter.submit([submission()])[0])
        assert (result.kind, result.code) == (kind, f"0x{status:02X}")
        assert "generic_nack" in result.reason
        assert name in result.reason
        time.sleep(0.02)  # past retry_after
        accepted(adapter.submit([submission("2")])[0])

    def test_throttling_holds_off_the_next_submits(self, smpp_peer: SmppPeer, connect: Connect) -> None:
        """After ESME_RTHROTTLED the adapter sends nothing until retry_after has passed."""
        adapter = connect(throttle_retry_after=30.0)
        smpp_peer.answer_next(0x58)
        assert failed(adapter.submit([submission("1")])[0]).kind == FailureKind.THROTTLED
        held = failed(adapter.submit([submission("2")])[0])
        assert held.kind == FailureKind.THROTTLED
        assert held.retry_after is not None and held.retry_after > 1.0
        assert len(smpp_peer.submits) == 1

    def test_missing_response_is_ambiguous_and_frees_the_window(self, smpp_peer: SmppPeer, connect: Connect) -> None:
        """No submit_sm_resp in time: ambiguous; the late response is ignored and the slot reused."""
        adapter = connect(window=1, response_timeout=0.3)
        smpp_peer.hold()
        result = failed(adapter.submit([submission("1")])[0])
        assert (result.kind, result.code) == (FailureKind.AMBIGUOUS, "TIMEOUT")
        smpp_peer.release()
        smpp_peer.wait_for(lambda: smpp_peer.outstanding == 0)
        assert accepted(adapter.submit([submission("2")])[0]).provider_id == smpp_peer.submits[1].message_id
        assert adapter.bound

    def test_throttled_part_is_resent_alone_with_the_same_reference(
        self, smpp_peer: SmppPeer, connect: Connect
    ) -> None:
        """Part 2 of 3 throttled: the retry with the same key sends only part 2, same ref and total."""
        adapter = connect(throttle_retry_after=0.05, window=1)
        text = sms.fold(MANDATED_2024 + " " + MANDATED_2024).text
        assert len(sms.split(text)) == 3
        smpp_peer.answer_next(0, 0x58)
        first = failed(adapter.submit([submission("k", text)])[0])
        assert first.kind == FailureKind.THROTTLED
        assert "part 2/3" in first.reason
        time.sleep(0.06)  # retry_after
        # Part 3 went in the first call only if the throttle had run out by its turn (a loaded machine).
        sent_first = len(smpp_peer.submits)
        result = accepted(adapter.submit([submission("k", text)])[0])
        sent = smpp_peer.submits
        udh = [s.udh for s in sent if s.udh]
        assert len(udh) == len(sent)
        assert [u[1:] for u in udh[:2]] == [(3, 1), (3, 2)]
        assert sorted(u[2] for u in udh[sent_first:]) == ([2] if sent_first == 3 else [2, 3])
        assert {u[:2] for u in udh} == {(udh[0][0], 3)}  # one reference, three parts, on every part
        assert (result.provider_id, result.parts) == (sent[0].message_id, 3)


class TestMemory:
    def test_resend_of_an_accepted_message_is_not_sent_again(self, smpp_peer: SmppPeer, connect: Connect) -> None:
        """The same key and text after acceptance answers the first result without a second submit."""
        adapter = connect()
        first = accepted(adapter.submit([submission("k", FOLDED_2024)])[0])
        again = accepted(adapter.submit([submission("k", FOLDED_2024)])[0])
        assert again == first
        assert len(smpp_peer.submits) == 2  # the two parts, once

    def test_same_key_new_text_is_a_new_message(self, smpp_peer: SmppPeer, connect: Connect) -> None:
        """A key reused with another text is sent as a message of its own."""
        adapter = connect()
        first = accepted(adapter.submit([submission("k", "one")])[0])
        second = accepted(adapter.submit([submission("k", "two")])[0])
        assert first.provider_id != second.provider_id

    def test_full_receipt_queue_asks_the_smsc_to_resend(self, smpp_peer: SmppPeer, connect: Connect) -> None:
        """With receipt_queue_max receipts untaken, deliver_sm is answered ESME_RX_T_APPN (retry later)."""
        adapter = connect(receipt_queue_max=1)
        first, second = (accepted(r) for r in adapter.submit([submission("1"), submission("2")]))
        assert smpp_peer.push_receipt(first.provider_id) == 0
        assert smpp_peer.push_receipt(second.provider_id) == 0x64
        assert [r.provider_id for r in adapter.receipts()] == [first.provider_id]
        assert smpp_peer.push_receipt(second.provider_id) == 0
        assert [r.provider_id for r in adapter.receipts()] == [second.provider_id]

    def test_forgotten_message_receipt_keeps_the_smscs_id(self, smpp_peer: SmppPeer, connect: Connect) -> None:
        """Past receipt_memory the oldest message is forgotten: its receipt comes with the id as written."""
        adapter = connect(receipt_memory=1)
        old, new = (accepted(r) for r in adapter.submit([submission("1"), submission("2")]))
        smpp_peer.push_receipt(str(int(old.provider_id, 16)))
        smpp_peer.push_receipt(str(int(new.provider_id, 16)))
        assert [r.provider_id for r in adapter.receipts()] == [str(int(old.provider_id, 16)), new.provider_id]


class TestBind:
    def test_bind_transceiver_carries_the_credentials(self, smpp_peer: SmppPeer, connect: Connect) -> None:
        """The bind is a bind_transceiver with system_id, password and system_type from the route."""
        connect(system_type="BULK")
        [bind] = smpp_peer.binds
        assert bind == Bind(BIND_TRANSCEIVER, SYSTEM_ID, PASSWORD, "BULK")

    def test_refused_bind_is_a_route_error_without_secrets(
        self, smpp_peer: SmppPeer, connect: Connect, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A wrong password: RouteError with the SMSC's code; neither credential in text or logs."""
        caplog.set_level(logging.DEBUG)
        adapter = connect(bound=False, password="wrong-pw")
        smpp_peer.wait_for(lambda: len(smpp_peer.binds) >= 1)
        with pytest.raises(RouteError) as caught:
            adapter.submit([submission()])
        assert caught.value.code == "0x0E"
        assert "ESME_RINVPASWD" in str(caught.value)
        adapter.close()
        for text in (str(caught.value), repr(adapter), caplog.text):
            assert "wrong-pw" not in text
            assert SYSTEM_ID not in text

    def test_credentials_and_numbers_never_logged(
        self, smpp_peer: SmppPeer, connect: Connect, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A whole session at DEBUG (bind, submits, receipts, loss, rebind) logs no secret, no number."""
        caplog.set_level(logging.DEBUG)
        adapter = connect()
        result = accepted(adapter.submit([submission("1", FOLDED_2024)])[0])
        smpp_peer.push_receipt(result.provider_id)
        smpp_peer.drop()
        smpp_peer.wait_for(lambda: len(smpp_peer.binds) == 2 and adapter.bound)
        assert caplog.text
        for secret in (SYSTEM_ID, PASSWORD, "912345678", PASSWORD.encode().hex()):
            assert secret not in caplog.text

    def test_lost_bind_is_a_route_error_until_rebound(self, smpp_peer: SmppPeer, connect: Connect) -> None:
        """Connection dropped: submits raise RouteError; once the SMSC is back, the bind returns."""
        adapter = connect()
        smpp_peer.accepting = False
        smpp_peer.drop()
        smpp_peer.wait_for(lambda: not adapter.bound)
        with pytest.raises(RouteError) as caught:
            adapter.submit([submission()])
        assert caught.value.code in ("BIND_LOST", "NOT_BOUND")
        smpp_peer.accepting = True
        assert adapter.wait_bound(5.0)
        accepted(adapter.submit([submission()])[0])
        assert len(smpp_peer.binds) == 2

    def test_bind_lost_during_submit(self, smpp_peer: SmppPeer, connect: Connect) -> None:
        """Sent and unanswered when the bind goes: ambiguous; not yet sent: route-wide."""
        adapter = connect(window=1)
        smpp_peer.hold()
        future = submit_in_thread(adapter, [submission("1"), submission("2")])
        smpp_peer.wait_for(lambda: len(smpp_peer.submits) == 1)
        smpp_peer.accepting = False
        smpp_peer.drop()
        first, second = (failed(r) for r in future.result(10))
        assert (first.kind, first.code) == (FailureKind.AMBIGUOUS, "BIND_LOST")
        assert (second.kind, second.code) == (FailureKind.ROUTE, "BIND_LOST")

    def test_adapter_starts_while_smsc_is_down(self, smpp_peer: SmppPeer, connect: Connect) -> None:
        """An unreachable SMSC is a RouteError, then the adapter binds when it comes up."""
        smpp_peer.accepting = False
        adapter = connect(bound=False)
        with pytest.raises(RouteError):
            adapter.submit([submission()])
        smpp_peer.accepting = True
        assert adapter.wait_bound(5.0)

    def test_enquire_link_is_answered(self, smpp_peer: SmppPeer, connect: Connect) -> None:
        """An enquire_link from the SMSC gets an enquire_link_resp with its sequence number."""
        connect()
        sequence = smpp_peer.inject(ENQUIRE_LINK)
        answer = smpp_peer.answer_to(sequence)
        assert (answer.command_id, answer.status) == (ENQUIRE_LINK_RESP, 0)

    def test_enquire_link_keepalive(self, smpp_peer: SmppPeer, connect: Connect) -> None:
        """A quiet link is probed with enquire_link; the SMSC's answers keep the bind."""
        adapter = connect(enquire_link_interval=0.05)
        smpp_peer.wait_for(lambda: len(smpp_peer.sent(ENQUIRE_LINK)) >= 3)
        assert adapter.bound
        assert len(smpp_peer.binds) == 1

    def test_unanswered_enquire_link_rebinds(self, smpp_peer: SmppPeer, connect: Connect) -> None:
        """A link that stops answering enquire_link is dropped and bound again."""
        adapter = connect(enquire_link_interval=0.05, response_timeout=0.2)
        smpp_peer.swallow_enquire_link = True
        smpp_peer.wait_for(lambda: len(smpp_peer.binds) >= 2)
        smpp_peer.swallow_enquire_link = False
        assert adapter.wait_bound(5.0)
        accepted(adapter.submit([submission()])[0])

    def test_close_unbinds(self, smpp_peer: SmppPeer, connect: Connect) -> None:
        """close() sends unbind and a later submit is a RouteError."""
        adapter = connect()
        adapter.close()
        assert smpp_peer.sent(0x00000006)
        with pytest.raises(RouteError):
            adapter.submit([submission()])


# Receipts -------------------------------------------------------------------------------------


class TestReceipts:
    @pytest.mark.parametrize(
        ("stat", "status"),
        [
            ("DELIVRD", ReceiptStatus.DELIVERED),
            ("EXPIRED", ReceiptStatus.EXPIRED),
            ("DELETED", ReceiptStatus.FAILED),
            ("UNDELIV", ReceiptStatus.FAILED),
            ("REJECTD", ReceiptStatus.FAILED),
            ("ACCEPTD", ReceiptStatus.ACCEPTED),
            ("UNKNOWN", ReceiptStatus.ACCEPTED),
            ("ENROUTE", ReceiptStatus.ACCEPTED),
        ],
    )
    def test_stat_mapping(self, smpp_peer: SmppPeer, connect: Connect, stat: str, status: str) -> None:
        """Each receipt stat maps to its canonical status; failures keep the stat and err."""
        adapter = connect()
        result = accepted(adapter.submit([submission()])[0])
        assert smpp_peer.push_receipt(result.provider_id, stat, err="012") == 0
        [receipt] = adapter.receipts()
        assert (receipt.provider_id, receipt.status) == (result.provider_id, status)
        if status in (ReceiptStatus.FAILED, ReceiptStatus.EXPIRED):
            assert receipt.error_code == f"{stat}:012"
        assert f"stat:{stat}" in receipt.raw

    @pytest.mark.parametrize(
        ("id_format", "to_receipt_id", "form"),
        [
            ("hex", lambda i: str(int(i, 16)), "text"),  # 1A2B in the response, 6699 in the receipt
            ("dec", lambda i: f"{int(i):x}", "text"),  # 6699 in the response, 1a2b in the receipt
            ("hex", lambda i: "000" + i.lower(), "text"),  # leading zeros, other case
            ("hex", lambda i: str(int(i, 16)), "tlv"),
            ("dec", lambda i: f"{int(i):X}", "both"),
        ],
        ids=["hex-then-dec", "dec-then-hex", "zeros-and-case", "tlv-only", "text-and-tlv"],
    )
    def test_ids_match_across_bases(self, to_receipt_id: Callable[[str], str], id_format: str, form: str) -> None:
        """A receipt's id matches its submit whether written in hex, decimal, zero-padded or any case."""
        with SmppPeer(id_format=id_format) as peer:
            adapter = SmppAdapter.from_options(
                {"host": peer.host, "port": peer.port}, {"system_id": SYSTEM_ID, "password": PASSWORD}
            )
            try:
                assert adapter.wait_bound(5.0)
                result = accepted(adapter.submit([submission()])[0])
                receipt_id = to_receipt_id(result.provider_id)
                assert receipt_id != result.provider_id
                assert peer.push_receipt(receipt_id, "DELIVRD", form=form) == 0
                assert [(r.provider_id, r.status) for r in adapter.receipts()] == [
                    (result.provider_id, ReceiptStatus.DELIVERED)
                ]
            finally:
                adapter.close()

    def test_multipart_delivered_when_every_part_is(self, smpp_peer: SmppPeer, connect: Connect) -> None:
        """Per-part receipts fold into one delivered receipt once the last part is delivered."""
        adapter = connect()
        result = accepted(adapter.submit([submission("1", MANDATED_2024)])[0])
        ids = [s.message_id for s in smpp_peer.submits]
        for part_id in ids[:-1]:
            smpp_peer.push_receipt(part_id, "DELIVRD")
        assert adapter.receipts() == []
        smpp_peer.push_receipt(ids[-1], "DELIVRD", form="tlv")
        [receipt] = adapter.receipts()
        assert (receipt.provider_id, receipt.status, receipt.parts) == (result.provider_id, ReceiptStatus.DELIVERED, 4)

    def test_multipart_failed_as_soon_as_a_part_fails(self, smpp_peer: SmppPeer, connect: Connect) -> None:
        """One undeliverable part fails the message at once; later part receipts are ignored."""
        adapter = connect()
        result = accepted(adapter.submit([submission("1", FOLDED_2024)])[0])
        first, second = (s.message_id for s in smpp_peer.submits)
        smpp_peer.push_receipt(second, "UNDELIV", err="001")
        [receipt] = adapter.receipts()
        assert (receipt.provider_id, receipt.status, receipt.part, receipt.parts) == (
            result.provider_id,
            ReceiptStatus.FAILED,
            2,
            2,
        )
        assert receipt.error_code == "UNDELIV:001"
        smpp_peer.push_receipt(first, "DELIVRD")
        assert adapter.receipts() == []

    def test_any_part_mode_for_smscs_reporting_one_part(self, smpp_peer: SmppPeer, connect: Connect) -> None:
        """With part_receipts=any, the first delivered part settles the message."""
        adapter = connect(part_receipts="any")
        result = accepted(adapter.submit([submission("1", FOLDED_2024)])[0])
        smpp_peer.push_receipt(smpp_peer.submits[-1].message_id, "DELIVRD")
        assert [(r.provider_id, r.status) for r in adapter.receipts()] == [(result.provider_id, "delivered")]

    def test_duplicate_final_receipt_is_dropped(self, smpp_peer: SmppPeer, connect: Connect) -> None:
        """The same final receipt twice yields one receipt."""
        adapter = connect()
        result = accepted(adapter.submit([submission()])[0])
        smpp_peer.push_receipt(result.provider_id)
        smpp_peer.push_receipt(result.provider_id)
        assert len(adapter.receipts()) == 1

    def test_unknown_id_is_passed_on_as_received(self, smpp_peer: SmppPeer, connect: Connect) -> None:
        """A receipt for a message sent before a restart still reaches broadcaster, with its own id."""
        adapter = connect()
        assert smpp_peer.push_receipt("ABC123", "EXPIRED") == 0
        [receipt] = adapter.receipts()
        assert (receipt.provider_id, receipt.status) == ("ABC123", ReceiptStatus.EXPIRED)

    def test_receipts_wait_and_limit(self, smpp_peer: SmppPeer, connect: Connect) -> None:
        """receipts() hands out at most max_items, each once; timeout waits for the first."""
        adapter = connect()
        results = adapter.submit([submission(str(n)) for n in range(3)])
        for result in results:
            smpp_peer.push_receipt(accepted(result).provider_id)
        assert len(adapter.receipts(max_items=2)) == 2
        assert len(adapter.receipts(max_items=2, timeout=0.1)) == 1
        assert adapter.receipts() == []


class TestParseReceiptText:
    def test_standard_fields(self) -> None:
        """All fields of the de-facto format come back by name; the text keeps its spaces."""
        fields = parse_receipt_text(receipt_text("0A1B", "DELIVRD"))
        assert fields["id"] == "0A1B"
        assert fields["stat"] == "DELIVRD"
        assert fields["submit date"] == "2407301000"
        assert fields["text"] == "Toan dan tich cuc"

    def test_upper_case_keys_and_missing_fields(self) -> None:
        """Keys are case-insensitive; absent fields are absent."""
        assert parse_receipt_text("ID:77 STAT:UNDELIV") == {"id": "77", "stat": "UNDELIV"}

    def test_garbage(self) -> None:
        """Text without any field gives an empty dict."""
        assert parse_receipt_text("\x00\xff not a receipt") == {}


# Garbage and faults ---------------------------------------------------------------------------


class TestGarbage:
    def test_unknown_command_is_nacked(self, smpp_peer: SmppPeer, connect: Connect) -> None:
        """A request with an unknown command id is answered generic_nack ESME_RINVCMDID."""
        adapter = connect()
        answer = smpp_peer.answer_to(smpp_peer.inject(0x00000099, b"\x01\x02"))
        assert (answer.command_id, answer.status) == (GENERIC_NACK, 0x03)
        accepted(adapter.submit([submission()])[0])

    def test_stray_responses_are_ignored(self, smpp_peer: SmppPeer, connect: Connect) -> None:
        """A submit_sm_resp or generic_nack for no pending submit, or an odd response, changes nothing."""
        adapter = connect()
        smpp_peer.inject(SUBMIT_SM_RESP, b"FFFF\0")
        smpp_peer.inject(GENERIC_NACK, status=0x03)
        smpp_peer.inject(0x80000103, b"\0")  # data_sm_resp, never asked for
        smpp_peer.answer_to(smpp_peer.inject(ENQUIRE_LINK))  # the adapter read all of the above
        assert adapter.bound
        accepted(adapter.submit([submission()])[0])

    def test_malformed_receipt_text_is_acked_and_ignored(self, smpp_peer: SmppPeer, connect: Connect) -> None:
        """A receipt without id or stat is acknowledged (ESME_ROK) and produces no receipt."""
        adapter = connect()
        assert smpp_peer.push_deliver(b"stat:DELIVRD but no identifier", esm_class=0x04) == 0
        assert smpp_peer.push_deliver(b"\xff\xfe\x00garbage", esm_class=0x04) == 0
        assert adapter.receipts() == []
        assert adapter.bound

    def test_mobile_originated_message_is_acked_and_ignored(self, smpp_peer: SmppPeer, connect: Connect) -> None:
        """A deliver_sm that is not a receipt (esm_class 0) is acknowledged and dropped."""
        adapter = connect()
        assert smpp_peer.push_deliver(receipt_text("1A2B", "DELIVRD").encode(), esm_class=0) == 0
        assert adapter.receipts() == []

    def test_unparseable_deliver_sm_is_answered_with_an_error(self, smpp_peer: SmppPeer, connect: Connect) -> None:
        """A deliver_sm whose body cannot be read is answered deliver_sm_resp ESME_RX_P_APPN."""
        adapter = connect()
        answer = smpp_peer.answer_to(smpp_peer.inject(DELIVER_SM, b"\x00\x01"))
        assert (answer.command_id, answer.status) == (DELIVER_SM_RESP, 0x65)
        truncated = smpp34.DeliverSm("84912345678", SENDER, b"id:1 stat:DELIVRD", esm_class=4).encode()[16:-5]
        answer = smpp_peer.answer_to(smpp_peer.inject(DELIVER_SM, truncated))
        assert (answer.command_id, answer.status) == (DELIVER_SM_RESP, 0x65)
        assert adapter.bound

    def test_receipted_message_id_without_nul(self, smpp_peer: SmppPeer, connect: Connect) -> None:
        """A receipted_message_id TLV sent without its NUL keeps its last character."""
        adapter = connect()
        result = accepted(adapter.submit([submission()])[0])
        tlvs = [
            smpp34.Tlv(TLV_RECEIPTED_MESSAGE_ID, result.provider_id.encode()),
            smpp34.Tlv(TLV_MESSAGE_STATE, bytes([MESSAGE_STATES["UNDELIV"]])),
        ]
        assert smpp_peer.push_deliver(b"", esm_class=0x04, tlvs=tlvs) == 0
        assert [(r.provider_id, r.status) for r in adapter.receipts()] == [(result.provider_id, "failed")]

    def test_garbage_bytes_drop_the_bind_and_it_returns(self, smpp_peer: SmppPeer, connect: Connect) -> None:
        """A stream that no longer starts with a PDU header is dropped and bound again."""
        adapter = connect()
        smpp_peer.inject_raw(b"\x00\x00\x00\x05GARBAGE!")
        smpp_peer.wait_for(lambda: len(smpp_peer.binds) == 2)
        assert adapter.wait_bound(5.0)
        accepted(adapter.submit([submission()])[0])

    def test_unbind_from_smsc_rebinds(self, smpp_peer: SmppPeer, connect: Connect) -> None:
        """An unbind from the SMSC is answered and the adapter binds again."""
        adapter = connect()
        answer = smpp_peer.answer_to(smpp_peer.inject(0x00000006))
        assert (answer.command_id, answer.status) == (0x80000006, 0)
        smpp_peer.wait_for(lambda: len(smpp_peer.binds) == 2)
        assert adapter.wait_bound(5.0)

    def test_dead_reader_thread_is_a_route_error(
        self, smpp_peer: SmppPeer, connect: Connect, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A bug that ends the reader thread surfaces as RouteError on the next submit, with its cause."""
        adapter = connect()

        def broken(body: bytes) -> int:
            raise RuntimeError("bug in receipt handling")

        monkeypatch.setattr(adapter, "_on_deliver", broken)
        with contextlib.suppress(Exception):  # the deliver_sm is never answered
            smpp_peer.push_deliver(b"id:1 stat:DELIVRD", esm_class=0x04)
        smpp_peer.wait_for(lambda: not adapter.bound)
        with pytest.raises(RouteError) as caught:
            adapter.submit([submission()])
        assert caught.value.code == "READER_DIED"
        assert isinstance(caught.value.__cause__, RuntimeError)
