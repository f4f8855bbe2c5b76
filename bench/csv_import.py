"""CSV import of a liquidation event on PostgreSQL: dry run and real import against COPY.

For each size, a child process (so that its peak memory is its own) makes a CSV of that
many investors across every rail country (``examples.make_investors_csv``), and on a
fresh database times:

* ``copy``: ``COPY ... FROM STDIN (FORMAT csv)`` of the same file into a plain table of
  text columns, the floor: reading the rows into PostgreSQL with no checks at all;
* ``dry_run``: ``importLiquidationEvent``'s store with ``dry_run`` (reads only);
* ``import``: the real import (payees, accounts, event, allocations, ledger, audit).

It reports the times, the import's ratio to the floor (goal: within 5x), and the
child's peak RSS over its RSS before the import (goal: flat as the file grows).

    python -m bench.csv_import                      # 10,000 and 100,000 rows
    python -m bench.csv_import --rows 1000 --rows 20000
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import hashlib
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from bench.common import database, report

GOAL_RATIO = 5.0


def make_file(path: Path, rows: int) -> None:
    from domain.csv_import import ACCOUNT_COLUMNS
    from examples.make_investors_csv import HEADER
    from examples.make_investors_csv import rows as investor_rows

    with path.open("w", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(HEADER + list(ACCOUNT_COLUMNS))
        writer.writerows(investor_rows(rows))


def copy_seconds(url: str, path: Path) -> float:
    """The floor: the same bytes into a plain table of text columns, one COPY."""
    with path.open() as source:
        columns = next(csv.reader(source))
    libpq = url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(libpq) as connection:
        cells = ", ".join(f'"{c}" text' for c in columns)
        connection.execute(f"CREATE TABLE copy_floor ({cells})")
        started = time.perf_counter()
        with (
            connection.cursor() as cursor,
            cursor.copy("COPY copy_floor FROM STDIN (FORMAT csv, HEADER true)") as copy,
            path.open("rb") as data,
        ):
            while block := data.read(1 << 20):
                copy.write(block)
        connection.commit()
        return time.perf_counter() - started


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def timed_import(url: str, path: Path, dry_run: bool) -> tuple[float, Any]:
    from domain.csv_import import ImportRequest
    from persistence.db import create_engine, sessionmaker
    from persistence.import_store import SqlEventImports

    engine = create_engine(url)
    try:
        request = ImportRequest(
            event_code="LIQ-BENCH-CSV",
            name="Bench import",
            fund_name="Bench fund",
            currency="USD",
            total=None,
            dry_run=dry_run,
            idempotency_key=None if dry_run else "bench-import",
            file_sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
        )
        started = time.perf_counter()
        with path.open("rb") as source:
            outcome = await SqlEventImports(sessionmaker(engine)).run(
                source, request, datetime(2026, 3, 2, 10, tzinfo=UTC), "bench"
            )
        return time.perf_counter() - started, outcome
    finally:
        await engine.dispose()


def child(rows: int) -> dict[str, Any]:
    from persistence.migrate import upgrade

    with tempfile.TemporaryDirectory() as tmp, database("postgresql") as url:
        path = Path(tmp) / "investors.csv"
        make_file(path, rows)
        upgrade(url)
        copy_s = copy_seconds(url, path)
        before = current_rss_mb()
        dry_s, dry = asyncio.run(timed_import(url, path, dry_run=True))
        real_s, real = asyncio.run(timed_import(url, path, dry_run=False))
        assert dry.preview.error_count == 0 and not dry.problems, dry.problems
        assert real.event_id is not None, real.problems
        return {
            "bench": "csv_import",
            "backend": "postgresql",
            "rows": rows,
            "file_mb": round(path.stat().st_size / 2**20, 2),
            "copy_s": round(copy_s, 3),
            "dry_run_s": round(dry_s, 3),
            "import_s": round(real_s, 3),
            "dry_run_rows_per_s": round(rows / dry_s),
            "import_rows_per_s": round(rows / real_s),
            "dry_run_x_copy": round(dry_s / copy_s, 1),
            "import_x_copy": round(real_s / copy_s, 1),
            "goal_import_x_copy": GOAL_RATIO,
            "rss_before_import_mb": round(before, 1),
            "peak_rss_mb": round(rss_mb(), 1),
            "peak_growth_mb": round(rss_mb() - before, 1),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, action="append", help="repeatable")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child)))
        return
    results = []
    for rows in args.rows or [10_000, 100_000]:
        done = subprocess.run(
            [sys.executable, "-m", "bench.csv_import", "--child", str(rows)],
            capture_output=True,
            text=True,
            check=True,
        )
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    report("CSV import on PostgreSQL (COPY of the same file is the floor)", results)


if __name__ == "__main__":
    main()
