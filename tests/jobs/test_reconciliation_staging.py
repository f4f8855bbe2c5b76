"""How reconciliation reads the providers: a listing page is staged as the JSON the
provider sent (on PostgreSQL the server reads it, while the next page is fetched),
and reads exactly as the orders decoded one by one would; a page the engine cannot
read fails the run instead of being guessed at; the ledger checks that run meanwhile
(PostgreSQL) fail the run when they fail, and stop when the run fails."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import astuple, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, text

from domain.clock import ManualClock
from domain.errors import InvalidInput, ProviderUnavailable
from domain.money import Money
from domain.ports import OrderStatus, PaymentProvider, ProviderKind, ProviderOrder
from jobs.reconciliation import JsonListing, Reconciler
from persistence import ledger_checks
from persistence.reconciliation_store import Staging, staging
from persistence.tables import ReconciliationBreak, ReconciliationRun
from providers.codec import order_to_json
from providers.mock.bank import MockBank
from service.bootstrap import Container
from tests.jobs.test_reconciliation import DISCREPANCIES, settled_day

Banks = dict[ProviderKind, MockBank]
AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def order(n: int, amount: Money, status: OrderStatus = OrderStatus.COMPLETED) -> ProviderOrder:
    return ProviderOrder(
        order_id=f"ord_{n:04d}",
        idempotency_key=f"key-{n:04d}",
        status=status,
        amount=amount,
        target_amount=None,
        fx_rate=None,
        rail="ach",
        created_at=AT,
        updated_at=AT,
        failure_code="AC04" if status is OrderStatus.FAILED else None,
        failure_reason="account_closed" if status is OrderStatus.FAILED else None,
    )


ORDERS = [
    order(1, Money(123456, "USD")),
    order(2, Money(7, "USD"), OrderStatus.PROCESSING),
    order(3, Money(1500, "JPY")),  # no minor unit
    order(4, Money(1234, "BHD"), OrderStatus.FAILED),  # three decimals
    order(5, Money(10**15, "EUR"), OrderStatus.RETURNED),  # the largest amount there is
    replace(
        order(6, Money(2500, "GBP")), target_amount=Money(3100, "EUR"), fx_rate=Decimal("1.24")
    ),
]


def page(*items: dict[str, Any], next_cursor: str | None = None) -> bytes:
    return json.dumps({"data": list(items), "next_cursor": next_cursor}).encode()


async def staged_orders(staged: Staging) -> list[tuple[Any, ...]]:
    """Every staged order: with no payout in the database, each one is unrecorded."""
    return sorted(astuple(u) for u in await staged.unrecorded())


async def test_a_page_staged_as_json_reads_as_the_orders_decoded_one_by_one(
    container: Container,
) -> None:
    async with staging(container.engine) as staged:
        await staged.add("ach", ORDERS[:4])
        await staged.add("wire", ORDERS[4:])
        decoded = await staged_orders(staged)
    async with staging(container.engine) as staged:
        await staged.add_page("ach", page(*map(order_to_json, ORDERS[:2])))
        await staged.add_page("ach", page(*map(order_to_json, ORDERS[2:4])))
        await staged.add_page("ach", page())
        await staged.add_page("wire", page(*map(order_to_json, ORDERS[4:])))
        as_json = await staged_orders(staged)
        assert staged.rows == len(ORDERS)

    assert as_json == decoded
    assert [(o[1], o[4], o[5]) for o in as_json] == [
        ("ord_0001", 123456, "USD"),
        ("ord_0002", 7, "USD"),
        ("ord_0003", 1500, "JPY"),
        ("ord_0004", 1234, "BHD"),
        ("ord_0005", 10**15, "EUR"),
        ("ord_0006", 2500, "GBP"),
    ]


UNREADABLE = {
    "more decimals than the currency has": {"amount": {"amount": "12.345", "currency": "USD"}},
    "decimals where the currency has none": {"amount": {"amount": "15.5", "currency": "JPY"}},
    "no such currency": {"amount": {"amount": "12.34", "currency": "ZZZ"}},
    "a currency without minor units": {"amount": {"amount": "1", "currency": "XAU"}},
    "not a decimal": {"amount": {"amount": "1e3", "currency": "USD"}},
    "too large": {"amount": {"amount": "10000000000000.01", "currency": "USD"}},
    "no amount": {"amount": None},
    "a status providers do not have": {"status": "lost"},
    "no order id": {"id": None},
}


@pytest.mark.parametrize("change", UNREADABLE.values(), ids=list(UNREADABLE))
async def test_an_order_the_engine_cannot_read_fails_the_staging_and_leaves_nothing(
    container: Container, change: dict[str, Any], backend: str
) -> None:
    good = order_to_json(ORDERS[0])
    bad = order_to_json(ORDERS[1]) | change
    with pytest.raises(InvalidInput, match="cannot read"):
        async with staging(container.engine) as staged:
            await staged.add_page("ach", page(good))
            await staged.add_page("ach", page(bad))
            await staged.finish()
    if backend == "postgresql":
        async with container.sessions() as session:
            tables = await session.scalar(
                text("SELECT count(*) FROM pg_class WHERE relname = 'recon_staged_orders'")
            )
        assert tables == 0
    async with staging(container.engine) as staged:  # the next run starts afresh
        await staged.add_page("ach", page(good))
        assert len(await staged_orders(staged)) == 1


# -- the reconciler: JSON pages or decoded orders, the same findings -----------------------


class DecodedOnly:
    """A provider without ``iter_order_json``: its listing comes as decoded orders."""

    def __init__(self, inner: PaymentProvider) -> None:
        self.kind = inner.kind
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        if name == "iter_order_json":
            raise AttributeError(name)
        return getattr(self._inner, name)

    def iter_orders(self, changed_since: datetime | None = None) -> AsyncIterator[Any]:
        return self._inner.iter_orders(changed_since)


def reconciler(container: Container, providers: dict[ProviderKind, Any]) -> Reconciler:
    return Reconciler(
        container.engine, container.sessions, providers, container.runner, container.clock
    )


async def test_json_pages_and_decoded_orders_find_the_same_breaks(
    seeded: Container, banks: Banks, clock: ManualClock
) -> None:
    day = await settled_day(seeded, clock)
    for kind in ("unknown_at_provider", "duplicate_payment", "ledger_mismatch"):
        await DISCREPANCIES[kind](seeded, banks)
    bank = banks[ProviderKind.WIRE]
    (wire_order,) = [o.order_id for o in bank.orders.values()]
    bank.override_amount(wire_order, Money(1, "USD"))
    decoded = {kind: DecodedOnly(p) for kind, p in seeded.providers.items()}
    assert all(isinstance(p, JsonListing) for p in seeded.providers.values())
    assert not any(isinstance(p, JsonListing) for p in decoded.values())

    as_json = await reconciler(seeded, seeded.providers).reconcile(day)
    one_by_one = await reconciler(seeded, decoded).reconcile(day)

    def found(result: Any) -> list[tuple[Any, ...]]:
        return sorted((b.kind, b.fingerprint, b.status, b.payout_id) for b in result.breaks)

    assert found(as_json) == found(one_by_one)
    assert {b[0] for b in found(as_json)} == {
        "unknown_at_provider",
        "duplicate_payment",
        "ledger_mismatch",
        "amount_mismatch",
    }
    assert as_json.counts["provider_orders"] == one_by_one.counts["provider_orders"]
    assert as_json.counts["provider_orders"] == sum(len(b.orders) for b in banks.values())


# -- the ledger checks, run while the providers are listed (PostgreSQL) --------------------


async def run_and_breaks(container: Container) -> tuple[ReconciliationRun, list[int]]:
    async with container.sessions() as session:
        run = (await session.scalars(select(ReconciliationRun))).one()
        breaks = list(await session.scalars(select(ReconciliationBreak.id)))
    return run, breaks


async def test_a_failing_ledger_check_fails_the_run(
    seeded: Container, banks: Banks, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    day = await settled_day(seeded, clock)
    await DISCREPANCIES["unknown_at_provider"](seeded, banks)

    async def unreadable(_session: Any) -> list[Any]:
        raise RuntimeError("the ledger cannot be read")

    monkeypatch.setattr(ledger_checks, "verify", unreadable)
    with pytest.raises(RuntimeError, match="the ledger cannot be read"):
        await seeded.jobs.reconcile(day)

    run, breaks = await run_and_breaks(seeded)
    assert (run.status, run.error) == ("failed", "RuntimeError: the ledger cannot be read")
    assert breaks == []  # not even the provider's break: the run found nothing for sure


async def test_a_run_that_fails_while_listing_stops_its_ledger_checks(
    seeded: Container,
    banks: Banks,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
    backend: str,
) -> None:
    day = await settled_day(seeded, clock)
    started, stopped = asyncio.Event(), asyncio.Event()

    async def endless(_session: Any) -> list[Any]:
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            stopped.set()
        return []

    monkeypatch.setattr(ledger_checks, "verify", endless)
    wire = banks[ProviderKind.WIRE]
    wire.config = replace(wire.config, transient_error_rate=1.0)
    with pytest.raises(ProviderUnavailable):
        await seeded.jobs.reconcile(day)

    # On PostgreSQL they had started beside the listing, and were stopped with the run;
    # on SQLite they come after the listing, so they never started.
    assert (started.is_set(), stopped.is_set()) == (
        (True, True) if backend == "postgresql" else (False, False)
    )
    run, breaks = await run_and_breaks(seeded)
    assert run.status == "failed" and breaks == []
