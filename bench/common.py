"""What every benchmark shares: databases to run on, percentiles, and the output format
(a human table, then one JSON line per result, so runs can be collected and compared)."""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import psycopg

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def pg_admin_url() -> str:
    """The PostgreSQL server to create benchmark databases on (``PAYOUT_BENCH_PG_URL``)."""
    return os.environ.get("PAYOUT_BENCH_PG_URL", DEFAULT_PG_URL)


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


@contextlib.contextmanager
def database(backend: str) -> Iterator[str]:
    """A fresh, empty database URL for one benchmark, dropped afterwards."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite+aiosqlite:///{tmp}/bench.db"
        return
    if backend != "postgresql":
        raise ValueError(f"unknown backend {backend!r}")
    admin = pg_admin_url()
    name = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_libpq(admin), autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(_libpq(admin), autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- CPU: who is busy (the server, this load generator, or the rest: PostgreSQL) --------


def _ticks(stat_path: str) -> int:
    with contextlib.suppress(OSError, IndexError, ValueError):
        fields = Path(stat_path).read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime
    return 0


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of ``pid`` and its direct children (uvicorn's workers)."""
    pids = [pid]
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                pids.append(int(stat.parent.name))
    return sum(_ticks(f"/proc/{p}/stat") for p in pids) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent not idle, since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def postgres_ticks(database_url: str) -> dict[int, int]:
    """CPU ticks of each PostgreSQL backend connected to this database (not this query's)."""
    libpq = database_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(libpq, autocommit=True) as connection:
        pids = connection.execute(
            "SELECT pid FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    return {pid: _ticks(f"/proc/{pid}/stat") for (pid,) in pids}


@dataclass
class CpuMeter:
    """Average cores busy during a phase: the server process (with its workers), this
    load generator, the PostgreSQL backends of the bench database, and the rest of the
    machine (other work sharing it); and the app's CPU per request."""

    database_url: str
    server_pid: int | None = None  # None: the app work runs in this process
    _start: dict[str, float] = field(default_factory=dict)
    _pg_start: dict[int, int] = field(default_factory=dict)

    @property
    def _pg(self) -> bool:  # on SQLite the database is in the server's process
        return self.database_url.startswith("postgresql")

    def _now(self) -> dict[str, float]:
        return {
            "server": tree_cpu_seconds(self.server_pid) if self.server_pid else 0.0,
            "load_gen": time.process_time(),
            "machine": machine_busy_seconds(),
        }

    def start(self) -> None:
        self._pg_start = postgres_ticks(self.database_url) if self._pg else {}
        self._start = self._now()

    def cores(self, seconds: float, requests: int) -> dict[str, float]:
        now = self._now()
        pg_now = postgres_ticks(self.database_url) if self._pg else {}
        used = {key: now[key] - self._start[key] for key in now}
        ticks = sum(max(0, t - self._pg_start.get(pid, 0)) for pid, t in pg_now.items())
        used["postgres"] = ticks / os.sysconf("SC_CLK_TCK")
        rest = used["machine"] - used["server"] - used["load_gen"] - used["postgres"]
        app = used["server"] if self.server_pid else used["load_gen"]
        return {
            "cpu_server": round(used["server"] / seconds, 2),
            "cpu_load_gen": round(used["load_gen"] / seconds, 2),
            "cpu_postgres": round(used["postgres"] / seconds, 2),
            "cpu_rest_of_machine": round(max(0.0, rest) / seconds, 2),
            "app_cpu_ms_per_req": round(app * 1000 / requests, 2) if requests else 0.0,
        }


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) of ``values``, interpolated; 0 for no values."""
    if not values:
        return 0.0
    if len(values) == 1:
        return float(values[0])
    return statistics.quantiles(values, n=100, method="inclusive")[max(0, min(98, int(q) - 1))]


def report(title: str, results: Sequence[dict[str, Any]]) -> None:
    """Print ``results`` as a table (one column per result), then one JSON line each."""
    keys: list[str] = []
    for result in results:
        keys += [k for k in result if k not in keys]
    width = max(len(k) for k in keys) if keys else 0
    print(f"\n{title}")
    for key in keys:
        cells = "  ".join(f"{_cell(r.get(key)):>14}" for r in results)
        print(f"{key:>{width}}  {cells}")
    for result in results:
        print(json.dumps(result, default=str))


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 100 else f"{value:,.1f}"
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


@contextlib.contextmanager
def child(
    command: list[str], env: dict[str, str], stop_within_s: float = 60
) -> Iterator[tuple[subprocess.Popen[bytes], IO[bytes]]]:
    """A process with its output in a temporary file; at the end SIGTERM, then SIGKILL
    if it has not stopped within ``stop_within_s``."""
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            yield process, log
        finally:
            process.terminate()
            try:
                process.wait(stop_within_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
