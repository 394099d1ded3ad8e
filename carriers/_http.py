"""HTTP plumbing shared by the HTTP adapters (eSMS, Viettel): sessions, errors, redaction, fan-out.

- ``Sessions``: one ``requests.Session`` per thread (a session is not meant to be shared between
  threads), each mounting an ``HTTPAdapter`` whose pool is sized to the route's concurrency and whose
  urllib3 retries are off: retrying is dispatch's decision, made with the classification below.
- ``send``: every request goes out with ``(connect, read)`` timeouts and no redirects; a foreign
  exception becomes one of ``carriers.errors`` in ``convert``, the one place that maps them:

  ================================================ ==================
  connection refused, DNS failure, connect timeout  ``TransientError`` (nothing was sent)
  read timeout, connection reset or answer cut off  ``AmbiguousError`` (the peer may have acted on it)
  invalid URL or scheme                             ``RouteError`` (the route is misconfigured)
  ================================================ ==================

  ``check_status`` does the same for HTTP statuses: 429 ``ThrottledError`` (Retry-After honoured),
  408 and 5xx ``TransientError``, 401/403 ``RouteError``, any other 3xx/4xx ``RouteError`` (the
  request itself is wrong: the base URL or an option).
- ``Secrets``: credentials are removed from every text that leaves an adapter (error messages, the
  peer's answers quoted in them) and from urllib3's debug log, which writes request URLs (eSMS GET
  calls carry the keys in the query). Foreign exceptions are not chained for the same reason: their
  text holds the URL; our message names their type and their redacted text instead.
- ``FanOut``: a batch becomes one request per message (or per group) sent by up to ``concurrency``
  threads; the first route-wide or throttling answer stops the requests not yet sent.
"""

from __future__ import annotations

import email.utils
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, quote_plus

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ClosedPoolError, ConnectTimeoutError, MaxRetryError, NewConnectionError
from urllib3.util.retry import Retry

from carriers.base import Failed, FailureKind, Result
from carriers.errors import (
    AdapterOptionsError,
    AmbiguousError,
    CarrierError,
    RouteError,
    ThrottledError,
    TransientError,
    as_failed,
)

DEFAULT_CONNECT_TIMEOUT = 3.05
DEFAULT_READ_TIMEOUT = 15.0
MAX_QUOTED = 200
"""Characters of a peer's answer quoted in an error message."""

NO_RETRIES = Retry(
    total=0, connect=0, read=False, redirect=False, status=0, other=0, raise_on_redirect=False, raise_on_status=False
)
"""urllib3 retries nothing; ``read=False`` keeps a read timeout a ``ReadTimeout`` (not a connection error)."""

REDACTED = "***"

log = logging.getLogger(__name__)


class Secrets:
    """Credential values to keep out of every text: ``redact`` replaces them (and their URL forms)."""

    def __init__(self, values: Iterable[str]) -> None:
        variants: set[str] = set()
        for value in values:
            if value:
                variants.update((value, quote(value, safe=""), quote_plus(value)))
        # Longest first, so a secret that contains another is replaced whole.
        self._variants = sorted(variants, key=len, reverse=True)
        _LOG_FILTER.add(self._variants)

    def redact(self, text: str) -> str:
        for variant in self._variants:
            if variant in text:
                text = text.replace(variant, REDACTED)
        return text

    def __contains__(self, text: str) -> bool:
        return any(variant in text for variant in self._variants)


class _RedactingFilter(logging.Filter):
    """Removes registered secrets from the records of the loggers it is attached to (urllib3's)."""

    LOGGERS = ("urllib3.connectionpool", "urllib3.connection", "urllib3.util.retry", "requests")

    def __init__(self) -> None:
        super().__init__()
        self._variants: tuple[str, ...] = ()
        self._lock = threading.Lock()
        self._attached = False

    def add(self, variants: Iterable[str]) -> None:
        with self._lock:
            self._variants = tuple(sorted(set(self._variants) | set(variants), key=len, reverse=True))
            if not self._attached:
                for name in self.LOGGERS:
                    logging.getLogger(name).addFilter(self)
                self._attached = True

    def filter(self, record: logging.LogRecord) -> bool:
        variants = self._variants
        if variants:
            message = record.getMessage()
            redacted = message
            for variant in variants:
                if variant in redacted:
                    redacted = redacted.replace(variant, REDACTED)
            if redacted != message:
                record.msg, record.args = redacted, ()
        return True


_LOG_FILTER = _RedactingFilter()


def option_float(options: Mapping[str, Any], name: str, default: float, *, adapter: str) -> float:
    value = options.get(name, default)
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        msg = f"{adapter} option {name} must be a number, not {value!r}"
        raise AdapterOptionsError(msg) from exc
    if number <= 0:
        msg = f"{adapter} option {name} must be positive, not {value!r}"
        raise AdapterOptionsError(msg)
    return number


def option_int(options: Mapping[str, Any], name: str, default: int, *, adapter: str) -> int:
    value = options.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | str):
        msg = f"{adapter} option {name} must be a whole number, not {value!r}"
        raise AdapterOptionsError(msg)
    try:
        number = int(value)
    except ValueError as exc:
        msg = f"{adapter} option {name} must be a whole number, not {value!r}"
        raise AdapterOptionsError(msg) from exc
    if number < 1:
        msg = f"{adapter} option {name} must be at least 1, not {value!r}"
        raise AdapterOptionsError(msg)
    return number


def option_bool(options: Mapping[str, Any], name: str, default: bool, *, adapter: str) -> bool:
    value = options.get(name, default)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("1", "true", "yes", "0", "false", "no"):
        return value.strip().lower() in ("1", "true", "yes")
    msg = f"{adapter} option {name} must be true or false, not {value!r}"
    raise AdapterOptionsError(msg)


def check_options(options: Mapping[str, Any], known: Iterable[str], *, adapter: str) -> None:
    unknown = sorted(set(options) - set(known))
    if unknown:
        msg = f"unknown {adapter} option {unknown[0]!r} (options: {', '.join(sorted(known))})"
        raise AdapterOptionsError(msg)


def credential(credentials: Mapping[str, str], name: str, *, adapter: str) -> str:
    value = credentials.get(name, "")
    if not value:
        msg = (
            f"the {adapter} adapter needs the credential {name!r}: name the environment variable holding it "
            f'in the route\'s credentials_env (e.g. {name} = "MY_{name.upper()}")'
        )
        raise AdapterOptionsError(msg)
    return value


ENVIRONMENT_SETTINGS = frozenset(
    ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "requests_ca_bundle", "curl_ca_bundle")
)


def environment_matters() -> bool:
    """Whether a proxy or CA bundle is set in the environment. requests looks for them on every
    request (a sixth of its cost per message); with none set there is nothing to look for."""
    return any(name.lower() in ENVIRONMENT_SETTINGS for name in os.environ)


class Sessions:
    """One ``requests.Session`` per thread, closed together by ``close``."""

    def __init__(self, *, concurrency: int, headers: Mapping[str, str] | None = None) -> None:
        self.concurrency = concurrency
        self._headers = dict(headers or {})
        self._local = threading.local()
        self._all: list[requests.Session] = []
        self._lock = threading.Lock()

    def get(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            adapter = HTTPAdapter(pool_connections=1, pool_maxsize=self.concurrency, max_retries=NO_RETRIES)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            session.headers.update(self._headers)
            session.trust_env = environment_matters()
            self._local.session = session
            with self._lock:
                self._all.append(session)
        return session

    def close(self) -> None:
        with self._lock:
            sessions, self._all = self._all, []
        for session in sessions:
            session.close()
        self._local = threading.local()


def send(
    sessions: Sessions,
    method: str,
    url: str,
    *,
    timeout: tuple[float, float],
    where: str,
    secrets: Secrets,
    **kwargs: Any,
) -> requests.Response:
    """One request; a transport failure is raised as a classified ``CarrierError`` (not chained)."""
    try:
        return sessions.get().request(method, url, timeout=timeout, allow_redirects=False, **kwargs)
    except requests.RequestException as exc:
        error = convert(exc, where, secrets)
    raise error  # outside the except block: the foreign exception (and the URL in it) is not attached


def _not_sent(exc: requests.ConnectionError) -> bool:
    """True when the request never left: connection refused, name not resolved, connect timeout."""
    if isinstance(exc, requests.ConnectTimeout | requests.exceptions.SSLError | requests.exceptions.ProxyError):
        return True
    cause: object = exc.args[0] if exc.args else None
    if isinstance(cause, MaxRetryError):
        cause = cause.reason
    return isinstance(cause, NewConnectionError | ConnectTimeoutError | ClosedPoolError)


_BAD_URL = (requests.exceptions.InvalidURL, requests.exceptions.InvalidSchema, requests.exceptions.MissingSchema)


def convert(exc: requests.RequestException, where: str, secrets: Secrets) -> CarrierError:
    """The one mapping of requests' exceptions to ours (see the module docstring)."""
    detail = secrets.redact(f"{type(exc).__name__}: {exc}")[:MAX_QUOTED]
    if isinstance(exc, requests.ConnectionError) and _not_sent(exc):
        return TransientError(f"{where}: could not connect, nothing was sent ({detail}); will retry", code="CONNECT")
    if isinstance(exc, requests.Timeout | requests.ConnectionError | requests.exceptions.ChunkedEncodingError):
        return AmbiguousError(
            f"{where}: no complete answer after the request was sent ({detail}); it may have been accepted",
            code="NO_ANSWER",
        )
    if isinstance(exc, _BAD_URL):
        return RouteError(f"{where}: the URL is not usable ({detail}); check the route's options", code="URL")
    return TransientError(f"{where}: {detail}", code="HTTP")


def retry_after(value: str | None, now: Callable[[], float] = time.time) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), or ``None``."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now())


def quoted(response: requests.Response, secrets: Secrets) -> str:
    """The start of a peer's answer, printable and free of credentials, for an error message."""
    text = response.content[:MAX_QUOTED].decode("utf-8", "replace")
    return secrets.redact(" ".join(text.split())) or "(empty body)"


def check_status(response: requests.Response, where: str, secrets: Secrets) -> None:
    """Raise the classified error for a non-2xx answer; 2xx passes."""
    status = response.status_code
    if 200 <= status < 300:
        return
    code = f"HTTP {status}"
    body = quoted(response, secrets)
    if status == 429:
        wait = retry_after(response.headers.get("Retry-After"))
        msg = f"{where}: throttled by the peer (HTTP 429, retry after {wait if wait is not None else '?'} s)"
        raise ThrottledError(msg, code=code, retry_after=wait)
    if status == 408 or status >= 500:
        raise TransientError(f"{where}: the peer failed with HTTP {status}: {body}; will retry", code=code)
    if status in (401, 403):
        raise RouteError(f"{where}: the peer refused our credentials (HTTP {status}): {body}", code=code)
    raise RouteError(f"{where}: unexpected HTTP {status} ({body}); check the route's base URL and options", code=code)


class FanOut:
    """Sends independent jobs (one request each) on up to ``concurrency`` threads, results in order.

    A job is ``(keys, call)``: ``call()`` returns one result per key, or raises a ``CarrierError``
    that becomes a ``Failed`` for each of its keys. Once a job answers route-wide or throttled, jobs
    not yet started are not sent: their keys get the same failure.
    """

    HALTING = (FailureKind.ROUTE, FailureKind.THROTTLED)

    def __init__(self, concurrency: int, name: str) -> None:
        self.concurrency = concurrency
        self._name = name
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def run(self, jobs: Sequence[tuple[Sequence[str], Callable[[], list[Result]]]]) -> list[Result]:
        halt: list[Failed] = []

        def one(keys: Sequence[str], call: Callable[[], list[Result]]) -> list[Result]:
            if halt:
                first = halt[0]
                reason = f"not sent: {first.reason}"
                return [
                    Failed(key=k, kind=first.kind, code=first.code, reason=reason, retry_after=first.retry_after)
                    for k in keys
                ]
            try:
                results = call()
            except CarrierError as exc:
                results = [as_failed(exc, k) for k in keys]
            for result in results:
                if isinstance(result, Failed) and result.kind in self.HALTING and not halt:
                    halt.append(result)
            return results

        if len(jobs) <= 1 or self.concurrency <= 1:
            chunks = [one(keys, call) for keys, call in jobs]
        else:
            # One task per thread, each working through its share of the jobs in turn: a task per job
            # would cost a future, a queue hand-off and a wake-up of the caller for every message.
            lanes = min(self.concurrency, len(jobs))
            done = self._pool().map(lambda lane: [one(*job) for job in jobs[lane::lanes]], range(lanes))
            chunks = [[] for _ in jobs]
            for lane, lane_chunks in enumerate(done):
                chunks[lane::lanes] = lane_chunks
        return [result for chunk in chunks for result in chunk]

    def _pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix=self._name)
            return self._executor

    def close(self) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)


def utc_now() -> datetime:
    return datetime.now(UTC)


__all__ = sorted(
    [
        "DEFAULT_CONNECT_TIMEOUT",
        "DEFAULT_READ_TIMEOUT",
        "NO_RETRIES",
        "FanOut",
        "Secrets",
        "Sessions",
        "check_options",
        "check_status",
        "convert",
        "credential",
        "option_bool",
        "option_float",
        "option_int",
        "quoted",
        "retry_after",
        "send",
        "utc_now",
    ]
)
