"""Audience import: a million mixed-format rows into SQLite (and optionally PostgreSQL).

Generates a CSV as operators send them (every number form of DESIGN §3, district names in several
spellings, communes without a district, declared carriers, ~1% bad rows, ~2% duplicates), imports it
with ``broadcaster.importer.import_audience`` and prints rows/s, seconds and peak RSS. The baseline
is the same file read with ``csv.reader`` and inserted as it is, without any normalisation, by a
bare DB-API ``executemany`` into the same ``subscriber`` table (same indexes, transactions of the
same size as the importer's, the same SQLite page cache); ``ratio`` = import rows/s ÷ baseline
rows/s. The baseline can be the slower of the two at a million rows: it inserts the raw values in
file order, while the importer sorts each transaction by number, which the indexes like better.

Each measurement runs in a child process of its own, so its peak RSS is its own. Wall-clock figures
depend on what else runs on the machine (``load_average`` is printed with them); ``cpu_seconds``
(user + system of the child) much less so: on SQLite, where all the work is in-process, the wall
time of an otherwise idle machine is close to it.

    .venv/bin/python bench/import_audience.py            # 1,000,000 rows, SQLite
    .venv/bin/python bench/import_audience.py --quick    # 100,000 rows (under a minute)
    .venv/bin/python bench/import_audience.py --postgres postgresql://postgres@127.0.0.1/postgres

The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PROVINCE = "72"  # Tây Ninh

# District spellings as they come in: full names, abbreviations, no diacritics, upper case, codes.
DISTRICTS = {
    "703": ["Thành phố Tây Ninh", "TP Tây Ninh", "TP. Tây Ninh", "tp tay ninh", "703"],
    "705": ["Huyện Tân Biên", "H. Tân Biên", "Tân Biên", "tan bien", "TÂN BIÊN", "huyen tan bien", "705"],
    "706": ["Huyện Tân Châu", "H.Tân Châu", "Tân Châu", "tan chau", "706"],
    "707": ["Huyện Dương Minh Châu", "Dương Minh Châu", "duong minh chau", "H. Dương Minh Châu", "707"],
    "708": ["Huyện Châu Thành", "Châu Thành", "chau thanh", "H. Châu Thành"],
    "709": ["Thị xã Hòa Thành", "TX Hoà Thành", "Hòa Thành", "hoa thanh", "Huyện Hòa Thành", "709"],
    "710": ["Huyện Gò Dầu", "Gò Dầu", "go dau", "GÒ DẦU"],
    "711": ["Huyện Bến Cầu", "Bến Cầu", "ben cau", "711"],
    "712": ["Thị xã Trảng Bàng", "TX. Trảng Bàng", "Trảng Bàng", "trang bang"],
}
# Communes whose name is unique in the province: rows that give only the commune.
COMMUNES = ["Xã Tân Lập", "Xã Suối Ngô", "Phường Long Hoa", "Xã Phước Vinh", "xa cam giang", "Xã Long Chữ", "25480"]
PREFIXES = ["86", "96", "97", "98", "32", "33", "35", "37", "39", "88", "91", "94", "81", "83", "85",
            "89", "90", "93", "70", "76", "77", "79", "92", "56", "58", "99", "59", "87", "55"]  # fmt: skip
OLD = {"32": "162", "33": "163", "35": "165", "37": "167", "39": "169", "70": "120", "79": "121", "77": "122",
       "76": "126", "83": "123", "85": "125", "81": "127", "56": "186", "58": "188", "59": "199"}  # fmt: skip
FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Huỳnh", "Võ", "Phan", "Trương", "Đặng", "Bùi"]
GIVEN = ["Văn An", "Thị Bích", "Minh Châu", "Quốc Dũng", "Thị Hạnh", "Hoàng Long", "Ngọc Mai", "Thanh Tâm"]
CARRIERS = ["Viettel", "Vinaphone", "MobiFone", "Vietnamobile", "Mobi", "VNPT"]


def number_form(nsn: str, rng: random.Random) -> str:
    """One of the written forms of a nine-digit national number (DESIGN §3)."""
    roll = rng.random()
    if roll < 0.35:
        return "0" + nsn
    if roll < 0.45:
        return f"+84 {nsn[:3]} {nsn[3:6]} {nsn[6:]}"
    if roll < 0.52:
        return "84" + nsn
    if roll < 0.60:
        return nsn
    if roll < 0.66:
        return f"(0{nsn[:2]}) {nsn[2:5]}-{nsn[5:]}"
    if roll < 0.70:
        return f"{nsn[0]}.{nsn[1:]}E+08"
    if roll < 0.75:
        return f"{nsn}.0"
    if roll < 0.80:
        return "'0" + nsn
    if roll < 0.86 and nsn[:2] in OLD:
        return "0" + OLD[nsn[:2]] + nsn[2:]
    if roll < 0.92:
        return f"0{nsn[:3]}.{nsn[3:6]}.{nsn[6:]}"
    return f"0{nsn[:2]} {nsn[2:5]} {nsn[5:]}"


def generate(path: Path, rows: int, seed: int = 30_07) -> dict[str, int]:
    """Write the test list; return how many rows of each kind were written."""
    rng = random.Random(seed)
    kinds = dict.fromkeys(("good", "bad", "duplicate", "commune_only", "declared"), 0)
    recent: list[str] = []
    codes = list(DISTRICTS)
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["STT", "Họ và tên", "Số điện thoại", "Quận/Huyện", "Xã/Phường", "Nhà mạng", "Ghi chú"])
        for index in range(1, rows + 1):
            nsn = rng.choice(PREFIXES) + f"{rng.randrange(10_000_000):07d}"
            district = rng.choice(DISTRICTS[rng.choice(codes)])
            commune = ""
            carrier = ""
            note = ""
            roll = rng.random()
            if roll < 0.01:
                kinds["bad"] += 1
                bad = rng.randrange(7)
                phone = number_form(nsn, rng)
                if bad == 0:
                    phone = f"0276 38{rng.randrange(10_000):04d}"  # landline
                elif bad == 1:
                    phone = phone[:6]  # cut short
                elif bad == 2:
                    phone = "không có"
                elif bad == 3:
                    district = "Huyện Không Có"
                elif bad == 4:
                    phone = ""
                elif bad == 5:
                    phone = f"{nsn[0]}.{nsn[1:6]}E+08"  # Excel's display, digits rounded away
                else:
                    district, commune = "", "Xã Tân Bình"  # two communes of the province: ambiguous
            elif roll < 0.03 and recent:
                kinds["duplicate"] += 1
                phone = number_form(rng.choice(recent), rng)
            else:
                kinds["good"] += 1
                phone = number_form(nsn, rng)
                if len(recent) < 5000:
                    recent.append(nsn)
                elif rng.random() < 0.01:
                    recent[rng.randrange(5000)] = nsn
                if roll > 0.95:
                    kinds["commune_only"] += 1
                    district, commune = "", rng.choice(COMMUNES)
                if roll < 0.08:
                    kinds["declared"] += 1
                    carrier = rng.choice(CARRIERS)
            if roll > 0.9:
                note = "hộ nghèo" if roll > 0.93 else "đã liên hệ"
            name = f"{rng.choice(FAMILY)} {rng.choice(GIVEN)}"
            writer.writerow([index, name, phone, district, commune, carrier, note])
    return kinds


# ----------------------------------------------------------------------------------- measurements


def _peak_rss_mb() -> float:
    """This process's peak resident set size (``ru_maxrss``: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (2**20 if sys.platform == "darwin" else 2**10), 1)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child_import(url: str, path: Path, profile: Path | None) -> dict[str, Any]:
    from broadcaster import db, importer

    engine = db.make_engine(url)
    db.migrate(engine)
    started, cpu = time.perf_counter(), _cpu_seconds()
    if profile is not None:
        import cProfile

        profiler = cProfile.Profile(time.process_time)  # CPU time: the machine may be shared
        profiler.enable()
    summary = importer.import_audience(engine, path, name="bench", province_code=PROVINCE)
    if profile is not None:
        profiler.disable()
        profiler.dump_stats(str(profile))
    seconds, cpu = time.perf_counter() - started, _cpu_seconds() - cpu
    count = importer.audience_size(engine, summary.audience_id)
    engine.dispose()
    return {
        "seconds": round(seconds, 2),
        "cpu_seconds": round(cpu, 2),
        "rows_per_s": round(summary.rows / seconds),
        "peak_rss_mb": _peak_rss_mb(),
        "summary": {**summary.as_json(), "by_reason": dict(summary.by_reason)},
        "in_database": count,
    }


def child_baseline(url: str, path: Path) -> dict[str, Any]:
    """The same rows, unnormalised, by a bare executemany into the same table."""
    from broadcaster import db
    from broadcaster.importer import CHUNK_ROWS, SQLITE_IMPORT_CACHE_KIB

    engine = db.make_engine(url)
    db.migrate(engine)
    with engine.begin() as conn:
        audience_id = conn.exec_driver_sql(
            "INSERT INTO audience (name, province_code, created_at) VALUES ('baseline', '72', '2024-07-30') "
            "RETURNING id"
        ).scalar_one()
    postgres = engine.dialect.name == "postgresql"
    mark = "%s" if postgres else "?"
    statement = (
        "INSERT INTO subscriber (audience_id, msisdn, province_code, district_code, commune_code, carrier, "
        f"carrier_source, attributes) VALUES ({', '.join([mark] * 8)}) ON CONFLICT DO NOTHING"
    )
    started, cpu = time.perf_counter(), _cpu_seconds()
    raw = engine.raw_connection()
    rows = 0
    try:
        cursor = raw.cursor()
        if not postgres:  # the same page cache as the importer's connection
            cursor.execute(f"PRAGMA cache_size = -{SQLITE_IMPORT_CACHE_KIB}")
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            next(reader)
            chunk: list[tuple[Any, ...]] = []
            for record in reader:
                rows += 1
                chunk.append((audience_id, record[2][:16], PROVINCE, record[3][:8], record[4][:8] or None,
                              record[5][:16], "prefix", None))  # fmt: skip
                if len(chunk) >= CHUNK_ROWS:
                    if not postgres:
                        cursor.execute("BEGIN IMMEDIATE")
                    cursor.executemany(statement, chunk)
                    raw.commit()
                    chunk = []
            if chunk:
                if not postgres:
                    cursor.execute("BEGIN IMMEDIATE")
                cursor.executemany(statement, chunk)
                raw.commit()
    finally:
        raw.close()
    seconds, cpu = time.perf_counter() - started, _cpu_seconds() - cpu
    engine.dispose()
    return {
        "seconds": round(seconds, 2),
        "cpu_seconds": round(cpu, 2),
        "rows_per_s": round(rows / seconds),
        "peak_rss_mb": _peak_rss_mb(),
    }


def _child(kind: str, url: str, path: Path, profile: Path | None = None) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", kind, "--url", url, "--file", str(path)]
    if profile is not None:
        command += ["--profile", str(profile)]
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        msg = f"the {kind} child failed (exit {proc.returncode})"
        raise SystemExit(msg)
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def _fresh_postgres(url: str) -> str:
    """A new empty schema in the PostgreSQL database at ``url``; returns the URL that uses it."""
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from broadcaster.db import normalise_url

    url = normalise_url(url)
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    return make_url(url).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(False)


def _drop_postgres(url: str) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    schema = parsed.query["options"].removeprefix("-csearch_path=")  # type: ignore[union-attr]
    engine = create_engine(parsed.difference_update_query(["options"]), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="100,000 rows instead of 1,000,000")
    parser.add_argument("--rows", type=int, help="number of rows (overrides --quick)")
    parser.add_argument("--postgres", metavar="URL", help="also measure on this PostgreSQL database")
    parser.add_argument("--profile", type=Path, help="write a cProfile of the SQLite import here")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep the files")
    parser.add_argument("--child", choices=("import", "baseline"), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        if args.child == "import":
            result = child_import(args.url, args.file, args.profile)
        else:
            result = child_baseline(args.url, args.file)
        print(json.dumps(result, ensure_ascii=False))
        return

    rows = args.rows or (100_000 if args.quick else 1_000_000)
    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench-import-"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"audience-{rows}.csv"
    started = time.perf_counter()
    kinds = generate(path, rows)
    print(f"generated {rows:,} rows ({path.stat().st_size / 2**20:.0f} MiB) in {time.perf_counter() - started:.1f}s: "
          f"{kinds}", file=sys.stderr)  # fmt: skip

    # The machine may be shared: the load average says how far the wall-clock figures can be trusted,
    # the CPU seconds (user + system) of each child do not depend on it as much.
    results: dict[str, Any] = {"bench": "import_audience", "rows": rows, "load_average": round(os.getloadavg()[0], 1)}
    for label, make_url in [("sqlite", None), *([("postgres", args.postgres)] if args.postgres else [])]:
        urls = []
        for kind in ("import", "baseline"):
            if make_url is None:
                db_file = folder / f"{kind}.db"
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{db_file}{suffix}").unlink(missing_ok=True)
                urls.append(f"sqlite:///{db_file}")
            else:
                urls.append(_fresh_postgres(make_url))
        try:
            imported = _child("import", urls[0], path, args.profile if label == "sqlite" else None)
            baseline = _child("baseline", urls[1], path)
        finally:
            if make_url is not None:
                for url in urls:
                    _drop_postgres(url)
        summary = imported["summary"]
        adds_up = summary["rows"] == summary["accepted"] + summary["rejected"] + summary["duplicates"] == rows
        print(f"{label}: import {imported['seconds']}s (CPU {imported['cpu_seconds']}s, {imported['rows_per_s']:,} "
              f"rows/s, peak RSS {imported['peak_rss_mb']} MB); baseline {baseline['seconds']}s (CPU "
              f"{baseline['cpu_seconds']}s, {baseline['rows_per_s']:,} rows/s); "
              f"accepted {summary['accepted']:,}, rejected {summary['rejected']:,} {summary['by_reason']}, "
              f"duplicates {summary['duplicates']:,}; counts add up: {adds_up}", file=sys.stderr)  # fmt: skip
        prefix = "" if label == "sqlite" else "pg_"
        if label == "sqlite":  # on PostgreSQL the server does most of the work: the client's CPU says little
            results["cpu_ratio"] = round(baseline["cpu_seconds"] / imported["cpu_seconds"], 2)
        results.update(
            {
                f"{prefix}seconds": imported["seconds"],
                f"{prefix}cpu_seconds": imported["cpu_seconds"],
                f"{prefix}rows_per_s": imported["rows_per_s"],
                f"{prefix}peak_rss_mb": imported["peak_rss_mb"],
                f"{prefix}baseline_per_s": baseline["rows_per_s"],
                f"{prefix}ratio": round(imported["rows_per_s"] / baseline["rows_per_s"], 2),
                f"{prefix}accepted": summary["accepted"],
                f"{prefix}rejected": summary["rejected"],
                f"{prefix}duplicates": summary["duplicates"],
                f"{prefix}counts_add_up": adds_up and imported["in_database"] == summary["accepted"],
            }
        )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
