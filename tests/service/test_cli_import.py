"""``payout-engine import``: a dry run prints the preview and writes nothing; a file with
row errors exits 1 naming each; a real import prints the event it made."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.api.test_csv_import import INVESTORS
from tests.service.test_cli import engine


def payees(db: Path) -> int:
    with sqlite3.connect(db) as connection:
        return int(connection.execute("SELECT count(*) FROM payees").fetchone()[0])


def test_import_dry_run_then_real_then_a_bad_file(tmp_path: Path) -> None:
    db = tmp_path / "engine.db"
    url = f"sqlite+aiosqlite:///{db}"
    args = ("import", str(INVESTORS), "--event", "LIQ-CLI-1")
    dry = engine(*args, "--dry-run", cwd=tmp_path, DATABASE_URL=url)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "dry run: nothing written" in dry.stdout
    assert "predicted rails: ACH 43," in dry.stdout
    assert payees(db) == 0
    real = engine(*args, "--idempotency-key", "cli-1", cwd=tmp_path, DATABASE_URL=url)
    assert real.returncode == 0, real.stdout + real.stderr
    assert "imported as event 1" in real.stdout
    assert payees(db) == 1000
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "external_id,name,kind,country,amount\n"
        'X-1,"=HYPERLINK(""http://x"")",investor,DE,1.00\nX-2,B,investor,DE,1.001\n'
    )
    refused = engine("import", str(bad), "--event", "LIQ-CLI-2", cwd=tmp_path, DATABASE_URL=url)
    assert refused.returncode == 1
    assert "row 2, name: FORMULA_INJECTION" in refused.stdout
    assert "row 3, amount: INVALID_AMOUNT" in refused.stdout
    assert "csv: ROW_ERRORS: 2 row error(s); nothing was imported" in refused.stdout
    assert payees(db) == 1000
