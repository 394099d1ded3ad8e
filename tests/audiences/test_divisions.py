"""Tests for audiences.divisions: reference data of administrative divisions and name matching."""

from __future__ import annotations

import json
import unicodedata
from importlib import resources

import pytest

from audiences.divisions import (
    AmbiguousNameError,
    Commune,
    District,
    Divisions,
    NewCommune,
    NewProvince,
    Province,
    fold_name,
    load,
)

# The legacy districts of three provinces, as the catalogue has them until 30 June 2025.
TAY_NINH = [
    ("703", "Thành phố Tây Ninh"),
    ("705", "Huyện Tân Biên"),
    ("706", "Huyện Tân Châu"),
    ("707", "Huyện Dương Minh Châu"),
    ("708", "Huyện Châu Thành"),
    ("709", "Thị xã Hòa Thành"),
    ("710", "Huyện Gò Dầu"),
    ("711", "Huyện Bến Cầu"),
    ("712", "Thị xã Trảng Bàng"),
]
HO_CHI_MINH = [
    ("760", "Quận 1"),
    ("761", "Quận 12"),
    ("764", "Quận Gò Vấp"),
    ("765", "Quận Bình Thạnh"),
    ("766", "Quận Tân Bình"),
    ("767", "Quận Tân Phú"),
    ("768", "Quận Phú Nhuận"),
    ("769", "Thành phố Thủ Đức"),
    ("770", "Quận 3"),
    ("771", "Quận 10"),
    ("772", "Quận 11"),
    ("773", "Quận 4"),
    ("774", "Quận 5"),
    ("775", "Quận 6"),
    ("776", "Quận 8"),
    ("777", "Quận Bình Tân"),
    ("778", "Quận 7"),
    ("783", "Huyện Củ Chi"),
    ("784", "Huyện Hóc Môn"),
    ("785", "Huyện Bình Chánh"),
    ("786", "Huyện Nhà Bè"),
    ("787", "Huyện Cần Giờ"),
]
HA_NOI = [
    ("001", "Quận Ba Đình"),
    ("002", "Quận Hoàn Kiếm"),
    ("003", "Quận Tây Hồ"),
    ("004", "Quận Long Biên"),
    ("005", "Quận Cầu Giấy"),
    ("006", "Quận Đống Đa"),
    ("007", "Quận Hai Bà Trưng"),
    ("008", "Quận Hoàng Mai"),
    ("009", "Quận Thanh Xuân"),
    ("016", "Huyện Sóc Sơn"),
    ("017", "Huyện Đông Anh"),
    ("018", "Huyện Gia Lâm"),
    ("019", "Quận Nam Từ Liêm"),
    ("020", "Huyện Thanh Trì"),
    ("021", "Quận Bắc Từ Liêm"),
    ("250", "Huyện Mê Linh"),
    ("268", "Quận Hà Đông"),
    ("269", "Thị xã Sơn Tây"),
    ("271", "Huyện Ba Vì"),
    ("272", "Huyện Phúc Thọ"),
    ("273", "Huyện Đan Phượng"),
    ("274", "Huyện Hoài Đức"),
    ("275", "Huyện Quốc Oai"),
    ("276", "Huyện Thạch Thất"),
    ("277", "Huyện Chương Mỹ"),
    ("278", "Huyện Thanh Oai"),
    ("279", "Huyện Thường Tín"),
    ("280", "Huyện Phú Xuyên"),
    ("281", "Huyện Ứng Hòa"),
    ("282", "Huyện Mỹ Đức"),
]
PROVINCE_DISTRICTS = {"72": TAY_NINH, "79": HO_CHI_MINH, "01": HA_NOI}

ABBREVIATIONS = {"Huyện": "H.", "Quận": "Q.", "Thị xã": "TX.", "Thành phố": "TP."}


def strip_marks(text: str) -> str:
    """Text without diacritics, written independently of the module under test."""
    decomposed = unicodedata.normalize("NFD", text.replace("Đ", "D").replace("đ", "d"))
    return "".join(char for char in decomposed if unicodedata.category(char) != "Mn")


def spellings(name: str) -> list[str]:
    """Five ways an operator's list may write a district's official name."""
    kind, bare = next((k, name[len(k) + 1 :]) for k in ABBREVIATIONS if name.startswith(k + " "))
    return [
        name,  # "Huyện Tân Biên"
        f"{ABBREVIATIONS[kind]} {bare}",  # "H. Tân Biên"
        strip_marks(name).lower(),  # "huyen tan bien"
        bare.upper(),  # "TÂN BIÊN"
        unicodedata.normalize("NFD", f"  {bare}  "),  # decomposed, padded "Tân Biên"
    ]


@pytest.fixture(scope="module")
def divisions() -> Divisions:
    """The packaged reference data."""
    return load()


# --------------------------------------------------------------------------- data


def test_counts_match_the_catalogue(divisions: Divisions) -> None:
    """63 legacy provinces, ~700 districts, ~10,000 communes; 34 new provinces and 3,321 new communes."""
    provinces = divisions.provinces()
    districts = [d for p in provinces for d in divisions.districts(p.code)]
    communes = [c for d in districts for c in divisions.communes(d.code)]
    new_communes = [c for p in divisions.new_provinces() for c in divisions.new_communes(p.code)]
    assert len(provinces) == 63
    assert len(districts) == 696
    assert len(communes) == 10051
    assert len(divisions.new_provinces()) == 34
    assert len(new_communes) == 3321


def test_load_is_cached() -> None:
    """load() reads the data once and hands out the same object."""
    assert load() is load()


def test_data_file_records_its_source() -> None:
    """The data file names the pinned wheel it was built from."""
    raw = resources.files("audiences").joinpath("data/divisions.json").read_text(encoding="utf-8")
    source = json.loads(raw)["source"]
    assert source["package"] == "vietnam-provinces"
    assert source["version"] == "2026.9.0"
    assert len(source["sha256"]) == 64


def test_names_are_nfc_and_start_with_their_kind(divisions: Divisions) -> None:
    """Every name is NFC and is its kind followed by the bare name."""
    items: list[Province | District | Commune | NewProvince | NewCommune] = []
    for province in divisions.provinces():
        items.append(province)
        for district in divisions.districts(province.code):
            items.append(district)
            items.extend(divisions.communes(district.code))
    for new_province in divisions.new_provinces():
        items.append(new_province)
        items.extend(divisions.new_communes(new_province.code))
    kinds = {"Tỉnh", "Thành phố", "Huyện", "Quận", "Thị xã", "Xã", "Phường", "Thị trấn", "Đặc khu"}
    for item in items:
        assert unicodedata.is_normalized("NFC", item.name), item
        assert item.kind in kinds, item
        assert item.name == f"{item.kind} {item.bare_name}", item


def test_tay_ninh_2024_districts(divisions: Divisions) -> None:
    """Tây Ninh (72) had exactly the nine districts 703 and 705–712 before the 2025 reform."""
    assert divisions.province("72") == Province("72", "Tỉnh Tây Ninh", "Tỉnh")
    assert [(d.code, d.name) for d in divisions.districts("72")] == TAY_NINH
    assert divisions.district("703") == District("703", "Thành phố Tây Ninh", "Thành phố", "72")
    assert divisions.district("709") == District("709", "Thị xã Hòa Thành", "Thị xã", "72")


def test_lookup_by_code(divisions: Divisions) -> None:
    """Codes are zero-padded strings; unpadded codes and ints are accepted; unknown codes give None."""
    commune = divisions.commune("25459")
    assert commune == Commune("25459", "Phường 3", "Phường", "703", "72")
    assert divisions.province("1") is divisions.province("01")
    assert divisions.province(1) is divisions.province("01")
    assert divisions.district(1) == District("001", "Quận Ba Đình", "Quận", "01")
    assert [c.code for c in divisions.communes("703")][:3] == ["25456", "25459", "25462"]
    assert divisions.province("00") is None
    assert divisions.province("abc") is None
    assert divisions.district("999") is None
    assert divisions.commune("99999") is None
    assert divisions.districts("99") == ()
    assert divisions.communes("999") == ()
    assert divisions.new_communes("72") == ()  # 72 is no province code of the 2025 tree


def test_hoa_binh_old_tone_placement_as_catalogued(divisions: Divisions) -> None:
    """The catalogue mixes old and new tone placement: "Hoà Bình" and "Khánh Hòa"."""
    assert divisions.province("17") == Province("17", "Tỉnh Hoà Bình", "Tỉnh")
    assert divisions.province("56") == Province("56", "Tỉnh Khánh Hòa", "Tỉnh")


# --------------------------------------------------------------------------- fold_name


def test_fold_name_spellings_agree() -> None:
    """Prefix, abbreviation, case, diacritics and NFD all fold to the same key."""
    key = fold_name("Huyện Tân Biên")
    assert key == "tanbien"
    for text in ["H. Tân Biên", "H.Tân Biên", "huyen tan bien", "TÂN BIÊN", unicodedata.normalize("NFD", "Tân Biên")]:
        assert fold_name(text) == key, text


def test_fold_name_tone_placement_and_d() -> None:
    """The old tone placement "Hoà" folds like "Hòa", and đ/Đ fold to d."""
    assert fold_name("Hoà Thành") == fold_name("Hòa Thành") == "hoathanh"
    assert fold_name("Đống Đa") == fold_name("dong da") == "dongda"


def test_fold_name_keeps_numbers() -> None:
    """Numbered districts and wards keep their number, without leading zeros."""
    for text in ["Quận 1", "Q.1", "Q1", "Q. 1", "quan 1", "QUẬN 01"]:
        assert fold_name(text) == "1", text
    assert fold_name("Phường 3") == fold_name("P.3") == fold_name("P3") == "3"
    assert fold_name("Quận 12") != fold_name("Quận 1")


def test_fold_name_strips_each_prefix() -> None:
    """Every administrative prefix, spelled out or abbreviated, is removed."""
    for text in [
        "Tỉnh Tây Ninh",
        "Thành phố Tây Ninh",
        "TP. Tây Ninh",
        "TP Tây Ninh",
        "T.P. Tây Ninh",
        "Quận Tây Ninh",
        "Huyện Tây Ninh",
        "Thị xã Tây Ninh",
        "TX. Tây Ninh",
        "TX Tây Ninh",
        "Xã Tây Ninh",
        "Phường Tây Ninh",
        "P. Tây Ninh",
        "Thị trấn Tây Ninh",
        "TT. Tây Ninh",
        "Tây-Ninh",
    ]:
        assert fold_name(text) == "tayninh", text


def test_fold_name_strips_only_a_real_prefix() -> None:
    """A name that merely starts like a prefix keeps it ("Xà" is not "Xã"); only one prefix goes."""
    assert fold_name("Xà Bang") == "xabang"
    assert fold_name("Phường Phường Đúc") == "phuongduc"
    assert fold_name("Huyện") == "huyen"
    assert fold_name("") == ""


# --------------------------------------------------------------------------- find_district


@pytest.mark.parametrize("province_code", sorted(PROVINCE_DISTRICTS))
def test_every_district_found_from_five_spellings(divisions: Divisions, province_code: str) -> None:
    """Each district of Tây Ninh, Hồ Chí Minh and Hà Nội is found from five spellings of its name."""
    for code, name in PROVINCE_DISTRICTS[province_code]:
        for spelling in spellings(name):
            found = divisions.find_district(province_code, spelling)
            assert found is not None and found.code == code, (spelling, found)


def test_numbered_districts(divisions: Divisions) -> None:
    """Quận 1 and Quận 12 of Hồ Chí Minh are told apart, however the number is written."""
    for spelling in ["Quận 1", "Q.1", "Q1", "quan 1", "Quận 01"]:
        assert divisions.find_district("79", spelling) == divisions.district("760"), spelling
    for spelling in ["Quận 12", "Q.12", "Q12", "quan 12"]:
        assert divisions.find_district("79", spelling) == divisions.district("761"), spelling
    assert divisions.find_district("79", "Quận 2") is None  # merged into Thủ Đức in 2021


def test_chau_thanh_is_scoped_to_its_province(divisions: Divisions) -> None:
    """Huyện Châu Thành is 708 in Tây Ninh, 821 in Tiền Giang, and nothing in Hà Nội."""
    tay_ninh = divisions.find_district("72", "Huyện Châu Thành")
    tien_giang = divisions.find_district("82", "Huyện Châu Thành")
    assert tay_ninh is not None and tay_ninh.code == "708"
    assert tien_giang is not None and tien_giang.code == "821"
    assert divisions.find_district("01", "Châu Thành") is None
    assert divisions.find_district("01", "Huyện Châu Thành") is None


def test_hoa_thanh_either_tone_placement(divisions: Divisions) -> None:
    """Thị xã Hòa Thành is found as "Hoà Thành" or "Hòa Thành", and by its former kind."""
    for spelling in ["Hoà Thành", "Hòa Thành", "Thị xã Hoà Thành", "hoa thanh", "Huyện Hòa Thành"]:
        found = divisions.find_district("72", spelling)
        assert found is not None and found.code == "709", spelling


def test_nfd_input(divisions: Divisions) -> None:
    """Decomposed (NFD) input matches the NFC catalogue."""
    assert divisions.find_district("72", unicodedata.normalize("NFD", "Huyện Trảng Bàng")) == divisions.district("712")
    assert divisions.find_province(unicodedata.normalize("NFD", "Tỉnh Đắk Lắk")) == divisions.province("66")


def test_same_name_city_and_district_need_the_prefix(divisions: Divisions) -> None:
    """Where a city and a district share a name, the prefix decides, and the bare name is ambiguous."""
    # Hà Tĩnh has both Huyện Kỳ Anh (447) and Thị xã Kỳ Anh (449).
    assert divisions.find_district("42", "Huyện Kỳ Anh") == divisions.district("447")
    assert divisions.find_district("42", "H. Kỳ Anh") == divisions.district("447")
    assert divisions.find_district("42", "TX Kỳ Anh") == divisions.district("449")
    assert divisions.find_district("42", "thi xa ky anh") == divisions.district("449")
    # Đồng Tháp has Thành phố Cao Lãnh (866) and Huyện Cao Lãnh (873).
    assert divisions.find_district("87", "TP. Cao Lãnh") == divisions.district("866")
    assert divisions.find_district("87", "Huyện Cao Lãnh") == divisions.district("873")
    with pytest.raises(AmbiguousNameError) as caught:
        divisions.find_district("42", "Kỳ Anh")
    assert {d.code for d in caught.value.candidates} == {"447", "449"}
    assert "Kỳ Anh" in str(caught.value)
    with pytest.raises(AmbiguousNameError):
        divisions.find_district("87", "cao lanh")
    # A prefix of a third kind does not pick one of the two.
    with pytest.raises(AmbiguousNameError):
        divisions.find_district("87", "Quận Cao Lãnh")


def test_prefix_word_inside_a_name(divisions: Divisions) -> None:
    """An unaccented prefix word may start a name: "quan hoa" is Huyện Quan Hóa, not a "Quận Hóa"."""
    quan_hoa = divisions.district("385")
    assert quan_hoa is not None and quan_hoa.name == "Huyện Quan Hóa"
    for spelling in ["Quan Hóa", "quan hoa", "Huyện Quan Hóa", "H. Quan Hoá"]:
        assert divisions.find_district("38", spelling) == quan_hoa, spelling


def test_unknown_names_return_none(divisions: Divisions) -> None:
    """Names that match nothing, and unknown scopes, give None."""
    assert divisions.find_district("72", "Huyện Không Có") is None
    assert divisions.find_district("72", "") is None
    assert divisions.find_district("99", "Tân Biên") is None
    assert divisions.find_province("Tỉnh Không Có") is None
    assert divisions.find_commune("72", "Xã Không Có") is None
    assert divisions.find_new_province("Atlantis") is None
    assert divisions.find_new_commune("80", "Phường Không Có") is None


# --------------------------------------------------------------------------- provinces and communes


def test_find_province(divisions: Divisions) -> None:
    """Provinces are found by name, prefix or not, and by the usual short forms of Hồ Chí Minh."""
    hcm = divisions.province("79")
    for spelling in ["Thành phố Hồ Chí Minh", "TP. Hồ Chí Minh", "TP.HCM", "TPHCM", "HCM", "ho chi minh"]:
        assert divisions.find_province(spelling) == hcm, spelling
    assert divisions.find_province("Tây Ninh") == divisions.province("72")
    assert divisions.find_province("Hòa Bình") == divisions.find_province("Hoà Bình") == divisions.province("17")
    assert divisions.find_province("Bà Rịa - Vũng Tàu") == divisions.find_province("ba ria vung tau")
    assert divisions.find_province("Thừa Thiên Huế") == divisions.province("46")


def test_find_commune_in_district_and_province(divisions: Divisions) -> None:
    """A numbered ward needs its district; a unique name is found in the province alone."""
    assert divisions.find_commune("72", "Phường 3", district_code="703") == divisions.commune("25459")
    assert divisions.find_commune("72", "P.3", "703") == divisions.commune("25459")
    assert divisions.find_commune("72", "Phường Hiệp Ninh") == divisions.commune("25465")
    with pytest.raises(AmbiguousNameError):
        divisions.find_commune("79", "Phường 1")  # in many districts of Hồ Chí Minh
    # A district of another province is no scope for this one.
    assert divisions.find_commune("79", "Phường 3", district_code="703") is None


def test_find_commune_prefers_matching_diacritics(divisions: Divisions) -> None:
    """Two wards differing only by a tone mark are told apart when the query is accented."""
    sa_pa = divisions.find_commune("10", "Phường Sa Pa")
    sa_pa_hook = divisions.find_commune("10", "Phường Sa Pả")
    assert sa_pa is not None and sa_pa.code == "03001"
    assert sa_pa_hook is not None and sa_pa_hook.code == "03002"
    with pytest.raises(AmbiguousNameError):
        divisions.find_commune("10", "sa pa")


def test_every_name_finds_itself(divisions: Divisions) -> None:
    """Each legacy district and commune, and each new commune, is found by its own official name.

    The only exception is a pair of identically named communes of one
    district in the catalogue (Xã Đông Khê, 16387 and 16408), which is
    reported as ambiguous.
    """
    ambiguous: set[str] = set()
    for province in divisions.provinces():
        assert divisions.find_province(province.name) == province
        for district in divisions.districts(province.code):
            assert divisions.find_district(province.code, district.name) == district
            for commune in divisions.communes(district.code):
                try:
                    assert divisions.find_commune(province.code, commune.name, district.code) == commune
                except AmbiguousNameError:
                    ambiguous.add(commune.code)
    assert ambiguous == {"16387", "16408"}
    for new_province in divisions.new_provinces():
        assert divisions.find_new_province(new_province.name) == new_province
        for new_commune in divisions.new_communes(new_province.code):
            assert divisions.find_new_commune(new_province.code, new_commune.name) == new_commune


# --------------------------------------------------------------------------- the 2025 tree and conversion


def test_new_tree(divisions: Divisions) -> None:
    """New province 80 is Tây Ninh (old 80 was Long An); new communes hang directly off provinces."""
    assert divisions.new_province("80") == NewProvince("80", "Tỉnh Tây Ninh", "Tỉnh")
    assert divisions.new_commune("25459") == NewCommune("25459", "Phường Tân Ninh", "Phường", "80")
    assert divisions.province("80") == Province("80", "Tỉnh Long An", "Tỉnh")
    assert divisions.find_new_province("Tây Ninh") == divisions.new_province("80")
    assert divisions.find_new_commune("80", "Tân Ninh") == divisions.new_commune("25459")
    assert divisions.find_new_commune("79", "Đặc khu Côn Đảo") == divisions.new_commune("26732")


def test_new_commune_for_merged_communes(divisions: Divisions) -> None:
    """Merged communes map to the commune they became part of (as the conversion table says)."""
    # Thành phố Tây Ninh: Phường 3, Phường 4 and Phường Hiệp Ninh became Phường Tân Ninh.
    tan_ninh = divisions.new_commune("25459")
    for old in ["25459", "25462", "25465"]:
        assert divisions.new_commune_for(old) == tan_ninh, old
    # Hà Nội: Phường Trúc Bạch and Phường Quán Thánh became Phường Ba Đình; Phúc Xá became Hồng Hà.
    assert divisions.new_commune_for("00004") == NewCommune("00004", "Phường Ba Đình", "Phường", "01")
    assert divisions.new_commune_for("13") == divisions.new_commune("00004")
    assert divisions.new_commune_for("00001") == NewCommune("00097", "Phường Hồng Hà", "Phường", "01")
    # Hồ Chí Minh: Phường Tân Định (26734) became part of the new Phường Tân Định (26737).
    assert divisions.new_commune_for("26734") == NewCommune("26737", "Phường Tân Định", "Phường", "79")


def test_split_commune_has_no_single_successor(divisions: Divisions) -> None:
    """A commune split across new communes gives None from new_commune_for and all of them from new_communes_for."""
    # Phường Ngọc Hà (Ba Đình, Hà Nội) went partly to Phường Ba Đình, partly to Phường Ngọc Hà.
    assert divisions.commune("00016") is not None
    assert divisions.new_commune_for("00016") is None
    assert [c.code for c in divisions.new_communes_for("00016")] == ["00004", "00008"]
    assert divisions.new_commune_for("99999") is None
    assert divisions.new_communes_for("99999") == ()


def test_new_province_for(divisions: Divisions) -> None:
    """Old provinces map to the new province they merged into."""
    expected = {"72": "80", "80": "80", "79": "79", "74": "79", "77": "79", "82": "82", "87": "82", "01": "01"}
    for old, new in expected.items():
        found = divisions.new_province_for(old)
        assert found is not None and found.code == new, old
    assert divisions.new_province_for("99") is None
    assert {p.code for p in divisions.provinces() if divisions.new_province_for(p.code) is None} == set()
    assert len({divisions.new_province_for(p.code) for p in divisions.provinces()}) == 34


def test_every_legacy_commune_maps_into_its_new_province(divisions: Divisions) -> None:
    """Each mapped commune's successors lie in the new province of its old province."""
    unmapped = 0
    for province in divisions.provinces():
        target = divisions.new_province_for(province.code)
        assert target is not None
        for district in divisions.districts(province.code):
            for commune in divisions.communes(district.code):
                successors = divisions.new_communes_for(commune.code)
                unmapped += not successors
                assert all(s.province_code == target.code for s in successors), commune
    assert unmapped == 28  # dissolved between the legacy snapshot and 1 July 2025


def test_ambiguous_error_is_a_lookup_error() -> None:
    """AmbiguousNameError is a LookupError carrying the name and the candidates."""
    error = AmbiguousNameError("Kỳ Anh", [District("447", "Huyện Kỳ Anh", "Huyện", "42")])
    assert isinstance(error, LookupError)
    assert error.name == "Kỳ Anh"
    assert error.candidates[0].code == "447"
