"""The Viettel SOAP adapter: the wsCpMt envelope, result classification, faults and hostile XML."""

from __future__ import annotations

from typing import Any

import pytest
from defusedxml import ElementTree as SafeElementTree

from carriers import create_adapter
from carriers.base import Accepted, CallbackAdapter, Failed, FailureKind, PollingAdapter, ReceiptMode, Submission
from carriers.errors import AdapterOptionsError
from carriers.viettel import NAMESPACE, ViettelAdapter, receiver

CREDENTIALS = {"user": "vt-user-A1", "password": "vt-pass-B2<&>"}
PATH = "/bulkapi"
XML = "text/xml; charset=utf-8"


def answer(result: str, message: str) -> str:
    return (
        '<?xml version="1.0" ?><S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/"><S:Body>'
        f'<ns2:wsCpMtResponse xmlns:ns2="{NAMESPACE}"><return><message>{message}</message>'
        f"<result>{result}</result></return></ns2:wsCpMtResponse></S:Body></S:Envelope>"
    )


def fault(code: str, text: str) -> str:
    return (
        '<?xml version="1.0" ?><S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/"><S:Body>'
        f"<S:Fault><faultcode>S:{code}</faultcode><faultstring>{text}</faultstring></S:Fault></S:Body></S:Envelope>"
    )


def sub(key: str, msisdn: str = "+84961234567", text: str = "Hello", encoding: str = "gsm7") -> Submission:
    return Submission(key=key, msisdn=msisdn, text=text, encoding=encoding, sender="SENDER")


def adapter_for(url: str, **options: Any) -> ViettelAdapter:
    base = {"url": url + PATH, "cp_code": "CP9", "concurrency": 1, "read_timeout": 5.0}
    return ViettelAdapter.from_options({**base, **options}, CREDENTIALS)


class TestViettel:
    def test_the_envelope(self, canned: Any) -> None:
        """SOAP 1.1 wsCpMt in Viettel's namespace with every element; text escaped; receiver in 84 form."""
        canned.reply("POST", PATH, answer("1", "Insert MT_QUEUE: OK"), content_type=XML)
        adapter = adapter_for(canned.url)
        text = "Đường dây nóng 111 <miễn phí> & 24/7"
        assert adapter.submit([sub("31", text=text, encoding="ucs2")]) == [
            Accepted(key="31", provider_id="31", parts=1)
        ]
        (request,) = canned.requests
        assert request.headers["content-type"] == XML and request.headers["soapaction"] == '""'
        root = SafeElementTree.fromstring(request.body)
        (operation,) = [e for e in root.iter() if e.tag == f"{{{NAMESPACE}}}wsCpMt"]
        assert {child.tag: child.text for child in operation} == {
            "User": CREDENTIALS["user"],
            "Password": CREDENTIALS["password"],
            "CPCode": "CP9",
            "RequestID": "31",
            "UserID": "84961234567",
            "ReceiverID": "84961234567",
            "ServiceID": "SENDER",
            "CommandCode": "bulksms",
            "Content": text,
            "ContentType": "1",
        }

    def test_options_shape_the_request(self, canned: Any) -> None:
        """The route's service id and command code replace the defaults; GSM-7 text is ContentType 0."""
        canned.reply("POST", PATH, answer("1", "OK"), content_type=XML)
        adapter_for(canned.url, service_id="SOKHCN", command_code="cskh").submit([sub("1")])
        fields = {e.tag.rsplit("}")[-1]: e.text for e in SafeElementTree.fromstring(canned.requests[0].body).iter()}
        assert (fields["ServiceID"], fields["CommandCode"], fields["ContentType"]) == ("SOKHCN", "cskh", "0")

    @pytest.mark.parametrize(
        ("message", "kind"),
        [
            ("Authenticate: fail", FailureKind.ROUTE),
            ("User or password is incorrect", FailureKind.ROUTE),
            ("CPCode not exist", FailureKind.ROUTE),
            ("Balance is not enough", FailureKind.ROUTE),
            ("IP is not allowed", FailureKind.ROUTE),
            ("System busy, try again", FailureKind.TRANSIENT),
            ("Receiver is in the blacklist", FailureKind.PERMANENT),
            ("Content is invalid", FailureKind.PERMANENT),
            ("", FailureKind.PERMANENT),
        ],
    )
    def test_refusals_are_classified_by_their_words(self, canned: Any, message: str, kind: str) -> None:
        """Any result but 1 is a refusal; its words say whether the account, the moment or the message is at fault."""
        canned.reply("POST", PATH, answer("0", message), content_type=XML)
        (result,) = adapter_for(canned.url).submit([sub("1")])
        assert isinstance(result, Failed) and result.kind == kind and result.code == "result 0"

    @pytest.mark.parametrize(("code", "kind"), [("Server", FailureKind.TRANSIENT), ("Client", FailureKind.ROUTE)])
    def test_soap_faults(self, canned: Any, code: str, kind: str) -> None:
        """A Server fault is transient; a Client fault (our request is wrong for the service) pauses the route."""
        canned.reply("POST", PATH, fault(code, "something"), status=500, content_type=XML)
        (result,) = adapter_for(canned.url).submit([sub("1")])
        assert isinstance(result, Failed) and result.kind == kind and "something" in result.reason

    def test_a_500_html_page_is_transient(self, canned: Any) -> None:
        """A server error that is not SOAP is an ordinary 5xx: transient."""
        canned.reply("POST", PATH, "<html><body>Oops</body></html>", status=500, content_type="text/html")
        (result,) = adapter_for(canned.url).submit([sub("1")])
        assert isinstance(result, Failed) and result.kind == FailureKind.TRANSIENT and result.code == "HTTP 500"

    def test_entity_expansion_is_refused(self, canned: Any) -> None:
        """An answer with entity declarations (a billion-laughs bomb) is refused by defusedxml: malformed."""
        bomb = (
            '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
            "<x><result>&b;</result></x>"
        )
        canned.reply("POST", PATH, bomb, content_type=XML)
        (result,) = adapter_for(canned.url).submit([sub("1")])
        assert isinstance(result, Failed) and result.code == "MALFORMED"

    def test_a_batch_goes_out_message_by_message(self, canned: Any) -> None:
        """Each message is its own request; a route-wide refusal stops the rest of the batch."""
        canned.reply("POST", PATH, answer("1", "OK"), content_type=XML)
        canned.reply("POST", PATH, answer("0", "Authenticate: fail"), content_type=XML)
        results = adapter_for(canned.url).submit([sub("1"), sub("2"), sub("3")])
        assert [r.kind if isinstance(r, Failed) else "ok" for r in results] == ["ok", "route", "route"]
        assert len(canned.requests) == 2

    def test_capabilities_and_registry(self) -> None:
        """No receipts (none documented), no idempotency claimed; built by name; options checked."""
        adapter = create_adapter("viettel", {"url": "http://127.0.0.1:9/bulkapi", "cp_code": "CP"}, CREDENTIALS)
        assert isinstance(adapter, ViettelAdapter)
        assert adapter.capabilities.receipts == (ReceiptMode.NONE,) and not adapter.capabilities.idempotency_keys
        assert not isinstance(adapter, PollingAdapter) and not isinstance(adapter, CallbackAdapter)
        assert CREDENTIALS["password"] not in repr(adapter)
        with pytest.raises(AdapterOptionsError, match="'url'"):
            create_adapter("viettel", {"cp_code": "CP"}, CREDENTIALS)
        with pytest.raises(AdapterOptionsError, match="password"):
            create_adapter("viettel", {"url": "http://127.0.0.1:9/", "cp_code": "CP"}, {"user": "u"})
        adapter.close()

    def test_receiver_form(self) -> None:
        """E.164 and national numbers both become 84…."""
        assert receiver("+84961234567") == receiver("0961234567") == "84961234567"
