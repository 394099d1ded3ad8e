"""The simulated SMSC over HTTP, speaking the eSMS wire protocol (carriers.md), on 127.0.0.1.

``SimulatorServer`` puts an ``Smsc`` behind a stdlib ``ThreadingHTTPServer``:

- ``POST /MainService.svc/json/SendMultipleMessage_V4_post_json/`` (customer care, one ``Phone``) and
  ``POST …/SendMultipleSMSBrandname_json/`` (advertising, ``Phones``: 30–5,000 distinct valid numbers,
  else 107 / 120) answer ``{"CodeResult": "100", "SMSID": …}`` or an eSMS code: 101 wrong keys (when
  the server was given keys), 104 no brandname, 108 malformed number, 118 wrong ``SmsType``, 99 a
  number refused by the behaviour's pattern, 124 a ``RequestId`` already accepted (with the first
  ``SMSID``), the route fault's code (101, 103, …). Busy: HTTP 503. Throttled: HTTP 429 with
  ``Retry-After``. A reset closes the connection with an RST; a timeout holds the request unanswered
  (until ``hang`` seconds or the server stops), with or without having accepted the message.
- ``GET …/GetSmsReceiverStatus_get?ApiKey&SecretKey&RefId=SMSID`` answers 105 until a message's
  final receipt is due, then ``ReceiverList`` entries ``{"Phone", "NetworkName", "IsSent",
  "SentResult", "Retry"}``.
- Callbacks: each receipt event of a request that named a ``CallbackUrl`` is delivered by HTTP GET
  from a background thread with ``SMSID, SendStatus, SendSuccess, SendFailed, TotalReceiver,
  TotalSent, TotalPrice, RequestId, TypeId, telcoid, phonenumber``; a failed delivery is retried up to
  5 times, then dropped (counted). Early receipts are delivered before the submit answer is written.
  Only loopback callback URLs are called unless ``allow_remote_callbacks``.
- Operator/test endpoints: ``GET /_sim/stats``; ``GET /_sim/behaviour``; ``POST /_sim/behaviour``
  with ``{"behaviour": "flaky,slow", "seed": 3, …}`` switches the behaviour while running.

In advertising requests a number refused by the pattern does not fail the request: it is reported
refused (``SendStatus`` 4) in its receipt. The simulator includes the ``SMSID`` in its 124 answers;
whether eSMS does is not documented (the eSMS adapter does not rely on it).

Usable as a context manager on port 0 in tests: ``with SimulatorServer(Smsc(b)) as server: server.base_url``.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import math
import socket
import struct
import threading
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from carriers import sms
from carriers.base import Accepted, Failed, FailureKind, ReceiptStatus, Submission
from carriers.errors import AdapterOptionsError
from carriers.simulator import ROUTE_FAULTS, Behaviour, Call, Event, Outcome, Smsc

log = logging.getLogger(__name__)

API_ROOT = "/MainService.svc/json/"
PATH_CARE = API_ROOT + "SendMultipleMessage_V4_post_json"
PATH_ADS = API_ROOT + "SendMultipleSMSBrandname_json"
PATH_STATUS = API_ROOT + "GetSmsReceiverStatus_get"
PATH_STATS = "/_sim/stats"
PATH_BEHAVIOUR = "/_sim/behaviour"

SMS_TYPE_CARE = "2"
SMS_TYPE_ADS = "1"
ADS_MIN_NUMBERS = 30
ADS_MAX_NUMBERS = 5000

CODE_ACCEPTED = "100"
CODE_BLOCKED = "99"
CODE_AUTH = "101"
CODE_NOT_YET_KNOWN = "105"
CODE_TOO_FEW = "107"
CODE_BAD_NUMBER = "108"
CODE_NO_BRANDNAME = "104"
CODE_TYPE = "118"
CODE_TOO_MANY = "120"
CODE_ALREADY_USED = "124"
CODE_TEMPLATE = "146"

SEND_STATUS_REFUSED = "4"
SEND_STATUS_FINISHED = "5"
SEND_STATUS_SENT = "7"

TELCO_IDS: Mapping[str, str] = {
    "viettel": "1",
    "mobifone": "2",
    "vinaphone": "3",
    "vietnamobile": "4",
    "gmobile": "5",
    "itel": "6",
    "reddi": "7",
}
NETWORK_NAMES: Mapping[str, str] = {
    "viettel": "Viettel",
    "mobifone": "Mobifone",
    "vinaphone": "Vinaphone",
    "vietnamobile": "Vietnamobile",
    "gmobile": "Gmobile",
    "itel": "Itel",
    "reddi": "Reddi",
}

DEFAULT_HOST = "127.0.0.1"
DEFAULT_HANG = 30.0
CALLBACK_RETRIES = 5
CALLBACK_TIMEOUT = 2.0
CALLBACK_RETRY_DELAY = 0.2
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
_TICK = 0.05


def msisdn_of(phone: object) -> str | None:
    """``09…``, ``849…`` or ``+849…`` (9-digit national number) -> ``+849…``; anything else ``None``."""
    if not isinstance(phone, str | int):
        return None
    text = str(phone).strip()
    digits = text.lstrip("+")
    if not digits.isdigit():
        return None
    if digits.startswith("0") and len(digits) == 10:
        return "+84" + digits[1:]
    if digits.startswith("84") and len(digits) == 11:
        return "+" + digits
    return None


@dataclass(frozen=True, slots=True)
class _Callback:
    url: str
    params: Mapping[str, str]
    attempt: int = 0


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # stop() joins the handler threads
    block_on_close = True
    sim: SimulatorServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("simulator: a connection ended badly", exc_info=True)


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    server_version = "SimulatedSMSC/1"

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes: without this, delayed ACKs cost 40 ms a request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.sim._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        except (OSError, ValueError):
            pass  # the connection was reset on purpose, or the peer went away
        finally:
            self.server.sim._track(self.connection, add=False)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # The path only: query strings of GET calls carry the caller's keys.
        log.debug("simulator: %s %s -> %s", self.command, urlsplit(self.path).path, code)

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_POST(self) -> None:
        self.server.sim._post(self)

    def do_GET(self) -> None:
        self.server.sim._get(self)


class SimulatorServer:
    """An ``Smsc`` served over HTTP; ``start``/``stop`` or use as a context manager."""

    def __init__(
        self,
        smsc: Smsc | None = None,
        *,
        host: str = DEFAULT_HOST,
        port: int = 0,
        api_key: str | None = None,
        secret_key: str | None = None,
        hang: float = DEFAULT_HANG,
        allow_remote_callbacks: bool = False,
        callback_timeout: float = CALLBACK_TIMEOUT,
        callback_retry_delay: float = CALLBACK_RETRY_DELAY,
        reuse_port: bool = False,
    ) -> None:
        self.smsc = smsc or Smsc()
        self.host = host
        self._port = port
        self._keys = (api_key, secret_key) if api_key is not None or secret_key is not None else None
        self.hang = hang
        self.allow_remote_callbacks = allow_remote_callbacks
        self.callback_timeout = callback_timeout
        self.callback_retry_delay = callback_retry_delay
        self.reuse_port = reuse_port
        self._httpd: _Server | None = None
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._smsid_seq = itertools.count(1)
        self._by_smsid: dict[str, list[str]] = {}
        self._refused: dict[str, list[str]] = {}
        self._callbacks: list[tuple[float, int, _Callback]] = []
        self._callback_seq = itertools.count()
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        self.counts: dict[str, int] = dict.fromkeys(
            ("requests", "callbacks_sent", "callbacks_failed", "callbacks_dropped", "callbacks_refused"), 0
        )

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._httpd is None:
            return self._port
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """What the eSMS adapter's ``base_url`` option should be."""
        return self.url + API_ROOT

    def start(self) -> SimulatorServer:
        if self._httpd is not None:
            return self
        server_class = _Server6 if ":" in self.host else _Server
        httpd = server_class((self.host, self._port), _Handler, bind_and_activate=False)
        httpd.allow_reuse_port = self.reuse_port
        httpd.sim = self
        try:
            httpd.server_bind()
            httpd.server_activate()
        except OSError:
            httpd.server_close()
            raise
        self._httpd = httpd
        self._stopping.clear()
        serve = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": _TICK}, name="sim-http")
        callbacks = threading.Thread(target=self._callback_loop, name="sim-callbacks")
        self._threads = [serve, callbacks]
        for thread in self._threads:
            thread.daemon = True
            thread.start()
        log.info("simulated SMSC listening on %s", self.url)
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._port = int(httpd.server_address[1])
        self._stopping.set()
        self._wake.set()
        httpd.shutdown()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:  # wake handlers waiting for the next keep-alive request
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        httpd.server_close()
        for thread in self._threads:
            thread.join()
        self._threads = []

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def switch(self, behaviour: Behaviour) -> None:
        self.smsc.switch(behaviour)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            counts = dict(self.counts)
            pending = len(self._callbacks)
        return {
            **self.smsc.counts,
            **counts,
            "submitted": self.smsc.submitted,
            "pending_receipts": self.smsc.pending_receipts,
            "pending_callbacks": pending,
            "behaviour": self.smsc.behaviour.describe(),
        }

    def _track(self, connection: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def _count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self.counts[name] += n

    # -- HTTP ------------------------------------------------------------------------------------

    def _post(self, handler: _Handler) -> None:
        self._count("requests")
        path = urlsplit(handler.path).path.rstrip("/")
        body = self._read(handler)
        if path.lower() == PATH_CARE.lower():
            self._send(handler, body, SMS_TYPE_CARE)
        elif path.lower() == PATH_ADS.lower():
            self._send(handler, body, SMS_TYPE_ADS)
        elif path == PATH_BEHAVIOUR:
            self._switch(handler, body)
        else:
            _reply_json(handler, {"ErrorMessage": f"no such endpoint: {path}"}, status=404)

    def _get(self, handler: _Handler) -> None:
        self._count("requests")
        parts = urlsplit(handler.path)
        path = parts.path.rstrip("/")
        query = dict(parse_qsl(parts.query))
        if path.lower() == PATH_STATUS.lower():
            self._status(handler, query)
        elif path == PATH_STATS:
            _reply_json(handler, self.stats())
        elif path == PATH_BEHAVIOUR:
            _reply_json(handler, self.smsc.behaviour.describe())
        else:
            _reply_json(handler, {"ErrorMessage": f"no such endpoint: {path}"}, status=404)

    def _read(self, handler: _Handler) -> bytes:
        length = int(handler.headers.get("Content-Length") or 0)
        return handler.rfile.read(length) if length > 0 else b""

    def _authorised(self, api_key: object, secret_key: object) -> bool:
        if self._keys is None:
            return bool(api_key) and bool(secret_key)
        return (api_key, secret_key) == self._keys

    def _switch(self, handler: _Handler, body: bytes) -> None:
        try:
            options = json.loads(body or b"{}")
            if not isinstance(options, dict):
                raise ValueError("not an object")
            behaviour = Behaviour.from_options(options)
        except (ValueError, AdapterOptionsError) as exc:
            _reply_json(handler, {"ErrorMessage": str(exc)}, status=400)
            return
        self.smsc.switch(behaviour)
        log.info("simulator behaviour now %s", behaviour.describe())
        _reply_json(handler, behaviour.describe())

    def _send(self, handler: _Handler, raw: bytes, sms_type: str) -> None:
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            _reply_json(handler, {"ErrorMessage": "the body is not JSON"}, status=400)
            return
        if not isinstance(body, dict):
            _reply_json(handler, {"ErrorMessage": "the body is not a JSON object"}, status=400)
            return
        refusal = self._check(body, sms_type)
        if refusal:
            _reply_json(handler, {"CodeResult": refusal[0], "ErrorMessage": refusal[1]})
            return
        if sms_type == SMS_TYPE_CARE:
            numbers = [msisdn_of(body.get("Phone"))]
            if numbers[0] is None:
                _reply_json(handler, {"CodeResult": CODE_BAD_NUMBER, "ErrorMessage": "phone number malformed"})
                return
        else:
            phones = body.get("Phones")
            valid = [m for m in (msisdn_of(p) for p in phones) if m] if isinstance(phones, list) else []
            numbers = list(dict.fromkeys(valid))
            if len(numbers) < ADS_MIN_NUMBERS or len(numbers) > ADS_MAX_NUMBERS:
                code = CODE_TOO_FEW if len(numbers) < ADS_MIN_NUMBERS else CODE_TOO_MANY
                message = f"{len(numbers)} distinct valid numbers; {ADS_MIN_NUMBERS} to {ADS_MAX_NUMBERS} needed"
                _reply_json(handler, {"CodeResult": code, "ErrorMessage": message})
                return
        self._accept(handler, body, sms_type, [n for n in numbers if n])

    def _check(self, body: Mapping[str, Any], sms_type: str) -> tuple[str, str] | None:
        if not self._authorised(body.get("ApiKey"), body.get("SecretKey")):
            return CODE_AUTH, "wrong ApiKey or SecretKey"
        if str(body.get("SmsType", "")) != sms_type:
            return CODE_TYPE, f"SmsType {body.get('SmsType')!r} is not supported by this endpoint"
        if not str(body.get("Brandname") or "").strip():
            return CODE_NO_BRANDNAME, "brandname missing"
        if not isinstance(body.get("Content"), str) or not body["Content"]:
            return CODE_TEMPLATE, "content missing"
        return None

    def _accept(self, handler: _Handler, body: Mapping[str, Any], sms_type: str, numbers: Sequence[str]) -> None:
        request_id = str(body.get("RequestId") or "")
        serial = next(self._smsid_seq)
        smsid = f"{serial:08x}-5e5a-4c1d-9b3e-{serial:012x}"
        text = str(body["Content"])
        encoding = sms.UCS2 if str(body.get("IsUnicode", "0")) == "1" else sms.GSM7
        callback_url = str(body.get("CallbackUrl") or "")
        if callback_url and not self._callable(callback_url):
            self._count("callbacks_refused")
            log.warning("simulator: callback URL %s is not a loopback address; no callbacks for it", callback_url)
            callback_url = ""
        prefix = request_id or smsid
        batch = [
            Submission(
                key=prefix if sms_type == SMS_TYPE_CARE else f"{prefix}:{number}",
                msisdn=number,
                text=text,
                encoding=encoding,
                sender=str(body.get("Brandname")),
            )
            for number in numbers
        ]
        phones = body.get("Phones") if sms_type == SMS_TYPE_ADS else [body.get("Phone")]
        sent_forms = {msisdn_of(p): str(p) for p in phones} if isinstance(phones, list) else {}
        metas = [
            {
                "smsid": smsid,
                "request_id": request_id,
                "callback_url": callback_url,
                "sms_type": sms_type,
                "phone": sent_forms.get(item.msisdn, item.msisdn),
                "total": str(len(batch)),
                "unicode": str(body.get("IsUnicode", "0")),
            }
            for item in batch
        ]
        sandbox = str(body.get("Sandbox", "0")) == "1"
        call = self.smsc.call(batch, call_key=prefix, sandbox=sandbox, meta=metas, busy_per_call=True)
        new = [r.provider_id for r in call.results if isinstance(r, Accepted) and r.key not in call.known]
        if new:
            with self._lock:
                self._by_smsid.setdefault(smsid, []).extend(new)
        if call.latency and self._stopping.wait(call.latency):
            return
        self._answer(handler, call, batch, metas)

    def _answer(
        self, handler: _Handler, call: Call, batch: Sequence[Submission], metas: Sequence[Mapping[str, str]]
    ) -> None:
        if call.outcome == Outcome.ROUTE_FAULT:
            code = ROUTE_FAULTS[call.fault]
            _reply_json(handler, {"CodeResult": code, "ErrorMessage": f"simulated route fault: {call.fault}"})
        elif call.outcome == Outcome.THROTTLED:
            seconds = max(1, math.ceil(call.retry_after))
            _reply_json(
                handler, {"ErrorMessage": "too many requests"}, status=429, headers={"Retry-After": str(seconds)}
            )
        elif call.outcome == Outcome.BUSY:
            _reply(handler, 503, b"<html><body><h1>503 Service Unavailable</h1></body></html>", "text/html")
        elif call.outcome == Outcome.RESET:
            _reset(handler)
        elif call.outcome == Outcome.TIMEOUT:
            self._stopping.wait(self.hang)
            handler.close_connection = True
        else:
            self._answered(handler, call, batch, metas)

    def _answered(
        self, handler: _Handler, call: Call, batch: Sequence[Submission], metas: Sequence[Mapping[str, str]]
    ) -> None:
        accepted = [r for r in call.results if isinstance(r, Accepted)]
        refused = [r for r in call.results if isinstance(r, Failed) and r.kind == FailureKind.PERMANENT]
        smsid = metas[0]["smsid"]
        if accepted:
            first = self.smsc.message(accepted[0].provider_id)
            smsid = first.meta.get("smsid", smsid) if first is not None else smsid
        new = [r.provider_id for r in accepted if r.key not in call.known]
        if metas[0]["sms_type"] == SMS_TYPE_CARE and refused:
            _reply_json(handler, {"CodeResult": CODE_BLOCKED, "ErrorMessage": "number blocked"})
            return
        if refused:  # advertising: the request stands, the refused numbers are reported in receipts
            by_key = {item.key: (item, meta) for item, meta in zip(batch, metas, strict=True)}
            with self._lock:
                self._refused.setdefault(smsid, []).extend(by_key[r.key][1]["phone"] for r in refused)
            for r in refused:
                meta = by_key[r.key][1]
                if meta["callback_url"]:
                    self._queue(meta["callback_url"], _params(meta, SEND_STATUS_REFUSED, None))
        for event in self.smsc.take_early(new):
            self._deliver_now(event)
        all_known = bool(accepted) and len(call.known) == len(batch)
        code = CODE_ALREADY_USED if all_known else CODE_ACCEPTED
        answer = {"CodeResult": code, "SMSID": smsid}
        if code == CODE_ALREADY_USED:
            answer["ErrorMessage"] = "RequestId already used"
        _reply_json(handler, answer)

    def _status(self, handler: _Handler, query: Mapping[str, str]) -> None:
        if not self._authorised(query.get("ApiKey"), query.get("SecretKey")):
            _reply_json(handler, {"CodeResult": CODE_AUTH, "ErrorMessage": "wrong ApiKey or SecretKey"})
            return
        smsid = query.get("RefId", "")
        with self._lock:
            provider_ids = list(self._by_smsid.get(smsid, ()))
            refused = list(self._refused.get(smsid, ()))
        entries: list[dict[str, Any]] = [
            {"Phone": phone, "NetworkName": "", "IsSent": True, "SentResult": False, "Retry": 0} for phone in refused
        ]
        for pid in provider_ids:
            message = self.smsc.final_status(pid)
            if message is not None:
                entries.append(
                    {
                        "Phone": message.meta.get("phone", message.msisdn),
                        "NetworkName": NETWORK_NAMES.get(message.network or "", ""),
                        "IsSent": True,
                        "SentResult": message.status == ReceiptStatus.DELIVERED,
                        "Retry": 0,
                    }
                )
        if not entries:
            _reply_json(handler, {"CodeResult": CODE_NOT_YET_KNOWN, "ErrorMessage": "not yet known"})
            return
        _reply_json(handler, {"CodeResult": CODE_ACCEPTED, "ReceiverList": entries})

    # -- callbacks -------------------------------------------------------------------------------

    def _callable(self, url: str) -> bool:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return False
        return self.allow_remote_callbacks or parts.hostname in LOOPBACK

    def _queue(self, url: str, params: Mapping[str, str], attempt: int = 0, delay: float = 0.0) -> None:
        with self._lock:
            due = self.smsc.now() + delay
            heapq.heappush(self._callbacks, (due, next(self._callback_seq), _Callback(url, params, attempt)))
        self._wake.set()

    def _callback_loop(self) -> None:
        while not self._stopping.is_set():
            for event in self.smsc.pop_due():
                meta = event.message.meta
                if meta.get("callback_url"):
                    self._queue(meta["callback_url"], _event_params(event))
            now = self.smsc.now()
            due: list[_Callback] = []
            with self._lock:
                while self._callbacks and self._callbacks[0][0] <= now:
                    due.append(heapq.heappop(self._callbacks)[2])
                upcoming = self._callbacks[0][0] if self._callbacks else None
            for callback in due:
                if self._stopping.is_set():
                    return
                self._deliver(callback)
            nexts = [t for t in (upcoming, self.smsc.next_due()) if t is not None]
            wait = _TICK if not nexts else min(_TICK, max(0.0, min(nexts) - self.smsc.now()))
            if not due and wait > 0:
                self._wake.wait(wait)
                self._wake.clear()

    def _deliver_now(self, event: Event) -> None:
        meta = event.message.meta
        if meta.get("callback_url"):
            self._deliver(_Callback(meta["callback_url"], _event_params(event)))

    def _deliver(self, callback: _Callback) -> None:
        separator = "&" if urlsplit(callback.url).query else ("" if callback.url.endswith("?") else "?")
        url = f"{callback.url}{separator}{urlencode(callback.params)}"
        try:
            with self._opener.open(url, timeout=self.callback_timeout) as response:
                ok = 200 <= response.status < 300
        except OSError:  # URLError, HTTPError, timeouts and resets are all OSErrors
            ok = False
        if ok:
            self._count("callbacks_sent")
            return
        self._count("callbacks_failed")
        if callback.attempt >= CALLBACK_RETRIES:
            self._count("callbacks_dropped")
            log.warning(
                "simulator: callback for SMSID %s dropped after %d tries",
                callback.params.get("SMSID"),
                callback.attempt + 1,
            )
            return
        retry = _Callback(callback.url, callback.params, callback.attempt + 1)
        self._queue(retry.url, retry.params, retry.attempt, delay=self.callback_retry_delay * retry.attempt)


def _event_params(event: Event) -> dict[str, str]:
    if event.status == ReceiptStatus.ACCEPTED:
        return _params(event.message.meta, SEND_STATUS_SENT, None, network=event.message.network)
    return _params(
        event.message.meta,
        SEND_STATUS_FINISHED,
        event.status == ReceiptStatus.DELIVERED,
        network=event.message.network,
        parts=sms.measure(event.message.text).segments,
    )


def _params(
    meta: Mapping[str, str], send_status: str, delivered: bool | None, *, network: str | None = None, parts: int = 1
) -> dict[str, str]:
    return {
        "SMSID": meta["smsid"],
        "SendStatus": send_status,
        "SendSuccess": "1" if delivered else "0",
        "SendFailed": "1" if delivered is False or send_status == SEND_STATUS_REFUSED else "0",
        "TotalReceiver": meta.get("total", "1"),
        "TotalSent": "1" if delivered is not None else "0",
        "TotalPrice": str(parts * 800 if delivered is not None else 0),
        "RequestId": meta.get("request_id", ""),
        "TypeId": meta.get("sms_type", SMS_TYPE_CARE),
        "telcoid": TELCO_IDS.get(network or "", "0"),
        "phonenumber": meta.get("phone", ""),
    }


def _reply(
    handler: _Handler, status: int, body: bytes, content_type: str, headers: Mapping[str, str] | None = None
) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(body)


def _reply_json(
    handler: _Handler, answer: Mapping[str, Any], status: int = 200, headers: Mapping[str, str] | None = None
) -> None:
    body = json.dumps(answer, ensure_ascii=False).encode("utf-8")
    _reply(handler, status, body, "application/json; charset=utf-8", headers)


def _reset(handler: _Handler) -> None:
    """Close the connection with an RST and no answer."""
    handler.close_connection = True
    try:
        handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        handler.connection.close()
    except OSError:
        pass


__all__ = sorted(["API_ROOT", "PATH_ADS", "PATH_CARE", "PATH_STATUS", "TELCO_IDS", "SimulatorServer", "msisdn_of"])
