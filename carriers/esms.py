"""eSMS.vn, the aggregator that reaches every Vietnamese network, over its JSON API (carriers.md).

Two send types, chosen per route with the ``sms_type`` option:

- customer care (``"2"``, the default): one number a request to ``SendMultipleMessage_V4_post_json``,
  ``RequestId`` = our message key, so a resend after an ambiguous failure is answered 124 ("already
  used") and counted as accepted. A batch is sent as concurrent requests, ``concurrency`` at a time.
- advertising (``"1"``): one content to 30–5,000 numbers a request to ``SendMultipleSMSBrandname_json``
  (``Capabilities.same_text_batches``); the adapter groups a batch by text and sends a group smaller
  than 30 back as transient, to go again in a larger batch.

Provider ids are what eSMS echoes in its callbacks: the ``RequestId`` (customer care) or
``RequestId:84…`` (advertising, one request for many numbers). The ``SMSID`` of each answer is kept in
memory for polling (``GetSmsReceiverStatus_get`` takes it), so polling follows the messages this
process sent; callbacks (``callback_url``) follow everything and are what a production route uses.

Options: ``base_url``, ``sms_type``, ``brandname`` (default: each message's sender), ``sandbox``,
``callback_url``, ``campaign_id``, ``request_id_prefix`` (set one per deployment when several share an
eSMS account: message ids repeat across databases), ``concurrency``, ``connect_timeout``,
``read_timeout``, ``poll_interval`` (seconds after the send before a message is first polled, and
between two polls of it: an id asked at once is almost always "not yet known").
Credentials: ``api_key``, ``secret_key``; they go in request bodies (and the poll query) and nowhere
else: every error text and urllib3's log are redacted.

Code classification is data below; a code in no table pauses the route (an unknown answer should not
fail a million messages) and says so.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import parse_qsl, urlencode

from carriers import sms
from carriers._http import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_READ_TIMEOUT,
    FanOut,
    Secrets,
    Sessions,
    check_options,
    check_status,
    credential,
    option_bool,
    option_float,
    option_int,
    quoted,
    send,
    utc_now,
)
from carriers.base import (
    Accepted,
    CallbackRequest,
    Capabilities,
    Failed,
    FailureKind,
    Receipt,
    ReceiptMode,
    ReceiptStatus,
    Result,
    Submission,
)
from carriers.errors import AdapterOptionsError, MalformedPayload, RouteError, TransientError

# -- endpoints and limits ------------------------------------------------------------------------

BASE_URL = "https://rest.esms.vn/MainService.svc/json/"
SEND_CARE = "SendMultipleMessage_V4_post_json/"
SEND_ADS = "SendMultipleSMSBrandname_json/"
RECEIVER_STATUS = "GetSmsReceiverStatus_get"

SMS_TYPE_CARE = "2"
SMS_TYPE_ADS = "1"
SMS_TYPES: Mapping[str, str] = {
    "2": SMS_TYPE_CARE,
    "care": SMS_TYPE_CARE,
    "1": SMS_TYPE_ADS,
    "advertising": SMS_TYPE_ADS,
}
ADS_MIN_NUMBERS = 30
ADS_MAX_NUMBERS = 5000
REQUEST_ID_MAX = 50
DEFAULT_CONCURRENCY = 4
CARE_BATCH_PER_THREAD = 25
DEFAULT_POLL_INTERVAL = 60.0
MAX_TRACKED = 200_000
"""SMSIDs (and poll times) kept in memory for polling; the oldest are forgotten first."""

# -- answer codes (CodeResult) -------------------------------------------------------------------

CODE_ACCEPTED = "100"
CODE_ALREADY_USED = "124"
"""RequestId used in the last 24 h: our own resend, so the message is already accepted."""
CODE_NOT_YET_KNOWN = "105"

ROUTE_CODES: Mapping[str, str] = {
    "101": "wrong ApiKey or SecretKey: check the route's credentials",
    "102": "no price list for the account: ask eSMS to set one up",
    "103": "balance too low: top up the eSMS account",
    "104": "brandname unknown or inactive: check the brandname with eSMS",
    "118": "message type not supported for the account: check the route's sms_type",
    "140": "caller IP not whitelisted: add this server's address in the eSMS console",
    "143": "account locked: contact eSMS",
}
"""Codes that stop the whole route: pause it, keep the messages."""

MESSAGE_CODES: Mapping[str, str] = {
    "99": "number blocked",
    "108": "phone number malformed",
    "146": "content does not match a registered template",
    "177": "network not registered for this brandname",
    "201": "content contains a blocked keyword",
}
"""Codes that fail the message (or the advertising request's messages) for good."""

BATCH_SIZE_CODES: Mapping[str, str] = {
    "107": "an advertising request needs 30 to 5,000 distinct valid numbers",
    "120": "an advertising request needs 30 to 5,000 distinct valid numbers",
}
"""Codes about the size of an advertising request: send again in another batch."""

# -- receipts ------------------------------------------------------------------------------------

SEND_STATUS: Mapping[str, str] = {
    "1": ReceiptStatus.ACCEPTED,  # awaiting approval
    "2": ReceiptStatus.ACCEPTED,  # waiting to send
    "7": ReceiptStatus.ACCEPTED,  # sent, awaiting the network's report
    "4": ReceiptStatus.FAILED,  # refused
    "5": ReceiptStatus.DELIVERED,  # finished: SendSuccess / SendFailed say which
}
STATUS_FINISHED = "5"
RECEIPT_ERRORS: Mapping[str, str] = {"4": "REFUSED", "5": "UNDELIVERED"}
TELCOS: Mapping[str, str] = {
    "1": "viettel",
    "2": "mobifone",
    "3": "vinaphone",
    "4": "vietnamobile",
    "5": "gmobile",
    "6": "itel",
    "7": "reddi",
}
NETWORK_NAMES: Mapping[str, str] = {
    "viettel": "viettel",
    "mobifone": "mobifone",
    "vinaphone": "vinaphone",
    "vietnamobile": "vietnamobile",
    "gmobile": "gmobile",
    "beeline": "gmobile",
    "itel": "itel",
    "itelecom": "itel",
    "reddi": "reddi",
}

OPTIONS = (
    "base_url",
    "sms_type",
    "brandname",
    "sandbox",
    "callback_url",
    "campaign_id",
    "request_id_prefix",
    "concurrency",
    "connect_timeout",
    "read_timeout",
    "poll_interval",
)


def national(msisdn: str) -> str:
    """``+84912345678`` -> ``0912345678`` (the form eSMS examples use)."""
    digits = "".join(c for c in msisdn if c.isdigit())
    return "0" + digits[2:] if digits.startswith("84") and len(digits) > 9 else digits


def international(phone: str) -> str:
    """Any form eSMS may echo (``09…``, ``849…``, ``+849…``) -> ``849…`` (for matching)."""
    digits = "".join(c for c in phone if c.isdigit())
    return "84" + digits[1:] if digits.startswith("0") else digits


@dataclass(frozen=True, slots=True, kw_only=True)
class _Settings:
    base_url: str
    sms_type: str
    brandname: str
    sandbox: bool
    callback_url: str
    campaign_id: str
    request_id_prefix: str
    concurrency: int
    timeouts: tuple[float, float]
    poll_interval: float


class EsmsAdapter:
    """A route through eSMS.vn (see the module docstring for the options)."""

    def __init__(
        self,
        *,
        api_key: str,
        secret_key: str,
        options: Mapping[str, Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        options = dict(options or {})
        check_options(options, OPTIONS, adapter="esms")
        sms_type = SMS_TYPES.get(str(options.get("sms_type", SMS_TYPE_CARE)))
        if sms_type is None:
            msg = f"esms option sms_type must be one of {', '.join(SMS_TYPES)}, not {options['sms_type']!r}"
            raise AdapterOptionsError(msg)
        base_url = str(options.get("base_url", BASE_URL))
        if not base_url.startswith(("http://", "https://")):
            msg = f"esms option base_url must be an http(s) URL, not {base_url!r}"
            raise AdapterOptionsError(msg)
        prefix = str(options.get("request_id_prefix", ""))
        if len(prefix) > 17:
            msg = f"esms option request_id_prefix has at most 17 characters ({prefix!r} has {len(prefix)})"
            raise AdapterOptionsError(msg)
        self.settings = _Settings(
            base_url=base_url.rstrip("/") + "/",
            sms_type=sms_type,
            brandname=str(options.get("brandname", "")),
            sandbox=option_bool(options, "sandbox", False, adapter="esms"),
            callback_url=str(options.get("callback_url", "")),
            campaign_id=str(options.get("campaign_id", "")),
            request_id_prefix=prefix,
            concurrency=option_int(options, "concurrency", DEFAULT_CONCURRENCY, adapter="esms"),
            timeouts=(
                option_float(options, "connect_timeout", DEFAULT_CONNECT_TIMEOUT, adapter="esms"),
                option_float(options, "read_timeout", DEFAULT_READ_TIMEOUT, adapter="esms"),
            ),
            poll_interval=_seconds(options.get("poll_interval", DEFAULT_POLL_INTERVAL), "poll_interval"),
        )
        self._api_key = api_key
        self._secret_key = secret_key
        self._secrets = Secrets([api_key, secret_key])
        self._clock = clock
        concurrency = self.settings.concurrency
        self._sessions = Sessions(concurrency=concurrency, headers={"Accept": "application/json"})
        self._fan_out = FanOut(concurrency, "esms")
        self._lock = threading.Lock()
        self._smsids: OrderedDict[str, str] = OrderedDict()
        self._polled: OrderedDict[str, float] = OrderedDict()
        receipts = (ReceiptMode.CALLBACK, ReceiptMode.POLL) if self.settings.callback_url else (ReceiptMode.POLL,)
        if sms_type == SMS_TYPE_CARE:
            self.capabilities = Capabilities(
                max_batch=max(100, CARE_BATCH_PER_THREAD * concurrency),
                idempotency_keys=True,
                receipts=receipts,
            )
        else:
            self.capabilities = Capabilities(
                max_batch=ADS_MAX_NUMBERS,
                min_batch=ADS_MIN_NUMBERS,
                same_text_batches=True,
                idempotency_keys=False,
                receipts=receipts,
            )

    @classmethod
    def from_options(cls, options: Mapping[str, Any], credentials: Mapping[str, str]) -> EsmsAdapter:
        return cls(
            api_key=credential(credentials, "api_key", adapter="esms"),
            secret_key=credential(credentials, "secret_key", adapter="esms"),
            options=options,
        )

    def __repr__(self) -> str:  # never the keys
        return f"EsmsAdapter(base_url={self.settings.base_url!r}, sms_type={self.settings.sms_type!r})"

    # -- sending ---------------------------------------------------------------------------------

    def submit(self, batch: Sequence[Submission]) -> list[Result]:
        """Per-message results in order; a failed request becomes ``Failed`` for its messages."""
        jobs: list[tuple[list[str], Callable[[], list[Result]]]]
        if self.settings.sms_type == SMS_TYPE_CARE:
            jobs = [([s.key], partial(self._send_care, s)) for s in batch]
        else:
            jobs = self._ads_jobs(batch)
        results = {r.key: r for r in self._fan_out.run(jobs)}
        return [results[s.key] for s in batch]

    def _request_id(self, key: str) -> str:
        prefix = self.settings.request_id_prefix
        rid = prefix + key
        if len(rid) > REQUEST_ID_MAX:
            rid = prefix + hashlib.blake2b(key.encode(), digest_size=16).hexdigest()
        return rid

    def _common(self, item: Submission, rid: str) -> dict[str, str]:
        body = {
            "ApiKey": self._api_key,
            "SecretKey": self._secret_key,
            "Content": item.text,
            "Brandname": self.settings.brandname or item.sender,
            "SmsType": self.settings.sms_type,
            "IsUnicode": "1" if item.encoding == sms.UCS2 else "0",
            "RequestId": rid,
        }
        if self.settings.sandbox:
            body["Sandbox"] = "1"
        if self.settings.callback_url:
            body["CallbackUrl"] = self.settings.callback_url
        if self.settings.campaign_id:
            body["campaignid"] = self.settings.campaign_id
        return body

    def _send_care(self, item: Submission) -> list[Result]:
        rid = self._request_id(item.key)
        body: dict[str, Any] = self._common(item, rid)
        body["Phone"] = national(item.msisdn)
        answer = self._post(SEND_CARE, body, f"eSMS send RequestId={rid}")
        code = answer["CodeResult"]
        if code in (CODE_ACCEPTED, CODE_ALREADY_USED):
            self._remember(rid, answer.get("SMSID"))
            return [Accepted(key=item.key, provider_id=rid, parts=_parts(item.text))]
        return [self._failed(item.key, code, answer, rid)]

    def _ads_jobs(self, batch: Sequence[Submission]) -> list[tuple[list[str], Callable[[], list[Result]]]]:
        groups: dict[tuple[str, str, str], list[Submission]] = {}
        for item in batch:
            groups.setdefault((item.text, item.encoding, item.sender), []).append(item)
        jobs: list[tuple[list[str], Callable[[], list[Result]]]] = []
        for items in groups.values():
            pieces = -(-len(items) // ADS_MAX_NUMBERS)
            size = -(-len(items) // pieces)
            for start in range(0, len(items), size):
                chunk = items[start : start + size]
                jobs.append(([s.key for s in chunk], partial(self._send_ads, chunk)))
        return jobs

    def _send_ads(self, items: Sequence[Submission]) -> list[Result]:
        if len({s.msisdn for s in items}) < ADS_MIN_NUMBERS:
            reason = (
                f"an eSMS advertising request needs at least {ADS_MIN_NUMBERS} distinct numbers with the same "
                f"text; this batch had {len(items)}: send again in a larger batch"
            )
            return [Failed(key=s.key, kind=FailureKind.TRANSIENT, code="MIN_BATCH", reason=reason) for s in items]
        digest = hashlib.blake2b("\n".join(s.key for s in items).encode(), digest_size=16).hexdigest()
        rid = self._request_id(f"a{digest}")
        body: dict[str, Any] = self._common(items[0], rid)
        body["Phones"] = [national(s.msisdn) for s in items]
        answer = self._post(SEND_ADS, body, f"eSMS advertising send RequestId={rid} ({len(items)} numbers)")
        code = answer["CodeResult"]
        if code in (CODE_ACCEPTED, CODE_ALREADY_USED):
            self._remember(rid, answer.get("SMSID"))
            parts = _parts(items[0].text)
            return [Accepted(key=s.key, provider_id=f"{rid}:{international(s.msisdn)}", parts=parts) for s in items]
        return [self._failed(s.key, code, answer, rid) for s in items]

    def _failed(self, key: str, code: str, answer: Mapping[str, Any], rid: str) -> Failed:
        said = self._secrets.redact(str(answer.get("ErrorMessage", "")))[:200]
        said = f" ({said})" if said else ""
        if code in MESSAGE_CODES:
            reason = f"eSMS {code}: {MESSAGE_CODES[code]}{said}"
            return Failed(key=key, kind=FailureKind.PERMANENT, code=code, reason=reason)
        if code in BATCH_SIZE_CODES:
            reason = f"eSMS {code}: {BATCH_SIZE_CODES[code]}{said}; will send again"
            return Failed(key=key, kind=FailureKind.TRANSIENT, code=code, reason=reason)
        if code in ROUTE_CODES:
            reason = f"eSMS {code}: {ROUTE_CODES[code]}{said}; the route is paused"
            return Failed(key=key, kind=FailureKind.ROUTE, code=code, reason=reason)
        reason = f"eSMS answered an unknown code {code!r} to RequestId={rid}{said}; the route is paused until checked"
        return Failed(key=key, kind=FailureKind.ROUTE, code=code, reason=reason)

    def _post(self, path: str, body: Mapping[str, Any], where: str) -> dict[str, Any]:
        url = self.settings.base_url + path
        response = send(
            self._sessions, "POST", url, json=body, timeout=self.settings.timeouts, where=where, secrets=self._secrets
        )
        check_status(response, where, self._secrets)
        return self._answer(response, where)

    def _answer(self, response: Any, where: str) -> dict[str, Any]:
        """The JSON object of an answer with its ``CodeResult`` as a string, else ``MalformedPayload``."""
        try:
            answer = json.loads(response.content)
        except (ValueError, UnicodeDecodeError) as exc:
            msg = f"{where}: the answer is not JSON (HTTP {response.status_code}: {quoted(response, self._secrets)})"
            raise MalformedPayload(msg, code="MALFORMED") from exc
        if not isinstance(answer, dict) or "CodeResult" not in answer:
            msg = f"{where}: the answer has no CodeResult ({quoted(response, self._secrets)})"
            raise MalformedPayload(msg, code="MALFORMED")
        answer["CodeResult"] = str(answer["CodeResult"]).strip()
        return answer

    def _remember(self, rid: str, smsid: object) -> None:
        if not isinstance(smsid, str | int) or smsid == "":
            return
        with self._lock:
            self._smsids[rid.lower()] = str(smsid)
            self._polled[rid.lower()] = self._clock()  # first asked one poll_interval after the send
            if len(self._smsids) > MAX_TRACKED:
                self._smsids.popitem(last=False)
            if len(self._polled) > MAX_TRACKED:
                self._polled.popitem(last=False)

    def _due_for_poll(self, rid: str, now: float) -> str | None:
        """The SMSID to ask about, when known and not asked within ``poll_interval``; notes the time."""
        with self._lock:
            smsid = self._smsids.get(rid)
            last = self._polled.get(rid)
            if smsid is None or (last is not None and now - last < self.settings.poll_interval):
                return None
            self._polled[rid] = now
            self._polled.move_to_end(rid)
            if len(self._polled) > MAX_TRACKED:
                self._polled.popitem(last=False)
            return smsid

    def _forget(self, rid: str) -> None:
        with self._lock:
            self._smsids.pop(rid, None)
            self._polled.pop(rid, None)

    # -- receipts --------------------------------------------------------------------------------

    def parse_callback(self, request: CallbackRequest) -> list[Receipt]:
        """The receipt in one eSMS callback (HTTP GET with query parameters)."""
        query = dict(request.query)
        if request.body and request.method.upper() == "POST":
            try:
                query.update(parse_qsl(request.body.decode("utf-8"), strict_parsing=True))
            except (UnicodeDecodeError, ValueError) as exc:
                raise MalformedPayload("eSMS callback: the body is not a form", code="MALFORMED") from exc
        status_code = str(query.get("SendStatus", "")).strip()
        rid = str(query.get("RequestId", "")).strip()
        if not status_code.isdigit() or not rid:
            msg = f"eSMS callback without a numeric SendStatus and a RequestId: {self._printable(query)}"
            raise MalformedPayload(msg, code="MALFORMED")
        provider_id = rid
        if self.settings.sms_type == SMS_TYPE_ADS:
            phone = international(str(query.get("phonenumber", "")))
            if not phone:
                msg = f"eSMS advertising callback without phonenumber: {self._printable(query)}"
                raise MalformedPayload(msg, code="MALFORMED")
            provider_id = f"{rid}:{phone}"
        status, error = SEND_STATUS.get(status_code, ReceiptStatus.ACCEPTED), RECEIPT_ERRORS.get(status_code)
        if status_code == STATUS_FINISHED:
            success, failed = _count(query, "SendSuccess"), _count(query, "SendFailed")
            delivered = success > 0 and failed == 0
            status = ReceiptStatus.DELIVERED if delivered else ReceiptStatus.FAILED
            error = None if delivered else error
        elif status == ReceiptStatus.ACCEPTED:
            error = None
        return [
            Receipt(
                provider_id=provider_id,
                status=status,
                at=utc_now(),
                error_code=error,
                network=TELCOS.get(str(query.get("telcoid", "")).strip()),
                raw=urlencode(sorted(query.items())),
            )
        ]

    def _printable(self, query: Mapping[str, Any]) -> str:
        return self._secrets.redact(urlencode(sorted(query.items())))[:200] or "(no parameters)"

    def poll(self, provider_ids: Sequence[str]) -> list[Receipt]:
        """Final receipts known for these ids; each message is asked at most every ``poll_interval`` s."""
        by_request: dict[str, list[str]] = {}
        for pid in provider_ids:  # matched whatever the case: broadcaster stores ids in lower case
            pid = pid.strip().lower()
            by_request.setdefault(pid.split(":", 1)[0], []).append(pid)
        now = self._clock()
        out: list[Receipt] = []
        for rid, pids in by_request.items():
            smsid = self._due_for_poll(rid, now)
            if smsid is None:
                continue
            found = self._poll_one(rid, smsid, set(pids))
            out.extend(found)
            if found and self.settings.sms_type == SMS_TYPE_CARE:
                self._forget(rid)  # one number, now final
        return out

    def _poll_one(self, rid: str, smsid: str, wanted: set[str]) -> list[Receipt]:
        where = f"eSMS receipt query for RequestId={rid}"
        url = self.settings.base_url + RECEIVER_STATUS
        params = {"ApiKey": self._api_key, "SecretKey": self._secret_key, "RefId": smsid}
        response = send(
            self._sessions,
            "GET",
            url,
            params=params,
            timeout=self.settings.timeouts,
            where=where,
            secrets=self._secrets,
        )
        check_status(response, where, self._secrets)
        answer = self._answer(response, where)
        code = answer["CodeResult"]
        if code == CODE_NOT_YET_KNOWN:
            return []
        if code != CODE_ACCEPTED:
            failed = self._failed("", code, answer, rid)
            error = RouteError if failed.kind == FailureKind.ROUTE else TransientError
            raise error(f"{where}: {failed.reason}", code=code)
        entries = answer.get("ReceiverList")
        if not isinstance(entries, list):
            msg = f"{where}: the answer has no ReceiverList ({quoted(response, self._secrets)})"
            raise MalformedPayload(msg, code="MALFORMED")
        out: list[Receipt] = []
        for entry in entries:
            if not isinstance(entry, dict):
                msg = f"{where}: a ReceiverList entry is not an object ({quoted(response, self._secrets)})"
                raise MalformedPayload(msg, code="MALFORMED")
            if self.settings.sms_type == SMS_TYPE_CARE:
                provider_id = rid
            else:
                provider_id = f"{rid}:{international(str(entry.get('Phone', '')))}"
            status = _poll_status(entry)
            if provider_id.lower() not in wanted or status is None:
                continue
            network = str(entry.get("NetworkName", "")).strip().lower()
            out.append(
                Receipt(
                    provider_id=provider_id,
                    status=status,
                    at=utc_now(),
                    error_code=None if status == ReceiptStatus.DELIVERED else RECEIPT_ERRORS[STATUS_FINISHED],
                    network=NETWORK_NAMES.get(network),
                    raw=json.dumps(entry, ensure_ascii=False, sort_keys=True)[:500],
                )
            )
        return out

    def close(self) -> None:
        self._fan_out.close()
        self._sessions.close()


def _seconds(value: object, name: str) -> float:
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        msg = f"esms option {name} must be a number of seconds, not {value!r}"
        raise AdapterOptionsError(msg) from exc
    if seconds < 0:
        msg = f"esms option {name} cannot be negative ({value!r})"
        raise AdapterOptionsError(msg)
    return seconds


def _parts(text: str) -> int:
    return sms.measure(text).segments


def _count(query: Mapping[str, Any], name: str) -> int:
    value = str(query.get(name, "0")).strip() or "0"
    if not value.isdigit():
        msg = f"eSMS callback: {name} is not a count ({value[:20]!r})"
        raise MalformedPayload(msg, code="MALFORMED")
    return int(value)


def _flag(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1"):
        return True
    if text in ("false", "0", ""):
        return False
    return None


def _poll_status(entry: Mapping[str, Any]) -> str | None:
    """A ReceiverList entry's final status: ``SentResult`` true delivered; sent and not successful
    failed; not yet sent nothing new. (The meaning of ``IsSent``/``SentResult`` is inferred from their
    names: no public description was found.)"""
    sent, result = _flag(entry.get("IsSent")), _flag(entry.get("SentResult"))
    if sent is None or result is None:
        msg = f"eSMS receipt query: IsSent/SentResult are not flags ({str(entry)[:100]})"
        raise MalformedPayload(msg, code="MALFORMED")
    if result:
        return ReceiptStatus.DELIVERED
    if sent:
        return ReceiptStatus.FAILED
    return None


__all__ = sorted(
    [
        "BASE_URL",
        "BATCH_SIZE_CODES",
        "MESSAGE_CODES",
        "ROUTE_CODES",
        "SEND_STATUS",
        "TELCOS",
        "EsmsAdapter",
        "international",
        "national",
    ]
)
