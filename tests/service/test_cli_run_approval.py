"""``payout-engine run`` keeps the four-eyes rule that ``startRun`` keeps: a new run that
needs an approval is refused, with nothing paid, and the command says where to go."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.service.test_cli import engine

EVENT = "LIQ-2024-001"  # the demo's event (`seed`)


def _counts(db: Path) -> tuple[int, int]:
    with sqlite3.connect(db) as connection:
        runs = connection.execute("SELECT count(*) FROM payout_runs").fetchone()[0]
        payouts = connection.execute("SELECT count(*) FROM payouts WHERE run_id IS NOT NULL")
        return int(runs), int(payouts.fetchone()[0])


def test_a_run_that_needs_an_approval_is_refused_and_one_that_does_not_is_paid(
    tmp_path: Path,
) -> None:
    db = tmp_path / "engine.db"
    url = f"sqlite+aiosqlite:///{db}"
    seeded = engine("seed", cwd=tmp_path, DATABASE_URL=url)
    assert seeded.returncode == 0, seeded.stdout + seeded.stderr

    # The default (RUN_APPROVAL_MIN_TOTAL=0): every run waits for an approver.
    refused = engine("run", EVENT, cwd=tmp_path, DATABASE_URL=url)
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert "APPROVAL_REQUIRED" in refused.stdout
    assert "startRun" in refused.stdout and "decideApproval" in refused.stdout
    assert "Traceback" not in refused.stdout + refused.stderr
    assert _counts(db) == (0, 0)

    # A threshold the event's total reaches: refused too, after evaluating it.
    reached = engine("run", EVENT, cwd=tmp_path, DATABASE_URL=url, RUN_APPROVAL_MIN_TOTAL="1")
    assert reached.returncode == 3, reached.stdout + reached.stderr
    assert _counts(db) == (0, 0)

    # One it stays under, or the rule off (a development database): the run is paid.
    under = engine(
        "run",
        EVENT,
        "--idempotency-key",
        "dev-1",
        cwd=tmp_path,
        DATABASE_URL=url,
        RUN_APPROVAL_MIN_TOTAL="1000000000000",
    )
    assert under.returncode == 0, under.stdout + under.stderr
    assert "(completed)" in under.stdout
    runs, paid = _counts(db)
    assert runs == 1 and paid > 0

    # The run this key already has replays, whatever the rule: it pays nobody again.
    again = engine("run", EVENT, "--idempotency-key", "dev-1", cwd=tmp_path, DATABASE_URL=url)
    assert again.returncode == 0, again.stdout + again.stderr
    assert _counts(db) == (runs, paid)
