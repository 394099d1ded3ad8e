"""SMPP 3.4 adapter: one ``bind_transceiver`` per route, a window of submits, receipts as a stream.

Data first (below): the command ids, how each ``command_status`` is classified, the receipt ``stat``
mapping. Then the pieces:

- ``SmppOptions``: the route's options (host, port, TON/NPI, window, timers), checked when the
  route is built; the credentials (``system_id``, ``password``) are kept apart and never appear in
  a log line or an error message.
- one background thread per adapter owns the connection: it connects and binds (``smpplib``), reads
  every PDU, answers ``enquire_link`` and ``deliver_sm``, sends ``enquire_link`` when the link is
  quiet, expires submits whose response is overdue, and rebinds with a growing delay after the bind
  is lost. Anything it cannot parse is answered (``generic_nack`` / an error ``deliver_sm_resp``) or
  logged and ignored; only a bug can end the thread, and then every later ``submit`` raises
  ``RouteError`` instead of waiting for a bind that never comes.
- ``submit`` splits each text with ``carriers.sms`` (UDH ``05 00 03 ref total seq``, ``esm_class``
  0x40), keeps at most ``window`` submits outstanding, matches responses by sequence number and
  folds the parts back into one result per message. A multipart message refused part-way for a
  retryable reason remembers its accepted parts: the retry with the same key sends only the missing
  parts, with the same reference, so the handset can still join them.
- receipts (``deliver_sm`` with ``esm_class & 0x04``) are matched to the submitted part whatever
  the base of the id (hex ``1A2B`` in the response, decimal ``6699`` in the receipt, leading zeros,
  case), folded into one receipt per message, and handed out by ``receipts()``.

Failures of one message (a refused number, throttling, a response timeout) are ``Failed`` results;
a route that is not bound raises ``RouteError`` (and a bind lost in the middle of a call makes the
parts already sent ``ambiguous`` and the rest ``route``). SMPP has no idempotency key: a message
whose response never came is ``ambiguous`` and dispatch does not resend it blindly.

What smpplib does and does not do here: it connects, binds and encodes every PDU we send. Reading is
ours (framing with a bounded ``command_length``, no loss on a timeout mid-PDU), and so is decoding
``deliver_sm``: smpplib drops the last byte of a ``receipted_message_id`` sent without its NUL.
Its socket gets TCP_NODELAY (a window of small PDUs otherwise waits on delayed ACKs), and its
logger (``carriers.smpp.wire``) is held at INFO: at DEBUG it writes every PDU in hex, bind password
and phone numbers included.

Receipts are matched in memory (``receipt_memory`` messages): a receipt for a message sent before a
restart, or forgotten, is passed on with its id as the SMSC wrote it.
"""

from __future__ import annotations

import logging
import queue
import random
import re
import select
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, Final

import smpplib.client
import smpplib.consts
import smpplib.exceptions
import smpplib.smpp

from carriers import sms
from carriers.base import (
    Accepted,
    Capabilities,
    Failed,
    FailureKind,
    Receipt,
    ReceiptMode,
    ReceiptStatus,
    Result,
    Submission,
)
from carriers.errors import AdapterOptionsError, CarrierError, MalformedPayload, RouteError

log = logging.getLogger(__name__)

WIRE_LOGGER: Final = "carriers.smpp.wire"

# Protocol data --------------------------------------------------------------------------------

GENERIC_NACK: Final = 0x80000000
SUBMIT_SM_RESP: Final = 0x80000004
DELIVER_SM: Final = 0x00000005
UNBIND: Final = 0x00000006
UNBIND_RESP: Final = 0x80000006
ENQUIRE_LINK: Final = 0x00000015
ENQUIRE_LINK_RESP: Final = 0x80000015
RESPONSE_BIT: Final = 0x80000000

ESME_ROK: Final = 0x00
ESME_RINVCMDID: Final = 0x03
ESME_RTHROTTLED: Final = 0x58
ESME_RX_T_APPN: Final = 0x64
ESME_RX_P_APPN: Final = 0x65
ESME_RUNKNOWNERR: Final = 0xFF

STATUS_NAMES: Final[dict[int, str]] = {
    0x01: "ESME_RINVMSGLEN",
    0x02: "ESME_RINVCMDLEN",
    0x03: "ESME_RINVCMDID",
    0x04: "ESME_RINVBNDSTS",
    0x05: "ESME_RALYBND",
    0x06: "ESME_RINVPRTFLG",
    0x07: "ESME_RINVREGDLVFLG",
    0x08: "ESME_RSYSERR",
    0x0A: "ESME_RINVSRCADR",
    0x0B: "ESME_RINVDSTADR",
    0x0C: "ESME_RINVMSGID",
    0x0D: "ESME_RBINDFAIL",
    0x0E: "ESME_RINVPASWD",
    0x0F: "ESME_RINVSYSID",
    0x14: "ESME_RMSGQFUL",
    0x15: "ESME_RINVSERTYP",
    0x43: "ESME_RINVESMCLASS",
    0x45: "ESME_RSUBMITFAIL",
    0x48: "ESME_RINVSRCTON",
    0x49: "ESME_RINVSRCNPI",
    0x50: "ESME_RINVDSTTON",
    0x51: "ESME_RINVDSTNPI",
    0x53: "ESME_RINVSYSTYP",
    0x58: "ESME_RTHROTTLED",
    0x61: "ESME_RINVSCHED",
    0x62: "ESME_RINVEXPIRY",
    0x64: "ESME_RX_T_APPN",
    0x65: "ESME_RX_P_APPN",
    0x66: "ESME_RX_R_APPN",
    0xC0: "ESME_RINVOPTPARSTREAM",
    0xC1: "ESME_ROPTPARNOTALLWD",
    0xC2: "ESME_RINVPARLEN",
    0xC3: "ESME_RMISSINGOPTPARAM",
    0xC4: "ESME_RINVOPTPARAMVAL",
    0xFE: "ESME_RDELIVERYFAILURE",
    0xFF: "ESME_RUNKNOWNERR",
}
"""Names of the ``command_status`` values, for reasons in results and errors."""

THROTTLED_STATUSES: Final = frozenset({0x58, 0x14})
"""ESME_RTHROTTLED, ESME_RMSGQFUL: not sent, slow down and retry."""
TRANSIENT_STATUSES: Final = frozenset({0x08, 0x64})
"""ESME_RSYSERR, ESME_RX_T_APPN: not sent, retry later."""
ROUTE_STATUSES: Final = frozenset({0x04, 0x0D, 0x0E, 0x0F})
"""Bind-level refusals in a submit response: the route, not the message, is at fault."""
# Every other non-zero status is permanent for that message.

RECEIPT_STATS: Final[dict[str, str]] = {
    "DELIVRD": ReceiptStatus.DELIVERED,
    "EXPIRED": ReceiptStatus.EXPIRED,
    "DELETED": ReceiptStatus.FAILED,
    "UNDELIV": ReceiptStatus.FAILED,
    "REJECTD": ReceiptStatus.FAILED,
    "ACCEPTD": ReceiptStatus.ACCEPTED,
    "UNKNOWN": ReceiptStatus.ACCEPTED,
    "ENROUTE": ReceiptStatus.ACCEPTED,
    "BUFFRED": ReceiptStatus.ACCEPTED,
}
"""Receipt ``stat:`` values; anything else is intermediate (stays ``sent``)."""
MESSAGE_STATES: Final[dict[int, str]] = {
    1: "ENROUTE",
    2: "DELIVRD",
    3: "EXPIRED",
    4: "DELETED",
    5: "UNDELIV",
    6: "ACCEPTD",
    7: "UNKNOWN",
    8: "REJECTD",
}
"""The ``message_state`` TLV, as the ``stat`` it stands for."""

TLV_MESSAGE_PAYLOAD: Final = 0x0424
TLV_RECEIPTED_MESSAGE_ID: Final = 0x001E
TLV_MESSAGE_STATE: Final = 0x0427
TLV_NETWORK_ERROR_CODE: Final = 0x0423

ESM_UDHI: Final = 0x40
ESM_RECEIPT: Final = 0x04
DATA_CODING_UCS2: Final = 0x08

# Our own codes for failures that carry no SMSC status.
CODE_ENCODING: Final = "ENCODING"
CODE_TOO_LONG: Final = "TOO_LONG"
CODE_TIMEOUT: Final = "TIMEOUT"
CODE_BIND_LOST: Final = "BIND_LOST"
CODE_NOT_BOUND: Final = "NOT_BOUND"
CODE_READER_DIED: Final = "READER_DIED"

MAX_SYSTEM_ID: Final = 15
MAX_PASSWORD: Final = 8
"""SMPP 3.4 field sizes without the NUL; smpplib would cut longer values silently."""
MAX_PDU: Final = 64 * 1024
"""A longer ``command_length`` is garbage: the stream is out of step and the bind is dropped."""
_TICK: Final = 0.05
"""How often the reader thread looks at its timers when the link is quiet (seconds)."""
_RECV_SIZE: Final = 65536
_QUICKACK: Final[int | None] = getattr(socket, "TCP_QUICKACK", None)
QUICK_ACK_OFF: Final = "off"
QUICK_ACK_WAITING: Final = "waiting"
QUICK_ACK_ALWAYS: Final = "always"
QUICK_ACK_MODES: Final = (QUICK_ACK_OFF, QUICK_ACK_WAITING, QUICK_ACK_ALWAYS)
"""When to acknowledge the SMSC's segments at once (Linux ``TCP_QUICKACK``). An SMSC with Nagle on
(smpp34's server, for one) holds back its next responses until our ACK comes, up to 40 ms with a
delayed ACK. While submits flow the ACK rides on them; ``waiting`` sends it at once whenever a
``submit`` waits with nothing to send (window full, last responses); ``always`` after every read,
which suits a Nagle SMSC best and costs throughput against one without Nagle."""
_PAYLOAD_CACHE: Final = 64
"""Distinct texts whose encoded parts are kept (dispatch sends one text to a whole district)."""


def status_text(status: int) -> str:
    """``0x58 ESME_RTHROTTLED`` for a command_status."""
    return f"{status_code(status)} {STATUS_NAMES.get(status, 'vendor-specific status')}"


def status_code(status: int) -> str:
    """The code recorded for a command_status: hex, at least two digits (``0x0B``)."""
    return f"0x{status:02X}"


# Options --------------------------------------------------------------------------------------

PART_RECEIPTS: Final = ("all", "any")


@dataclass(frozen=True, slots=True, kw_only=True)
class SmppOptions:
    """A route's SMPP settings (``options`` in ``broadcaster.toml``); credentials are not here."""

    host: str
    port: int = 2775
    system_type: str = ""
    service_type: str = ""
    source_addr: str = ""
    """Sender used when a submission has none."""
    source_addr_ton: int | None = None
    """``None``: 5 (alphanumeric) for a brandname, 1 (international) for digits."""
    source_addr_npi: int | None = None
    """``None``: 0 for a brandname, 1 (ISDN) for digits."""
    dest_addr_ton: int = 1
    dest_addr_npi: int = 1
    gsm7_data_coding: int = 0
    """data_coding for GSM-7 text: 0 (SMSC default alphabet) unless the SMSC wants another."""
    validity_period: str = ""
    window: int = 10
    """Submits sent and not yet answered, at most."""
    max_batch: int = 100
    max_parts: int = 8
    response_timeout: float = 10.0
    """Seconds to wait for a submit_sm_resp (then the message is ambiguous) or enquire_link_resp."""
    connect_timeout: float = 5.0
    enquire_link_interval: float = 30.0
    """Seconds of silence from the SMSC before an enquire_link is sent."""
    reconnect_min: float = 0.5
    reconnect_max: float = 30.0
    throttle_retry_after: float = 1.0
    """Seconds to hold off after ESME_RTHROTTLED / ESME_RMSGQFUL."""
    quick_ack: str = QUICK_ACK_WAITING
    """``off``, ``waiting`` or ``always``: when to ACK the SMSC's segments at once (see QUICK_ACK_MODES)."""
    part_receipts: str = "all"
    """``all``: a multipart message is delivered when every part is; ``any``: when one part is
    (for SMSCs that report only one part). Failed as soon as any part fails, either way."""
    receipt_queue_max: int = 100_000
    """Receipts waiting for ``receipts()``; beyond it deliver_sm is answered ESME_RX_T_APPN."""
    receipt_memory: int = 200_000
    """Messages remembered for matching receipts, oldest forgotten first (about 350 bytes each)."""

    @classmethod
    def from_mapping(cls, options: Mapping[str, Any]) -> SmppOptions:
        """Options from a route's table; an unknown name or a wrong type is an ``AdapterOptionsError``."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            msg = f"unknown smpp option {unknown[0]!r} (options: {', '.join(sorted(known))})"
            raise AdapterOptionsError(msg)
        if "host" not in options:
            msg = "smpp route needs the option 'host' (the SMSC's address)"
            raise AdapterOptionsError(msg)
        values: dict[str, Any] = {}
        for name, value in options.items():
            values[name] = _coerce(name, value)
        made = cls(**values)
        made._check()
        return made

    def _check(self) -> None:
        problems = []
        if not self.host:
            problems.append("host is empty")
        if not 0 < self.port < 65536:
            problems.append(f"port {self.port} is not a TCP port")
        if self.window < 1:
            problems.append("window must be at least 1")
        if self.max_batch < 1 or self.max_parts < 1 or self.max_parts > 255:
            problems.append("max_batch must be at least 1 and max_parts between 1 and 255")
        if self.quick_ack not in QUICK_ACK_MODES:
            problems.append(f"quick_ack must be one of {', '.join(QUICK_ACK_MODES)}")
        if self.part_receipts not in PART_RECEIPTS:
            problems.append(f"part_receipts must be one of {', '.join(PART_RECEIPTS)}")
        timers = (self.response_timeout, self.connect_timeout, self.enquire_link_interval, self.reconnect_min)
        if min(timers) <= 0 or self.reconnect_max < self.reconnect_min:
            problems.append("timers must be positive and reconnect_max at least reconnect_min")
        if problems:
            msg = f"smpp route options for {self.host}:{self.port}: {'; '.join(problems)}"
            raise AdapterOptionsError(msg)


_OPTIONAL_INTS: Final = frozenset({"source_addr_ton", "source_addr_npi"})


def _coerce(name: str, value: Any) -> Any:
    """``value`` as the type of option ``name`` (an int is fine for a float); else ``AdapterOptionsError``."""
    if name in _OPTIONAL_INTS:
        if value is None:
            return None
        kind: type = int
    else:
        kind = type(SmppOptions.__dataclass_fields__[name].default) if name != "host" else str
    allowed: tuple[type, ...] = (int, float) if kind is float else (kind,)
    if isinstance(value, bool) or not isinstance(value, allowed):
        msg = f"smpp option {name!r} must be {kind.__name__}, got {type(value).__name__}"
        raise AdapterOptionsError(msg)
    return kind(value)


# The wire -------------------------------------------------------------------------------------


class _Desync(Exception):
    """The byte stream no longer starts with a PDU header: the connection cannot be trusted."""


class _Sequence:
    """Sequence numbers for smpplib, 1 … 0x7FFFFFFF then around again; safe across threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value = 0

    @property
    def sequence(self) -> int:
        return self._value

    def next_sequence(self) -> int:
        with self._lock:
            self._value = 1 if self._value >= 0x7FFFFFFF else self._value + 1
            return self._value


class _Connection(smpplib.client.Client):  # type: ignore[misc]  # smpplib ships no types
    """smpplib's client with a reader that frames PDUs itself.

    smpplib's ``read_pdu`` loses its place when a read times out half-way through a PDU and trusts
    any ``command_length``; here bytes are buffered across reads, an absurd length raises
    ``_Desync``, and waiting is done with ``select`` so the socket timeout only bounds ``sendall``.
    """

    def __init__(self, host: str, port: int, timeout: float, quick_ack: str = QUICK_ACK_WAITING) -> None:
        super().__init__(
            host,
            port,
            timeout=timeout,
            sequence_generator=_Sequence(),
            logger_name=WIRE_LOGGER,
            allow_unknown_opt_params=True,
        )
        self._buffer = bytearray()
        self._frames: deque[bytes] = deque()
        self.waiting = False
        """A ``submit`` waits for responses with nothing to send: acknowledge them at once."""
        self._quick_ack_mode = quick_ack

    def _create_socket(self) -> Any:
        """smpplib's socket with Nagle off: a window of small PDUs must not wait for delayed ACKs."""
        sock = super()._create_socket()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def next_frame(self, wait: float) -> bytes | None:
        """The next whole PDU, waiting up to ``wait`` seconds; ``None`` when none came."""
        if not self._frames:
            self._fill(wait)
        return self._frames.popleft() if self._frames else None

    def _fill(self, wait: float) -> None:
        sock = self._socket
        if sock is None:
            raise smpplib.exceptions.ConnectionError("not connected")
        readable, _, _ = select.select([sock], [], [], wait)
        if not readable:
            return
        chunk = sock.recv(_RECV_SIZE)
        if not chunk:
            raise smpplib.exceptions.ConnectionError("connection closed by the SMSC")
        if self.waiting or self._quick_ack_mode == QUICK_ACK_ALWAYS:  # the kernel turns it off again
            self.quick_ack()
        buffer = self._buffer
        buffer += chunk
        start = 0
        while len(buffer) - start >= 4:
            length = int.from_bytes(buffer[start : start + 4], "big")
            if length < 16 or length > MAX_PDU:
                raise _Desync(f"command_length {length} is not a PDU")
            if len(buffer) - start < length:
                break
            self._frames.append(bytes(buffer[start : start + length]))
            start += length
        if start:
            del buffer[:start]

    def quick_ack(self) -> None:
        """Send a delayed ACK now, and the next ones at once (Linux ``TCP_QUICKACK``; else nothing)."""
        sock = self._socket
        if _QUICKACK is not None and sock is not None and self._quick_ack_mode != QUICK_ACK_OFF:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
            except OSError:
                pass  # closed meanwhile: the reader reports the loss

    def set_send_timeout(self, seconds: float) -> None:
        """Bound ``sendall`` once bound (reads wait in ``select``, not on the socket timeout)."""
        if self._socket is not None:
            self._socket.settimeout(seconds)

    def read_pdu(self) -> Any:
        """smpplib's entry point (used while binding): one parsed PDU or ``socket.timeout``."""
        deadline = time.monotonic() + self.timeout
        while (frame := self.next_frame(max(0.0, deadline - time.monotonic()))) is None:
            if time.monotonic() >= deadline:
                raise TimeoutError("no answer from the SMSC")
        pdu = smpplib.smpp.parse_pdu(frame, client=self, allow_unknown_opt_params=True)
        if not pdu.is_error() and pdu.command in smpplib.consts.STATE_SETTERS:
            self.state = smpplib.consts.STATE_SETTERS[pdu.command]
        return pdu


def _response(command: str, sequence: int, status: int = ESME_ROK) -> Any:
    pdu = smpplib.smpp.make_pdu(command, status=status)
    pdu.sequence = sequence
    return pdu


def _cstring(body: bytes, pos: int) -> tuple[bytes, int]:
    end = body.index(b"\0", pos)
    return body[pos:end], end + 1


@dataclass(frozen=True, slots=True)
class _Deliver:
    esm_class: int
    data_coding: int
    short_message: bytes
    tlvs: dict[int, bytes]


def _parse_deliver_sm(body: bytes) -> _Deliver:
    """The fields of a deliver_sm body that receipts need; ``MalformedPayload`` for garbage.

    Parsed here rather than by smpplib, which drops the last byte of a ``receipted_message_id``
    sent without its NUL and refuses unknown TLVs.
    """
    try:
        pos = _cstring(body, 0)[1] + 2  # service_type, source TON/NPI
        pos = _cstring(body, pos)[1] + 2  # source_addr, dest TON/NPI
        pos = _cstring(body, pos)[1]  # destination_addr
        esm_class = body[pos]
        pos = _cstring(body, pos + 3)[1]  # esm_class, protocol_id, priority_flag, schedule time
        pos = _cstring(body, pos)[1]  # validity_period
        data_coding = body[pos + 2]
        sm_length = body[pos + 4]
        pos += 5
        short_message = body[pos : pos + sm_length]
        if len(short_message) != sm_length:
            raise MalformedPayload("short_message runs past the end of the PDU")
        pos += sm_length
        tlvs: dict[int, bytes] = {}
        while pos < len(body):
            tag, length = struct.unpack_from(">HH", body, pos)
            value = body[pos + 4 : pos + 4 + length]
            if len(value) != length:
                raise MalformedPayload(f"TLV 0x{tag:04X} runs past the end of the PDU")
            tlvs[tag] = value
            pos += 4 + length
    except (ValueError, IndexError, struct.error) as exc:
        msg = f"deliver_sm body of {len(body)} bytes cannot be parsed: {exc}"
        raise MalformedPayload(msg) from exc
    return _Deliver(esm_class, data_coding, short_message, tlvs)


# Receipts -------------------------------------------------------------------------------------

_RECEIPT_KEYS: Final = re.compile(r"(?i)(?:^|(?<=\s))(id|sub|dlvrd|submit date|done date|stat|err|text)\s*:")


def parse_receipt_text(text: str) -> dict[str, str]:
    """The fields of a receipt text (``id:… sub:… dlvrd:… submit date:… done date:… stat:… err:…``).

    Keys come back lower case; values are stripped, and ``id``, ``stat`` and ``err`` keep only their
    first word. Missing fields are absent; garbage gives an empty dict.
    """
    found = list(_RECEIPT_KEYS.finditer(text))
    ends = [here.start() for here in found[1:]] + [len(text)] if found else []
    fields_: dict[str, str] = {}
    for here, end in zip(found, ends, strict=True):
        key = here.group(1).lower()
        value = text[here.end() : end].strip()
        if key in ("id", "stat", "err"):
            value = value.split()[0] if value else ""
        fields_.setdefault(key, value)
    return fields_


def _id_forms(provider_id: str) -> tuple[str, int | None, int | None]:
    """(case- and zero-folded text, value read as hex, value read as decimal) of an SMSC id."""
    text = provider_id.strip().lower()
    folded = text.lstrip("0") or ("0" if text else "")
    if not (text.isascii() and text.isalnum()):
        return folded, None, None
    try:
        as_hex: int | None = int(text, 16)
    except ValueError:
        as_hex = None
    return folded, as_hex, int(text) if text.isdigit() else None


@dataclass(slots=True, eq=False)
class _Message:
    """What the adapter remembers of one submission: its parts' ids and their receipts."""

    key: str
    fingerprint: int
    """Hash of number, text, encoding and sender: a resend with the same key must match it."""
    ref: int
    parts: int
    ids: list[str | None]
    missing: int
    """Parts not accepted yet."""
    states: list[str | None] | None = None
    """Receipt status per part, once receipts come."""
    done: bool = False
    """A final receipt was handed out; later receipts for it are duplicates."""

    @property
    def provider_id(self) -> str | None:
        return self.ids[0]


class _IdIndex:
    """Finds the message a receipt's id belongs to, whatever base each side wrote the id in.

    The id as the SMSC answered the submit is looked up first. On a miss, the other forms are
    tried: case and leading zeros ignored, then a decimal receipt id read as the value of a hex
    submit id and a hex receipt id as the value of a decimal one. Those forms are indexed only once
    a receipt misses (most SMSCs write the id the same way in both places), and rebuilt when ids
    forgotten since outnumber the live ones.
    """

    def __init__(self) -> None:
        self._owners: dict[str, _Message] = {}
        self._backlog: list[str] = []
        self._text: dict[str, str] = {}
        self._hex: dict[int, str] = {}
        self._dec: dict[int, str] = {}

    def add(self, provider_id: str, message: _Message) -> None:
        self._owners[provider_id] = message
        self._backlog.append(provider_id)
        if len(self._backlog) > 2 * len(self._owners) + 1024:
            self._backlog = [i for i in self._backlog if i in self._owners]

    def remove(self, provider_id: str, message: _Message) -> None:
        if self._owners.get(provider_id) is message:
            del self._owners[provider_id]

    def find(self, receipt_id: str) -> tuple[str, _Message] | None:
        """(the submitted id, its message) for a receipt's id, or ``None``."""
        message = self._owners.get(receipt_id)
        if message is not None:
            return receipt_id, message
        self._catch_up()
        folded, as_hex, as_dec = _id_forms(receipt_id)
        candidates = [self._text.get(folded)]
        if as_dec is not None:
            candidates.append(self._hex.get(as_dec))
        if as_hex is not None:
            candidates.append(self._dec.get(as_hex))
        for candidate in candidates:
            if candidate is not None and (message := self._owners.get(candidate)) is not None:
                return candidate, message
        return None

    def _catch_up(self) -> None:
        if len(self._text) > 2 * len(self._owners) + 1024:  # mostly forgotten ids: start afresh
            self._text.clear()
            self._hex.clear()
            self._dec.clear()
            self._backlog = list(self._owners)
        for provider_id in self._backlog:
            if provider_id in self._owners:
                folded, as_hex, as_dec = _id_forms(provider_id)
                self._text[folded] = provider_id
                if as_hex is not None:
                    self._hex[as_hex] = provider_id
                if as_dec is not None:
                    self._dec[as_dec] = provider_id
        self._backlog.clear()


@dataclass(frozen=True, slots=True)
class _ReceiptFacts:
    receipt_id: str
    stat: str
    error: str
    raw: str


def _receipt_facts(deliver: _Deliver) -> _ReceiptFacts:
    """Id, stat and error of a receipt, from its TLVs first, then its text; ``MalformedPayload``."""
    message = deliver.short_message or deliver.tlvs.get(TLV_MESSAGE_PAYLOAD, b"")
    if deliver.data_coding == DATA_CODING_UCS2:
        text = message.decode("utf-16-be", "replace")
    else:
        text = message.decode("latin-1")
    parsed = parse_receipt_text(text)
    receipt_id = deliver.tlvs.get(TLV_RECEIPTED_MESSAGE_ID, b"").rstrip(b"\0").decode("latin-1").strip()
    receipt_id = receipt_id or parsed.get("id", "")
    state = deliver.tlvs.get(TLV_MESSAGE_STATE, b"")
    stat = MESSAGE_STATES.get(state[0], "") if len(state) == 1 else ""
    stat = stat or parsed.get("stat", "").upper()
    error = parsed.get("err", "")
    network_error = deliver.tlvs.get(TLV_NETWORK_ERROR_CODE, b"")
    if not error and len(network_error) == 3:
        error = f"{network_error[0]}:{int.from_bytes(network_error[1:], 'big')}"
    if not receipt_id or not stat:
        missing = "id" if not receipt_id else "stat"
        msg = f"delivery receipt without {missing} ({len(message)} bytes of text, TLVs {sorted(deliver.tlvs)})"
        raise MalformedPayload(msg)
    raw = text if text else f"id:{receipt_id} stat:{stat}"
    return _ReceiptFacts(receipt_id, stat, error, raw)


def _error_code(stat: str, error: str) -> str:
    return f"{stat}:{error}" if error.strip("0:") else stat


# Submitting -----------------------------------------------------------------------------------

_PENDING, _ANSWERED, _TIMED_OUT, _LOST = range(4)


class _Batch:
    """The parts one ``submit`` call sent, and word of each one settled (answered, expired, lost)."""

    __slots__ = ("_news", "_sent", "_settled")

    def __init__(self) -> None:
        self._sent = 0  # touched by the submitting thread only
        self._settled = 0
        self._news: queue.SimpleQueue[None] = queue.SimpleQueue()

    def add(self) -> None:
        self._sent += 1

    def finish(self) -> None:
        self._news.put(None)

    def wait(self, timeout: float) -> bool:
        """Whether every part sent so far was settled within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while self._settled < self._sent:
            try:
                self._news.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                return False
            self._settled += 1
        return True


@dataclass(slots=True, eq=False)
class _Slot:
    """One submit_sm on the wire, waiting for its response."""

    batch: _Batch
    message: _Message
    part: int
    sent_at: float
    outcome: int = _PENDING
    status: int = ESME_ROK
    nack: bool = False


@dataclass(slots=True, eq=False)
class _Plan:
    """One submission of a ``submit`` call: its payloads and what became of each part."""

    submission: Submission
    message: _Message
    payloads: list[bytes]
    slots: list[_Slot] = field(default_factory=list)
    unsent: str = ""
    """Why some parts were not sent: a ``FailureKind`` (route or throttled), else empty."""


class _Window:
    """At most ``size`` submits on the wire: a token per slot (``SimpleQueue`` blocks in C, cheaply)."""

    __slots__ = ("_tokens",)

    def __init__(self, size: int) -> None:
        self._tokens: queue.SimpleQueue[None] = queue.SimpleQueue()
        for _ in range(size):
            self._tokens.put(None)

    def acquire(self, timeout: float) -> bool:
        try:
            self._tokens.get(timeout=timeout)
        except queue.Empty:
            return False
        return True

    def release(self) -> None:
        self._tokens.put(None)


class _Session:
    """One bind: the connection, the window and the submits waiting for their responses."""

    def __init__(self, connection: _Connection, window: int) -> None:
        self.connection = connection
        self.send_lock = threading.Lock()
        self.window = _Window(window)
        self._lock = threading.Lock()
        self._pending: dict[int, _Slot] = {}
        self.alive = True
        self.lost_reason = ""
        self.throttled_until = 0.0

    def send(self, pdu: Any) -> None:
        with self.send_lock:
            self.connection.send_pdu(pdu)

    def register(self, sequence: int, slot: _Slot) -> None:
        slot.batch.add()
        with self._lock:
            self._pending[sequence] = slot

    def withdraw(self, sequence: int) -> _Slot | None:
        """Take back a submit that could not be sent."""
        with self._lock:
            slot = self._pending.pop(sequence, None)
        if slot is not None:
            self.window.release()
            slot.batch.finish()
        return slot

    def answer(self, sequence: int) -> _Slot | None:
        """The slot a response belongs to (now answered), or ``None`` for an unknown sequence."""
        with self._lock:
            slot = self._pending.pop(sequence, None)
        if slot is not None:
            slot.outcome = _ANSWERED
        return slot

    def release(self, slot: _Slot) -> None:
        self.window.release()
        slot.batch.finish()

    def expire(self, now: float, timeout: float, batch: _Batch | None = None) -> int:
        """Give up on submits unanswered for ``timeout`` seconds (of one batch, or all)."""
        with self._lock:
            overdue = [
                seq
                for seq, slot in self._pending.items()
                if (batch is None or slot.batch is batch) and now - slot.sent_at >= timeout
            ]
            slots = [self._pending.pop(seq) for seq in overdue]
        for slot in slots:
            slot.outcome = _TIMED_OUT
            self.release(slot)
        return len(slots)

    def lose(self, reason: str) -> None:
        """The bind is gone: every waiting submit is answered ``lost``."""
        with self._lock:
            if not self.alive:
                return
            self.alive = False
            self.lost_reason = reason
            slots = list(self._pending.values())
            self._pending.clear()
        for slot in slots:
            slot.outcome = _LOST
            self.release(slot)


# The adapter ----------------------------------------------------------------------------------


class SmppAdapter:
    """A route over one SMPP 3.4 ``bind_transceiver``; receipts by ``receipts()`` (a stream)."""

    def __init__(self, options: SmppOptions, *, system_id: str, password: str, start: bool = True) -> None:
        self.options = options
        self.capabilities = Capabilities(
            max_batch=options.max_batch,
            unicode=True,
            max_parts=options.max_parts,
            idempotency_keys=False,
            receipts=(ReceiptMode.STREAM,),
        )
        self._system_id = system_id
        self._password = password
        self._where = f"SMSC {options.host}:{options.port}"
        logging.getLogger(WIRE_LOGGER).setLevel(logging.INFO)

        self._state_lock = threading.Lock()
        self._session: _Session | None = None
        self._down: CarrierError = RouteError(f"{self._where} not bound yet", code=CODE_NOT_BOUND)
        self._fatal: BaseException | None = None
        self._first_attempt = threading.Event()
        self._closing = threading.Event()
        self._rng = random.Random()

        self._track_lock = threading.Lock()
        self._messages: dict[str, _Message] = {}
        self._index = _IdIndex()
        self._next_ref = self._rng.randrange(256)
        self._receipts: queue.Queue[Receipt] = queue.Queue(maxsize=options.receipt_queue_max)
        self._payloads: dict[tuple[str, str], list[bytes]] = {}

        self._thread = threading.Thread(target=self._run, name=f"smpp-{options.host}:{options.port}", daemon=True)
        if start:
            self._thread.start()

    @classmethod
    def from_options(cls, options: Mapping[str, Any], credentials: Mapping[str, str]) -> SmppAdapter:
        """The registry's factory: ``options`` as in ``SmppOptions``, credentials ``system_id`` and
        ``password`` (from environment variables named in the route's ``credentials_env``)."""
        parsed = SmppOptions.from_mapping(options)
        where = f"smpp route to {parsed.host}:{parsed.port}"
        missing = [name for name in ("system_id", "password") if not credentials.get(name)]
        if missing:
            msg = (
                f"{where} needs the credential(s) {', '.join(missing)}: set "
                f'credentials_env = {{ system_id = "ENV_VAR", password = "ENV_VAR" }} and export the variables'
            )
            raise AdapterOptionsError(msg)
        for name, limit in (("system_id", MAX_SYSTEM_ID), ("password", MAX_PASSWORD)):
            if len(credentials[name]) > limit:
                msg = f"{where}: the credential {name} is longer than SMPP 3.4 allows ({limit} characters)"
                raise AdapterOptionsError(msg)
        return cls(parsed, system_id=credentials["system_id"], password=credentials["password"])

    def __repr__(self) -> str:
        return f"SmppAdapter({self._where}, window={self.options.window})"

    # -- public face ---------------------------------------------------------------------------

    def submit(self, batch: Sequence[Submission]) -> list[Result]:
        """Send ``batch``; one result per submission, in order. ``RouteError`` when not bound."""
        session = self._bound_session()
        options = self.options
        now = time.monotonic()
        if session.throttled_until > now:
            wait = session.throttled_until - now
            return [self._throttled(s.key, wait, "not sent: the SMSC asked us to slow down") for s in batch]
        results: list[Result | None] = [None] * len(batch)
        plans: list[tuple[int, _Plan]] = []
        waiter = _Batch()
        stop = ""  # a FailureKind once nothing more may be sent in this call
        for index, submission in enumerate(batch):
            planned = self._plan(submission)
            if not isinstance(planned, _Plan):
                results[index] = planned
                continue
            plans.append((index, planned))
            missing = [part for part, known in enumerate(planned.message.ids) if known is None]
            if not missing:
                continue  # every part was accepted on an earlier attempt
            for part in missing:
                stop = stop or self._send_part(session, waiter, planned, part)
                if stop:
                    planned.unsent = stop
                    break
        session.connection.waiting = True
        session.connection.quick_ack()
        settled = waiter.wait(options.response_timeout + 1.0)
        session.connection.waiting = False
        if not settled:
            # The reader thread expires overdue submits; this is the fallback if it stalls.
            session.expire(time.monotonic(), options.response_timeout, waiter)
            waiter.wait(1.0)
        for index, plan in plans:
            results[index] = self._fold(plan, session)
        out: list[Result] = []
        for item in results:
            assert item is not None
            out.append(item)
        return out

    def receipts(self, max_items: int = 1000, timeout: float = 0.0) -> list[Receipt]:
        """Receipts received since the last call (at most ``max_items``), waiting up to ``timeout``
        seconds for the first one. Each receipt is handed out once."""
        out: list[Receipt] = []
        try:
            out.append(self._receipts.get(timeout=timeout) if timeout > 0 else self._receipts.get_nowait())
            while len(out) < max_items:
                out.append(self._receipts.get_nowait())
        except queue.Empty:
            pass
        return out

    @property
    def bound(self) -> bool:
        """Whether the route is bound right now."""
        session = self._session
        return session is not None and session.alive

    def wait_bound(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a bind; True when bound."""
        deadline = time.monotonic() + timeout
        while not self.bound:
            if time.monotonic() >= deadline or self._fatal is not None or self._closing.is_set():
                return False
            time.sleep(_TICK / 2)
        return True

    def close(self) -> None:
        """Unbind, stop the reader thread and close the socket."""
        if self._closing.is_set():
            return
        self._closing.set()
        session = self._session
        if session is not None and session.alive:
            try:
                session.send(smpplib.smpp.make_pdu("unbind", client=session.connection))
            except (smpplib.exceptions.ConnectionError, smpplib.exceptions.PDUError, OSError):
                log.debug("smpp: unbind not sent to %s, connection already gone", self._where)
        if self._thread.is_alive():
            self._thread.join(timeout=self.options.response_timeout + 1.0)

    # -- submitting ----------------------------------------------------------------------------

    def _bound_session(self) -> _Session:
        if self._closing.is_set():
            msg = f"{self._where}: the adapter is closed; create a new one"
            raise RouteError(msg, code=CODE_NOT_BOUND)
        self._raise_if_dead()
        self._first_attempt.wait(self.options.connect_timeout + 1.0)
        self._raise_if_dead()
        with self._state_lock:
            session, down = self._session, self._down
        if session is None or not session.alive:
            raise down
        return session

    def _raise_if_dead(self) -> None:
        fatal = self._fatal
        if fatal is not None:
            msg = f"{self._where}: the SMPP reader thread died ({type(fatal).__name__}: {fatal}); recreate the route"
            raise RouteError(msg, code=CODE_READER_DIED) from fatal
        if not self._thread.is_alive() and not self._closing.is_set():
            msg = f"{self._where}: the SMPP reader thread is not running; recreate the route"
            raise RouteError(msg, code=CODE_READER_DIED)

    def _encode(self, text: str, encoding: str) -> list[bytes]:
        """``sms.encode_parts``, remembered for the last few texts (a batch shares its text)."""
        key = (text, encoding)
        payloads = self._payloads.get(key)
        if payloads is None:
            payloads = sms.encode_parts(text, encoding)
            if len(self._payloads) >= _PAYLOAD_CACHE:
                self._payloads.clear()
            self._payloads[key] = payloads
        return payloads

    def _plan(self, submission: Submission) -> _Plan | Result:
        """Payloads and the remembered state of ``submission``, or its result without sending."""
        try:
            payloads = self._encode(submission.text, submission.encoding)
        except ValueError as exc:
            return Failed(key=submission.key, kind=FailureKind.PERMANENT, code=CODE_ENCODING, reason=str(exc))
        if len(payloads) > self.options.max_parts:
            reason = f"{len(payloads)} parts, the route allows {self.options.max_parts}"
            return Failed(key=submission.key, kind=FailureKind.PERMANENT, code=CODE_TOO_LONG, reason=reason)
        fingerprint = hash((submission.msisdn, submission.text, submission.encoding, submission.sender))
        with self._track_lock:
            message = self._messages.get(submission.key)
            if message is not None and message.fingerprint == fingerprint:
                if message.missing == 0 and message.provider_id is not None:
                    # Sent whole already (a resend after a crash of the caller): do not send twice.
                    return Accepted(key=submission.key, provider_id=message.provider_id, parts=message.parts)
            else:
                if message is not None:
                    self._forget(message)
                message = _Message(
                    key=submission.key,
                    fingerprint=fingerprint,
                    ref=self._take_ref(),
                    parts=len(payloads),
                    ids=[None] * len(payloads),
                    missing=len(payloads),
                )
                self._remember(message)
        return _Plan(submission, message, payloads)

    def _take_ref(self) -> int:
        ref = self._next_ref
        self._next_ref = (ref + 1) % 256
        return ref

    def _send_part(self, session: _Session, waiter: _Batch, plan: _Plan, part: int) -> str:
        """Send one part; returns a ``FailureKind`` when nothing more may be sent in this call."""
        if not session.window.acquire(timeout=0.0):
            connection = session.connection
            connection.waiting = True
            connection.quick_ack()
            try:
                while not session.window.acquire(timeout=_TICK):
                    if not session.alive:
                        return FailureKind.ROUTE
            finally:
                connection.waiting = False
        if not session.alive:
            session.window.release()
            return FailureKind.ROUTE
        if session.throttled_until > time.monotonic():
            session.window.release()
            return FailureKind.THROTTLED
        submission, options = plan.submission, self.options
        payload = plan.payloads[part]
        esm_class = 0
        if len(plan.payloads) > 1:
            payload = bytes((0x05, 0x00, 0x03, plan.message.ref, len(plan.payloads), part + 1)) + payload
            esm_class = ESM_UDHI
        sender = submission.sender or options.source_addr
        alphanumeric = not sender.isdigit()
        source_ton = options.source_addr_ton
        source_npi = options.source_addr_npi
        pdu = smpplib.smpp.make_pdu(
            "submit_sm",
            client=session.connection,
            service_type=options.service_type,
            source_addr_ton=(5 if alphanumeric else 1) if source_ton is None else source_ton,
            source_addr_npi=(0 if alphanumeric else 1) if source_npi is None else source_npi,
            source_addr=sender,
            dest_addr_ton=options.dest_addr_ton,
            dest_addr_npi=options.dest_addr_npi,
            destination_addr=submission.msisdn.lstrip("+"),
            esm_class=esm_class,
            registered_delivery=1,
            validity_period=options.validity_period,
            data_coding=DATA_CODING_UCS2 if submission.encoding == sms.UCS2 else options.gsm7_data_coding,
            short_message=payload,
        )
        slot = _Slot(waiter, plan.message, part, time.monotonic())
        sequence = pdu.sequence
        session.register(sequence, slot)
        try:
            session.send(pdu)
        except (smpplib.exceptions.ConnectionError, smpplib.exceptions.PDUError, OSError) as exc:
            session.withdraw(sequence)
            session.lose(f"sending failed ({type(exc).__name__})")
            log.warning("smpp: sending to %s failed, bind lost: %s", self._where, exc)
            return FailureKind.ROUTE
        plan.slots.append(slot)
        return ""

    def _fold(self, plan: _Plan, session: _Session) -> Result:
        """One result for a message from the outcome of each of its parts."""
        key, message = plan.submission.key, plan.message
        # The reader thread wrote the ids before it settled the parts (the batch's queue orders it).
        provider_id = message.ids[0]
        if message.missing == 0 and provider_id is not None:
            return Accepted(key=key, provider_id=provider_id, parts=message.parts)
        refused = [s for s in plan.slots if s.outcome == _ANSWERED and s.status != ESME_ROK]
        unanswered = [s for s in plan.slots if s.outcome in (_TIMED_OUT, _LOST, _PENDING)]
        failure = self._classify(key, refused, unanswered, plan, session)
        if failure.kind in (FailureKind.PERMANENT, FailureKind.AMBIGUOUS):
            with self._track_lock:
                self._forget(message)  # never resent part by part: nothing to remember
        return failure

    def _classify(
        self, key: str, refused: list[_Slot], unanswered: list[_Slot], plan: _Plan, session: _Session
    ) -> Failed:
        parts = len(plan.payloads)
        where = f" (part {{}}/{parts})" if parts > 1 else ""
        kinds = [(self._kind_of(s.status), s) for s in refused]
        for kind, slot in kinds:
            if kind == FailureKind.PERMANENT:
                return self._refusal(key, kind, slot, where)
        if unanswered:
            slot = unanswered[0]
            if slot.outcome == _TIMED_OUT:
                reason = f"no submit_sm_resp within {self.options.response_timeout:g}s{where.format(slot.part + 1)}"
                return Failed(key=key, kind=FailureKind.AMBIGUOUS, code=CODE_TIMEOUT, reason=reason)
            reason = f"bind lost before the SMSC answered{where.format(slot.part + 1)}: {session.lost_reason}"
            return Failed(key=key, kind=FailureKind.AMBIGUOUS, code=CODE_BIND_LOST, reason=reason)
        for wanted in (FailureKind.ROUTE, FailureKind.THROTTLED, FailureKind.TRANSIENT):
            for kind, slot in kinds:
                if kind == wanted:
                    return self._refusal(key, kind, slot, where)
        if plan.unsent == FailureKind.THROTTLED:
            wait = max(0.0, session.throttled_until - time.monotonic())
            return self._throttled(key, wait, "not sent: the SMSC asked us to slow down")
        reason = f"not sent: {self._where} bind lost ({session.lost_reason or 'not bound'})"
        return Failed(key=key, kind=FailureKind.ROUTE, code=CODE_BIND_LOST, reason=reason)

    def _kind_of(self, status: int) -> str:
        if status in THROTTLED_STATUSES:
            return FailureKind.THROTTLED
        if status in TRANSIENT_STATUSES:
            return FailureKind.TRANSIENT
        if status in ROUTE_STATUSES:
            return FailureKind.ROUTE
        return FailureKind.PERMANENT

    def _refusal(self, key: str, kind: str, slot: _Slot, where: str) -> Failed:
        answer = "generic_nack" if slot.nack else "submit_sm_resp"
        reason = f"SMSC refused the message{where.format(slot.part + 1)}: {status_text(slot.status)} ({answer})"
        retry_after = self.options.throttle_retry_after if kind == FailureKind.THROTTLED else None
        return Failed(key=key, kind=kind, code=status_code(slot.status), reason=reason, retry_after=retry_after)

    def _throttled(self, key: str, wait: float, reason: str) -> Failed:
        retry_after = max(wait, self.options.throttle_retry_after)
        return Failed(
            key=key,
            kind=FailureKind.THROTTLED,
            code=status_code(ESME_RTHROTTLED),
            reason=reason,
            retry_after=retry_after,
        )

    # -- remembering messages (under _track_lock) ----------------------------------------------

    def _remember(self, message: _Message) -> None:
        messages = self._messages
        messages[message.key] = message
        if len(messages) > self.options.receipt_memory:
            self._forget(messages[next(iter(messages))])  # the oldest

    def _forget(self, message: _Message) -> None:
        if self._messages.get(message.key) is message:
            del self._messages[message.key]
        for provider_id in message.ids:
            if provider_id is not None:
                self._index.remove(provider_id, message)

    def _accepted_part(self, slot: _Slot, provider_id: str) -> None:
        message = slot.message
        with self._track_lock:
            if message.ids[slot.part] is None:
                message.missing -= 1
            message.ids[slot.part] = provider_id
            if self._messages.get(message.key) is message:
                self._index.add(provider_id, message)

    # -- the reader thread ---------------------------------------------------------------------

    def _run(self) -> None:
        session: _Session | None = None
        try:
            failures = 0
            while not self._closing.is_set():
                try:
                    session = self._bind()
                except CarrierError as exc:
                    failures += 1
                    self._set_down(None, exc)
                    delay = self._backoff(failures)
                    log.warning("smpp: %s (retrying in %.1fs)", exc, delay)
                    self._closing.wait(delay)
                    continue
                failures = 0
                self._set_down(session, None)
                log.info("smpp: bound to %s", self._where)
                reason = self._serve(session)
                session.lose(reason)
                self._close_connection(session.connection)
                if self._closing.is_set():
                    break
                lost = RouteError(f"{self._where} bind lost ({reason}); rebinding", code=CODE_BIND_LOST)
                self._set_down(None, lost)
                log.warning("smpp: %s", lost)
                self._closing.wait(self._backoff(1))
        except BaseException as exc:
            # A bug, not the peer: keep it for the next submit to raise, never swallow it.
            self._fatal = exc
            log.exception("smpp: reader thread for %s died", self._where)
            if session is not None:
                session.lose(f"reader thread died: {type(exc).__name__}")
                self._close_connection(session.connection)
        finally:
            self._first_attempt.set()

    def _set_down(self, session: _Session | None, error: CarrierError | None) -> None:
        with self._state_lock:
            self._session = session
            if error is not None:
                self._down = error
        self._first_attempt.set()

    def _backoff(self, failures: int) -> float:
        options = self.options
        delay = min(options.reconnect_max, options.reconnect_min * 2.0 ** (failures - 1))
        return delay * self._rng.uniform(0.8, 1.2)

    def _bind(self) -> _Session:
        """Connect and bind; ``RouteError`` (from the smpplib or socket error) when that fails."""
        options = self.options
        connection = _Connection(options.host, options.port, options.connect_timeout, options.quick_ack)
        try:
            connection.connect()
            response = connection.bind_transceiver(
                system_id=self._system_id, password=self._password, system_type=options.system_type
            )
        except smpplib.exceptions.PDUError as exc:
            self._close_connection(connection)
            status = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], int) else ESME_RUNKNOWNERR
            msg = f"{self._where} refused the bind: {status_text(status)}; check the route's system_id and password"
            raise RouteError(msg, code=status_code(status)) from exc
        except (smpplib.exceptions.ConnectionError, OSError) as exc:
            self._close_connection(connection)
            msg = f"cannot bind to {self._where}: {type(exc).__name__} {exc}".rstrip()
            raise RouteError(msg, code=CODE_NOT_BOUND) from exc
        except (_Desync, smpplib.exceptions.UnknownCommandError, ValueError, IndexError, struct.error) as exc:
            self._close_connection(connection)
            msg = f"{self._where} answered the bind with something that is not a bind_transceiver_resp"
            raise RouteError(msg, code=CODE_NOT_BOUND) from exc
        if response.command != "bind_transceiver_resp":
            self._close_connection(connection)
            msg = f"{self._where} answered the bind with {response.command}, not bind_transceiver_resp"
            raise RouteError(msg, code=CODE_NOT_BOUND)
        connection.set_send_timeout(max(options.response_timeout, options.connect_timeout))
        return _Session(connection, options.window)

    @staticmethod
    def _close_connection(connection: _Connection) -> None:
        connection.state = smpplib.consts.SMPP_CLIENT_STATE_OPEN  # the bind is over either way
        try:
            connection.disconnect()
        except OSError:
            log.debug("smpp: socket close failed", exc_info=True)

    def _serve(self, session: _Session) -> str:
        """Read and act until the bind is lost or the adapter closes; returns why it ended."""
        options = self.options
        connection = session.connection
        now = time.monotonic()
        last_heard = now
        enquiring_since: float | None = None
        next_expiry = now + _TICK
        closing_since: float | None = None
        while True:
            try:
                frame = connection.next_frame(_TICK)
            except (_Desync, smpplib.exceptions.ConnectionError, OSError) as exc:
                return f"{type(exc).__name__}: {exc}"
            now = time.monotonic()
            if frame is not None:
                last_heard = now
                enquiring_since = None
                try:
                    if self._handle(session, frame) == UNBIND:
                        return "the SMSC unbound"
                except (smpplib.exceptions.ConnectionError, smpplib.exceptions.PDUError, OSError) as exc:
                    return f"answering failed: {type(exc).__name__}: {exc}"
            if self._closing.is_set():
                closing_since = closing_since or now
                if frame is None or now - closing_since > 1.0:
                    return "closed"
            if now >= next_expiry:
                next_expiry = now + _TICK
                expired = session.expire(now, options.response_timeout)
                if expired:
                    log.warning(
                        "smpp: %d submit(s) to %s unanswered after %gs", expired, self._where, options.response_timeout
                    )
            if enquiring_since is not None:
                if now - enquiring_since > options.response_timeout:
                    return f"no answer to enquire_link within {options.response_timeout:g}s"
            elif now - last_heard >= options.enquire_link_interval:
                enquiring_since = now
                try:
                    session.send(smpplib.smpp.make_pdu("enquire_link", client=connection))
                except (smpplib.exceptions.ConnectionError, smpplib.exceptions.PDUError, OSError) as exc:
                    return f"enquire_link failed: {type(exc).__name__}: {exc}"

    def _handle(self, session: _Session, frame: bytes) -> int:
        """Act on one PDU from the SMSC; returns its command id. Garbage is answered or logged."""
        _, command_id, status, sequence = struct.unpack_from(">LLLL", frame)
        body = frame[16:]
        if command_id in (SUBMIT_SM_RESP, GENERIC_NACK):
            self._on_response(session, command_id, status, sequence, body)
        elif command_id == DELIVER_SM:
            session.send(_response("deliver_sm_resp", sequence, self._on_deliver(body)))
        elif command_id == ENQUIRE_LINK:
            session.send(_response("enquire_link_resp", sequence))
        elif command_id == UNBIND:
            session.send(_response("unbind_resp", sequence))
        elif command_id in (ENQUIRE_LINK_RESP, UNBIND_RESP):
            pass
        elif command_id & RESPONSE_BIT:
            log.info(
                "smpp: ignored unexpected response 0x%08X (sequence %d) from %s", command_id, sequence, self._where
            )
        else:
            log.warning("smpp: %s sent unsupported command 0x%08X; answered generic_nack", self._where, command_id)
            session.send(_response("generic_nack", sequence, ESME_RINVCMDID))
        return int(command_id)

    def _on_response(self, session: _Session, command_id: int, status: int, sequence: int, body: bytes) -> None:
        slot = session.answer(sequence)
        if slot is None:
            name = "generic_nack" if command_id == GENERIC_NACK else "submit_sm_resp"
            log.info("smpp: %s for unknown sequence %d from %s ignored (late or stray)", name, sequence, self._where)
            return
        try:
            if command_id == GENERIC_NACK:
                slot.nack = True
                status = status or ESME_RUNKNOWNERR
            slot.status = status
            if status == ESME_ROK:
                provider_id = body.split(b"\0", 1)[0].decode("latin-1").strip()
                if not provider_id:
                    log.warning("smpp: %s accepted a submit without a message_id", self._where)
                self._accepted_part(slot, provider_id)
            elif status in THROTTLED_STATUSES:
                session.throttled_until = time.monotonic() + self.options.throttle_retry_after
        finally:
            session.release(slot)

    def _on_deliver(self, body: bytes) -> int:
        """Turn a deliver_sm into a receipt (or ignore it); returns the deliver_sm_resp status."""
        try:
            deliver = _parse_deliver_sm(body)
        except MalformedPayload as exc:
            log.warning("smpp: unreadable deliver_sm from %s dropped: %s", self._where, exc)
            return ESME_RX_P_APPN
        if not deliver.esm_class & ESM_RECEIPT:
            log.info("smpp: mobile-originated message from %s ignored (not a receipt)", self._where)
            return ESME_ROK
        try:
            facts = _receipt_facts(deliver)
        except MalformedPayload as exc:
            log.warning("smpp: malformed receipt from %s dropped: %s", self._where, exc)
            return ESME_ROK
        if self._receipts.full():
            log.warning(
                "smpp: %d receipts waiting to be taken; asking %s to resend later", self._receipts.qsize(), self._where
            )
            return ESME_RX_T_APPN
        receipt = self._fold_receipt(facts)
        if receipt is not None:
            self._receipts.put_nowait(receipt)
        return ESME_ROK

    def _fold_receipt(self, facts: _ReceiptFacts) -> Receipt | None:
        """One receipt per message: delivered when every part is, failed when any part fails."""
        status = RECEIPT_STATS.get(facts.stat)
        error_code: str | None = None
        if status is None:  # a stat we do not know: intermediate, the stat kept as the code
            status, error_code = ReceiptStatus.ACCEPTED, facts.stat
        elif status in (ReceiptStatus.FAILED, ReceiptStatus.EXPIRED):
            error_code = _error_code(facts.stat, facts.error)
        final = status != ReceiptStatus.ACCEPTED
        at = datetime.now(UTC)
        with self._track_lock:
            match = self._index.find(facts.receipt_id)
            if match is None:
                log.info("smpp: receipt for unremembered id %s passed on as received", facts.receipt_id)
                return Receipt(provider_id=facts.receipt_id, status=status, at=at, error_code=error_code, raw=facts.raw)
            found, message = match
            if message.done:
                log.debug("smpp: duplicate receipt for %s ignored", facts.receipt_id)
                return None
            part = message.ids.index(found)
            if message.states is None:
                message.states = [None] * message.parts
            message.states[part] = status
            provider_id = message.provider_id or found
            parts = message.parts
            if final and status == ReceiptStatus.DELIVERED:
                whole = self.options.part_receipts == "any" or all(s == ReceiptStatus.DELIVERED for s in message.states)
                if not whole:
                    return None
            if final:
                message.done = True
            whole_delivered = status == ReceiptStatus.DELIVERED and parts > 1
        return Receipt(
            provider_id=provider_id,
            status=status,
            at=at,
            error_code=error_code,
            part=part + 1 if parts > 1 and not whole_delivered else None,
            parts=parts if parts > 1 else None,
            raw=facts.raw,
        )


__all__ = [
    "MESSAGE_STATES",
    "QUICK_ACK_MODES",
    "RECEIPT_STATS",
    "ROUTE_STATUSES",
    "STATUS_NAMES",
    "THROTTLED_STATUSES",
    "TRANSIENT_STATUSES",
    "SmppAdapter",
    "SmppOptions",
    "parse_receipt_text",
    "status_code",
    "status_text",
]
