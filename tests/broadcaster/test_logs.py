"""Phone numbers never reach a log unmasked, in any form, inside any text, tracebacks included."""

from __future__ import annotations

import io
import json
import logging

import pytest
import structlog

from broadcaster import logs


@pytest.fixture
def captured() -> io.StringIO:
    stream = io.StringIO()
    logs.configure("DEBUG", stream=stream, json=True)
    yield stream
    structlog.reset_defaults()
    logging.getLogger().handlers[:] = []


FORMS = [
    ("+84912345678", "+8491****678"),
    ("84912345678", "8491****678"),
    ("0912345678", "091****678"),
    ("0084912345678", "008491****678"),
    ("+84 912 345 678", "+8491****678"),
    ("0912.345.678", "091****678"),
    ("0912-345-678", "091****678"),
    ("(091) 234-5678", None),
    ("01662345678", "016*****678"),
    ("+841662345678", "+8416*****678"),
]


class TestMaskText:
    @pytest.mark.parametrize(("raw", "masked"), FORMS)
    def test_every_form_is_masked(self, raw: str, masked: str | None) -> None:
        """Each written form loses its middle digits."""
        out = logs.mask_text(f"sending to {raw} now")
        digits = "".join(ch for ch in raw if ch.isdigit())
        assert digits[-9:-3] not in "".join(ch for ch in out if ch.isdigit()), out
        if masked is not None:
            assert out == f"sending to {masked} now"

    def test_inside_longer_text(self) -> None:
        """Several numbers in one string, glued to punctuation, are all masked."""
        out = logs.mask_text("a=0912345678,b=+84987654321;c:(0388777666)")
        assert "12345" not in out and "87654" not in out and "88777" not in out

    def test_leaves_other_numbers_alone(self) -> None:
        """Ids, counts, timestamps and landlines are not phones."""
        text = "run 1234567 at 2026-07-30 08:00:00, 20000 messages, id 123456789012345, hotline 02838221234"
        assert logs.mask_text(text) == text


class TestPipeline:
    def test_structlog_event_values_are_masked(self, captured: io.StringIO) -> None:
        """Keys and nested values of our own events are masked."""
        logs.get_logger("t").info("sent", msisdn="+84912345678", extra={"to": ["0987654321"]})
        event = json.loads(captured.getvalue().splitlines()[-1])
        assert event["msisdn"] == "+8491****678"
        assert event["extra"] == {"to": ["098****321"]}

    def test_stdlib_logs_are_masked(self, captured: io.StringIO) -> None:
        """Libraries logging through the standard library go through the same chain."""
        logging.getLogger("uvicorn.access").warning("GET /receipts?phonenumber=84912345678 200")
        line = captured.getvalue().splitlines()[-1]
        assert "84912345678" not in line and "8491****678" in line
        assert json.loads(line)["logger"] == "uvicorn.access"

    def test_tracebacks_are_masked(self, captured: io.StringIO) -> None:
        """A number in an exception message does not leak through the rendered traceback."""
        try:
            raise ValueError("carrier refused 0912345678")
        except ValueError:
            logs.get_logger("t").exception("submit failed")
        event = json.loads(captured.getvalue().splitlines()[-1])
        assert "Traceback" in event["exception"]
        assert "0912345678" not in event["exception"] and "091****678" in event["exception"]

    def test_context_is_bound(self, captured: io.StringIO) -> None:
        """campaign/run/district/route bound once appear on every event of the context."""
        logs.bind_context(campaign=3, run=7, district="705", route="sim-viettel")
        try:
            logs.get_logger("t").info("claimed", n=5)
        finally:
            logs.clear_context()
        event = json.loads(captured.getvalue().splitlines()[-1])
        assert (event["campaign"], event["run"], event["district"], event["route"]) == (3, 7, "705", "sim-viettel")
