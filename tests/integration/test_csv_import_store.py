"""The import store on both databases: a crash in the middle leaves nothing behind (the
key included, so the same request then imports), and two requests racing with one key
make one event."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import datetime
from io import BytesIO
from typing import Any

import pytest
from sqlalchemy import text

from domain.csv_import import ImportRequest
from persistence import import_store, ledger_store
from service.bootstrap import Container
from tests.api.test_csv_import import INVESTORS, TABLES

CONTENT = INVESTORS.read_bytes()
REQUEST = ImportRequest(
    event_code="LIQ-CSV-STORE",
    name="Store",
    fund_name="Store",
    currency="USD",
    total=None,
    dry_run=False,
    idempotency_key="store-1",
    file_sha256=hashlib.sha256(CONTENT).hexdigest(),
)


async def counts(container: Container) -> dict[str, int]:
    async with container.sessions() as session:
        return {
            t: int(await session.scalar(text(f"SELECT count(*) FROM {t}")) or 0) for t in TABLES
        }


async def run(container: Container, now: datetime) -> Any:
    return await container.app_deps().imports.run(BytesIO(CONTENT), REQUEST, now, "ops:test")


async def test_a_crash_after_allocations_leaves_nothing_and_a_retry_imports_once(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = container.clock.now()
    before = await counts(container)
    monkeypatch.setattr(import_store, "CHUNK", 300)  # several chunks written before the crash

    async def killed(*args: Any, **kwargs: Any) -> list[int]:
        raise RuntimeError("the process died here")

    with monkeypatch.context() as patch:
        patch.setattr(ledger_store, "write", killed)
        with pytest.raises(RuntimeError):
            await run(container, now)
    assert await counts(container) == before
    first = await run(container, now)
    assert first.event_id is not None and not first.replayed and first.problems == []
    after = await counts(container)
    assert after["allocations"] - before["allocations"] == 1000
    again = await run(container, now)
    assert (again.event_id, again.replayed) == (first.event_id, True)
    assert await counts(container) == after


async def test_two_requests_with_one_key_make_one_event(container: Container) -> None:
    now = container.clock.now()
    before = await counts(container)
    one, two = await asyncio.gather(run(container, now), run(container, now))
    assert one.event_id is not None and one.event_id == two.event_id
    assert sorted([one.replayed, two.replayed]) == [False, True]
    after = await counts(container)
    assert after["liquidation_events"] - before["liquidation_events"] == 1
    assert after["payees"] - before["payees"] == 1000
