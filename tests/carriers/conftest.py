"""Peers for the carrier tests: real servers on 127.0.0.1, and the guard that keeps traffic there.

- ``no_outside_traffic`` (autouse): any connection or name lookup for an address that is not the
  loopback is refused and fails the test, whether or not the code under test swallowed the error.
- ``CannedServer``: an HTTP server that answers from a queue of canned answers per method and path,
  records every request, and fails the test when answers are left unused or a request had none.
- ``CallbackReceiver``: an HTTP server that records carrier callbacks as ``CallbackRequest`` objects.
- ``sim_server``: the simulated SMSC behind the eSMS protocol (``carriers.simulator_http``).
- Contract peers (``simulator_peer``, ``esms_simulator_peer``, ``esms_canned_peer``, ``viettel_peer``):
  objects that stage a scenario of ``test_contract.py`` for one adapter (see that file's docstring).
"""

from __future__ import annotations

import ipaddress
import json
import socket
import threading
from collections import defaultdict, deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from defusedxml import ElementTree as SafeElementTree

from carriers.base import Accepted, Adapter, CallbackRequest, Receipt, Submission
from carriers.esms import SEND_CARE, EsmsAdapter
from carriers.simulator import Behaviour, SimulatorAdapter, Smsc
from carriers.simulator_http import SimulatorServer
from carriers.viettel import ViettelAdapter

# -- the network guard ---------------------------------------------------------------------------


def _loopback(host: object) -> bool:
    if not isinstance(host, str):
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def no_outside_traffic(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Refuse, and fail the test on, any connection or lookup that would leave 127.0.0.1."""
    attempts: list[str] = []
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def allowed(sock: socket.socket, address: Any) -> bool:
        return sock.family == getattr(socket, "AF_UNIX", None) or _loopback(address[0])

    def connect(sock: socket.socket, address: Any) -> None:
        if not allowed(sock, address):
            attempts.append(f"connect {address!r}")
            raise ConnectionRefusedError(f"test guard: no traffic outside 127.0.0.1 ({address!r})")
        real_connect(sock, address)

    def connect_ex(sock: socket.socket, address: Any) -> int:
        if not allowed(sock, address):
            attempts.append(f"connect_ex {address!r}")
            return 111
        return real_connect_ex(sock, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None and not _loopback(host if isinstance(host, str) else str(host)):
            attempts.append(f"getaddrinfo {host!r}")
            raise socket.gaierror(f"test guard: no name lookups outside the loopback ({host!r})")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield attempts
    assert not attempts, f"traffic tried to leave 127.0.0.1: {attempts}"


# -- local HTTP servers --------------------------------------------------------------------------


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def soap(self) -> dict[str, str]:
        """The operation's child elements of a SOAP request, by local name."""
        root = SafeElementTree.fromstring(self.body)
        body = next(e for e in root.iter() if e.tag.rsplit("}", 1)[-1] == "Body")
        operation = next(iter(body))
        return {child.tag.rsplit("}", 1)[-1]: child.text or "" for child in operation}


class LocalServer:
    """A threaded HTTP server on 127.0.0.1:0 whose ``handle`` decides each answer."""

    def __init__(self) -> None:
        self.stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                with outer._lock:
                    outer._connections.add(self.connection)

            def finish(self) -> None:
                try:
                    super().finish()
                except OSError:
                    pass
                with outer._lock:
                    outer._connections.discard(self.connection)

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                outer._serve(self)

            def do_POST(self) -> None:
                outer._serve(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        request = Recorded(
            method=handler.command,
            path=parts.path,
            query=dict(parse_qsl(parts.query)),
            headers={k.lower(): v for k, v in handler.headers.items()},
            body=handler.rfile.read(length) if length else b"",
        )
        status, headers, body = self.handle(request)
        if status is None:  # hold the request unanswered until the server stops
            self.stopping.wait(30)
            handler.close_connection = True
            return
        handler.send_response(status)
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def handle(self, request: Recorded) -> tuple[int | None, dict[str, str], bytes]:
        raise NotImplementedError

    def close(self) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.httpd.server_close()


@dataclass(frozen=True)
class Canned:
    """One canned answer; ``hang`` holds the request unanswered (a read timeout for the client)."""

    body: bytes | str | Mapping[str, Any] = b""
    status: int = 200
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)
    hang: bool = False

    def encoded(self) -> bytes:
        if isinstance(self.body, Mapping):
            return json.dumps(self.body).encode()
        return self.body.encode() if isinstance(self.body, str) else self.body


class CannedServer(LocalServer):
    """Answers each request with the next canned answer queued for its method and path."""

    def __init__(self) -> None:
        self._answers: dict[tuple[str, str], deque[Canned]] = defaultdict(deque)
        self.requests: list[Recorded] = []
        self.unexpected: list[Recorded] = []
        super().__init__()

    @staticmethod
    def _key(method: str, path: str) -> tuple[str, str]:
        return method.upper(), "/" + path.strip("/")

    def expect(self, method: str, path: str, *answers: Canned) -> None:
        with self._lock:
            self._answers[self._key(method, path)].extend(answers)

    def reply(
        self,
        method: str,
        path: str,
        body: bytes | str | Mapping[str, Any] = b"",
        *,
        status: int = 200,
        content_type: str = "application/json",
        headers: Mapping[str, str] | None = None,
        hang: bool = False,
        times: int = 1,
    ) -> None:
        """Queue ``times`` identical answers (a shorthand for ``expect`` with ``Canned``)."""
        answer = Canned(body, status=status, content_type=content_type, headers=dict(headers or {}), hang=hang)
        self.expect(method, path, *[answer] * times)

    def handle(self, request: Recorded) -> tuple[int | None, dict[str, str], bytes]:
        with self._lock:
            self.requests.append(request)
            queue = self._answers.get(self._key(request.method, request.path))
            answer = queue.popleft() if queue else None
            if answer is None:
                self.unexpected.append(request)
        if answer is None:
            return 500, {"Content-Type": "text/plain"}, b"no canned answer for this request"
        if answer.hang:
            return None, {}, b""
        return answer.status, {"Content-Type": answer.content_type, **answer.headers}, answer.encoded()

    def unused(self) -> list[tuple[tuple[str, str], Canned]]:
        with self._lock:
            return [(key, answer) for key, queue in self._answers.items() for answer in queue]

    def verify(self) -> None:
        """Every canned answer was used and every request had one."""
        unused, unexpected = self.unused(), list(self.unexpected)
        assert not unused, f"canned answers never asked for: {unused}"
        assert not unexpected, f"requests with no canned answer: {[(r.method, r.path) for r in unexpected]}"


class CallbackReceiver(LocalServer):
    """Records carrier callbacks (any method) and answers 200, or ``status`` when set."""

    def __init__(self) -> None:
        self.received: list[CallbackRequest] = []
        self.status = 200
        self._arrived = threading.Condition()
        super().__init__()

    @property
    def callback_url(self) -> str:
        return self.url + "/receipts/test"

    def handle(self, request: Recorded) -> tuple[int | None, dict[str, str], bytes]:
        with self._arrived:
            self.received.append(
                CallbackRequest(method=request.method, query=request.query, headers=request.headers, body=request.body)
            )
            self._arrived.notify_all()
        return self.status, {"Content-Type": "text/plain"}, b"ok"

    def wait_for(self, done: Callable[[list[CallbackRequest]], bool], timeout: float = 10.0) -> list[CallbackRequest]:
        """The callbacks so far once ``done(callbacks)`` holds (fails the test after ``timeout`` s)."""
        with self._arrived:
            ok = self._arrived.wait_for(lambda: done(list(self.received)), timeout=timeout)
            assert ok, f"callbacks never met the condition; got {len(self.received)}: {self.received[:5]}"
            return list(self.received)


@pytest.fixture
def canned() -> Iterator[CannedServer]:
    """A canned-answer HTTP peer; unused answers and unanswered requests fail the test."""
    server = CannedServer()
    yield server
    server.close()
    server.verify()


@pytest.fixture
def receiver() -> Iterator[CallbackReceiver]:
    server = CallbackReceiver()
    yield server
    server.close()


SIM_API_KEY = "sim-api-key-7Q2xv"
SIM_SECRET_KEY = "sim-secret-key-Kp93z"


@pytest.fixture
def sim_server() -> Iterator[SimulatorServer]:
    """The simulated SMSC over HTTP on a free port, requiring ``SIM_API_KEY``/``SIM_SECRET_KEY``."""
    with SimulatorServer(Smsc(), api_key=SIM_API_KEY, secret_key=SIM_SECRET_KEY, hang=30.0) as server:
        yield server


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- contract peers ------------------------------------------------------------------------------
# Scenario names (test_contract.py holds the table of what each must produce).

ACCEPT = "accept"
REFUSE = "refuse"
TRANSIENT = "transient"
UNREACHABLE = "unreachable"
THROTTLED = "throttled"
AMBIGUOUS = "ambiguous"
RESET = "reset"
ROUTE_AUTH = "route_auth"
ROUTE_BALANCE = "route_balance"
RESEND = "resend"
GARBAGE_MALFORMED = "garbage_malformed"
GARBAGE_TRUNCATED = "garbage_truncated"
GARBAGE_HTML = "garbage_html"
GARBAGE_EMPTY = "garbage_empty"
RECEIPTS = "receipts"

REFUSED_SUFFIX = "000000"
"""Numbers ending so are refused at submit by every peer (e.g. +84912000000)."""
UNDELIVERABLE_SUFFIX = "999999"
"""Numbers ending so are accepted and then reported undeliverable."""


@dataclass(frozen=True)
class Seen:
    """A message as it reached the peer, normalised: E.164 number, text, whether sent as Unicode."""

    key: str
    msisdn: str
    text: str
    unicode: bool


def _e164(number: str) -> str:
    digits = "".join(c for c in number if c.isdigit())
    return "+84" + digits[1:] if digits.startswith("0") else "+" + digits


class SimulatorPeer:
    """The in-process simulator: its ``Smsc`` is the peer."""

    secrets: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.now = 0.0
        self.smsc = Smsc()
        self._keys: list[str] = []

    def stage(self, scenario: str, batch: Sequence[Submission]) -> Adapter:
        undeliverable = f"{UNDELIVERABLE_SUFFIX}$"
        behaviours = {
            ACCEPT: Behaviour(),
            RESEND: Behaviour(),
            RECEIPTS: Behaviour(undeliverable_pattern=undeliverable, intermediate_receipts=True, duplicate_rate=1.0),
            REFUSE: Behaviour(refuse_pattern=f"{REFUSED_SUFFIX}$"),
            TRANSIENT: Behaviour(transient_rate=1.0),
            THROTTLED: Behaviour(tps_limit=1.0),
            AMBIGUOUS: Behaviour(timeout_after_accept_rate=1.0),
            ROUTE_AUTH: Behaviour(route_fault="auth"),
            ROUTE_BALANCE: Behaviour(route_fault="balance"),
        }
        self.smsc = Smsc(behaviours[scenario], clock=lambda: self.now)  # a clock that moves when told
        if scenario == THROTTLED:  # someone else took this second's only token
            self.smsc.call([Submission(key="other", msisdn="+84900000001", text="x", encoding="gsm7", sender="X")])
        self._keys = [s.key for s in batch]
        return SimulatorAdapter(self.smsc)

    def seen(self) -> list[Seen]:
        found = [self.smsc.accepted(key) for key in self._keys]
        return [Seen(m.key, m.msisdn, m.text, m.encoding == "ucs2") for m in found if m is not None]

    def receipts(self, adapter: Adapter, accepted: Sequence[Accepted]) -> list[Receipt]:
        assert isinstance(adapter, SimulatorAdapter)
        self.now += 1.0  # every receipt (and its duplicate) is due
        return adapter.poll([a.provider_id.lower() for a in accepted])  # ids match whatever their case

    def garbage_receipts(self, adapter: Adapter) -> list[Callable[[], object]]:
        return []

    def verify(self) -> None:
        return None


class EsmsSimulatorPeer:
    """The eSMS adapter against the HTTP simulator, callbacks to a local receiver."""

    secrets = (SIM_API_KEY, SIM_SECRET_KEY)

    def __init__(self, server: SimulatorServer, receiver: CallbackReceiver, closed_port: int) -> None:
        self.server = server
        self.receiver = receiver
        self.closed_port = closed_port
        self._keys: list[str] = []
        self._adapters: list[EsmsAdapter] = []

    def stage(self, scenario: str, batch: Sequence[Submission]) -> Adapter:
        options: dict[str, Any] = {
            "base_url": self.server.base_url,
            "callback_url": self.receiver.callback_url,
            "concurrency": 2,
            "connect_timeout": 2.0,
            "read_timeout": 5.0,
            "poll_interval": 0,
        }
        credentials = {"api_key": SIM_API_KEY, "secret_key": SIM_SECRET_KEY}
        behaviours = {
            RECEIPTS: Behaviour(
                undeliverable_pattern=f"{UNDELIVERABLE_SUFFIX}$", intermediate_receipts=True, duplicate_rate=1.0
            ),
            REFUSE: Behaviour(refuse_pattern=f"{REFUSED_SUFFIX}$"),
            TRANSIENT: Behaviour(transient_rate=1.0),
            THROTTLED: Behaviour(tps_limit=0.001),
            AMBIGUOUS: Behaviour(timeout_after_accept_rate=1.0),
            RESET: Behaviour(reset_rate=1.0),
            ROUTE_BALANCE: Behaviour(route_fault="balance"),
        }
        self.server.switch(behaviours.get(scenario, Behaviour()))
        if scenario == THROTTLED:  # the one token of the bucket is taken by someone else
            self.server.smsc.call(
                [Submission(key="other", msisdn="+84900000001", text="x", encoding="gsm7", sender="X")]
            )
        if scenario == AMBIGUOUS:
            options["read_timeout"] = 0.3
        if scenario == UNREACHABLE:
            options["base_url"] = f"http://127.0.0.1:{self.closed_port}/MainService.svc/json/"
        if scenario == ROUTE_AUTH:
            credentials["secret_key"] = SIM_SECRET_KEY + "-wrong"
        self._keys = [s.key for s in batch]
        adapter = EsmsAdapter.from_options(options, credentials)
        self._adapters.append(adapter)
        return adapter

    def seen(self) -> list[Seen]:
        found = [self.server.smsc.accepted(key) for key in self._keys]
        return [Seen(m.key, m.msisdn, m.text, m.meta.get("unicode") == "1") for m in found if m is not None]

    def receipts(self, adapter: Adapter, accepted: Sequence[Accepted]) -> list[Receipt]:
        assert isinstance(adapter, EsmsAdapter)
        wanted = {a.provider_id for a in accepted}

        def all_final(callbacks: list[CallbackRequest]) -> bool:
            finals = {c.query.get("RequestId") for c in callbacks if c.query.get("SendStatus") == "5"}
            return wanted <= finals

        callbacks = self.receiver.wait_for(all_final)
        return [r for c in callbacks for r in adapter.parse_callback(c)]

    def garbage_receipts(self, adapter: Adapter) -> list[Callable[[], object]]:
        assert isinstance(adapter, EsmsAdapter)
        return _esms_garbage_callbacks(adapter)

    def verify(self) -> None:
        for adapter in self._adapters:
            adapter.close()


def _esms_garbage_callbacks(adapter: EsmsAdapter) -> list[Callable[[], object]]:
    garbage = [
        CallbackRequest(method="GET"),
        CallbackRequest(method="GET", query={"SMSID": "x", "SendStatus": "five", "RequestId": "1"}),
        CallbackRequest(method="GET", query={"SMSID": "x", "SendStatus": "5", "SendSuccess": "lots", "RequestId": "1"}),
        CallbackRequest(method="POST", body=b"\xff\xfe<html>"),
    ]
    return [lambda request=request: adapter.parse_callback(request) for request in garbage]


CANNED_KEYS = ("canned-api-key-J8s1", "canned-secret-Wq55x")


class EsmsCannedPeer:
    """The eSMS adapter against canned answers, one request at a time, for exact cases."""

    secrets = CANNED_KEYS

    def __init__(self, server: CannedServer, closed_port: int) -> None:
        self.server = server
        self.closed_port = closed_port
        self._adapters: list[EsmsAdapter] = []

    def stage(self, scenario: str, batch: Sequence[Submission]) -> Adapter:
        def ok(n: int) -> Canned:
            return Canned({"CodeResult": "100", "SMSID": f"canned-{n}"})

        answers: dict[str, list[Canned]] = {
            ACCEPT: [ok(n) for n in range(len(batch))],
            RECEIPTS: [ok(n) for n in range(len(batch))],
            REFUSE: [ok(0), Canned({"CodeResult": "99", "ErrorMessage": "Phone is blocked"}), ok(2)],
            TRANSIENT: [
                Canned(f"<html>503 for SecretKey={CANNED_KEYS[1]}</html>", status=503, content_type="text/html")
            ],
            THROTTLED: [Canned({"ErrorMessage": "slow down"}, status=429, headers={"Retry-After": "7"})],
            AMBIGUOUS: [Canned(hang=True)],
            # Route-wide: the first answer stops the batch; the other messages are not sent.
            ROUTE_AUTH: [Canned({"CodeResult": 101, "ErrorMessage": "Authorize Failed"})],
            ROUTE_BALANCE: [Canned({"CodeResult": "103", "ErrorMessage": "Balance not enough"})],
            RESEND: [ok(0), Canned({"CodeResult": "124", "ErrorMessage": "RequestId already exists"})],
            GARBAGE_MALFORMED: [Canned("{CodeResult: 100, SMSID: abc}")],
            GARBAGE_TRUNCATED: [Canned('{"CodeResult": "100", "SMSID": "ab')],
            # An error page that echoes the request, credentials included: they must not reach our errors.
            GARBAGE_HTML: [
                Canned(f"<html><body>Bad request ApiKey={CANNED_KEYS[0]}</body></html>", content_type="text/html")
            ],
            GARBAGE_EMPTY: [Canned(b"")],
        }
        options: dict[str, Any] = {"concurrency": 1, "connect_timeout": 2.0, "read_timeout": 5.0}
        options["base_url"] = self.server.url + "/MainService.svc/json/"
        if scenario == UNREACHABLE:
            options["base_url"] = f"http://127.0.0.1:{self.closed_port}/MainService.svc/json/"
        else:
            self.server.expect("POST", "/MainService.svc/json/" + SEND_CARE, *answers[scenario])
        if scenario == AMBIGUOUS:
            options["read_timeout"] = 0.3
        adapter = EsmsAdapter.from_options(options, {"api_key": CANNED_KEYS[0], "secret_key": CANNED_KEYS[1]})
        self._adapters.append(adapter)
        return adapter

    def seen(self) -> list[Seen]:
        bodies = [r.json() for r in self.server.requests]
        return [Seen(b["RequestId"], _e164(b["Phone"]), b["Content"], b["IsUnicode"] == "1") for b in bodies]

    def receipts(self, adapter: Adapter, accepted: Sequence[Accepted]) -> list[Receipt]:
        assert isinstance(adapter, EsmsAdapter)
        first, second, third = (a.provider_id for a in accepted)
        callbacks = [
            {"SMSID": "canned-0", "SendStatus": "7", "RequestId": first, "telcoid": "3", "phonenumber": "0912345671"},
            {"SMSID": "canned-0", "SendStatus": "5", "SendSuccess": "1", "SendFailed": "0", "RequestId": first},
            {"SMSID": "canned-1", "SendStatus": "5", "SendSuccess": "0", "SendFailed": "1", "RequestId": second},
            {"SMSID": "canned-2", "SendStatus": "5", "SendSuccess": "1", "SendFailed": "0", "RequestId": third},
        ]
        return [r for q in callbacks for r in adapter.parse_callback(CallbackRequest(method="GET", query=q))]

    def garbage_receipts(self, adapter: Adapter) -> list[Callable[[], object]]:
        assert isinstance(adapter, EsmsAdapter)
        return _esms_garbage_callbacks(adapter)

    def verify(self) -> None:
        for adapter in self._adapters:
            adapter.close()


VIETTEL_CREDENTIALS = {"user": "viettel-user-Hh72", "password": "viettel-pass-Zz0q8"}
VIETTEL_PATH = "/bulkapi"


def soap_return(result: str, message: str) -> str:
    return (
        '<?xml version="1.0" ?><S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/"><S:Body>'
        '<ns2:wsCpMtResponse xmlns:ns2="http://impl.bulkSms.ws/"><return>'
        f"<message>{message}</message><result>{result}</result>"
        "</return></ns2:wsCpMtResponse></S:Body></S:Envelope>"
    )


def soap_fault(code: str, text: str) -> str:
    return (
        '<?xml version="1.0" ?><S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/"><S:Body>'
        f"<S:Fault><faultcode>S:{code}</faultcode><faultstring>{text}</faultstring></S:Fault>"
        "</S:Body></S:Envelope>"
    )


SOAP_OK = soap_return("1", "Insert MT_QUEUE: OK")


class ViettelPeer:
    """The Viettel adapter against a SOAP responder with canned answers, one request at a time."""

    secrets = tuple(VIETTEL_CREDENTIALS.values())

    def __init__(self, server: CannedServer, closed_port: int) -> None:
        self.server = server
        self.closed_port = closed_port
        self._adapters: list[ViettelAdapter] = []

    def stage(self, scenario: str, batch: Sequence[Submission]) -> Adapter:
        xml = "text/xml; charset=utf-8"
        answers: dict[str, list[Canned]] = {
            ACCEPT: [Canned(SOAP_OK, content_type=xml)] * len(batch),
            REFUSE: [
                Canned(SOAP_OK, content_type=xml),
                Canned(soap_return("0", "Receiver is in the blacklist"), content_type=xml),
                Canned(SOAP_OK, content_type=xml),
            ],
            TRANSIENT: [
                Canned(
                    soap_fault("Server", f"error for {VIETTEL_CREDENTIALS['password']}"), status=500, content_type=xml
                )
            ],
            THROTTLED: [Canned("slow down", status=429, content_type="text/plain", headers={"Retry-After": "7"})],
            AMBIGUOUS: [Canned(hang=True)],
            ROUTE_AUTH: [Canned(soap_return("0", "Authenticate: fail"), content_type=xml)],
            ROUTE_BALANCE: [Canned(soap_return("0", "Balance is not enough"), content_type=xml)],
            GARBAGE_MALFORMED: [Canned('{"result": 1}', content_type="application/json")],
            GARBAGE_TRUNCATED: [Canned(SOAP_OK[:120], content_type=xml)],
            GARBAGE_HTML: [
                Canned(
                    f"<html><body><h1>Bad gateway</h1>{VIETTEL_CREDENTIALS}<br></body></html>", content_type="text/html"
                )
            ],
            GARBAGE_EMPTY: [Canned(b"", content_type=xml)],
        }
        options: dict[str, Any] = {
            "url": self.server.url + VIETTEL_PATH,
            "cp_code": "CP123",
            "concurrency": 1,
            "connect_timeout": 2.0,
            "read_timeout": 5.0,
        }
        if scenario == UNREACHABLE:
            options["url"] = f"http://127.0.0.1:{self.closed_port}{VIETTEL_PATH}"
        else:
            self.server.expect("POST", VIETTEL_PATH, *answers[scenario])
        if scenario == AMBIGUOUS:
            options["read_timeout"] = 0.3
        adapter = ViettelAdapter.from_options(options, VIETTEL_CREDENTIALS)
        self._adapters.append(adapter)
        return adapter

    def seen(self) -> list[Seen]:
        fields = [r.soap() for r in self.server.requests]
        return [Seen(f["RequestID"], _e164(f["ReceiverID"]), f["Content"], f["ContentType"] == "1") for f in fields]

    def receipts(self, adapter: Adapter, accepted: Sequence[Accepted]) -> list[Receipt]:
        raise AssertionError("Viettel has no receipts")

    def garbage_receipts(self, adapter: Adapter) -> list[Callable[[], object]]:
        return []

    def verify(self) -> None:
        for adapter in self._adapters:
            adapter.close()


@pytest.fixture
def simulator_peer() -> Iterator[SimulatorPeer]:
    peer = SimulatorPeer()
    yield peer
    peer.verify()


@pytest.fixture
def esms_simulator_peer(
    sim_server: SimulatorServer, receiver: CallbackReceiver, closed_port: int
) -> Iterator[EsmsSimulatorPeer]:
    peer = EsmsSimulatorPeer(sim_server, receiver, closed_port)
    yield peer
    peer.verify()


@pytest.fixture
def esms_canned_peer(canned: CannedServer, closed_port: int) -> Iterator[EsmsCannedPeer]:
    peer = EsmsCannedPeer(canned, closed_port)
    yield peer
    peer.verify()


@pytest.fixture
def viettel_peer(canned: CannedServer, closed_port: int) -> Iterator[ViettelPeer]:
    peer = ViettelPeer(canned, closed_port)
    yield peer
    peer.verify()
