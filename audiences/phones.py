"""Vietnamese mobile numbers: normalise what operators paste, reject the rest.

Campaign lists arrive as spreadsheets typed by hand, so one column holds, for example,
``0912345678``, ``+84 912 345 678``, ``(091) 234-5678``, ``'0912345678`` (examples),
``9.12345678E+08``, ``912345678.0`` and pre-2018 eleven-digit numbers such as
``01662345678``.  :func:`normalize` turns every such form into one E.164
string (``+84`` followed by nine digits) together with the carrier that
originally owned the prefix, or explains in Vietnamese why the value cannot
be used (empty, not a number, too short, too long, landline, foreign, or a
prefix no mobile carrier uses).

Since number portability (2018) the prefix names the *original* carrier
only; a list's declared carrier or a carrier receipt overrides it elsewhere.

Phone numbers are personal data: log them through :func:`mask` only.
Note that :attr:`Rejection.raw` and :attr:`Rejection.message` contain the
value as typed, so they are for the operator's screen, not for logs.

The prefix tables below are the only source of truth; the lookup tables
used at run time are derived from them once, at import.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

__all__ = [
    "CARRIERS",
    "EMPTY",
    "GMOBILE",
    "ITEL",
    "LANDLINE",
    "MOBIFONE",
    "MOBILE_PREFIXES",
    "NOT_A_NUMBER",
    "NOT_VIETNAMESE",
    "OLD_PREFIXES",
    "Phone",
    "REASONS",
    "REDDI",
    "Rejection",
    "TOO_LONG",
    "TOO_SHORT",
    "UNKNOWN_PREFIX",
    "VIETNAMOBILE",
    "VIETTEL",
    "VINAPHONE",
    "carrier_of",
    "mask",
    "normalize",
]

# --------------------------------------------------------------------------
# Data: carriers and prefixes
# --------------------------------------------------------------------------

VIETTEL: Final = "viettel"
VINAPHONE: Final = "vinaphone"
MOBIFONE: Final = "mobifone"
VIETNAMOBILE: Final = "vietnamobile"
GMOBILE: Final = "gmobile"
ITEL: Final = "itel"
REDDI: Final = "reddi"

CARRIERS: Final[tuple[str, ...]] = (
    VIETTEL,
    VINAPHONE,
    MOBIFONE,
    VIETNAMOBILE,
    GMOBILE,
    ITEL,
    REDDI,
)

#: Mobile prefixes in the 10-digit national form (since 2018) -> original carrier.
MOBILE_PREFIXES: Final[Mapping[str, str]] = MappingProxyType(
    {
        # Viettel
        "086": VIETTEL,
        "096": VIETTEL,
        "097": VIETTEL,
        "098": VIETTEL,
        "032": VIETTEL,
        "033": VIETTEL,
        "034": VIETTEL,
        "035": VIETTEL,
        "036": VIETTEL,
        "037": VIETTEL,
        "038": VIETTEL,
        "039": VIETTEL,
        # VinaPhone
        "088": VINAPHONE,
        "091": VINAPHONE,
        "094": VINAPHONE,
        "081": VINAPHONE,
        "082": VINAPHONE,
        "083": VINAPHONE,
        "084": VINAPHONE,
        "085": VINAPHONE,
        # MobiFone
        "089": MOBIFONE,
        "090": MOBIFONE,
        "093": MOBIFONE,
        "070": MOBIFONE,
        "076": MOBIFONE,
        "077": MOBIFONE,
        "078": MOBIFONE,
        "079": MOBIFONE,
        # Vietnamobile
        "092": VIETNAMOBILE,
        "052": VIETNAMOBILE,
        "056": VIETNAMOBILE,
        "058": VIETNAMOBILE,
        # Gmobile
        "099": GMOBILE,
        "059": GMOBILE,
        # Itelecom
        "087": ITEL,
        # Reddi
        "055": REDDI,
    }
)

#: Old 11-digit national prefixes -> the new 10-digit prefix (last 7 digits kept).
OLD_PREFIXES: Final[Mapping[str, str]] = MappingProxyType(
    {
        # Viettel
        "0162": "032",
        "0163": "033",
        "0164": "034",
        "0165": "035",
        "0166": "036",
        "0167": "037",
        "0168": "038",
        "0169": "039",
        # MobiFone
        "0120": "070",
        "0121": "079",
        "0122": "077",
        "0126": "076",
        "0128": "078",
        # VinaPhone
        "0123": "083",
        "0124": "084",
        "0125": "085",
        "0127": "081",
        "0129": "082",
        # Vietnamobile
        "0186": "056",
        "0188": "058",
        # Gmobile
        "0199": "059",
    }
)

# --------------------------------------------------------------------------
# Reasons
# --------------------------------------------------------------------------

EMPTY: Final = "empty"
NOT_A_NUMBER: Final = "not_a_number"
TOO_SHORT: Final = "too_short"
TOO_LONG: Final = "too_long"
LANDLINE: Final = "landline"
NOT_VIETNAMESE: Final = "not_vietnamese"
UNKNOWN_PREFIX: Final = "unknown_prefix"

REASONS: Final[tuple[str, ...]] = (
    EMPTY,
    NOT_A_NUMBER,
    TOO_SHORT,
    TOO_LONG,
    LANDLINE,
    NOT_VIETNAMESE,
    UNKNOWN_PREFIX,
)

_EXAMPLE = "ví dụ 0912 345 678"
_MESSAGES: Final[Mapping[str, str]] = MappingProxyType(
    {
        EMPTY: "Ô số điện thoại để trống.",
        NOT_A_NUMBER: (
            'Giá trị "{value}" không đọc được thành số điện thoại (có chữ hoặc ký tự lạ, hoặc số đã bị Excel làm tròn).'
        ),
        TOO_SHORT: (f'Số "{{value}}" bị thiếu chữ số: số di động Việt Nam có 10 chữ số ({_EXAMPLE}).'),
        TOO_LONG: (f'Số "{{value}}" bị thừa chữ số: số di động Việt Nam có 10 chữ số ({_EXAMPLE}).'),
        LANDLINE: 'Số "{value}" là số cố định, không phải số di động.',
        NOT_VIETNAMESE: 'Số "{value}" là số nước ngoài, không phải số Việt Nam (+84).',
        UNKNOWN_PREFIX: ('Số "{value}" có đầu số không thuộc nhà mạng di động nào tại Việt Nam.'),
    }
)

# --------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Phone:
    """A valid Vietnamese mobile number."""

    msisdn: str
    """E.164 form, for example ``"+84912345678"``."""
    carrier: str
    """Original carrier by prefix, one of :data:`CARRIERS`."""


@dataclass(frozen=True, slots=True)
class Rejection:
    """A value that is not a usable Vietnamese mobile number."""

    reason: str
    """One of :data:`REASONS`."""
    message: str
    """Vietnamese explanation for the operator, naming the value."""
    raw: str
    """The value as received, as text (``""`` for ``None``)."""


# --------------------------------------------------------------------------
# Derived lookup tables (built once)
# --------------------------------------------------------------------------

# Two digits after the trunk "0" (national significant number prefix) -> carrier.
_CARRIER_BY_NSN2: Final[dict[str, str]] = {p[1:]: c for p, c in MOBILE_PREFIXES.items()}
# Three digits of an old 10-digit NSN ("166") -> new two-digit NSN prefix ("36").
_NEW_BY_OLD_NSN3: Final[dict[str, str]] = {o[1:]: n[1:] for o, n in OLD_PREFIXES.items()}

# Clean forms: 0912345678, +84912345678, 84912345678, 912345678.
# Backtracking resolves "84": 11 digits are 84 + NSN, 9 digits are an NSN.
_FAST: Final = re.compile(r"(?:\+84|84|0)?([35789][0-9])([0-9]{7})")

# Digits of an unpunctuated value, optionally behind "+" or "00".
_SHAPE: Final = re.compile(r"(\+|00)?([0-9]+)")
# Excel scientific display: 9.12345678E+08, 9,12345678E8 (Vietnamese locale).
_SCIENTIFIC: Final = re.compile(r"([0-9]+)(?:[.,]([0-9]*))?[eE]\+?([0-9]{1,3})")
# A number that went through a float: 912345678.0 (never a leading 0, >= 9 digits).
_FLOAT_TAIL: Final = re.compile(r"([1-9][0-9]{8,})[.,]0+")
# Same with thousands separators: 912.345.678,00 or 912,345,678.00.
_GROUPED_FLOAT: Final = re.compile(r"([1-9][0-9]{0,2}(?:\.[0-9]{3})+),0+|([1-9][0-9]{0,2}(?:,[0-9]{3})+)\.0+")


def _build_unify() -> dict[int, int | None]:
    table: dict[int, int | None] = {}
    for i in range(10):
        table[0xFF10 + i] = 0x30 + i  # full-width digits
    for (
        ch
    ) in "\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000\t\n\r\v\f":
        table[ord(ch)] = 0x20  # every space is a space
    for ch in "\u200b\u200c\u200d\u2060\ufeff\u00ad":
        table[ord(ch)] = None  # invisible characters from copy and paste
    for ch in "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe63\uff0d":
        table[ord(ch)] = ord("-")
    for ch in "\u2018\u2019\u201a\u201b\u2032\uff07":
        table[ord(ch)] = ord("'")
    for ch in "\u201c\u201d\u201e\u201f\u2033\uff02":
        table[ord(ch)] = ord('"')
    table[0xFF0B] = ord("+")
    table[0xFF0E] = ord(".")
    table[0xFF0C] = ord(",")
    table[0xFF08] = ord("(")
    table[0xFF09] = ord(")")
    table[0xFF1D] = ord("=")
    table[0x3002] = ord(".")
    return table


# Full-width and typographic characters -> ASCII, applied before anything else.
_UNIFY: Final[dict[int, int | None]] = _build_unify()
# Wrappers around a cell value: 'x, ="x", "x".
_WRAPPERS: Final = " \t\n\r\v\f'\"=`"

_MAX_SHOWN = 40


# --------------------------------------------------------------------------
# Public functions
# --------------------------------------------------------------------------


def normalize(raw: object) -> Phone | Rejection:
    """Return the :class:`Phone` that *raw* denotes, or a :class:`Rejection`.

    *raw* may be any object: text as typed or pasted, an ``int`` or ``float``
    read from a spreadsheet cell, ``None`` for an empty cell.  Never raises.
    """
    if type(raw) is str:
        m = _FAST.fullmatch(raw)
        if m is not None:
            nsn2 = m[1]
            carrier = _CARRIER_BY_NSN2.get(nsn2)
            if carrier is not None:
                return Phone("+84" + nsn2 + m[2], carrier)
        return _from_text(raw, raw)
    if raw is None:
        return _reject(EMPTY, "")
    if isinstance(raw, bool):
        return _reject(NOT_A_NUMBER, str(raw))
    if isinstance(raw, int):
        return _from_int(int(raw))
    if isinstance(raw, float):
        return _from_float(float(raw), float.__repr__(raw))
    if isinstance(raw, str):
        text = str.__str__(raw)
        return _from_text(text, text)
    if isinstance(raw, (bytes, bytearray)):
        text = bytes(raw).decode("utf-8", "replace")
        return _from_text(text, text)
    try:
        text = str(raw)
    except Exception:  # noqa: BLE001 - a broken __str__ must not break an import
        return _reject(NOT_A_NUMBER, "")
    return _from_text(text, text)


def carrier_of(msisdn: str) -> str | None:
    """Return the original carrier of an E.164 mobile number, else ``None``.

    >>> carrier_of("+84912345678")  # example
    'vinaphone'
    """
    if (
        type(msisdn) is str
        and len(msisdn) == 12
        and msisdn.startswith("+84")
        and msisdn[3:].isascii()
        and msisdn[3:].isdigit()
    ):
        return _CARRIER_BY_NSN2.get(msisdn[3:5])
    return None


def mask(msisdn: str) -> str:
    """Hide the middle of a phone number for logs (example: ``+84912345678`` -> ``+8491****678``).

    Keeps the length.  At least four characters are always hidden, at most
    the first five and the last three are shown, and short strings show
    less, so a masked value never reveals more than five digits in a row.
    Works on any string (and returns ``""`` for anything that is not one).
    """
    if not isinstance(msisdn, str):
        return ""
    n = len(msisdn)
    hidden = max(4, n - 8)
    if hidden >= n:
        return "*" * n
    shown = n - hidden
    tail = min(3, shown)
    head = shown - tail
    return msisdn[:head] + "*" * hidden + msisdn[n - tail :]


# --------------------------------------------------------------------------
# Slow path
# --------------------------------------------------------------------------


def _reject(reason: str, raw: str) -> Rejection:
    shown = " ".join(raw[: 4 * _MAX_SHOWN].split())
    if len(shown) > _MAX_SHOWN:
        shown = shown[: _MAX_SHOWN - 1] + "…"
    return Rejection(reason, _MESSAGES[reason].format(value=shown), raw)


def _from_int(value: int) -> Phone | Rejection:
    try:
        raw = str(value)
    except ValueError:  # more digits than sys.get_int_max_str_digits()
        return _reject(TOO_LONG, "<số nguyên quá dài>")
    if value < 0:
        return _reject(NOT_A_NUMBER, raw)
    return _classify(raw, False, raw)


def _from_float(value: float, raw: str) -> Phone | Rejection:
    if value != value or value < 0 or not value.is_integer():  # NaN, -x, 1.5, inf
        return _reject(NOT_A_NUMBER, raw)
    return _classify(str(int(value)), False, raw)


def _from_text(text: str, raw: str) -> Phone | Rejection:
    s = text if text.isascii() else text.translate(_UNIFY)
    s = s.strip(_WRAPPERS)
    if not s:
        return _reject(EMPTY, raw)
    if "e" in s or "E" in s:
        # "9.12345678E+08": Excel's display of a long number.
        m = _SCIENTIFIC.fullmatch(s)
        if m is not None:
            return _from_scientific(m[1], m[2] or "", int(m[3]), raw)
    elif "." in s or "," in s:
        # "912345678.0", "912.345.678,00": the number went through a float.
        m = _FLOAT_TAIL.fullmatch(s) or _GROUPED_FLOAT.fullmatch(s)
        if m is not None:
            digits = m[1] or m[2]
            return _classify(digits.replace(".", "").replace(",", ""), False, raw)
    # str.replace beats str.translate here: translate pays a failed lookup per character.
    s = "".join(s.split())
    s = s.replace("-", "").replace(".", "").replace(",", "").replace("(", "").replace(")", "")
    if not s:  # only punctuation, e.g. "-" or "()"
        return _reject(EMPTY, raw)
    m = _SHAPE.fullmatch(s)
    if m is None:
        return _reject(NOT_A_NUMBER, raw)
    return _classify(m[2], m[1] is not None, raw)


def _from_scientific(whole: str, fraction: str, exponent: int, raw: str) -> Phone | Rejection:
    """Expand ``9.12345678E+08`` but only when no digit was rounded away.

    Excel shows ``9.12346E+08`` for 912345678; padding that with zeros would
    message a stranger, so the mantissa must carry every digit.
    """
    shift = exponent - len(fraction)
    digits = (whole + fraction).lstrip("0")
    if shift < 0:
        dropped = digits[shift:] if -shift <= len(digits) else digits
        if dropped.strip("0"):
            return _reject(NOT_A_NUMBER, raw)  # not a whole number
        digits = digits[:shift]
    elif shift > 0:
        return _reject(NOT_A_NUMBER, raw)  # digits lost to rounding
    if not digits:
        return _reject(TOO_SHORT, raw)
    return _classify(digits, False, raw)


def _classify(digits: str, international: bool, raw: str) -> Phone | Rejection:
    """Classify ASCII *digits*; *international* if they followed ``+`` or ``00``."""
    if international:
        if digits.startswith("84"):
            nsn = digits[2:]
        elif "84".startswith(digits):  # "+", "+8"
            return _reject(TOO_SHORT, raw)
        elif digits[0] == "0":  # no country code starts with 0
            return _reject(NOT_A_NUMBER, raw)
        else:
            return _reject(NOT_VIETNAMESE, raw)
        if nsn[:1] == "0":  # "+84 (0) 912 345 678"
            nsn = nsn[1:]
    elif digits[0] == "0":
        nsn = digits[1:]
    elif len(digits) >= 11 and digits.startswith("84"):
        nsn = digits[2:]
        if nsn[:1] == "0":
            nsn = nsn[1:]
    else:
        nsn = digits

    n = len(nsn)
    if n == 9:
        carrier = _CARRIER_BY_NSN2.get(nsn[:2])
        if carrier is not None:
            return Phone("+84" + nsn, carrier)
        return _reject(LANDLINE if nsn[0] == "2" else UNKNOWN_PREFIX, raw)
    if n == 10:
        first = nsn[0]
        if first == "1":
            new = _NEW_BY_OLD_NSN3.get(nsn[:3])
            if new is None:
                return _reject(UNKNOWN_PREFIX, raw)
            return Phone("+84" + new + nsn[3:], _CARRIER_BY_NSN2[new])
        if first == "2":
            return _reject(LANDLINE, raw)
        return _reject(TOO_LONG, raw)
    if n < 9:
        return _reject(TOO_SHORT, raw)
    return _reject(TOO_LONG, raw)
