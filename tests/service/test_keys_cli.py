"""``payout-engine keys``: the first key of an empty database, made from the command line,
answers through the app; and ``serve`` says how to make one when there is none."""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import httpx

from service.bootstrap import build, build_app
from service.cli import FIRST_KEY_HINT
from service.settings import Settings
from tests.jobs_harness import ROOT, engine_command
from tests.service.test_cli import engine

KEY = re.compile(r"^(pe_ops_\S+)$", re.MULTILINE)


async def test_the_first_key_of_an_empty_database_answers_me(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    done = engine(
        "keys",
        "create",
        "--role",
        "ops",
        "--owner",
        "you@example.com",
        cwd=tmp_path,
        DATABASE_URL=url,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    found = KEY.search(done.stdout)
    assert found, done.stdout
    secret = found.group(1)
    container = build(Settings(database_url=url, _env_file=None))
    try:
        app = build_app(container, migrate=False, recover=False)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            response = await http.post(
                "/graphql",
                json={"query": "{ me { role owner } }"},
                headers={"Authorization": f"Api-Key {secret}"},
            )
    finally:
        await container.aclose()
    assert response.json() == {"data": {"me": {"role": "OPS", "owner": "you@example.com"}}}
    listed = engine("keys", "list", cwd=tmp_path, DATABASE_URL=url)
    assert listed.returncode == 0 and "you@example.com" in listed.stdout
    assert secret not in listed.stdout and secret[12:] not in listed.stdout
    assert engine("keys", "revoke", "1", cwd=tmp_path, DATABASE_URL=url).returncode == 0
    again = engine("keys", "revoke", "1", cwd=tmp_path, DATABASE_URL=url)
    assert again.returncode == 1 and "already revoked" in again.stdout


def test_keys_create_refuses_a_payee_key_without_its_payee(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    done = engine(
        "keys", "create", "--role", "payee", "--owner", "a@b", cwd=tmp_path, DATABASE_URL=url
    )
    assert done.returncode == 1
    assert "payee_id" in done.stdout and "pe_" not in done.stdout


def test_serve_without_a_key_says_how_to_make_one(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    with subprocess.Popen(
        [*engine_command(), "serve", "--no-demo"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
        env=engine_env(DATABASE_URL=url, PORT="0"),
    ) as server:
        try:
            lines = read_until(server, "Application startup complete", timeout_s=60)
        finally:
            server.terminate()
    assert FIRST_KEY_HINT in lines, lines


def engine_env(**env: str) -> dict[str, str]:
    return os.environ | {"PYTHONPATH": str(ROOT), "NO_COLOR": "1", "COLUMNS": "200", **env}


def read_until(process: subprocess.Popen[str], marker: str, timeout_s: float) -> list[str]:
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if marker in line:
            break
    return lines
