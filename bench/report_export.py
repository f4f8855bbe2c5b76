"""Export time of a run's CSV report at 10k and 100k payouts, and its peak memory.

Each size gets a fresh database seeded by ``bench.seed``; its payouts are then put in
one run (the seed spreads them over a month of daily runs), so ``run 1`` has N rows.
The export runs in a child process of its own, as ``payout-engine report run 1``
would, writing to /dev/null, so its memory is the export's and not the seeding's:
``rss_before_kb`` is the child's resident set after its imports, ``peak_rss_kb`` the
largest one sampled after each chunk of rows. Flat memory means the growth is about
the same at 10k and 100k rows. ``first_rows_s`` is the time to the first chunk
(connecting, the query's start, first use of the currency tables).

Reference measured in the same run on the same database: the same query as plain CSV
without the engine (PostgreSQL ``COPY (...) TO STDOUT WITH CSV``; on SQLite the
standard library's ``sqlite3`` cursor into ``csv.writer``). ``vs_reference`` is the
engine's time over it.

    python -m bench.report_export                       # PostgreSQL, 10k and 100k
    python -m bench.report_export --backend sqlite
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import resource
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite

from bench.common import database, report
from bench.seed import seed
from persistence.db import create_engine, sessionmaker
from persistence.migrate import upgrade
from persistence.report_store import run_csv, run_query
from persistence.tables import PayoutRunItem

SIZES = (10_000, 100_000)
ROOT = Path(__file__).resolve().parent.parent


def _rss_kb() -> int:
    """The process's resident set now, in kB (``ru_maxrss`` is a high-water mark that
    the imports may already have set above what the export uses)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


async def _seed_one_run(url: str, n: int) -> float:
    engine = create_engine(url)
    try:
        seeded = await seed(engine, n, datetime.now(UTC))
        async with engine.begin() as connection:
            await connection.execute(update(PayoutRunItem.__table__).values(run_id=1))
        return float(seeded.seconds["seed_s"])
    finally:
        await engine.dispose()


# -- the child: one export, timed, with its own peak RSS --------------------------------


async def _engine_export(url: str, run_id: int) -> dict[str, Any]:
    engine = create_engine(url, reads_only=True)
    rss_before = peak = _rss_kb()
    rows = size = 0
    first_chunk = None
    started = time.perf_counter()
    try:
        with open(os.devnull, "w", newline="", encoding="utf-8") as out:
            async for chunk in run_csv(sessionmaker(engine), run_id):
                out.write(chunk)
                size += len(chunk.encode())
                rows += chunk.count("\r\n")
                peak = max(peak, _rss_kb())  # sampled after every chunk of rows
                if first_chunk is None and rows > 1:
                    first_chunk = time.perf_counter() - started
    finally:
        await engine.dispose()
    return {
        "seconds": time.perf_counter() - started,
        "first_rows_s": first_chunk,
        "rows": rows - 1,  # the header
        "bytes": size,
        "rss_before_kb": rss_before,
        "peak_rss_kb": peak,
        "high_water_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }


def _reference_export(url: str, run_id: int) -> dict[str, Any]:
    started = time.perf_counter()
    size = 0
    if url.startswith("postgresql"):
        sql = _literal_sql(run_id, postgresql.dialect())
        libpq = url.replace("postgresql+psycopg://", "postgresql://", 1)
        with (
            psycopg.connect(libpq) as connection,
            connection.cursor().copy(f"COPY ({sql}) TO STDOUT WITH CSV HEADER") as copy,
        ):
            for block in copy:
                size += len(block)
    else:
        sql = _literal_sql(run_id, sqlite.dialect())
        with sqlite3.connect(url.split(":///", 1)[1]) as connection:
            cursor = connection.execute(sql)
            with open(os.devnull, "w", newline="") as out:
                writer = csv.writer(out)
                writer.writerow([d[0] for d in cursor.description])
                while batch := cursor.fetchmany(2000):
                    writer.writerows(batch)
    return {"seconds": time.perf_counter() - started, "bytes": size}


def _literal_sql(run_id: int, dialect: Any) -> str:
    return str(run_query(run_id).compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


def _child(url: str, what: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.report_export", "--child", what, "--url", url],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env=os.environ | {"PYTHONPATH": str(ROOT)},
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def measure(backend: str, n: int) -> dict[str, Any]:
    with database(backend) as url:
        upgrade(url)
        seed_s = asyncio.run(_seed_one_run(url, n))
        reference = _child(url, "reference")
        engine = _child(url, "engine")
    return {
        "workload": "report_export",
        "backend": backend,
        "payouts": n,
        "rows": engine["rows"],
        "seed_s": round(seed_s, 2),
        "export_s": round(engine["seconds"], 3),
        "first_rows_s": round(engine["first_rows_s"] or 0.0, 3),
        "rows_per_s": round(engine["rows"] / engine["seconds"]),
        "csv_mb": round(engine["bytes"] / 1e6, 2),
        "reference_s": round(reference["seconds"], 3),
        "vs_reference": round(engine["seconds"] / reference["seconds"], 2),
        "rss_before_kb": engine["rss_before_kb"],
        "peak_rss_kb": engine["peak_rss_kb"],
        "export_rss_growth_kb": engine["peak_rss_kb"] - engine["rss_before_kb"],
        "process_high_water_kb": engine["high_water_kb"],
    }


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="postgresql")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--child", choices=["engine", "reference"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = (
            asyncio.run(_engine_export(args.url, 1))
            if args.child == "engine"
            else _reference_export(args.url, 1)
        )
        print(json.dumps(result))
        return
    results = [measure(args.backend, n) for n in args.sizes]
    report(
        f"bench.report_export on {args.backend}: one run's CSV, in a process of its own", results
    )


if __name__ == "__main__":
    cli()
