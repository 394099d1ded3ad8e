"""Viettel's bulk SMS web service (direct, SOAP 1.1): the ``wsCpMt`` operation (carriers.md).

One number a request: a batch is sent as concurrent requests, ``concurrency`` at a time. The answer
``<return><message>…</message><result>1</result></return>`` means accepted; any other result is an
error, classified by its message (no public list of result codes was found): words about the
account (authentication, password, CP code, balance, IP) pause the route, words about load are
transient, anything else fails the message. SOAP faults: ``Server`` transient, ``Client`` route-wide
(our request is wrong for this service). Answers are parsed with defusedxml.

Viettel gives no message id and no public description of delivery receipts was found: the provider
id is our ``RequestID`` (the message key) and ``Capabilities.receipts`` is ``none``, so messages stay
``sent`` until the route's validity ends. Whether Viettel honours ``RequestID`` as an idempotency key
is not documented, so the adapter does not claim it.

Options: ``url`` (the service endpoint, required), ``cp_code`` (required), ``service_id`` (the
brandname; default: each message's sender), ``command_code`` (default ``bulksms``), ``concurrency``,
``connect_timeout``, ``read_timeout``. Credentials: ``user``, ``password`` (in the SOAP body only).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any
from xml.etree.ElementTree import Element, ParseError
from xml.sax.saxutils import escape

from defusedxml import ElementTree as SafeElementTree  # type: ignore[import-untyped]

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
    option_float,
    option_int,
    quoted,
    send,
)
from carriers.base import Accepted, Capabilities, Failed, FailureKind, ReceiptMode, Result, Submission
from carriers.errors import AdapterOptionsError, MalformedPayload, RouteError, TransientError

# -- the service ---------------------------------------------------------------------------------

NAMESPACE = "http://impl.bulkSms.ws/"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
OPERATION = "wsCpMt"
SOAP_ACTION = '""'
COMMAND_CODE = "bulksms"
CONTENT_TYPES: Mapping[str, str] = {sms.GSM7: "0", sms.UCS2: "1"}
"""``ContentType``: 0 without diacritics, 1 with."""
RESULT_ACCEPTED = "1"
DEFAULT_CONCURRENCY = 4
BATCH_PER_THREAD = 25

# -- classification of refusals (by the words of the message: no code list is public) -----------

ROUTE_WORDS = re.compile(
    r"authen|\bpassword\b|\blogin\b|\bcp ?code\b|\bcpcode\b|\baccount\b|\bbalance\b|\bmoney\b|\bip\b"
    r"|permission|not allowed|\blocked\b|\bservice ?id\b",
    re.IGNORECASE,
)
"""A refusal that concerns the account or the brandname, not the message: pause the route."""
TRANSIENT_WORDS = re.compile(
    r"timeout|timed out|\bbusy\b|try again|overload|queue (is )?full|system error", re.IGNORECASE
)
"""A refusal that says the service is momentarily unable: try again later."""
FAULT_KINDS: Mapping[str, str] = {"server": FailureKind.TRANSIENT, "client": FailureKind.ROUTE}
"""SOAP ``faultcode`` (local part, lower case) -> how the messages are handled."""

OPTIONS = ("url", "cp_code", "service_id", "command_code", "concurrency", "connect_timeout", "read_timeout")

_ENVELOPE = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV}" xmlns:impl="{NAMESPACE}">'
    "<soapenv:Header/><soapenv:Body><impl:{operation}>{fields}</impl:{operation}></soapenv:Body></soapenv:Envelope>"
)
_fromstring: Callable[[bytes], Element] = SafeElementTree.fromstring
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")


def receiver(msisdn: str) -> str:
    """For example ``+84912345678`` -> ``84912345678`` (the service's form); a national ``0…`` gets its 84."""
    digits = "".join(c for c in msisdn if c.isdigit())
    return "84" + digits[1:] if digits.startswith("0") else digits


def envelope(operation: str, fields: Mapping[str, str]) -> bytes:
    """A SOAP 1.1 request for ``operation`` with unqualified child elements, as JAX-WS services expect."""
    body = "".join(f"<{name}>{escape(_XML_INVALID.sub('', value))}</{name}>" for name, value in fields.items())
    return _ENVELOPE.format(operation=operation, fields=body).encode("utf-8")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _find(root: Element, name: str) -> Element | None:
    return next((e for e in root.iter() if _local(e.tag) == name), None)


def _text(root: Element, name: str) -> str | None:
    element = _find(root, name)
    return None if element is None else (element.text or "").strip()


class ViettelAdapter:
    """A direct route to Viettel's bulk SMS web service (see the module docstring for the options)."""

    def __init__(self, *, user: str, password: str, options: Mapping[str, Any]) -> None:
        options = dict(options)
        check_options(options, OPTIONS, adapter="viettel")
        for required in ("url", "cp_code"):
            if not str(options.get(required, "")).strip():
                msg = f"the viettel adapter needs the option {required!r} in the route's options"
                raise AdapterOptionsError(msg)
        self.url = str(options["url"])
        if not self.url.startswith(("http://", "https://")):
            msg = f"viettel option url must be an http(s) URL, not {self.url!r}"
            raise AdapterOptionsError(msg)
        self.cp_code = str(options["cp_code"])
        self.service_id = str(options.get("service_id", ""))
        self.command_code = str(options.get("command_code", COMMAND_CODE))
        concurrency = option_int(options, "concurrency", DEFAULT_CONCURRENCY, adapter="viettel")
        self.timeouts = (
            option_float(options, "connect_timeout", DEFAULT_CONNECT_TIMEOUT, adapter="viettel"),
            option_float(options, "read_timeout", DEFAULT_READ_TIMEOUT, adapter="viettel"),
        )
        self._user = user
        self._password = password
        self._secrets = Secrets([user, password])
        headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": SOAP_ACTION}
        self._sessions = Sessions(concurrency=concurrency, headers=headers)
        self._fan_out = FanOut(concurrency, "viettel")
        self.capabilities = Capabilities(
            max_batch=max(100, BATCH_PER_THREAD * concurrency),
            unicode=True,
            idempotency_keys=False,
            receipts=(ReceiptMode.NONE,),
        )

    @classmethod
    def from_options(cls, options: Mapping[str, Any], credentials: Mapping[str, str]) -> ViettelAdapter:
        return cls(
            user=credential(credentials, "user", adapter="viettel"),
            password=credential(credentials, "password", adapter="viettel"),
            options=options,
        )

    def __repr__(self) -> str:  # never the credentials
        return f"ViettelAdapter(url={self.url!r}, cp_code={self.cp_code!r})"

    def submit(self, batch: Sequence[Submission]) -> list[Result]:
        """Per-message results in order; a failed request becomes ``Failed`` for its message."""
        return self._fan_out.run([([s.key], partial(self._send, s)) for s in batch])

    def request(self, item: Submission) -> bytes:
        """The SOAP request for one message (public for tests and the bench)."""
        number = receiver(item.msisdn)
        return envelope(
            OPERATION,
            {
                "User": self._user,
                "Password": self._password,
                "CPCode": self.cp_code,
                "RequestID": item.key,
                "UserID": number,
                "ReceiverID": number,
                "ServiceID": self.service_id or item.sender,
                "CommandCode": self.command_code,
                "Content": item.text,
                "ContentType": CONTENT_TYPES.get(item.encoding, "1"),
            },
        )

    def _send(self, item: Submission) -> list[Result]:
        where = f"Viettel wsCpMt RequestID={item.key}"
        response = send(
            self._sessions,
            "POST",
            self.url,
            data=self.request(item),
            timeout=self.timeouts,
            where=where,
            secrets=self._secrets,
        )
        if response.status_code == 500:
            self._raise_fault(response, where)
        check_status(response, where, self._secrets)
        root = self._parse(response, where)
        result, message = _text(root, "result"), _text(root, "message")
        if result is None:
            self._raise_fault(response, where)
            msg = f"{where}: the answer has no <result> ({quoted(response, self._secrets)})"
            raise MalformedPayload(msg, code="MALFORMED")
        if result == RESULT_ACCEPTED:
            return [Accepted(key=item.key, provider_id=item.key, parts=sms.measure(item.text).segments)]
        said = self._secrets.redact(message or "")[:200]
        code = f"result {result}"
        if ROUTE_WORDS.search(said):
            kind, hint = FailureKind.ROUTE, "the route is paused: check the account with Viettel"
        elif TRANSIENT_WORDS.search(said):
            kind, hint = FailureKind.TRANSIENT, "will retry"
        else:
            kind, hint = FailureKind.PERMANENT, "the message is not sent"
        reason = f"Viettel refused the message ({code}: {said or 'no message'}); {hint}"
        return [Failed(key=item.key, kind=kind, code=code, reason=reason)]

    def _parse(self, response: Any, where: str) -> Element:
        try:
            return _fromstring(response.content)
        except (ParseError, ValueError) as exc:  # defusedxml's refusals are ValueErrors
            answer = quoted(response, self._secrets)
            msg = f"{where}: the answer is not SOAP XML (HTTP {response.status_code}: {answer})"
            raise MalformedPayload(msg, code="MALFORMED") from exc

    def _raise_fault(self, response: Any, where: str) -> None:
        """Raise the classified error for a SOAP fault in the answer; nothing when there is none."""
        try:
            root = _fromstring(response.content)
        except (ParseError, ValueError):
            return
        if _find(root, "Fault") is None:
            return
        faultcode = (_text(root, "faultcode") or "").rsplit(":", 1)[-1].lower()
        faultstring = self._secrets.redact(_text(root, "faultstring") or "")[:200]
        kind = FAULT_KINDS.get(faultcode.split(".")[0], FailureKind.TRANSIENT)
        msg = f"{where}: SOAP fault {faultcode or '?'}: {faultstring or 'no description'}"
        if kind == FailureKind.ROUTE:
            raise RouteError(f"{msg}; the route is paused: check its options", code=f"fault {faultcode}")
        raise TransientError(f"{msg}; will retry", code=f"fault {faultcode}")

    def close(self) -> None:
        self._fan_out.close()
        self._sessions.close()


__all__ = sorted(
    ["CONTENT_TYPES", "NAMESPACE", "ROUTE_WORDS", "TRANSIENT_WORDS", "ViettelAdapter", "envelope", "receiver"]
)
