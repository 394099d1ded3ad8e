"""What an SMS costs and how it is cut: encodings, segments, parts and folding to "không dấu".

GSM 03.38 default alphabet (``GSM7``): 160 septets in a single message, 153 per part once the
message is concatenated. The extension characters (``^ { } [ ] ~ \\ | €`` and form feed) cost two
septets, an escape and the character, and that pair never splits across parts. Any character
outside the alphabet makes the whole message ``UCS2``: 70 UTF-16 code units single, 67 per part,
and a surrogate pair (an emoji, say) never splits across parts. Vietnamese with diacritics is UCS-2.

Folding (``fold``) writes a text "không dấu": diacritics dropped (``NFD``, combining marks removed),
``đ``→``d`` and ``Đ``→``D``, typographic punctuation and Unicode spaces turned into ASCII,
compatibility forms (full-width letters, ligatures) decomposed. The result is always GSM-7: a
character that still has no GSM-7 spelling becomes ``?`` and is reported in ``Folded.replaced``,
never dropped silently. Only invisible formatting characters (zero-width spaces and joiners, soft
hyphens, direction marks, variation selectors) disappear without a report.

A campaign's encoding policy decides whether its text is folded (``apply_policy``):

- ``unicode``: send the text as written (GSM-7 when it fits the alphabet, else UCS-2);
- ``ascii``: always send GSM-7, folding a text that does not fit the alphabet;
- ``auto``: fold only when that lowers the segment count and loses no character.

Under every policy a text that is GSM-7 already is sent unchanged, and a route that cannot carry
UCS-2 (``unicode_allowed=False``) forces folding of any text that is not. ``unsendable`` lists the
characters a policy would turn into ``?`` so a campaign can be refused when it is created.

``measure`` is called once per recipient for personalised templates, so it stays on C-speed
primitives (bytes translation, one compiled regular expression, the UTF-16 codec) and only walks
the text character by character when an escape or a surrogate pair could fall on a part boundary.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from dataclasses import dataclass
from typing import Final

import gsm0338  # noqa: F401  (registers the "gsm03.38" codec)

GSM7: Final = "gsm7"
UCS2: Final = "ucs2"

UNICODE: Final = "unicode"
ASCII: Final = "ascii"
AUTO: Final = "auto"
POLICIES: Final[tuple[str, ...]] = (UNICODE, ASCII, AUTO)

GSM7_SINGLE: Final = 160
"""Septets in a message that fits in one segment."""
GSM7_PART: Final = 153
"""Septets per part of a concatenated message (the rest of the 140 octets is the UDH)."""
UCS2_SINGLE: Final = 70
"""UTF-16 code units in a message that fits in one segment."""
UCS2_PART: Final = 67
"""UTF-16 code units per part of a concatenated message."""

_CODEC: Final = "gsm03.38"
_ESCAPE: Final = 0x1B


def _load_alphabet() -> tuple[dict[str, int], dict[str, int]]:
    """The basic and extension tables of the default alphabet, read from the gsm0338 codec.

    The escape code itself (0x1B) is not a character one can send: a phone reads the septet after
    it as an extension character, so a literal ESC in a text is treated as outside the alphabet.
    """
    basic: dict[str, int] = {}
    extension: dict[str, int] = {}
    for code in range(0x80):
        if code != _ESCAPE:
            basic[bytes((code,)).decode(_CODEC)] = code
        try:
            extension[bytes((_ESCAPE, code)).decode(_CODEC)] = code
        except UnicodeDecodeError:
            pass
    return basic, extension


_BASIC, _EXTENSION = _load_alphabet()
_GSM_CHARS: Final = frozenset(_BASIC) | frozenset(_EXTENSION)

# Regular expressions over the whole alphabet, for texts that are not pure ASCII.
_NON_BASIC_RE: Final = re.compile("[^" + "".join(map(re.escape, sorted(_BASIC))) + "]")
_NON_GSM_RE: Final = re.compile("[^" + "".join(map(re.escape, sorted(_GSM_CHARS))) + "]")
_EXTENSION_RE: Final = re.compile("[" + "".join(map(re.escape, sorted(_EXTENSION))) + "]")
_ASTRAL_RE: Final = re.compile("[\U00010000-\U0010ffff]")
_LONE_SURROGATE_RE: Final = re.compile("[\ud800-\udfff]")

# Byte tables for the ASCII fast path: deleting the basic characters leaves the extension ones
# (each costs one septet more) and, once those are deleted too, anything outside the alphabet.
_BASIC_ASCII: Final = bytes(sorted(ord(c) for c in _BASIC if c.isascii()))
_EXTENSION_ASCII: Final = bytes(sorted(ord(c) for c in _EXTENSION if c.isascii()))

# Unpacked septets as SMPP data_coding 0 carries them: one septet per octet, ESC before extensions.
_SEPTETS: Final[dict[int, str]] = {ord(c): chr(code) for c, code in _BASIC.items()}
_SEPTETS.update({ord(c): chr(_ESCAPE) + chr(code) for c, code in _EXTENSION.items()})


@dataclass(frozen=True, slots=True)
class Measure:
    """The cost of a text as one SMS.

    ``characters`` is what a person counts (code points); ``units`` is what the network counts:
    septets for GSM-7, escapes included, or UTF-16 code units for UCS-2. ``segments`` is the number
    of parts billed and sent; an empty text is one segment.
    """

    encoding: str
    characters: int
    units: int
    segments: int


@dataclass(frozen=True, slots=True)
class Folded:
    """A folded text and the characters that had no GSM-7 spelling and became ``?``.

    ``replaced`` holds each such character once, in order of first appearance.
    """

    text: str
    replaced: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Encoded:
    """What a policy sends: the text, its cost, whether it was folded and what folding replaced."""

    text: str
    measure: Measure
    folded: bool
    replaced: tuple[str, ...]


def _gsm7_units(text: str) -> int | None:
    """Septets ``text`` costs in GSM-7, or ``None`` when it does not fit the alphabet."""
    if text.isascii():
        rest = text.encode("ascii").translate(None, _BASIC_ASCII)
        if not rest:
            return len(text)
        if rest.translate(None, _EXTENSION_ASCII):
            return None
        return len(text) + len(rest)
    found = _NON_BASIC_RE.search(text)
    if found is None:
        return len(text)
    start = found.start()
    if _NON_GSM_RE.search(text, start) is not None:
        return None
    return len(text) + len(_EXTENSION_RE.findall(text, start))


def _ucs2_units(text: str) -> int:
    """UTF-16 code units of ``text`` (a lone surrogate counts as one)."""
    return len(text.encode("utf-16-le", "surrogatepass")) >> 1


def is_gsm7(text: str) -> bool:
    """Whether ``text`` can be sent in the GSM 03.38 default alphabet (extension table included)."""
    return _gsm7_units(text) is not None


def encoding_for(text: str) -> str:
    """``GSM7`` when ``text`` fits the default alphabet, else ``UCS2``."""
    return GSM7 if _gsm7_units(text) is not None else UCS2


def _cuts(text: str, encoding: str) -> list[int]:
    """Where each part of a concatenated message starts.

    Greedy filling gives the fewest parts: a part takes characters while they fit, and an escape
    pair or a surrogate pair that does not fit whole opens the next part. The walk jumps from one
    two-unit character to the next, so plain runs cost nothing.
    """
    if encoding == GSM7:
        budget, wide_re = GSM7_PART, _EXTENSION_RE
    else:
        budget, wide_re = UCS2_PART, _ASTRAL_RE
    length = len(text)
    wide = [found.start() for found in wide_re.finditer(text)]
    wide.append(length)  # sentinel
    cuts = [0]
    used = pos = k = 0
    while pos < length:
        room = budget - used
        if wide[k] - pos >= room:  # one-unit characters fill the rest of the part
            pos += room
            used = 0
            if pos < length:
                cuts.append(pos)
            continue
        used += wide[k] - pos
        pos = wide[k]
        if pos == length:
            break
        if used + 2 > budget:  # the pair does not fit: it opens the next part
            cuts.append(pos)
            used = 0
        used += 2
        pos += 1
        k += 1
    return cuts


def _segments(text: str, encoding: str, units: int) -> int:
    if encoding == GSM7:
        if units <= GSM7_SINGLE:
            return 1
        if units == len(text):  # no escape pair can fall on a boundary
            return -(-units // GSM7_PART)
    else:
        if units <= UCS2_SINGLE:
            return 1
        if units == len(text):  # no surrogate pair can fall on a boundary
            return -(-units // UCS2_PART)
    return len(_cuts(text, encoding))


def measure(text: str) -> Measure:
    """Encoding, length, network units and segment count of ``text`` sent as written."""
    units = _gsm7_units(text)
    if units is not None:
        encoding = GSM7
        if units <= GSM7_SINGLE:
            return Measure(GSM7, len(text), units, 1)
    else:
        encoding = UCS2
        units = _ucs2_units(text)
        if units <= UCS2_SINGLE:
            return Measure(UCS2, len(text), units, 1)
    return Measure(encoding, len(text), units, _segments(text, encoding, units))


def _check_encoding(text: str, encoding: str | None) -> tuple[str, int]:
    """The encoding to use for ``text`` and its units in it; refuses an impossible choice."""
    gsm_units = _gsm7_units(text)
    if encoding is None:
        encoding = UCS2 if gsm_units is None else GSM7
    if encoding == GSM7:
        if gsm_units is None:
            outside = "".join(dict.fromkeys(c for c in text if c not in _GSM_CHARS))
            msg = f"text does not fit the GSM-7 alphabet: {outside!r}; fold it or send it as {UCS2!r}"
            raise ValueError(msg)
        return GSM7, gsm_units
    if encoding == UCS2:
        return UCS2, _ucs2_units(text)
    msg = f"unknown encoding {encoding!r}; expected one of {GSM7!r}, {UCS2!r}"
    raise ValueError(msg)


def _split(text: str, encoding: str, units: int) -> list[str]:
    single, part = (GSM7_SINGLE, GSM7_PART) if encoding == GSM7 else (UCS2_SINGLE, UCS2_PART)
    if units <= single:
        return [text]
    if units == len(text):
        return [text[i : i + part] for i in range(0, len(text), part)]
    cuts = _cuts(text, encoding)
    cuts.append(len(text))
    return [text[start:end] for start, end in itertools.pairwise(cuts)]


def split(text: str) -> list[str]:
    """The parts ``text`` is sent in, as substrings: ``"".join(split(text)) == text``.

    Each part holds at most 153 septets (GSM-7) or 67 code units (UCS-2); a text that fits in a
    single message (160 or 70) comes back whole. Escape pairs and surrogate pairs are never cut.
    """
    encoding, units = _check_encoding(text, None)
    return _split(text, encoding, units)


def encode_parts(text: str, encoding: str | None = None) -> list[bytes]:
    """The payload of each part for SMPP, split as ``split`` does.

    GSM-7 is unpacked, one septet per octet as data_coding 0 expects, with 0x1B before an
    extension character; UCS-2 is big-endian UTF-16 (data_coding 8). ``encoding`` defaults to the
    text's own (``encoding_for``); ``UCS2`` may be forced on a GSM-7 text, ``GSM7`` on a text
    outside the alphabet is a ``ValueError``.
    """
    encoding, units = _check_encoding(text, encoding)
    parts = _split(text, encoding, units)
    if encoding == GSM7:
        return [p.translate(_SEPTETS).encode("latin-1") for p in parts]
    return [p.encode("utf-16-be", "surrogatepass") for p in parts]


# Folding ---------------------------------------------------------------------------------------

_SPACES = "\t\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000"
_FOLD_MAP: Final[dict[str, str]] = {
    **dict.fromkeys(_SPACES, " "),
    **dict.fromkeys("\u2028\u2029\u0085", "\n"),
    # Vietnamese: đ has no decomposition; Ð (eth) and Ɖ are common look-alikes typed for Đ.
    "đ": "d",
    "Đ": "D",
    "\u00d0": "D",
    "\u0189": "D",
    "\u00f0": "d",
    "\u20ab": "d",  # ₫ dong sign: "100.000₫" -> "100.000d"
    # Quotes, primes and apostrophes.
    **dict.fromkeys("\u2018\u2019\u201a\u201b\u2032\u2035\u00b4\u02bc\u02b9\u2039\u203a`", "'"),
    **dict.fromkeys("\u201c\u201d\u201e\u201f\u2033\u2036\u00ab\u00bb\u02ba", '"'),
    # Dashes, hyphens, minus; bullets and middle dots become a hyphen too.
    **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63", "-"),
    **dict.fromkeys("\u2022\u2023\u2043\u2027\u2219\u00b7\u25cf\u25e6\u25aa\u25ab\u25a0\u25a1\u30fb", "-"),
    "\u2026": "...",
    "\u22ef": "...",
    "\u2044": "/",  # fraction slash, so that ½ folds to 1/2
    "\u00f7": "/",
    "\u00d7": "x",
    "\u00a6": "|",
    "\u2264": "<=",
    "\u2265": ">=",
    "\u2260": "!=",
    "\u2192": "->",
    "\u2190": "<-",
    "\u21d2": "=>",
    "\u00a9": "(c)",
    "\u00ae": "(R)",
    "\u00b0": "o",  # degree, written "30oC" in unaccented Vietnamese
    # Latin letters without a decomposition.
    "\u0131": "i",
    "\u0141": "L",
    "\u0142": "l",
    "\u0152": "OE",
    "\u0153": "oe",
}
_INVISIBLE: Final = frozenset({"Mn", "Me", "Cf"})
"""Combining marks and invisible formatting characters: dropped by folding."""


def _fold_char(char: str) -> str | None:
    """The GSM-7 spelling of one character with its marks dropped, or ``None`` if it has none."""
    mapped = _FOLD_MAP.get(char)
    if mapped is not None:
        return mapped
    if unicodedata.category(char) in _INVISIBLE:
        return ""
    for form in ("NFD", "NFKD"):
        pieces: list[str] = []
        for piece in unicodedata.normalize(form, char):
            mapped = _FOLD_MAP.get(piece)
            if mapped is not None:
                pieces.append(mapped)
            elif unicodedata.category(piece) not in _INVISIBLE:
                pieces.append(piece)
        folded = "".join(pieces)
        if folded and all(c in _GSM_CHARS for c in folded):
            return folded
    return None


_FOLD_CACHE_LIMIT: Final = 20_000


class _FoldTable(dict[int, str]):
    """``str.translate`` table computed on first use of each code point (and cached, bounded)."""

    __slots__ = ()

    def __missing__(self, code: int) -> str:
        folded = _fold_char(chr(code))
        result = "?" if folded is None else folded
        if len(self) < _FOLD_CACHE_LIMIT:
            self[code] = result
        return result


_FOLD_TABLE: Final = _FoldTable()


def fold(text: str) -> Folded:
    """``text`` written "không dấu" in the GSM-7 alphabet; see the module docstring for the rules.

    Every diacritic goes, including those the alphabet has (``é``, ``à``): "Toàn dân" folds to
    "Toan dan", not "Toàn dan". The result always satisfies ``is_gsm7``.
    """
    folded = text.translate(_FOLD_TABLE)
    if folded.count("?") == text.count("?"):
        return Folded(folded, ())
    replaced = tuple(c for c in dict.fromkeys(text) if _fold_char(c) is None)
    return Folded(folded, replaced)


# Policies --------------------------------------------------------------------------------------


def _check_policy(policy: str) -> None:
    if policy not in POLICIES:
        msg = f"unknown encoding policy {policy!r}; expected one of: {', '.join(POLICIES)}"
        raise ValueError(msg)


def apply_policy(text: str, policy: str, *, unicode_allowed: bool = True) -> Encoded:
    """What is sent for ``text`` under ``policy`` on a route that may or may not carry UCS-2.

    A GSM-7 text is sent unchanged under every policy. Otherwise: ``unicode`` sends it as UCS-2,
    ``ascii`` folds it, ``auto`` folds it only if that lowers the segment count without replacing
    any character by ``?``. When ``unicode_allowed`` is false every policy folds a non-GSM-7 text,
    whatever it costs or replaces (see ``Encoded.replaced``). An unknown policy is a ``ValueError``.
    """
    _check_policy(policy)
    as_is = measure(text)
    if as_is.encoding == GSM7 or (policy == UNICODE and unicode_allowed):
        return Encoded(text, as_is, False, ())
    folded = fold(text)
    folded_measure = measure(folded.text)
    if policy == AUTO and unicode_allowed:
        if folded.replaced or folded_measure.segments >= as_is.segments:
            return Encoded(text, as_is, False, ())
    return Encoded(folded.text, folded_measure, True, folded.replaced)


def unsendable(text: str, policy: str, *, unicode_allowed: bool = True) -> tuple[str, ...]:
    """Characters of ``text`` that would not arrive as written under ``policy``.

    These are the characters folding turns into ``?`` (each once, in order of first appearance),
    and, for a text sent as UCS-2, lone surrogates, which no handset can display. Diacritics that
    folding drops are not listed: that is what the policy asked for.
    """
    encoded = apply_policy(text, policy, unicode_allowed=unicode_allowed)
    if encoded.folded:
        return encoded.replaced
    if encoded.measure.encoding == UCS2 and _LONE_SURROGATE_RE.search(text):
        return tuple(dict.fromkeys(_LONE_SURROGATE_RE.findall(text)))
    return ()


__all__ = [
    "ASCII",
    "AUTO",
    "Encoded",
    "Folded",
    "GSM7",
    "GSM7_PART",
    "GSM7_SINGLE",
    "Measure",
    "POLICIES",
    "UCS2",
    "UCS2_PART",
    "UCS2_SINGLE",
    "UNICODE",
    "apply_policy",
    "encode_parts",
    "encoding_for",
    "fold",
    "is_gsm7",
    "measure",
    "split",
    "unsendable",
]
