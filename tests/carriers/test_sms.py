"""Tests for carriers.sms: encodings, segment counts, parts, folding to "không dấu" and policies."""

from __future__ import annotations

import unicodedata

import gsm0338  # type: ignore[import-untyped]  # noqa: F401  (registers the "gsm03.38" codec)
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carriers import sms
from carriers.sms import (
    ASCII,
    AUTO,
    GSM7,
    POLICIES,
    UCS2,
    UNICODE,
    Encoded,
    Folded,
    Measure,
    apply_policy,
    encode_parts,
    encoding_for,
    fold,
    is_gsm7,
    measure,
    split,
    unsendable,
)

MANDATED_2024 = (
    "Toàn dân tích cực tham gia phòng, chống mua bán người. Khi phát hiện dấu hiệu liên quan đến mua"
    " bán người hãy thông báo ngay cho cơ quan Công an nơi gần nhất hoặc Tổng đài quốc gia 111 để"
    " được tư vấn, hỗ trợ, hướng dẫn kịp thời"
)
MANDATED_2024_FOLDED = (
    "Toan dan tich cuc tham gia phong, chong mua ban nguoi. Khi phat hien dau hieu lien quan den mua"
    " ban nguoi hay thong bao ngay cho co quan Cong an noi gan nhat hoac Tong dai quoc gia 111 de"
    " duoc tu van, ho tro, huong dan kip thoi"
)
EXTENSION = "^{}[]~\\|€\f"
EMOJI = "\U0001f600"  # 😀, a surrogate pair in UTF-16

# The 12 Vietnamese vowels, each with its 6 tones in order: none, huyền, sắc, hỏi, ngã, nặng.
VIETNAMESE_VOWELS = {
    "a": "aàáảãạ",
    "ă": "ăằắẳẵặ",
    "â": "âầấẩẫậ",
    "e": "eèéẻẽẹ",
    "ê": "êềếểễệ",
    "i": "iìíỉĩị",
    "o": "oòóỏõọ",
    "ô": "ôồốổỗộ",
    "ơ": "ơờớởỡợ",
    "u": "uùúủũụ",
    "ư": "ưừứửữự",
    "y": "yỳýỷỹỵ",
}
TONE_MARKS = ("", "\u0300", "\u0301", "\u0309", "\u0303", "\u0323")


def gsm_septets(text: str) -> int:
    """Septets of a GSM-7 text according to the gsm0338 codec itself (unpacked, one per byte)."""
    return len(text.encode("gsm03.38"))


def utf16_units(text: str) -> int:
    """UTF-16 code units of a text."""
    return len(text.encode("utf-16-be")) // 2


def part_units(text: str, encoding: str) -> int:
    """Units of a text in the given encoding, computed by the reference codecs."""
    return gsm_septets(text) if encoding == GSM7 else utf16_units(text)


def reference_parts(text: str, encoding: str) -> list[str]:
    """A naive greedy splitter, character by character, for cross-checking ``split``."""
    single, budget = (160, 153) if encoding == GSM7 else (70, 67)
    if part_units(text, encoding) <= single:
        return [text]
    parts: list[str] = []
    current = ""
    used = 0
    for char in text:
        cost = part_units(char, encoding)
        if used + cost > budget:
            parts.append(current)
            current, used = "", 0
        current += char
        used += cost
    parts.append(current)
    return parts


# Alphabet and module surface ----------------------------------------------------------------------


def test_all_is_sorted_and_complete() -> None:
    """``__all__`` is sorted and names the whole public API."""
    assert sms.__all__ == sorted(sms.__all__)
    for name in ("GSM7", "UCS2", "UNICODE", "ASCII", "AUTO", "POLICIES", "Measure", "Folded", "Encoded"):
        assert name in sms.__all__
    assert (GSM7, UCS2) == ("gsm7", "ucs2")
    assert POLICIES == ("unicode", "ascii", "auto")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", True),
        ("Hello, world! 0123456789", True),
        ("@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ!\"#¤%&'()*+,-./:;<=>?¡ÄÖÑÜ§¿äöñüà\n\r", True),
        (EXTENSION, True),
        ("Toàn dân", False),  # â is not in the alphabet (à is)
        ("đ", False),
        ("`", False),  # the backtick is ASCII but not GSM-7
        ("\t", False),
        ("\x1b", False),  # a literal escape would swallow the next character
        (EMOJI, False),
        ("ç", False),  # only the capital Ç is in the default alphabet
    ],
)
def test_is_gsm7(text: str, expected: bool) -> None:
    """``is_gsm7`` accepts exactly the basic and extension tables of the default alphabet."""
    assert is_gsm7(text) is expected
    assert encoding_for(text) == (GSM7 if expected else UCS2)


def test_alphabet_agrees_with_codec() -> None:
    """Every BMP character is GSM-7 for us exactly when the gsm0338 codec encodes it (ESC aside)."""
    for code in range(0x10000):
        char = chr(code)
        if 0xD800 <= code <= 0xDFFF or char == "\x1b":
            continue
        try:
            encoded = char.encode("gsm03.38")
        except UnicodeEncodeError:
            encoded = None
        assert is_gsm7(char) is (encoded is not None), repr(char)
        if encoded is not None:
            assert measure(char).units == len(encoded) == (2 if char in EXTENSION else 1)


# Measure and split at every boundary ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "encoding", "units", "segments"),
    [
        ("", GSM7, 0, 1),
        ("a" * 160, GSM7, 160, 1),
        ("a" * 161, GSM7, 161, 2),
        ("a" * 306, GSM7, 306, 2),
        ("a" * 307, GSM7, 307, 3),
        ("a" * 459, GSM7, 459, 3),
        ("a" * 460, GSM7, 460, 4),
        ("é" * 161, GSM7, 161, 2),  # accented, yet GSM-7
        ("€" * 80, GSM7, 160, 1),  # extensions count two septets each
        ("€" * 80 + "a", GSM7, 161, 2),
        ("a" * 152 + "{" + "a" * 152, GSM7, 306, 3),  # the escape pair moves: one part more
        ("a" * 151 + "{" + "a" * 153, GSM7, 306, 2),  # the pair ends the first part exactly
        ("ạ" + "a" * 69, UCS2, 70, 1),
        ("ạ" + "a" * 70, UCS2, 71, 2),
        ("ạ" + "a" * 133, UCS2, 134, 2),
        ("ạ" + "a" * 134, UCS2, 135, 3),
        ("ạ" + "a" * 200, UCS2, 201, 3),
        ("ạ" + "a" * 201, UCS2, 202, 4),
        ("ạ" * 202, UCS2, 202, 4),
        (EMOJI * 35, UCS2, 70, 1),
        (EMOJI * 35 + "a", UCS2, 71, 2),
        ("ạ" * 66 + EMOJI + "ạ" * 66, UCS2, 134, 3),  # the surrogate pair moves: one part more
        ("ạ" * 65 + EMOJI + "ạ" * 67, UCS2, 134, 2),  # the pair ends the first part exactly
        (MANDATED_2024, UCS2, 227, 4),
        (MANDATED_2024_FOLDED, GSM7, 227, 2),
    ],
)
def test_measure_boundaries(text: str, encoding: str, units: int, segments: int) -> None:
    """Encoding, units and segments at the 160/161, 306/307, 459/460 and 70/71, 134/135, 201/202 edges."""
    assert measure(text) == Measure(encoding, len(text), units, segments)
    parts = split(text)
    assert len(parts) == segments
    assert "".join(parts) == text
    assert parts == reference_parts(text, encoding)


def test_single_segment_split_returns_the_text() -> None:
    """A text that fits one message, including the empty text, comes back whole."""
    for text in ("", "a", "a" * 160, "{" * 80, "ạ" * 70, EMOJI * 35):
        assert split(text) == [text]
        assert encode_parts(text) == [encode_parts(text)[0]]


@pytest.mark.parametrize(
    ("text", "lengths", "units"),
    [
        ("a" * 152 + "{" + "a" * 152, [152, 152, 1], [152, 153, 1]),
        ("a" * 151 + "{" + "a" * 153, [152, 153], [153, 153]),
        ("{" * 80 + "a", [76, 5], [152, 9]),
        ("ạ" * 66 + EMOJI + "ạ" * 66, [66, 66, 1], [66, 67, 1]),
        ("ạ" * 65 + EMOJI + "ạ" * 67, [66, 67], [67, 67]),
        (EMOJI * 35 + "a", [33, 3], [66, 5]),
    ],
)
def test_split_never_cuts_a_pair(text: str, lengths: list[int], units: list[int]) -> None:
    """An escape pair or surrogate pair on a part boundary moves whole to the next part."""
    parts = split(text)
    encoding = encoding_for(text)
    assert [len(p) for p in parts] == lengths
    assert [part_units(p, encoding) for p in parts] == units
    assert "".join(parts) == text
    if len(parts) == 3:
        assert parts[1][0] in ("{", EMOJI)


def test_measure_counts_characters_and_units_separately() -> None:
    """``characters`` counts code points, ``units`` septets or UTF-16 code units."""
    assert measure("a{b") == Measure(GSM7, 3, 4, 1)
    assert measure("ạ" + EMOJI) == Measure(UCS2, 2, 3, 1)


# encode_parts -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "encoding", "expected"),
    [
        ("@£$", None, [b"\x00\x01\x02"]),
        ("€{", None, [b"\x1be\x1b("]),
        ("\f^", GSM7, [b"\x1b\x0a\x1b\x14"]),
        ("ạ", None, [b"\x1e\xa1"]),
        (EMOJI, None, [b"\xd8\x3d\xde\x00"]),
        ("Hi", UCS2, [b"\x00H\x00i"]),
        ("", None, [b""]),
    ],
)
def test_encode_parts_bytes(text: str, encoding: str | None, expected: list[bytes]) -> None:
    """GSM-7 is unpacked septets with 0x1B escapes, UCS-2 is big-endian UTF-16."""
    assert encode_parts(text, encoding) == expected


def test_encode_parts_follows_split_and_codec() -> None:
    """Parts are encoded per ``split``; GSM-7 bytes equal the gsm0338 codec's output."""
    for text in ("a" * 152 + "{" + "a" * 152, MANDATED_2024_FOLDED):
        payloads = encode_parts(text)
        assert payloads == [p.encode("gsm03.38") for p in split(text)]
    payloads = encode_parts("a" * 152 + "{" + "a" * 152)
    assert payloads[1][:2] == b"\x1b("
    assert [len(p) for p in payloads] == [152, 153, 1]
    payloads = encode_parts(MANDATED_2024)
    assert [p.decode("utf-16-be") for p in payloads] == split(MANDATED_2024)
    assert [len(p) for p in payloads] == [134, 134, 134, 52]


def test_encode_parts_forced_ucs2_uses_ucs2_budget() -> None:
    """Forcing UCS-2 on a GSM-7 text splits it by the 70/67 budget."""
    payloads = encode_parts("a" * 71, UCS2)
    assert [len(p) for p in payloads] == [134, 8]


def test_encode_parts_refuses_impossible_encodings() -> None:
    """GSM-7 for a text outside the alphabet, or an unknown encoding, is a ValueError."""
    with pytest.raises(ValueError, match="GSM-7"):
        encode_parts("Toàn dân", GSM7)
    with pytest.raises(ValueError, match="unknown encoding"):
        encode_parts("abc", "latin1")


# Folding ----------------------------------------------------------------------------------------------------


def test_mandated_text_folds_to_two_gsm7_segments() -> None:
    """The mandated 2024 text: 227 characters, UCS-2 in 4 segments; folded, GSM-7 in 2."""
    assert len(MANDATED_2024) == 227
    assert measure(MANDATED_2024) == Measure(UCS2, 227, 227, 4)
    folded = fold(MANDATED_2024)
    assert folded == Folded(MANDATED_2024_FOLDED, ())
    assert measure(folded.text) == Measure(GSM7, 227, 227, 2)
    decomposed = unicodedata.normalize("NFD", MANDATED_2024)
    assert fold(decomposed) == folded


def test_vietnamese_vowel_table_is_what_it_claims() -> None:
    """The vowel table holds 72 distinct composed letters, each its base vowel plus the right tone."""
    letters = "".join(VIETNAMESE_VOWELS.values())
    assert len(set(letters)) == 72
    for vowel, row in VIETNAMESE_VOWELS.items():
        for letter, tone in zip(row, TONE_MARKS, strict=True):
            assert unicodedata.is_normalized("NFC", letter)
            assert unicodedata.normalize("NFC", vowel + tone) == letter


@pytest.mark.parametrize("upper", [False, True], ids=["lower", "upper"])
@pytest.mark.parametrize("vowel", list(VIETNAMESE_VOWELS))
def test_fold_vietnamese_alphabet(vowel: str, upper: bool) -> None:
    """Each vowel in all 6 tones, both cases, composed and decomposed, folds to its ASCII letter."""
    row = VIETNAMESE_VOWELS[vowel]
    expected = unicodedata.normalize("NFD", vowel)[0]
    if upper:
        row, expected = row.upper(), expected.upper()
    assert len(row) == 6
    for letter in row:
        for form in ("NFC", "NFD"):
            written = unicodedata.normalize(form, letter)
            folded = fold(written)
            assert folded == Folded(expected, ()), (form, letter)
            assert folded.text.encode("gsm03.38") == expected.encode("ascii")


@pytest.mark.parametrize(("letter", "expected"), [("đ", "d"), ("Đ", "D")])
def test_fold_d_with_stroke(letter: str, expected: str) -> None:
    """đ and Đ (no canonical decomposition) fold to d and D in both normal forms."""
    for form in ("NFC", "NFD"):
        folded = fold(unicodedata.normalize(form, letter))
        assert folded == Folded(expected, ())
        assert folded.text.encode("gsm03.38") == expected.encode("ascii")


def test_fold_whole_vietnamese_sentence_in_both_forms() -> None:
    """A sentence with every vowel, tone and đ folds the same from NFC and NFD."""
    text = " ".join(VIETNAMESE_VOWELS.values()) + " đĐ"
    text += " " + text.upper()
    for form in ("NFC", "NFD"):
        folded = fold(unicodedata.normalize(form, text))
        assert folded.replaced == ()
        assert is_gsm7(folded.text)
        assert folded.text.isascii()
        folded.text.encode("gsm03.38")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("“Xin chào” – ‘bạn’…", "\"Xin chao\" - 'ban'..."),
        ("«Chú ý» ‹a› ′ ″ `x´", "\"Chu y\" 'a' ' \" 'x'"),
        ("10–12/5 — 7h ‒ 8h ― 9h − 1 ‐ ‑", "10-12/5 - 7h - 8h - 9h - 1 - -"),
        ("a\u00a0b\u2009c\u202fd\u3000e\u2002f\u2003g\u200ah\u205fi\u1680j\tk", "a b c d e f g h i j k"),
        ("• Mục 1\n· Mục 2\n● Mục 3\n◦ Mục 4\n▪ Mục 5", "- Muc 1\n- Muc 2\n- Muc 3\n- Muc 4\n- Muc 5"),
        ("dòng 1\u2028dòng 2\u2029", "dong 1\ndong 2\n"),
        ("soft\u00adhyphen zero\u200bwidth joiner\u200d\u2060 bom\ufeff", "softhyphen zerowidth joiner bom"),
        ("ＡＢＣ１２３！", "ABC123!"),
        ("½ ﬁ № ™", "1/2 fi No TM"),
        ("100.000₫, 30°C, 2×3 ≤ 7 ≥ 5 → ok", "100.000d, 30oC, 2x3 <= 7 >= 5 -> ok"),
        ("ĐƯỜNG ĐI Ð", "DUONG DI D"),
        ("café naïve Ñandú ç Å", "cafe naive Nandu c A"),
        ("e\u0301 o\u031b\u0300", "e o"),
        ("Ø ß Æ £ € {x} ^", "Ø ß Æ £ € {x} ^"),  # GSM-7 characters without marks stay
        ("plain ASCII, no change.", "plain ASCII, no change."),
    ],
)
def test_fold_typography(text: str, expected: str) -> None:
    """Typographic punctuation, Unicode spaces, invisibles and compatibility forms fold to GSM-7."""
    folded = fold(text)
    assert folded == Folded(expected, ())
    folded.text.encode("gsm03.38")


@pytest.mark.parametrize(
    ("text", "expected", "replaced"),
    [
        (f"Bão số 3 {EMOJI} 台风", "Bao so 3 ? ??", (EMOJI, "台", "风")),
        (f"Sao? {EMOJI}{EMOJI}", "Sao? ??", (EMOJI,)),  # a "?" already there is not reported
        ("❤\ufe0f", "?", ("❤",)),  # the variation selector is invisible, the heart is not
        ("한", "?", ("한",)),  # one "?" per character, not per NFD jamo
        ("\x1b", "?", ("\x1b",)),
        ("？", "?", ()),  # a full-width question mark folds, it is not replaced
    ],
)
def test_fold_reports_replacements(text: str, expected: str, replaced: tuple[str, ...]) -> None:
    """Characters with no GSM-7 spelling become "?" and are reported once, in order."""
    assert fold(text) == Folded(expected, replaced)


# Policies -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "policy", "unicode_allowed", "expected", "folded"),
    [
        (MANDATED_2024, AUTO, True, MANDATED_2024_FOLDED, True),  # 4 segments -> 2
        ("Chào bạn", AUTO, True, "Chào bạn", False),  # 1 segment either way
        ("Chào bạn", AUTO, False, "Chao ban", True),  # the route forces folding
        ("ạ" * 70, AUTO, True, "ạ" * 70, False),  # 1 segment either way
        ("ạ" * 71, AUTO, True, "a" * 71, True),  # 2 segments -> 1
        (MANDATED_2024, UNICODE, True, MANDATED_2024, False),
        (MANDATED_2024, UNICODE, False, MANDATED_2024_FOLDED, True),
        (MANDATED_2024, ASCII, True, MANDATED_2024_FOLDED, True),
        ("Chào bạn", ASCII, True, "Chao ban", True),  # ascii folds even at no saving
        ("Chào bạn", UNICODE, True, "Chào bạn", False),
    ],
)
def test_apply_policy(text: str, policy: str, unicode_allowed: bool, expected: str, folded: bool) -> None:
    """auto folds only when fewer segments; ascii always folds; no UCS-2 route forces folding."""
    encoded = apply_policy(text, policy, unicode_allowed=unicode_allowed)
    assert encoded == Encoded(expected, measure(expected), folded, ())
    if not unicode_allowed or policy == ASCII:
        assert encoded.measure.encoding == GSM7


@pytest.mark.parametrize("unicode_allowed", [True, False])
@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("text", ["", "Hello", "Café à Paris {x} €5 £3", "a" * 500, MANDATED_2024_FOLDED])
def test_gsm7_text_unchanged_under_every_policy(text: str, policy: str, unicode_allowed: bool) -> None:
    """A text that is GSM-7 already is sent as written, whatever the policy and route."""
    assert apply_policy(text, policy, unicode_allowed=unicode_allowed) == Encoded(text, measure(text), False, ())
    assert unsendable(text, policy, unicode_allowed=unicode_allowed) == ()


def test_auto_does_not_fold_when_characters_would_be_lost() -> None:
    """auto keeps UCS-2 rather than turning an emoji into "?"; a GSM-only route folds and reports."""
    text = "Chúc mừng năm mới " + EMOJI + " " + "ạ" * 60
    assert measure(text).segments == 2
    kept = apply_policy(text, AUTO)
    assert (kept.text, kept.folded, kept.replaced) == (text, False, ())
    forced = apply_policy(text, AUTO, unicode_allowed=False)
    assert forced.folded
    assert forced.replaced == (EMOJI,)
    assert forced.text.startswith("Chuc mung nam moi ? ")
    ascii_ = apply_policy(text, ASCII)
    assert (ascii_.folded, ascii_.replaced) == (True, (EMOJI,))


@pytest.mark.parametrize(
    ("text", "policy", "unicode_allowed", "expected"),
    [
        (f"Chào {EMOJI} 台", UNICODE, True, ()),
        (f"Chào {EMOJI} 台", UNICODE, False, (EMOJI, "台")),
        (f"Chào {EMOJI} 台", ASCII, True, (EMOJI, "台")),
        (f"Chào {EMOJI} 台", AUTO, True, ()),
        (f"Chào {EMOJI} 台", AUTO, False, (EMOJI, "台")),
        (MANDATED_2024, ASCII, True, ()),
        (MANDATED_2024, AUTO, False, ()),
        ("lone \ud800", UNICODE, True, ("\ud800",)),
    ],
)
def test_unsendable(text: str, policy: str, unicode_allowed: bool, expected: tuple[str, ...]) -> None:
    """unsendable lists what the policy would turn into "?" (and lone surrogates sent as UCS-2)."""
    assert unsendable(text, policy, unicode_allowed=unicode_allowed) == expected


def test_unknown_policy_lists_valid_ones() -> None:
    """An unknown policy is a ValueError naming the valid policies."""
    with pytest.raises(ValueError, match=r"unknown encoding policy 'latin'.*unicode, ascii, auto"):
        apply_policy("abc", "latin")
    with pytest.raises(ValueError, match="unicode, ascii, auto"):
        unsendable("abc", "UNICODE")


def test_results_are_frozen() -> None:
    """Measure, Folded and Encoded are immutable."""
    result = measure("abc")
    with pytest.raises(AttributeError):
        result.units = 1  # type: ignore[misc]


# Properties ---------------------------------------------------------------------------------------------------

_INTERESTING = st.sampled_from(
    list("aZ09 .,?@£éàΔ\n") + list(EXTENSION) + ["ạ", "ư", "Đ", "đ", "\u0301", "“", "…", "\u00a0", EMOJI, "🌀", "台"]
)
TEXTS = st.one_of(
    st.text(max_size=400),
    st.text(alphabet=st.sampled_from([*"abc {}€^|\\", "ạ"]), max_size=700),
    st.text(alphabet=_INTERESTING, max_size=500),
    st.text(alphabet=st.sampled_from(["ạ", "a", EMOJI]), max_size=300),
)


@settings(max_examples=400, deadline=None)
@given(TEXTS)
def test_property_split(text: str) -> None:
    """join(split) is the text; parts fit their budget, are maximal, and number measure().segments."""
    parts = split(text)
    result = measure(text)
    assert "".join(parts) == text
    assert len(parts) == result.segments
    assert result.characters == len(text)
    assert result.units == part_units(text, result.encoding)
    if len(parts) == 1:
        assert result.units <= (160 if result.encoding == GSM7 else 70)
        return
    budget = 153 if result.encoding == GSM7 else 67
    for index, part in enumerate(parts):
        assert part
        assert part_units(part, result.encoding) <= budget
        if index + 1 < len(parts):  # greedy: the next character would not have fitted
            assert part_units(part + parts[index + 1][0], result.encoding) > budget
    assert parts == reference_parts(text, result.encoding)


@settings(max_examples=300, deadline=None)
@given(TEXTS)
def test_property_encode_parts_round_trip(text: str) -> None:
    """Each payload decodes back to its part's text."""
    parts = split(text)
    payloads = encode_parts(text)
    assert len(payloads) == len(parts)
    codec = "gsm03.38" if encoding_for(text) == GSM7 else "utf-16-be"
    assert [p.decode(codec) for p in payloads] == parts


@settings(max_examples=300, deadline=None)
@given(TEXTS)
def test_property_fold_is_gsm7(text: str) -> None:
    """fold() always yields GSM-7 (and is idempotent); every policy on a GSM-only route yields GSM-7."""
    folded = fold(text)
    assert is_gsm7(folded.text)
    folded.text.encode("gsm03.38")
    assert fold(folded.text) == Folded(folded.text, ())  # idempotent
    assert set(folded.replaced) <= set(text)
    for policy in POLICIES:
        encoded = apply_policy(text, policy, unicode_allowed=False)
        assert encoded.measure.encoding == GSM7
        assert unsendable(text, policy, unicode_allowed=False) == encoded.replaced
