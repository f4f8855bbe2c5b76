"""``payout-engine`` run as an operator runs it: a process of its own, its output read."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.conftest import PG_ADMIN_URL
from tests.jobs_harness import ROOT, engine_command


def engine(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """The command's exit status and output; in ``cwd``, so that no .env file is read."""
    return subprocess.run(
        [*engine_command(), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env=os.environ | {"PYTHONPATH": str(ROOT), "NO_COLOR": "1", "COLUMNS": "200", **env},
    )


MISSING = f"payout_missing_{uuid.uuid4().hex[:8]}"
# Each database the commands cannot open, and what the one line about it must name.
UNOPENABLE = {
    "a database that does not exist": (PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{MISSING}", MISSING),
    "a server that is down": ("postgresql+psycopg://postgres@127.0.0.1:1/payout", "127.0.0.1:1"),
}


@pytest.mark.parametrize("command", ["migrate", "serve"])
@pytest.mark.parametrize("database", list(UNOPENABLE))
def test_a_database_that_cannot_be_opened_is_one_clear_line(
    command: str, database: str, tmp_path: Path, pg_template: str | None
) -> None:
    if pg_template is None and database == "a database that does not exist":
        pytest.skip("PostgreSQL not reachable (set PAYOUT_TEST_PG_URL)")
    url, named = UNOPENABLE[database]
    done = engine(command, cwd=tmp_path, DATABASE_URL=url)
    output = (done.stdout + done.stderr).strip()
    assert done.returncode != 0
    assert "Traceback" not in output
    assert len(output.splitlines()) <= 3, output[-2000:]
    assert named in output, output


# What the commands need, loaded by the command that needs it: the web stack, the
# database toolkit and migrations, the scheduler, the bank-detail and calendar checks.
HEAVY = (
    "strawberry",
    "starlette",
    "uvicorn",
    "sqlalchemy",
    "alembic",
    "apscheduler",
    "httpx",
    "schwifty",
    "holidays",
    "pydantic_settings",
)


def test_importing_the_cli_loads_none_of_what_the_commands_need() -> None:
    """``payout-engine --help`` (and every ``<command> --help``) imports only the CLI."""
    code = "import sys, service.cli; print(*sorted(sys.modules))"
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=True,
    )
    loaded = {name.partition(".")[0] for name in done.stdout.split()}
    assert sorted(loaded.intersection(HEAVY)) == []


@pytest.mark.parametrize(
    "command",
    ["serve", "worker", "migrate", "seed", "run", "reconcile", "keys", "mock-provider"],
)
def test_every_command_explains_itself(command: str, tmp_path: Path) -> None:
    done = engine(command, "--help", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Usage:" in done.stdout
