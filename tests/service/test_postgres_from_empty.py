"""README's "Starting on PostgreSQL from nothing", step by step, as a newcomer types it.

A database that does not exist yet, then: ``migrate`` names the command that creates it,
``migrate`` again, a first ops key, the sample file of 1,000 investors checked (dry run:
nothing written) and imported, the event paid from the command line, and a payee key for
one investor that reads that investor's payouts, and no one else's, through ``me``.
"""

from __future__ import annotations

import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from service.bootstrap import build, build_app
from service.settings import Settings
from tests.conftest import PG_ADMIN_URL
from tests.jobs_harness import ROOT
from tests.service.test_cli import engine

SAMPLE = ROOT / "examples" / "investors_1000.csv"
KEY = re.compile(r"^(pe_(?:ops|payee)_\S+)$", re.MULTILINE)
ME = """{ me { role payee { externalId name payouts(first: 10) {
  edges { node { status amount { amount currency } event { code } } } } } } }"""


def _admin(sql: str) -> None:
    with psycopg.connect(PG_ADMIN_URL.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


@pytest.fixture
def fresh(pg_template: str | None) -> Iterator[tuple[str, str]]:
    """A database name nobody has created, and its URL; dropped afterwards."""
    if pg_template is None:
        pytest.skip("PostgreSQL not reachable (set PAYOUT_TEST_PG_URL)")
    name = f"payout_empty_{uuid.uuid4().hex[:10]}"
    try:
        yield name, PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


async def test_from_an_empty_postgresql_to_a_paid_event_a_payee_reads_through_me(
    fresh: tuple[str, str], tmp_path: Path
) -> None:
    name, url = fresh
    run = lambda *args: engine(*args, cwd=tmp_path, DATABASE_URL=url)  # noqa: E731

    missing = run("migrate")
    assert missing.returncode == 1
    assert f"create it with createdb -h 127.0.0.1 -p 5432 -U postgres {name}" in missing.stdout
    _admin(f"CREATE DATABASE {name}")
    assert "migrated" in _ok(run("migrate"))
    ops_key = KEY.findall(_ok(run("keys", "create", "--role", "ops", "--owner", "you@x.org")))
    assert len(ops_key) == 1

    args = ("import", str(SAMPLE), "--event", "LIQ-2026-Q4", "--currency", "USD")
    preview = _ok(run(*args, "--dry-run"))
    assert "dry run: nothing written" in preview
    assert re.search(r"read\s+│\s+1000 ", preview) and re.search(r"errors\s+│\s+0 ", preview)
    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        assert conn.execute("SELECT count(*) FROM payees").fetchone() == (0,)
    imported = _ok(run(*args))
    assert "imported as event 1" in imported

    # Every run needs an approval by default, which the command cannot give; a
    # development database turns the rule off.
    refused = run("run", "LIQ-2026-Q4")
    assert refused.returncode == 3 and "APPROVAL_REQUIRED" in refused.stdout, refused.stdout
    paid = _ok(
        engine("run", "LIQ-2026-Q4", cwd=tmp_path, DATABASE_URL=url, RUN_APPROVAL_MIN_TOTAL="off")
    )
    created = re.search(r"created \(new payment orders\)\s+│\s+(\d+)", paid)
    skipped = re.search(r"skipped\s+│\s+(\d+)", paid)
    assert created and skipped and int(created[1]) + int(skipped[1]) == 1000
    assert int(created[1]) >= 950  # a few above a rail's per-payment limit are skipped

    made = run("keys", "create", "--role", "payee", "--owner", "ben@x.org", "--payee-id", "1")
    (payee_key,) = KEY.findall(_ok(made))
    container = build(Settings(database_url=url, _env_file=None))
    try:
        app = build_app(container, migrate=False, recover=False)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            answer = await http.post(
                "/graphql",
                json={"query": ME},
                headers={"Authorization": f"Api-Key {payee_key}"},
            )
            others = await http.post(
                "/graphql",
                json={"query": '{ payee(id: "2") { payouts { edges { cursor } } } }'},
                headers={"Authorization": f"Api-Key {payee_key}"},
            )
    finally:
        await container.aclose()
    assert "errors" not in answer.json(), answer.json()
    me = answer.json()["data"]["me"]
    assert me["role"] == "PAYEE"
    assert (me["payee"]["externalId"], me["payee"]["name"]) == ("INV-00001", "Ben Moreau")
    payouts = [edge["node"] for edge in me["payee"]["payouts"]["edges"]]
    assert payouts == [
        {"status": "SUBMITTED", "amount": {"amount": "3111.87", "currency": "USD"},
         "event": {"code": "LIQ-2026-Q4"}}
    ]  # fmt: skip
    assert others.json()["data"]["payee"] in (None, {"payouts": {"edges": []}})
