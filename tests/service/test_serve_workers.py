"""``payout-engine serve --workers N``: N processes answering on one port.

Real processes: the serve command is started as an operator starts it, on PostgreSQL,
with the mock banks served over HTTP by the test (in-process banks exist inside one
process only, so several processes refuse them, as SQLite is refused).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from domain.auth import Role
from domain.ports import ProviderKind
from persistence.api_keys import SqlApiKeys
from persistence.db import create_engine, sessionmaker
from providers.mock.bank import MockBank
from providers.mock.config import MockBankConfig
from providers.mock.server import serving
from tests.jobs_harness import ROOT, Child, engine_command, only_on
from tests.service.test_cli import engine

START_TIMEOUT_S = 120  # each process imports the whole engine; slow on a busy machine
PROVIDER_ENV = {
    ProviderKind.ACH: "ACH_PROVIDER_URL",
    ProviderKind.WIRE: "WIRE_PROVIDER_URL",
    ProviderKind.CROSS_BORDER: "CROSS_BORDER_PROVIDER_URL",
}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@asynccontextmanager
async def served_banks() -> AsyncIterator[dict[str, str]]:
    """The three mock banks on loopback ports, as ``*_PROVIDER_URL`` settings."""
    async with AsyncExitStack() as stack:
        urls = {}
        for kind, name in PROVIDER_ENV.items():
            bank = MockBank(kind, MockBankConfig(seed=7))
            urls[name] = await stack.enter_async_context(serving(bank.app))
        yield urls


async def _ops_key(database_url: str) -> str:
    engine_ = create_engine(database_url)
    try:
        return await SqlApiKeys(sessionmaker(engine_)).issue(Role.OPS, "ops", datetime.now(UTC))
    finally:
        await engine_.dispose()


async def _until_serving(base: str, child: Child) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    async with httpx.AsyncClient(base_url=base, timeout=5) as http:
        while time.monotonic() < deadline:
            assert child.alive(), child.output()
            try:
                if (await http.get("/health")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise AssertionError(f"serve did not answer in {START_TIMEOUT_S} s:\n{child.output()}")


async def _answering_process(base: str) -> str:
    """The process that answered a scrape of /metrics, on a connection of its own."""
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        text = (await http.get("/metrics")).text
    line = next(line for line in text.splitlines() if line.startswith("payout_engine_process"))
    return line.split('worker="', 1)[1].split('"', 1)[0]


async def _answering_processes(base: str, want: int) -> set[str]:
    """Process names seen answering concurrent scrapes, until ``want`` of them (each
    process starts on its own, and the kernel hands a connection to whichever accepts)."""
    seen: set[str] = set()
    deadline = time.monotonic() + START_TIMEOUT_S
    while len(seen) < want and time.monotonic() < deadline:
        seen |= set(await asyncio.gather(*(_answering_process(base) for _ in range(8))))
    return seen


def _parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.slow
@pytest.mark.postgres
@only_on("postgresql")
async def test_two_processes_answer_on_one_port_and_stop_on_sigterm(
    database_url: str, tmp_path: Path
) -> None:
    key = await _ops_key(database_url)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    async with served_banks() as banks, AsyncExitStack() as stack:
        env = {"DATABASE_URL": database_url, "PYTHONPATH": str(ROOT), **banks}
        env["ACCESS_LOG"] = "false"  # the flag below must win in every process
        command = [*engine_command(), "serve", "--workers", "2", "--port", str(port)]
        serve = await Child.start([*command, "--access-log"], env, tmp_path / "serve.log")
        stack.push_async_callback(serve.close)
        await _until_serving(base, serve)

        processes = await _answering_processes(base, 2)
        pids = {int(name.rsplit(":", 1)[1]) for name in processes}
        assert len(pids) == 2, serve.output()
        assert {_parent_of(pid) for pid in pids} == {serve.pid}
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            answer = await http.post(
                "/graphql",
                json={"query": "{ me { role } }"},
                headers={"Authorization": f"Api-Key {key}"},
            )
        assert answer.json() == {"data": {"me": {"role": "OPS"}}}

        serve.proc.send_signal(signal.SIGTERM)
        assert await serve.wait(60) == 0
        assert not any(_running(pid) for pid in pids)
    output = serve.output()
    for name in processes:  # each runs the jobs, holding leases under its own name
        assert f"scheduler started as {name}" in output, output
    assert output.count("Application shutdown complete") == 2, output
    assert "payout_engine.access: POST /graphql 200" in output, output
    assert "Traceback" not in output


def test_sqlite_is_refused_with_one_line_and_left_untouched(tmp_path: Path) -> None:
    database = tmp_path / "engine.db"
    done = engine(
        "serve", "--workers", "2", cwd=tmp_path, DATABASE_URL=f"sqlite+aiosqlite:///{database}"
    )
    output = (done.stdout + done.stderr).strip()
    assert done.returncode == 2
    assert "needs PostgreSQL" in output and "--workers 1" in output, output
    assert "Traceback" not in output
    assert not database.exists()


def test_in_process_banks_are_refused_by_several_processes(tmp_path: Path) -> None:
    """Also: ``WEB_CONCURRENCY`` asks for the processes when no flag does."""
    url = "postgresql+psycopg://postgres@127.0.0.1:1/never_opened"
    done = engine("serve", cwd=tmp_path, DATABASE_URL=url, WEB_CONCURRENCY="3")
    output = (done.stdout + done.stderr).strip()
    assert done.returncode == 2
    assert "serve --workers 3 needs providers its processes share" in output, output
    assert "ACH_PROVIDER_URL" in output and "Traceback" not in output


def test_zero_processes_is_a_usage_error(tmp_path: Path) -> None:
    done = engine("serve", "--workers", "0", cwd=tmp_path)
    assert done.returncode == 2
    assert "--workers" in done.stderr
