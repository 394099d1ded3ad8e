"""Tests for audiences.phones: normalising Vietnamese mobile numbers."""

from __future__ import annotations

import dataclasses
import re
from decimal import Decimal

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from audiences import phones
from audiences.phones import (
    CARRIERS,
    EMPTY,
    GMOBILE,
    ITEL,
    LANDLINE,
    MOBIFONE,
    MOBILE_PREFIXES,
    NOT_A_NUMBER,
    NOT_VIETNAMESE,
    OLD_PREFIXES,
    REASONS,
    REDDI,
    TOO_LONG,
    TOO_SHORT,
    UNKNOWN_PREFIX,
    VIETNAMOBILE,
    VIETTEL,
    VINAPHONE,
    Phone,
    Rejection,
    carrier_of,
    mask,
    normalize,
)

E164_MOBILE = re.compile(r"\+84[35789][0-9]{8}")

# --------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------

ACCEPTED: list[tuple[object, str, str]] = [
    # clean forms (fast path)
    ("0912345678", "+84912345678", VINAPHONE),
    ("+84912345678", "+84912345678", VINAPHONE),
    ("84912345678", "+84912345678", VINAPHONE),
    ("912345678", "+84912345678", VINAPHONE),
    # nine digits that happen to start with 84: a VinaPhone 084 number
    ("843123456", "+84843123456", VINAPHONE),
    ("0843123456", "+84843123456", VINAPHONE),
    ("84843123456", "+84843123456", VINAPHONE),
    # punctuation
    ("+84 912 345 678", "+84912345678", VINAPHONE),
    ("(091) 234-5678", "+84912345678", VINAPHONE),
    ("0912.345.678", "+84912345678", VINAPHONE),
    ("0912-345-678", "+84912345678", VINAPHONE),
    ("0912 345 678", "+84912345678", VINAPHONE),
    ("(+84) 912 345 678", "+84912345678", VINAPHONE),
    ("+84 (0) 912 345 678", "+84912345678", VINAPHONE),
    ("840912345678", "+84912345678", VINAPHONE),
    ("912,345,678", "+84912345678", VINAPHONE),
    ("  0912345678\t", "+84912345678", VINAPHONE),
    ("\u00a00912\u202f345\u2009678\u200b", "+84912345678", VINAPHONE),
    ("0912\u2013345\u2013678", "+84912345678", VINAPHONE),
    # international prefix 00
    ("0084912345678", "+84912345678", VINAPHONE),
    ("00 84 912 345 678", "+84912345678", VINAPHONE),
    # Excel text forms
    ("'0912345678", "+84912345678", VINAPHONE),
    ("\u20190912345678", "+84912345678", VINAPHONE),
    ('="0912345678"', "+84912345678", VINAPHONE),
    ('"0912345678"', "+84912345678", VINAPHONE),
    # spreadsheet damage
    ("9.12345678E8", "+84912345678", VINAPHONE),
    ("9.12345678E+08", "+84912345678", VINAPHONE),
    ("9.12345678e+08", "+84912345678", VINAPHONE),
    ("9,12345678E+08", "+84912345678", VINAPHONE),
    ("8.4912345678E+10", "+84912345678", VINAPHONE),
    ("9.123456780E+08", "+84912345678", VINAPHONE),
    ("912345678.0", "+84912345678", VINAPHONE),
    ("912345678.00", "+84912345678", VINAPHONE),
    ("84912345678.0", "+84912345678", VINAPHONE),
    ("912.345.678,00", "+84912345678", VINAPHONE),
    ("912,345,678.00", "+84912345678", VINAPHONE),
    # numbers, not text
    (912345678, "+84912345678", VINAPHONE),
    (84912345678, "+84912345678", VINAPHONE),
    (912345678.0, "+84912345678", VINAPHONE),
    (84912345678.0, "+84912345678", VINAPHONE),
    (Decimal("912345678"), "+84912345678", VINAPHONE),
    (b"0912345678", "+84912345678", VINAPHONE),
    # full-width digits
    ("\uff10\uff19\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18", "+84912345678", VINAPHONE),
    ("\uff0b\uff18\uff14 912 345 678", "+84912345678", VINAPHONE),
    # old 11-digit forms
    ("01662345678", "+84362345678", VIETTEL),
    ("841662345678", "+84362345678", VIETTEL),
    ("+84 166 234 5678", "+84362345678", VIETTEL),
    ("1662345678", "+84362345678", VIETTEL),
    ("0084 166 234 5678", "+84362345678", VIETTEL),
    ("0166.234.5678", "+84362345678", VIETTEL),
    ("1662345678.0", "+84362345678", VIETTEL),
    ("1.662345678E+09", "+84362345678", VIETTEL),
    (1662345678, "+84362345678", VIETTEL),
    (841662345678.0, "+84362345678", VIETTEL),
    ("01202345678", "+84702345678", MOBIFONE),
    ("01212345678", "+84792345678", MOBIFONE),
    ("01232345678", "+84832345678", VINAPHONE),
    ("01292345678", "+84822345678", VINAPHONE),
    ("01862345678", "+84562345678", VIETNAMOBILE),
    ("01882345678", "+84582345678", VIETNAMOBILE),
    ("01992345678", "+84592345678", GMOBILE),
    # one per carrier
    ("0961234567", "+84961234567", VIETTEL),
    ("0321234567", "+84321234567", VIETTEL),
    ("0811234567", "+84811234567", VINAPHONE),
    ("0901234567", "+84901234567", MOBIFONE),
    ("0701234567", "+84701234567", MOBIFONE),
    ("0921234567", "+84921234567", VIETNAMOBILE),
    ("0521234567", "+84521234567", VIETNAMOBILE),
    ("0991234567", "+84991234567", GMOBILE),
    ("0591234567", "+84591234567", GMOBILE),
    ("0871234567", "+84871234567", ITEL),
    ("0551234567", "+84551234567", REDDI),
]

REJECTED: list[tuple[object, str]] = [
    # empty
    (None, EMPTY),
    ("", EMPTY),
    ("   ", EMPTY),
    ("\u00a0\u3000", EMPTY),
    ("-", EMPTY),
    ("'", EMPTY),
    ('=""', EMPTY),
    (b"", EMPTY),
    # not a number
    ("abc", NOT_A_NUMBER),
    ("không có", NOT_A_NUMBER),
    ("ĐT: 0912345678", NOT_A_NUMBER),
    ("0912345678 / 0987654321", NOT_A_NUMBER),
    ("0912+345678", NOT_A_NUMBER),
    ("+0912345678", NOT_A_NUMBER),
    ("9.12346E+08", NOT_A_NUMBER),  # Excel rounded away digits
    ("9.1234567E+08", NOT_A_NUMBER),  # ambiguous: digits may be lost
    ("9.1E-08", NOT_A_NUMBER),
    ("\u0669\u0661\u0662", NOT_A_NUMBER),  # Arabic-Indic digits are not accepted
    (912345678.5, NOT_A_NUMBER),
    (float("nan"), NOT_A_NUMBER),
    (float("inf"), NOT_A_NUMBER),
    (-912345678, NOT_A_NUMBER),
    (True, NOT_A_NUMBER),
    ([0, 9, 1], NOT_A_NUMBER),
    # too short (including short codes and service numbers)
    ("113", TOO_SHORT),
    ("9029", TOO_SHORT),
    ("1900 1234", TOO_SHORT),
    ("1800 1091", TOO_SHORT),
    ("091234567", TOO_SHORT),
    ("+84 91 234 567", TOO_SHORT),
    ("+84", TOO_SHORT),
    ("0", TOO_SHORT),
    (0, TOO_SHORT),
    (12345, TOO_SHORT),
    # too long
    ("09123456789", TOO_LONG),
    ("+849123456789", TOO_LONG),
    ("0912345678 0987654321", TOO_LONG),
    ("0123456789012345", TOO_LONG),
    (10**20, TOO_LONG),
    (10**5000, TOO_LONG),
    (1e300, TOO_LONG),
    # landline
    ("0283 822 1234", LANDLINE),
    ("02438261234", LANDLINE),
    ("+84 28 3822 1234", LANDLINE),
    ("842838221234", LANDLINE),
    ("0251 382 1234", LANDLINE),
    (2838221234, LANDLINE),
    # foreign
    ("+1 202 555 0100", NOT_VIETNAMESE),
    ("+44 20 7946 0958", NOT_VIETNAMESE),
    ("0044 20 7946 0958", NOT_VIETNAMESE),
    ("+86 138 0013 8000", NOT_VIETNAMESE),
    ("+856 20 5555 1234", NOT_VIETNAMESE),
    ("00912345678", NOT_VIETNAMESE),  # 00 91 is India
    # unknown prefix
    ("0952345678", UNKNOWN_PREFIX),
    ("0302345678", UNKNOWN_PREFIX),
    ("0712345678", UNKNOWN_PREFIX),
    ("0802345678", UNKNOWN_PREFIX),
    ("0612345678", UNKNOWN_PREFIX),
    ("01302345678", UNKNOWN_PREFIX),
    ("1900123456", UNKNOWN_PREFIX),
]


def _ids(values: list[tuple[object, ...]]) -> list[str]:
    return [repr(v[0])[:40] if not isinstance(v[0], int) or v[0] < 10**40 else "huge int" for v in values]


@pytest.mark.parametrize(("raw", "msisdn", "carrier"), ACCEPTED, ids=_ids(ACCEPTED))  # type: ignore[arg-type]
def test_accepted_forms(raw: object, msisdn: str, carrier: str) -> None:
    """Every supported written form gives the expected E.164 number and carrier."""
    assert normalize(raw) == Phone(msisdn, carrier)


@pytest.mark.parametrize(("raw", "reason"), REJECTED, ids=_ids(REJECTED))  # type: ignore[arg-type]
def test_rejected_values(raw: object, reason: str) -> None:
    """Every unusable value is rejected with the reason that explains it."""
    result = normalize(raw)
    assert isinstance(result, Rejection), result
    assert result.reason == reason
    assert result.message


def test_rejection_table_covers_every_reason() -> None:
    """The rejection table exercises each reason code at least once."""
    seen = {reason for _, reason in REJECTED}
    assert seen == set(REASONS)


def test_accepted_table_covers_every_carrier() -> None:
    """The accepted table exercises each carrier at least once."""
    seen = {carrier for _, _, carrier in ACCEPTED}
    assert seen == set(CARRIERS)


# --------------------------------------------------------------------------
# Messages
# --------------------------------------------------------------------------


def test_landline_message_names_the_value() -> None:
    """The landline message is the one operators were promised, with the value as typed."""
    result = normalize("0283 822 1234")
    assert isinstance(result, Rejection)
    assert result.message == 'Số "0283 822 1234" là số cố định, không phải số di động.'
    assert result.raw == "0283 822 1234"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [(raw, reason) for raw, reason in REJECTED if reason != EMPTY and isinstance(raw, str)],
)
def test_messages_quote_the_value(raw: str, reason: str) -> None:
    """Every non-empty rejection message quotes the value so the operator can find it."""
    result = normalize(raw)
    assert isinstance(result, Rejection)
    assert f'"{" ".join(raw.split())}"' in result.message


def test_one_message_template_per_reason() -> None:
    """Two values with the same reason get the same message apart from the value."""
    for reason in REASONS:
        samples = [raw for raw, r in REJECTED if r == reason and isinstance(raw, str) and raw.strip()]
        templates = set()
        for raw in samples:
            result = normalize(raw)
            assert isinstance(result, Rejection)
            templates.add(result.message.replace(f'"{" ".join(raw.split())}"', '"{value}"'))
        assert len(templates) <= 1, (reason, templates)


def test_messages_differ_between_reasons() -> None:
    """No two reasons share a message, so the message alone tells the operator what to fix."""
    messages = set()
    for reason in REASONS:
        raw = next(raw for raw, r in REJECTED if r == reason)
        result = normalize(raw)
        assert isinstance(result, Rejection)
        messages.add(result.message.replace(str(result.raw), ""))
    assert len(messages) == len(REASONS)


def test_messages_are_vietnamese() -> None:
    """Messages are written in Vietnamese (they carry Vietnamese letters)."""
    for reason in REASONS:
        raw = next(raw for raw, r in REJECTED if r == reason)
        result = normalize(raw)
        assert isinstance(result, Rejection)
        assert re.search("[ốịểạảữưđ]", result.message), result.message


def test_long_values_are_shortened_in_message() -> None:
    """A huge pasted value is cut in the message but kept whole in raw."""
    raw = "x" * 10_000
    result = normalize(raw)
    assert isinstance(result, Rejection)
    assert len(result.message) < 300
    assert "…" in result.message
    assert result.raw == raw


def test_raw_of_non_text_values() -> None:
    """raw is text for every input type: empty for None, the number as written otherwise."""
    none = normalize(None)
    number = normalize(912345678.5)
    assert isinstance(none, Rejection) and none.raw == ""
    assert isinstance(number, Rejection) and number.raw == "912345678.5"


def test_broken_str_does_not_raise() -> None:
    """An object whose __str__ raises is rejected, not propagated."""

    class Broken:
        def __str__(self) -> str:
            raise RuntimeError("boom")

    result = normalize(Broken())
    assert isinstance(result, Rejection)
    assert result.reason == NOT_A_NUMBER


# --------------------------------------------------------------------------
# Module surface and data
# --------------------------------------------------------------------------


def test_public_constants() -> None:
    """Carrier and reason constants have their documented values and order."""
    assert CARRIERS == ("viettel", "vinaphone", "mobifone", "vietnamobile", "gmobile", "itel", "reddi")
    assert REASONS == (
        "empty",
        "not_a_number",
        "too_short",
        "too_long",
        "landline",
        "not_vietnamese",
        "unknown_prefix",
    )
    assert phones.__all__ == sorted(phones.__all__)
    assert all(hasattr(phones, name) for name in phones.__all__)


def test_prefix_tables_are_consistent() -> None:
    """Every prefix maps to a known carrier and every old prefix to a current one."""
    assert set(MOBILE_PREFIXES.values()) == set(CARRIERS)
    assert all(re.fullmatch(r"0[35789][0-9]", p) for p in MOBILE_PREFIXES)
    assert len(MOBILE_PREFIXES) == 36
    assert all(re.fullmatch(r"01[0-9]{2}", p) for p in OLD_PREFIXES)
    assert set(OLD_PREFIXES.values()) <= set(MOBILE_PREFIXES)
    assert len(set(OLD_PREFIXES.values())) == len(OLD_PREFIXES) == 21


# Written out again from DESIGN.md section 3, independently of the module's tables.
_DESIGN_PREFIXES = {
    VIETTEL: "086 096 097 098 032 033 034 035 036 037 038 039",
    VINAPHONE: "088 091 094 081 082 083 084 085",
    MOBIFONE: "089 090 093 070 076 077 078 079",
    VIETNAMOBILE: "092 052 056 058",
    GMOBILE: "099 059",
    ITEL: "087",
    REDDI: "055",
}
_DESIGN_OLD = (
    "0162>032 0163>033 0164>034 0165>035 0166>036 0167>037 0168>038 0169>039 "
    "0120>070 0121>079 0122>077 0126>076 0128>078 "
    "0123>083 0124>084 0125>085 0127>081 0129>082 "
    "0186>056 0188>058 0199>059"
)


def test_prefix_tables_match_the_design() -> None:
    """The module's prefix tables say exactly what DESIGN.md section 3 says."""
    expected = {p: carrier for carrier, ps in _DESIGN_PREFIXES.items() for p in ps.split()}
    assert dict(MOBILE_PREFIXES) == expected
    assert dict(OLD_PREFIXES) == dict(pair.split(">") for pair in _DESIGN_OLD.split())


@pytest.mark.parametrize("pair", _DESIGN_OLD.split())
def test_each_old_prefix_converts(pair: str) -> None:
    """Each old 11-digit prefix becomes its new prefix with the last seven digits kept."""
    old, new = pair.split(">")
    expected_carrier = next(c for c, ps in _DESIGN_PREFIXES.items() if new in ps.split())
    assert normalize(old + "2345678") == Phone("+84" + new[1:] + "2345678", expected_carrier)


def test_results_are_frozen() -> None:
    """Phone and Rejection are immutable values."""
    phone = normalize("0912345678")
    assert isinstance(phone, Phone)
    with pytest.raises(dataclasses.FrozenInstanceError):
        phone.msisdn = "+84000000000"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("msisdn", "carrier"),
    [
        ("+84912345678", VINAPHONE),
        ("+84362345678", VIETTEL),
        ("+84551234567", REDDI),
        ("+84952345678", None),
        ("0912345678", None),
        ("84912345678", None),
        ("+8491234567", None),
        ("+849123456789", None),
        ("+8491234567x", None),
        ("+8491234567\uff18", None),
        ("", None),
    ],
)
def test_carrier_of(msisdn: str, carrier: str | None) -> None:
    """carrier_of reads the carrier from an E.164 mobile number and nothing else."""
    assert carrier_of(msisdn) == carrier


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("+84912345678", "+8491****678"),
        ("+842838221234", "+8428*****234"),
        ("84912345678", "8491****678"),
        ("0912345678", "091****678"),
        ("12345", "****5"),
        ("1234", "****"),
        ("", ""),
    ],
)
def test_mask_examples(value: str, masked: str) -> None:
    """mask keeps the first five and last three characters of an E.164 number, less when short."""
    assert mask(value) == masked


# --------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------

_NEW_PREFIXES = sorted(MOBILE_PREFIXES)
_OLD_PREFIXES = sorted(OLD_PREFIXES)
_FULL_WIDTH = str.maketrans("0123456789+", "\uff10\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18\uff19\uff0b")


def _forms(nsn: str) -> list[object]:
    """Every way the nine-digit national significant number *nsn* may be written."""
    a, b, c = nsn[:3], nsn[3:6], nsn[6:]
    return [
        "0" + nsn,
        "+84" + nsn,
        "84" + nsn,
        nsn,
        f"+84 {a} {b} {c}",
        f"0{a} {b} {c}",
        f"0{a}.{b}.{c}",
        f"0{a}-{b}-{c}",
        f"(0{nsn[:2]}) {nsn[2:5]}-{nsn[5:]}",
        f"(+84) {a} {b} {c}",
        f"+84 (0) {a} {b} {c}",
        f"84 {a} {b} {c}",
        f"{a} {b} {c}",
        f"'0{nsn}",
        f'="0{nsn}"',
        f"{nsn[0]}.{nsn[1:]}E+08",
        f"{nsn[0]}.{nsn[1:]}E8",
        f"{nsn[0]}.{nsn[1:]}e+08",
        f"{nsn[0]},{nsn[1:]}E+08",
        f"8.4{nsn}E+10",
        f"{nsn}.0",
        f"84{nsn}.0",
        f"{a}.{b}.{c},00",
        f"{a},{b},{c}",
        "0084" + nsn,
        f"00 84 {a} {b} {c}",
        ("0" + nsn).translate(_FULL_WIDTH),
        ("+84" + nsn).translate(_FULL_WIDTH),
        f" \t0{nsn}\u00a0",
        int(nsn),
        float(nsn),
        int("84" + nsn),
        float("84" + nsn),
        ("0" + nsn).encode(),
    ]


def _old_forms(old: str) -> list[object]:
    """Every way the old ten-digit national significant number *old* may be written."""
    a, b, c = old[:3], old[3:6], old[6:]
    return [
        "0" + old,
        "84" + old,
        "+84" + old,
        old,
        f"+84 {a} {b} {c}",
        f"0{a} {b} {c}",
        f"0{a}.{b}.{c}",
        f"(0{a}) {b}-{c}",
        "0084" + old,
        f"'0{old}",
        f"{old}.0",
        f"{old[0]}.{old[1:]}E+09",
        ("0" + old).translate(_FULL_WIDTH),
        int(old),
        float(old),
        float("84" + old),
    ]


@given(prefix=st.sampled_from(_NEW_PREFIXES), subscriber=st.integers(0, 9_999_999))
@example(prefix="084", subscriber=3_123_456)
@example(prefix="090", subscriber=0)
def test_every_form_of_a_valid_number_normalises_alike(prefix: str, subscriber: int) -> None:
    """All written forms of a current number give the same E.164 number and carrier."""
    nsn = prefix[1:] + f"{subscriber:07d}"
    expected = Phone("+84" + nsn, MOBILE_PREFIXES[prefix])
    for form in _forms(nsn):
        assert normalize(form) == expected, form


@given(prefix=st.sampled_from(_OLD_PREFIXES), subscriber=st.integers(0, 9_999_999))
def test_old_numbers_map_to_their_new_number(prefix: str, subscriber: int) -> None:
    """All written forms of an old 11-digit number give the new number, last 7 digits kept."""
    last7 = f"{subscriber:07d}"
    new = OLD_PREFIXES[prefix]
    expected = Phone("+84" + new[1:] + last7, MOBILE_PREFIXES[new])
    for form in _old_forms(prefix[1:] + last7):
        assert normalize(form) == expected, form


def _check_outcome(result: Phone | Rejection) -> None:
    if isinstance(result, Phone):
        assert E164_MOBILE.fullmatch(result.msisdn), result
        assert result.carrier in CARRIERS
        assert carrier_of(result.msisdn) == result.carrier
        assert normalize(result.msisdn) == result
    else:
        assert isinstance(result, Rejection), result
        assert result.reason in REASONS
        assert isinstance(result.message, str) and result.message
        assert isinstance(result.raw, str)


@given(
    st.one_of(
        st.text(),
        st.text(alphabet="0123456789 +-.,()'\"=eE\u00a0\uff10\uff19"),
        st.from_regex(r"\A(\+|00)?(84)?0?[0-9]{6,12}(\.0)?\Z"),
        st.none(),
        st.binary(),
    )
)
def test_any_text_normalises_or_is_rejected(raw: object) -> None:
    """Any text gives a valid mobile Phone or a Rejection with a known reason, never an error."""
    _check_outcome(normalize(raw))


@given(st.one_of(st.integers(), st.floats(), st.integers(0, 10**13), st.floats(0, 1e13)))
def test_any_number_normalises_or_is_rejected(raw: int | float) -> None:
    """Any int or float gives a valid mobile Phone or a Rejection with a known reason, never an error."""
    _check_outcome(normalize(raw))


@given(st.from_regex(r"\A\+?[0-9]{0,14}\Z"))
def test_fast_path_agrees_with_slow_path(raw: str) -> None:
    """Surrounding spaces (which skip the fast path) never change the outcome."""
    fast, slow = normalize(raw), normalize(f" {raw} ")
    if isinstance(fast, Phone):
        assert slow == fast
    else:
        assert isinstance(slow, Rejection) and slow.reason == fast.reason


def _longest_digit_run(text: str) -> int:
    return max((len(run) for run in re.findall(r"[0-9]+", text)), default=0)


@given(
    st.one_of(
        st.text(),
        st.text(alphabet="0123456789+ "),
        st.from_regex(r"\A\+84[35789][0-9]{8}\Z"),
    )
)
def test_mask_never_shows_more_than_five_digits_in_a_row(value: str) -> None:
    """A masked value keeps its length and shows at most five consecutive digits of the original."""
    masked = mask(value)
    assert len(masked) == len(value)
    assert _longest_digit_run(masked) <= 5
    assert set(masked) - set(value) <= {"*"}
    if E164_MOBILE.fullmatch(value):
        assert masked == value[:5] + "****" + value[-3:]


def test_clean_forms_take_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The common clean forms never reach the slow path (which is where the time goes)."""

    def fail(*args: object) -> None:
        raise AssertionError(f"slow path for {args!r}")

    monkeypatch.setattr(phones, "_from_text", fail)
    for raw in ("0912345678", "+84912345678", "84912345678", "912345678"):
        assert isinstance(normalize(raw), Phone)
