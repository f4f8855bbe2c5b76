"""What every benchmark shares: databases to run on, percentiles, and the output format
(a human table, then one JSON line per result, so runs can be collected and compared)."""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

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
