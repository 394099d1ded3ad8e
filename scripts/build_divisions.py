#!/usr/bin/env python3
"""Regenerate ``audiences/data/divisions.json`` from the national statistics catalogue.

What it builds
    Reference data of Vietnam's administrative divisions, keyed by the codes of
    the national statistics catalogue (Tổng cục Thống kê / NSO, "danh mục hành
    chính"):

    * the legacy three-level tree in force until 30 June 2025: 63 provinces,
      their districts and their communes;
    * the two-level tree in force from 1 July 2025: 34 provinces and their
      communes (no districts);
    * the conversion old commune -> new commune(s), and old province -> new
      province (derived from the commune conversion).

Source (pinned)
    PyPI package ``vietnam-provinces`` version 2026.9.0, wheel
    ``vietnam_provinces-2026.9.0-py3-none-any.whl``,
    sha256 ``b5f3540a98937d38b9bebcbdb792fa4f5b9712737d41b05c7254beb2308ebcd1``.
    The package's own data version string is 2026-09-20.

    Files read from inside the wheel (never imported, never executed):

    * ``vietnam_provinces/data/nested-divisions.json``: the 2025 tree (JSON);
    * ``vietnam_provinces/legacy/_lookup.py``: the pre-2025 tree. The wheel
      ships it only as a generated table of literals, so it is parsed with
      :mod:`ast` and only the literal codes and names are taken from it;
    * ``vietnam_provinces/_ward_conversion_2025.py``: the old -> new commune
      conversion table (the NSO's "bảng chuyển đổi"), read the same way.

Licence note
    The codes and names are the national statistics catalogue's. The
    ``vietnam-provinces`` package's code is GPL-3.0-or-later: none of it is
    copied here, and it is neither imported by this script nor needed at run
    time; this script only reads literal data out of the wheel archive.

Regenerate
    From the repository root, with network access to PyPI::

        .venv/bin/python scripts/build_divisions.py

    or, offline, with an already downloaded wheel (its hash is still checked)::

        .venv/bin/python scripts/build_divisions.py --wheel path/to/the.whl

    The output is deterministic: running it twice gives byte-identical files.
    To move to another version, change ``VERSION`` and ``SHA256`` below, run the
    script, and review the counts it prints and the diff of the data file.

Output layout (``format`` 1)
    Every table is a list of rows sorted by code; ``columns`` in the file names
    the fields of each row. Codes are zero-padded strings as in the catalogue
    (province 2 digits, district 3, commune 5). Names are NFC, whitespace
    collapsed, typographic apostrophes replaced by ``'``, the kind prefix spelled
    as the kind (the catalogue has "Thành Phố Bắc Kạn" and the like).

Only the standard library is used; pip is run as a subprocess to download.
"""

from __future__ import annotations

import argparse
import ast
import collections
import hashlib
import json
import pathlib
import subprocess
import sys
import tempfile
import unicodedata
import zipfile
from collections.abc import Iterable, Iterator
from typing import Any

PACKAGE = "vietnam-provinces"
VERSION = "2026.9.0"
WHEEL = "vietnam_provinces-2026.9.0-py3-none-any.whl"
SHA256 = "b5f3540a98937d38b9bebcbdb792fa4f5b9712737d41b05c7254beb2308ebcd1"

NEW_TREE_MEMBER = "vietnam_provinces/data/nested-divisions.json"
LEGACY_MEMBER = "vietnam_provinces/legacy/_lookup.py"
CONVERSION_MEMBER = "vietnam_provinces/_ward_conversion_2025.py"

OUTPUT = pathlib.Path(__file__).resolve().parent.parent / "audiences" / "data" / "divisions.json"

PROVINCE_WIDTH, DISTRICT_WIDTH, COMMUNE_WIDTH = 2, 3, 5

# Kind (the administrative prefix of the official name) by the catalogue's
# division type, for each level. The official name must start with it.
LEGACY_PROVINCE_KINDS = {"TINH": "Tỉnh", "THANH_PHO_TRUNG_UONG": "Thành phố"}
LEGACY_DISTRICT_KINDS = {"HUYEN": "Huyện", "QUAN": "Quận", "THI_XA": "Thị xã", "THANH_PHO": "Thành phố"}
LEGACY_COMMUNE_KINDS = {"XA": "Xã", "PHUONG": "Phường", "THI_TRAN": "Thị trấn"}
NEW_PROVINCE_KINDS = {"tỉnh": "Tỉnh", "thành phố trung ương": "Thành phố"}
NEW_COMMUNE_KINDS = {"xã": "Xã", "phường": "Phường", "đặc khu": "Đặc khu"}

EXPECTED = {
    "legacy provinces": 63,
    "new provinces": 34,
    "new communes": 3321,
}


class BuildError(Exception):
    """The source does not look like what this script was written for."""


# --------------------------------------------------------------------------- fetch


def sha256_of(path: pathlib.Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def download_wheel(directory: pathlib.Path) -> pathlib.Path:
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
        "--python-version", "3.12", "--only-binary=:all:",
        f"{PACKAGE}=={VERSION}", "-d", str(directory),
    ]  # fmt: skip
    subprocess.run(command, check=True, stdout=sys.stderr)
    wheel = directory / WHEEL
    if not wheel.is_file():
        raise BuildError(f"pip did not produce {WHEEL} in {directory}")
    return wheel


def verified(wheel: pathlib.Path) -> pathlib.Path:
    actual = sha256_of(wheel)
    if actual != SHA256:
        raise BuildError(f"sha256 mismatch for {wheel}: expected {SHA256}, got {actual}")
    return wheel


# --------------------------------------------------------------------------- parse


def clean_name(raw: object) -> str:
    if not isinstance(raw, str):
        raise BuildError(f"name is not a string: {raw!r}")
    text = raw.replace("\u2019", "'").replace("\u02bc", "'").replace("\u2018", "'")
    text = " ".join(unicodedata.normalize("NFC", text).split())
    if not text:
        raise BuildError("empty name")
    return text


def padded(code: object, width: int) -> str:
    if isinstance(code, bool) or not isinstance(code, int) or code <= 0:
        raise BuildError(f"bad code {code!r}")
    text = str(code).zfill(width)
    if len(text) != width:
        raise BuildError(f"code {code!r} wider than {width} digits")
    return text


def with_kind(name: str, kind: str) -> str:
    """The name, checked to start with its kind, that prefix spelled as ``kind`` (a few differ in case)."""
    head = name[: len(kind) + 1]
    if head.casefold() != (kind + " ").casefold() or len(name) <= len(kind) + 1:
        raise BuildError(f"name {name!r} does not start with its kind {kind!r}")
    return kind + " " + name[len(kind) + 1 :]


def module_tables(source: str) -> dict[str, ast.expr]:
    """Top-level ``NAME = <expr>`` / ``NAME: T = <expr>`` assignments of a module, unevaluated."""
    tables: dict[str, ast.expr] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name):
            tables[target.id] = value
    return tables


def dict_items(node: ast.expr | None, what: str) -> Iterator[tuple[int, ast.expr]]:
    if not isinstance(node, ast.Dict):
        raise BuildError(f"{what}: expected a dict literal")
    for key, value in zip(node.keys, node.values, strict=True):
        if not isinstance(key, ast.Constant) or not isinstance(key.value, int):
            raise BuildError(f"{what}: non-integer key")
        yield key.value, value


def call_args(node: ast.expr, callee: str) -> list[ast.expr]:
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == callee):
        raise BuildError(f"expected a {callee}(...) literal, got {ast.dump(node)[:80]}")
    if node.keywords:
        raise BuildError(f"unexpected keywords in {callee}(...)")
    return list(node.args)


def literal(node: ast.expr) -> Any:
    return ast.literal_eval(node)


def enum_member(node: ast.expr, enum: str) -> str:
    """``ProvinceCode.P_01`` -> ``"P_01"`` (checked against the expected enum name)."""
    if not (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == enum):
        raise BuildError(f"expected {enum}.<member>, got {ast.dump(node)[:80]}")
    return node.attr


def enum_code(node: ast.expr, enum: str, prefix: str) -> int:
    member = enum_member(node, enum)
    if not member.startswith(prefix) or not member[len(prefix) :].isdigit():
        raise BuildError(f"unexpected member {enum}.{member}")
    return int(member[len(prefix) :])


Row = list[str]


def read_legacy(source: str) -> tuple[list[Row], list[Row], list[Row]]:
    tables = module_tables(source)
    provinces: list[Row] = []
    for code, node in dict_items(tables.get("PROVINCE_MAPPING"), "PROVINCE_MAPPING"):
        args = call_args(node, "Province")
        if enum_code(args[1], "ProvinceCode", "P_") != code:
            raise BuildError(f"province {code}: code mismatch")
        kind = LEGACY_PROVINCE_KINDS[enum_member(args[2], "VietNamDivisionType")]
        name = with_kind(clean_name(literal(args[0])), kind)
        provinces.append([padded(code, PROVINCE_WIDTH), name, kind])
    districts: list[Row] = []
    for code, node in dict_items(tables.get("DISTRICT_MAPPING"), "DISTRICT_MAPPING"):
        args = call_args(node, "District")
        if enum_code(args[1], "DistrictCode", "D_") != code:
            raise BuildError(f"district {code}: code mismatch")
        kind = LEGACY_DISTRICT_KINDS[enum_member(args[2], "VietNamDivisionType")]
        name = with_kind(clean_name(literal(args[0])), kind)
        province = padded(enum_code(args[4], "ProvinceCode", "P_"), PROVINCE_WIDTH)
        districts.append([padded(code, DISTRICT_WIDTH), name, kind, province])
    communes: list[Row] = []
    for code, node in dict_items(tables.get("WARD_MAPPING"), "WARD_MAPPING"):
        args = call_args(node, "Ward")
        if enum_code(args[1], "WardCode", "W_") != code:
            raise BuildError(f"commune {code}: code mismatch")
        kind = LEGACY_COMMUNE_KINDS[enum_member(args[2], "VietNamDivisionType")]
        name = with_kind(clean_name(literal(args[0])), kind)
        district = padded(enum_code(args[4], "DistrictCode", "D_"), DISTRICT_WIDTH)
        communes.append([padded(code, COMMUNE_WIDTH), name, kind, district])
    return provinces, districts, communes


def read_new_tree(raw: bytes) -> tuple[list[Row], list[Row]]:
    document = json.loads(raw.decode("utf-8"))
    if not isinstance(document, list):
        raise BuildError("nested-divisions.json: expected a list of provinces")
    provinces: list[Row] = []
    communes: list[Row] = []
    for province in document:
        pcode = padded(province["code"], PROVINCE_WIDTH)
        kind = NEW_PROVINCE_KINDS[province["division_type"]]
        provinces.append([pcode, with_kind(clean_name(province["name"]), kind), kind])
        for ward in province["wards"]:
            wkind = NEW_COMMUNE_KINDS[ward["division_type"]]
            wname = with_kind(clean_name(ward["name"]), wkind)
            communes.append([padded(ward["code"], COMMUNE_WIDTH), wname, wkind, pcode])
    return provinces, communes


def read_conversion(source: str) -> dict[str, tuple[str, str, list[tuple[str, str]]]]:
    """old commune code -> (old district code, old province code, [(new commune, new province)])."""
    tables = module_tables(source)
    result: dict[str, tuple[str, str, list[tuple[str, str]]]] = {}
    for code, node in dict_items(tables.get("OLD_TO_NEW"), "OLD_TO_NEW"):
        old_ref, new_refs = call_args(node, "OldToNewEntry")
        old_code, old_district, old_province, _partly = (literal(a) for a in call_args(old_ref, "OldWardRef"))
        if old_code != code:
            raise BuildError(f"conversion {code}: code mismatch")
        if not isinstance(new_refs, ast.Tuple) or not new_refs.elts:
            raise BuildError(f"conversion {code}: no successor")
        successors = []
        for ref in new_refs.elts:
            new_code, new_province = (literal(a) for a in call_args(ref, "NewWardRef"))
            successors.append((padded(new_code, COMMUNE_WIDTH), padded(new_province, PROVINCE_WIDTH)))
        result[padded(code, COMMUNE_WIDTH)] = (
            padded(old_district, DISTRICT_WIDTH),
            padded(old_province, PROVINCE_WIDTH),
            successors,
        )
    return result


# --------------------------------------------------------------------------- assemble


def unique_codes(rows: Iterable[Row], what: str) -> dict[str, Row]:
    by_code: dict[str, Row] = {}
    for row in rows:
        if row[0] in by_code:
            raise BuildError(f"{what}: duplicate code {row[0]}")
        by_code[row[0]] = row
    return by_code


def build(wheel: pathlib.Path) -> tuple[dict[str, Any], list[str]]:
    with zipfile.ZipFile(wheel) as archive:
        new_raw = archive.read(NEW_TREE_MEMBER)
        legacy_source = archive.read(LEGACY_MEMBER).decode("utf-8")
        conversion_source = archive.read(CONVERSION_MEMBER).decode("utf-8")

    l_provinces, l_districts, l_communes = read_legacy(legacy_source)
    n_provinces, n_communes = read_new_tree(new_raw)
    conversion = read_conversion(conversion_source)

    lp = unique_codes(l_provinces, "legacy provinces")
    ld = unique_codes(l_districts, "legacy districts")
    lc = unique_codes(l_communes, "legacy communes")
    np_ = unique_codes(n_provinces, "new provinces")
    nc = unique_codes(n_communes, "new communes")
    notes: list[str] = []

    for row in ld.values():
        if row[3] not in lp:
            raise BuildError(f"district {row[0]}: unknown province {row[3]}")
    for row in lc.values():
        if row[3] not in ld:
            raise BuildError(f"commune {row[0]}: unknown district {row[3]}")
    for row in nc.values():
        if row[3] not in np_:
            raise BuildError(f"new commune {row[0]}: unknown province {row[3]}")

    commune_map: dict[str, list[str]] = {}
    province_votes: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for old, (ref_district, ref_province, successors) in sorted(conversion.items()):
        for new_code, new_province in successors:
            if new_code not in nc:
                raise BuildError(f"conversion {old}: unknown new commune {new_code}")
            if nc[new_code][3] != new_province:
                raise BuildError(f"conversion {old}: new commune {new_code} is not in province {new_province}")
        commune_map[old] = sorted({code for code, _ in successors})
        if old in lc:
            # The legacy tree is authoritative for where the old commune was;
            # the conversion table's own reference is wrong for a few rows.
            old_province = ld[lc[old][3]][3]
            if (lc[old][3], old_province) != (ref_district, ref_province):
                notes.append(
                    f"conversion row {old} says district {ref_district} province {ref_province}; "
                    f"legacy tree says district {lc[old][3]} province {old_province} (tree used)"
                )
        else:
            old_province = ref_province
            notes.append(f"old commune {old} is in the conversion table but not in the legacy tree")
        for _, new_province in successors:
            province_votes[old_province][new_province] += 1

    province_map: dict[str, str] = {}
    for code in sorted(lp):
        votes = province_votes.get(code)
        if not votes:
            raise BuildError(f"legacy province {code} has no converted commune")
        if len(votes) != 1:
            raise BuildError(f"legacy province {code} splits across new provinces {dict(votes)}")
        (province_map[code],) = votes
    for code in sorted(set(lc) - set(commune_map)):
        notes.append(f"legacy commune {code} {lc[code][1]} has no row in the conversion table")
    successors_of_any = {code for codes in commune_map.values() for code in codes}
    for code in sorted(set(nc) - successors_of_any):
        notes.append(f"new commune {code} {nc[code][1]} has no predecessor in the conversion table")

    counts = {
        "legacy provinces": len(lp),
        "legacy districts": len(ld),
        "legacy communes": len(lc),
        "new provinces": len(np_),
        "new communes": len(nc),
        "converted old communes": len(commune_map),
        "old communes with several successors": sum(1 for codes in commune_map.values() if len(codes) > 1),
    }
    for what, expected in EXPECTED.items():
        if counts[what] != expected:
            raise BuildError(f"{what}: expected {expected}, found {counts[what]}")

    document: dict[str, Any] = {
        "format": 1,
        "source": {
            "package": PACKAGE,
            "version": VERSION,
            "wheel": WHEEL,
            "sha256": SHA256,
            "files": sorted([NEW_TREE_MEMBER, LEGACY_MEMBER, CONVERSION_MEMBER]),
            "note": "Codes and names of the national statistics catalogue (NSO); "
            "read as data from the wheel by scripts/build_divisions.py, no package code used.",
        },
        "columns": {
            "legacy_provinces": ["code", "name", "kind"],
            "legacy_districts": ["code", "name", "kind", "province_code"],
            "legacy_communes": ["code", "name", "kind", "district_code"],
            "new_provinces": ["code", "name", "kind"],
            "new_communes": ["code", "name", "kind", "province_code"],
            "commune_map": "old commune code -> sorted new commune codes",
            "province_map": "old province code -> new province code",
        },
        "legacy_provinces": [lp[code] for code in sorted(lp)],
        "legacy_districts": [ld[code] for code in sorted(ld)],
        "legacy_communes": [lc[code] for code in sorted(lc)],
        "new_provinces": [np_[code] for code in sorted(np_)],
        "new_communes": [nc[code] for code in sorted(nc)],
        "commune_map": commune_map,
        "province_map": province_map,
        "counts": counts,
    }
    return document, notes


# --------------------------------------------------------------------------- write


def dump(value: Any, indent: int = 0) -> str:
    """Deterministic JSON: sorted keys, one table row per line, no trailing spaces."""
    pad = " " * indent
    inner = " " * (indent + 1)
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [
            f"{inner}{json.dumps(key, ensure_ascii=False)}:{dump(value[key], indent + 1)}" for key in sorted(value)
        ]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(value, list) and any(isinstance(item, (dict, list)) for item in value):
        return "[\n" + ",\n".join(inner + dump(item, indent + 1) for item in value) + "\n" + pad + "]"
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--wheel", type=pathlib.Path, help="use this already downloaded wheel (hash still checked)")
    parser.add_argument("--output", type=pathlib.Path, default=OUTPUT, help=f"default: {OUTPUT}")
    parser.add_argument("--verbose", action="store_true", help="print every data note")
    args = parser.parse_args(argv)

    try:
        if args.wheel is not None:
            document, notes = build(verified(args.wheel))
        else:
            with tempfile.TemporaryDirectory(prefix="build_divisions-") as tmp:
                document, notes = build(verified(download_wheel(pathlib.Path(tmp))))
    except (BuildError, KeyError, ValueError, subprocess.CalledProcessError) as error:
        print(f"build_divisions: {error}", file=sys.stderr)
        return 1

    text = dump(document) + "\n"
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8", newline="\n")
    for what, count in document["counts"].items():
        print(f"{what}: {count}")
    print(f"data notes: {len(notes)}" + ("" if args.verbose else " (--verbose to list)"))
    if args.verbose:
        for note in notes:
            print(f"  {note}")
    print(f"wrote {args.output} ({len(text.encode('utf-8'))} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
