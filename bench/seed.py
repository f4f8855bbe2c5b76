"""Fast bulk seeding for benchmarks: N payouts as finished runs and polls leave them.

Creating 100k-1M payouts through real runs takes too long for a benchmark's set-up, so
the rows go straight into the tables. What a run writes from its input (payees, bank
accounts, events, allocations, runs, payouts with their frozen ``order_request``) is
generated here and written with COPY (PostgreSQL) or Core ``insert()`` batches
(SQLite). What the engine derives from a payout's status (run items, the audit trail,
ledger transfers and entries) is built by ``INSERT ... SELECT`` from the payouts, so
the books agree with every status by construction; ``ledger_checks.verify`` finds
nothing on the result. Cached account totals are computed from the statuses, not from
the entries, so that check is a real one.

Payout ``i`` (1..N) pays payee ``i``; everything about it is a pure function of ``i``
(``Layout``): country and rail, amount, status, day, keys and order id. Ids are
explicit (transfer ``4i+k``, entry ``2*transfer+leg``, audit ``AUDIT_BASE+8i+step``),
so SQL, the ledger and the mock bank orders agree without looking each other up.

Statuses (per mille): 700 completed, 200 submitted, 40 failed, 20 returned, 40 skipped.
``load_banks`` stores the matching orders straight into mock banks (their own
``load``, the bookkeeping ``create`` ends with) without hashing ids or planning
lifecycles per order: about 3x faster than ``parse_order_body`` + ``bank.create``.

    python -m bench.seed --payouts 100000 --backend postgresql   # seed, verify, time
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Iterable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    String,
    Table,
    case,
    cast,
    func,
    insert,
    literal,
    null,
    select,
    text,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.elements import ColumnElement

from domain.auth import Role
from domain.clock import ManualClock
from domain.eligibility import SkipReason
from domain.ledger import Kind
from domain.lifecycle import PayoutStatus
from domain.money import Money, convert
from domain.ports import OrderStatus, ProviderKind
from domain.rails import INTERNATIONAL_WIRE, SUPPORTED_COUNTRIES, rail_for_country
from domain.routing import route
from persistence.api_keys import SqlApiKeys
from persistence.db import create_engine, sessionmaker
from persistence.tables import (
    Allocation,
    AuditEvent,
    BankAccount,
    LedgerAccount,
    LedgerEntry,
    LedgerTransfer,
    LiquidationEvent,
    Payee,
    Payout,
    PayoutRun,
    PayoutRunItem,
    UtcDateTime,
)
from providers.mock.bank import ORDER_ID_PREFIX, MockBank
from providers.mock.config import MockBankConfig
from providers.mock.fx import fx_rate
from providers.mock.orders import OrderBody, StatusEvent, StoredOrder
from service.demo import DEMO_OPS_KEY, FIRST, LAST
from service.demo_accounts import sample_account_details

DAYS = 30  # one event and one run per day; payouts spread over the last DAYS days
COUNTRIES = (*sorted(SUPPORTED_COUNTRIES), "AE", "KR")  # AE, KR: no local rail -> wire
ACCOUNTS_PER_COUNTRY = 8
AMOUNTS = tuple(100_00 + (k * 7919) % 2_500_00 for k in range(997))  # USD minor units
MIX = (  # per mille, by a hash of i
    (PayoutStatus.SKIPPED, 40),
    (PayoutStatus.FAILED, 40),
    (PayoutStatus.RETURNED, 20),
    (PayoutStatus.SUBMITTED, 200),
    (PayoutStatus.COMPLETED, 700),
)
FAILURE = ("AC04", "account_closed")
RETURN = ("R01", "insufficient_funds")
SKIP = (SkipReason.MISSING_EXTERNAL_ACCOUNT.value, "the payee has no default bank account")
MOCK_SEED = 7
FUND_ACCOUNT = 1
CASH_ACCOUNTS = {ProviderKind.ACH: 2, ProviderKind.WIRE: 3, ProviderKind.CROSS_BORDER: 4}
PAYABLE_BASE = 10  # payee i's payable account is PAYABLE_BASE + i
AUDIT_BASE = 1000  # below it: the events' and runs' own audit rows
BATCH = 5000  # rows per Core insert on SQLite

_S = PayoutStatus
_HOLDING = (_S.SUBMITTED, _S.COMPLETED, _S.FAILED, _S.RETURNED)  # reserved at some point
_VERSION = {_S.SKIPPED: 1, _S.SUBMITTED: 2, _S.COMPLETED: 3, _S.FAILED: 3, _S.RETURNED: 4}


def status_of(i: int) -> PayoutStatus:
    h = (i * 2654435761) % 1000
    for status, share in MIX:
        if h < share:
            return status
        h -= share
    raise AssertionError("MIX sums to 1000")


@dataclass(frozen=True, slots=True)
class Destination:
    """A country, the rail routing picks for it, and sample accounts there."""

    country: str
    rail: str
    provider: ProviderKind
    rule: str
    currency: str
    explanation: str
    expected: date
    fx_rate: Decimal | None
    accounts: tuple[dict[str, str], ...]
    account_items: tuple[tuple[tuple[str, str], ...], ...]


def _destination(country: str, now: datetime) -> Destination:
    decision = route(country, now=now)
    rail = rail_for_country(country) or INTERNATIONAL_WIRE
    cross_border = rail.provider is ProviderKind.CROSS_BORDER
    accounts = tuple(sample_account_details(country, seed=k) for k in range(ACCOUNTS_PER_COUNTRY))
    return Destination(
        country=country,
        rail=decision.rail.code,
        provider=decision.rail.provider,
        rule=decision.rule.value,
        currency=decision.currency,
        explanation=decision.explanation,
        expected=decision.expected_settlement_date,
        fx_rate=fx_rate(MOCK_SEED, "USD", decision.currency) if cross_border else None,
        accounts=accounts,
        account_items=tuple(tuple(sorted(a.items())) for a in accounts),
    )


@dataclass
class Totals:
    event_minor: Counter[int] = field(default_factory=Counter)
    run_total: Counter[int] = field(default_factory=Counter)
    run_skipped: Counter[int] = field(default_factory=Counter)
    fund: Counter[str] = field(default_factory=Counter)
    cash: dict[ProviderKind, Counter[str]] = field(
        default_factory=lambda: {kind: Counter() for kind in CASH_ACCOUNTS}
    )


class Layout:
    """Everything about payout i, as pure functions of i and ``now``."""

    def __init__(self, n: int, now: datetime) -> None:
        self.n = n
        self.now = now
        # Returned orders come back two days after acceptance; all of it is in the past.
        base = now.replace(microsecond=0) - timedelta(hours=49)
        self.accepted = [base - timedelta(days=DAYS - 1 - d) for d in range(DAYS)]
        self.created = [a - timedelta(seconds=30) for a in self.accepted]
        self.settled = [a + timedelta(days=1) for a in self.accepted]
        self.returned = [a + timedelta(days=2) for a in self.accepted]
        self.event_created = [c - timedelta(hours=1) for c in self.created]
        self.payee_created = [c - timedelta(hours=1) for c in self.event_created]
        self.destinations = [_destination(c, now) for c in COUNTRIES]
        self._money = {m: Money(m, "USD") for m in AMOUNTS}
        self._decimal = {m: self._money[m].to_decimal_string() for m in AMOUNTS}
        self._converted: dict[tuple[int, str], Money] = {}

    # -- per payout ----------------------------------------------------------------

    @staticmethod
    def day(i: int) -> int:
        return i % DAYS

    def destination(self, i: int) -> Destination:
        return self.destinations[(i * 7) % len(self.destinations)]

    @staticmethod
    def amount_minor(i: int) -> int:
        return AMOUNTS[i % len(AMOUNTS)]

    @staticmethod
    def key(i: int) -> str:
        return f"po-{i:032x}"

    @staticmethod
    def order_id(i: int, provider: ProviderKind) -> str:
        return f"{ORDER_ID_PREFIX[provider]}_{i:020x}"

    @staticmethod
    def name(i: int) -> str:
        return f"{FIRST[i % len(FIRST)]} {LAST[(i * 7) % len(LAST)]}"

    def account(self, i: int) -> int:
        return (i // len(self.destinations)) % ACCOUNTS_PER_COUNTRY

    def target(self, i: int, dest: Destination) -> Money | None:
        if dest.fx_rate is None:
            return None
        minor = self.amount_minor(i)
        found = self._converted.get((minor, dest.currency))
        if found is None:
            found = convert(self._money[minor], dest.fx_rate, dest.currency)
            self._converted[(minor, dest.currency)] = found
        return found

    def updated_at(self, i: int, status: PayoutStatus) -> datetime:
        d = self.day(i)
        if status is _S.SKIPPED:
            return self.created[d]
        if status is _S.SUBMITTED:
            return self.accepted[d]
        return self.returned[d] if status is _S.RETURNED else self.settled[d]

    def ids(self, statuses: Iterable[PayoutStatus] | None = None) -> Iterator[int]:
        wanted = None if statuses is None else set(statuses)
        for i in range(1, self.n + 1):
            if wanted is None or status_of(i) in wanted:
                yield i

    def totals(self) -> Totals:
        """What the rows add up to: event totals, run counts, platform account totals."""
        totals = Totals()
        for i in range(1, self.n + 1):
            status, minor, d = status_of(i), self.amount_minor(i), self.day(i)
            totals.event_minor[d] += minor
            totals.run_total[d] += 1
            totals.fund["posted_debits"] += minor
            if status is _S.SKIPPED:
                totals.run_skipped[d] += 1
                continue
            cash = totals.cash[self.destination(i).provider]
            if status is _S.SUBMITTED:
                cash["pending_credits"] += minor
            elif status in (_S.COMPLETED, _S.RETURNED):
                cash["posted_credits"] += minor
                cash["posted_debits"] += minor if status is _S.RETURNED else 0
        return totals

    # -- rows ----------------------------------------------------------------------

    def payees(self) -> Iterator[tuple[Any, ...]]:
        for i in range(1, self.n + 1):
            created = self.payee_created[self.day(i)]
            country = self.destination(i).country
            yield (i, f"BENCH-{i:07d}", self.name(i), "investor", country, "bank_transfer", created)

    def bank_accounts(self) -> Iterator[tuple[Any, ...]]:
        for i in range(1, self.n + 1):
            if status_of(i) is _S.SKIPPED:
                continue
            dest = self.destination(i)
            created = self.payee_created[self.day(i)]
            details = dest.accounts[self.account(i)]
            yield (i, i, self.name(i), dest.country, dest.currency, details, True, created)

    def allocations(self) -> Iterator[tuple[Any, ...]]:
        for i in range(1, self.n + 1):
            yield (i, self.day(i) + 1, i, self.amount_minor(i), "USD")

    def payouts(self) -> Iterator[tuple[Any, ...]]:
        for i in range(1, self.n + 1):
            yield self._payout(i)

    def _payout(self, i: int) -> tuple[Any, ...]:
        status = status_of(i)
        dest = self.destination(i)
        d = self.day(i)
        minor = self.amount_minor(i)
        key = self.key(i)
        if status is _S.SKIPPED:
            routed: tuple[Any, ...] = (None,) * 8
            request = order_id = None
            skip = SKIP
        else:
            target = self.target(i, dest)
            routed = (
                i,
                dest.rail,
                dest.provider.value,
                dest.rule,
                dest.currency,
                None if target is None else target.minor,
                None if dest.fx_rate is None else str(dest.fx_rate),
                dest.expected,
            )
            request = {
                "idempotency_key": key,
                "amount": {"amount": self._decimal[minor], "currency": "USD"},
                "target_currency": dest.currency,
                "rail": dest.rail,
                "beneficiary_name": self.name(i),
                "beneficiary_country": dest.country,
                "account": dest.accounts[self.account(i)],
                "reference": f"payout {key}",
            }
            order_id = self.order_id(i, dest.provider)
            skip = (None, None)
        failure = FAILURE if status is _S.FAILED else RETURN if status is _S.RETURNED else None
        return (
            i,  # id
            d + 1,  # event_id
            i,  # payee_id
            i,  # allocation_id
            routed[0],  # bank_account_id
            d + 1,  # run_id
            status.value,
            minor,
            "USD",
            dest.country,
            *routed[1:],  # rail, provider, routing_rule, target_currency, amount, rate, date
            *skip,
            key,
            request,
            order_id,
            *(failure or (None, None)),
            self.created[d],
            self.updated_at(i, status),
            _VERSION[status],
        )

    # -- mock bank orders ------------------------------------------------------------

    def orders(self) -> Iterator[tuple[ProviderKind, StoredOrder]]:
        """The order each payout that reached a provider has there, by provider."""
        lifecycles: dict[tuple[PayoutStatus, int], tuple[StatusEvent, ...]] = {}
        for i in self.ids(_HOLDING):
            status, dest, d = status_of(i), self.destination(i), self.day(i)
            lifecycle = lifecycles.get((status, d))
            if lifecycle is None:
                lifecycle = lifecycles[(status, d)] = self._lifecycle(status, d)
            minor = self.amount_minor(i)
            amount = self._money[minor]
            key = self.key(i)
            body = OrderBody(
                amount=amount,
                target_currency=dest.currency,
                rail=dest.rail,
                beneficiary_name=self.name(i),
                beneficiary_country=dest.country,
                account=dest.account_items[self.account(i)],
                reference=f"payout {key}",
            )
            yield (
                dest.provider,
                StoredOrder(
                    order_id=self.order_id(i, dest.provider),
                    idempotency_key=key,
                    body=body,
                    amount=amount,
                    target_amount=self.target(i, dest),
                    fx_rate=dest.fx_rate,
                    lifecycle=lifecycle,
                ),
            )

    def _lifecycle(self, status: PayoutStatus, d: int) -> tuple[StatusEvent, ...]:
        accepted = StatusEvent(OrderStatus.PROCESSING, self.accepted[d])
        if status is _S.SUBMITTED:  # a slow rail: it completes tomorrow, in the future
            return (accepted, StatusEvent(OrderStatus.COMPLETED, self.now + timedelta(days=1)))
        if status is _S.FAILED:
            return (accepted, StatusEvent(OrderStatus.FAILED, self.settled[d], *FAILURE))
        completed = StatusEvent(OrderStatus.COMPLETED, self.settled[d])
        if status is _S.COMPLETED:
            return (accepted, completed)
        return (accepted, completed, StatusEvent(OrderStatus.RETURNED, self.returned[d], *RETURN))


# -- writing ---------------------------------------------------------------------------

PAYEE_COLUMNS = ("id", "reference", "name", "kind", "country", "payment_method", "created_at")
ACCOUNT_COLUMNS = (
    "id",
    "payee_id",
    "holder_name",
    "country",
    "currency",
    "details",
    "is_default",
    "created_at",
)
ALLOCATION_COLUMNS = ("id", "event_id", "payee_id", "amount_minor", "currency")
PAYOUT_COLUMNS = (
    "id",
    "event_id",
    "payee_id",
    "allocation_id",
    "bank_account_id",
    "run_id",
    "status",
    "amount_minor",
    "currency",
    "country",
    "rail",
    "provider",
    "routing_rule",
    "target_currency",
    "target_amount_minor",
    "fx_rate",
    "expected_settlement_date",
    "skip_reason",
    "skip_detail",
    "idempotency_key",
    "order_request",
    "provider_order_id",
    "failure_code",
    "failure_reason",
    "created_at",
    "updated_at",
    "version",
)


async def bulk_write(
    connection: AsyncConnection,
    table: Table,
    columns: Sequence[str],
    rows: Iterable[tuple[Any, ...]],
) -> int:
    """Write ``rows`` (tuples in ``columns`` order): COPY on PostgreSQL, else Core
    ``insert()`` batches. JSON columns take Python objects."""
    if connection.dialect.name == "postgresql":
        return await _copy(connection, table, columns, rows)
    written = 0
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(dict(zip(columns, row, strict=True)))
        if len(batch) == BATCH:
            await connection.execute(insert(table), batch)
            written += len(batch)
            batch = []
    if batch:
        await connection.execute(insert(table), batch)
        written += len(batch)
    return written


async def _copy(
    connection: AsyncConnection,
    table: Table,
    columns: Sequence[str],
    rows: Iterable[tuple[Any, ...]],
) -> int:
    json_at = [k for k, c in enumerate(columns) if isinstance(table.c[c].type, JSON)]
    raw = await connection.get_raw_connection()
    driver: Any = raw.driver_connection
    written = 0
    async with (
        driver.cursor() as cursor,
        cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy,
    ):
        for row in rows:
            if json_at:
                values = list(row)
                for k in json_at:
                    if values[k] is not None:
                        values[k] = json.dumps(values[k])
                row = tuple(values)
            await copy.write_row(row)
            written += 1
    return written


@dataclass
class Seeded:
    layout: Layout
    by_status: Counter[str]
    rows: dict[str, int]
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def total_rows(self) -> int:
        """Rows written to the database (bank orders are not rows)."""
        return sum(v for k, v in self.rows.items() if k != "bank_orders")


async def seed(
    engine: AsyncEngine,
    n: int,
    now: datetime | None = None,
    banks: Mapping[ProviderKind, MockBank] | None = None,
) -> Seeded:
    """Write N payouts with everything around them into an empty, migrated database
    (and their orders into ``banks``, if given).

    On PostgreSQL the payouts are committed first; then the rows derived from them, the
    rest of the inputs and the bank orders are written at the same time on separate
    connections (and a thread), so the server's two cores and Python work together.
    Triggers (foreign keys, append-only, per-entry balance) are off while loading.
    """
    layout = Layout(n, now or datetime.now(UTC))
    totals = layout.totals()
    rows: dict[str, int] = {}
    seconds: dict[str, float] = {}
    started = time.perf_counter()

    async def timed(name: str, work: Awaitable[None]) -> None:
        mark = time.perf_counter()
        await work
        seconds[f"{name}_s"] = time.perf_counter() - mark

    async def load_orders() -> None:
        if banks is not None:
            rows["bank_orders"] = await asyncio.to_thread(load_banks, layout, banks)

    if engine.dialect.name == "postgresql":
        async with _loading(engine) as connection:
            await _events_and_runs(connection, layout, totals)
            rows["payouts"] = await _payouts(connection, layout)
        seconds["payouts_s"] = time.perf_counter() - started
        await asyncio.gather(
            timed("inputs", _in_loading(engine, _inputs, layout, rows)),
            timed("ledger", _in_loading(engine, _ledger_rows, layout, rows, totals)),
            timed("audit", _in_loading(engine, _audit_rows, layout, rows)),
            timed("bank_orders", load_orders()),
        )
        async with _loading(engine) as connection:
            await _advance_sequences(connection)
    else:
        async with engine.begin() as connection:
            await _events_and_runs(connection, layout, totals)
            await _inputs(connection, layout, rows)
            rows["payouts"] = await _payouts(connection, layout)
            await _ledger_rows(connection, layout, rows, totals)
            await _audit_rows(connection, layout, rows)
        await timed("bank_orders", load_orders())
    seconds["written_s"] = time.perf_counter() - started
    await timed("analyze", _analyze(engine))
    seconds["seed_s"] = time.perf_counter() - started
    by_status = Counter(status_of(i).value for i in range(1, n + 1))
    return Seeded(layout, by_status, rows, {k: round(v, 3) for k, v in seconds.items()})


@asynccontextmanager
async def _loading(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A PostgreSQL transaction with triggers off (replica role, if the user may set
    it): no FK checks and no deferred balance check per ledger entry (``ledger_checks``
    verifies instead); JIT off, as compiling each bulk statement costs more than it saves."""
    async with engine.begin() as connection:
        await connection.exec_driver_sql("SET LOCAL jit = off")
        with contextlib.suppress(DBAPIError):  # needs a superuser; else triggers stay on
            async with connection.begin_nested():
                await connection.exec_driver_sql("SET LOCAL session_replication_role = replica")
        yield connection


async def _in_loading(engine: AsyncEngine, work: Any, *args: Any) -> None:
    async with _loading(engine) as connection:
        await work(connection, *args)


async def _payouts(connection: AsyncConnection, layout: Layout) -> int:
    return await bulk_write(connection, Payout.__table__, PAYOUT_COLUMNS, layout.payouts())


async def _inputs(connection: AsyncConnection, layout: Layout, rows: dict[str, int]) -> None:
    rows["payees"] = await bulk_write(connection, Payee.__table__, PAYEE_COLUMNS, layout.payees())
    rows["bank_accounts"] = await bulk_write(
        connection, BankAccount.__table__, ACCOUNT_COLUMNS, layout.bank_accounts()
    )
    rows["allocations"] = await bulk_write(
        connection, Allocation.__table__, ALLOCATION_COLUMNS, layout.allocations()
    )


async def _events_and_runs(connection: AsyncConnection, layout: Layout, totals: Totals) -> None:
    events, runs, audit = [], [], []
    for d in range(DAYS):
        events.append(
            {
                "id": d + 1,
                "code": f"BENCH-{d:02d}",
                "name": f"bench fund day {d}",
                "fund_name": "bench fund",
                "currency": "USD",
                "total_minor": totals.event_minor[d],
                "created_at": layout.event_created[d],
            }
        )
        runs.append(
            {
                "id": d + 1,
                "event_id": d + 1,
                "idempotency_key": f"bench-{d:02d}",
                "status": "completed",
                "started_at": layout.created[d] - timedelta(seconds=1),
                "finished_at": layout.accepted[d],
                "total": totals.run_total[d],
                "created": totals.run_total[d] - totals.run_skipped[d],
                "skipped": totals.run_skipped[d],
                "failed": 0,
                "in_flight": 0,
            }
        )
        audit += [
            _audit(3 * d + 1, layout.event_created[d], "event", d + 1, None, "event.created"),
            _audit(3 * d + 2, layout.created[d], "run", d + 1, d + 1, "run.started"),
            _audit(3 * d + 3, layout.accepted[d], "run", d + 1, d + 1, "run.finished"),
        ]
    await connection.execute(insert(LiquidationEvent), events)
    await connection.execute(insert(PayoutRun), runs)
    await connection.execute(insert(AuditEvent), audit)


def _audit(
    ident: int, at: datetime, entity: str, entity_id: int, run_id: int | None, action: str
) -> dict[str, Any]:
    return {
        "id": ident,
        "occurred_at": at,
        "entity": entity,
        "entity_id": entity_id,
        "payout_id": None,
        "run_id": run_id,
        "action": action,
        "actor": "seed",
        "detail": {"bench": True},
    }


# -- rows derived from the payouts, set-wise ---------------------------------------------

_P = Payout.__table__.c


def _in(*statuses: PayoutStatus) -> ColumnElement[bool]:
    return _P.status.in_([s.value for s in statuses])


def _by_day(times: Sequence[datetime]) -> ColumnElement[Any]:
    return case(
        {d: literal(t, UtcDateTime()) for d, t in enumerate(times)},
        value=_P.id % DAYS,
    )


def _cash() -> ColumnElement[Any]:
    return case({kind.value: ident for kind, ident in CASH_ACCOUNTS.items()}, value=_P.provider)


def _payable() -> ColumnElement[Any]:
    return _P.payee_id + PAYABLE_BASE


async def _ledger_rows(
    connection: AsyncConnection, layout: Layout, rows: dict[str, int], totals: Totals
) -> None:
    rows["ledger_accounts"] = await _accounts(connection, layout, totals)
    rows["ledger_transfers"], rows["ledger_entries"] = await _ledger(connection, layout)


async def _audit_rows(connection: AsyncConnection, layout: Layout, rows: dict[str, int]) -> None:
    rows["payout_run_items"] = await _from_payouts(
        connection,
        PayoutRunItem.__table__,
        {
            "run_id": _P.run_id,
            "payout_id": _P.id,
            "outcome": case((_in(_S.SKIPPED), "skipped"), else_="created"),
            "reason": _P.skip_reason,
        },
    )
    rows["audit_events"] = await _audit_trail(connection, layout)


async def _from_payouts(
    connection: AsyncConnection,
    table: Table,
    values: Mapping[str, Any],
    *where: ColumnElement[bool],
) -> int:
    source = select(*(v if isinstance(v, ColumnElement) else literal(v) for v in values.values()))
    result = await connection.execute(
        insert(table).from_select(list(values), source.select_from(Payout.__table__).where(*where)),
        execution_options={"preserve_rowcount": True},
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def _accounts(connection: AsyncConnection, layout: Layout, totals: Totals) -> int:
    """Fund equity, cash at each provider and one payable per payee, with cached totals
    computed from the statuses (ledger_checks recomputes them from the entries)."""
    fund, cash = totals.fund, totals.cash
    created = layout.event_created[0]
    platform = [
        _account(FUND_ACCOUNT, "platform:fund:USD", "equity", fund, created),
        *(
            _account(ident, f"platform:provider:{kind.value}:USD", "asset", cash[kind], created)
            for kind, ident in CASH_ACCOUNTS.items()
        ),
    ]
    await connection.execute(insert(LedgerAccount), platform)
    amount = _P.amount_minor

    def when(condition: ColumnElement[bool], value: Any = amount) -> Any:
        return case((condition, value), else_=0)

    payables = await _from_payouts(
        connection,
        LedgerAccount.__table__,
        {
            "id": _payable(),
            "code": literal("payee:") + cast(_P.payee_id, String) + literal(":payable:USD"),
            "type": "liability",
            "currency": "USD",
            "owner_payee_id": _P.payee_id,
            "pending_debits": when(_in(_S.SUBMITTED)),
            "pending_credits": 0,
            "posted_debits": when(_in(_S.COMPLETED, _S.RETURNED)),
            "posted_credits": amount + when(_in(_S.RETURNED)),
            "created_at": _by_day(layout.event_created),
        },
    )
    return len(platform) + payables


def _account(
    ident: int, code: str, kind: str, totals: Counter[str], created: datetime
) -> dict[str, Any]:
    return {
        "id": ident,
        "code": code,
        "type": kind,
        "currency": "USD",
        "owner_payee_id": None,
        "pending_debits": totals["pending_debits"],
        "pending_credits": totals["pending_credits"],
        "posted_debits": totals["posted_debits"],
        "posted_credits": totals["posted_credits"],
        "created_at": created,
    }


@dataclass(frozen=True, slots=True)
class _Step:
    """One ledger transfer per payout in ``statuses``: its kind, phase and legs."""

    k: int  # transfer id = 4 * payout id + k
    kind: Kind
    phase: str
    statuses: tuple[PayoutStatus, ...]
    legs: tuple[tuple[str, str], ...]  # (side, "payable" | "cash" | "fund")
    times: str  # which Layout time list dates it
    resolves: bool = False


_LEDGER = (
    _Step(
        0,
        Kind.ALLOCATION,
        "posted",
        tuple(PayoutStatus),
        (("debit", "fund"), ("credit", "payable")),
        "event_created",
    ),
    _Step(
        1,
        Kind.RESERVE,
        "pending",
        _HOLDING,
        (("debit", "payable"), ("credit", "cash")),
        "created",
    ),
    _Step(
        2,
        Kind.POST,
        "posted",
        (_S.COMPLETED, _S.RETURNED),
        (("debit", "payable"), ("credit", "cash")),
        "settled",
        resolves=True,
    ),
    _Step(
        2,
        Kind.VOID,
        "voided",
        (_S.FAILED,),
        (("debit", "payable"), ("credit", "cash")),
        "settled",
        resolves=True,
    ),
    _Step(
        3,
        Kind.RETURN,
        "posted",
        (_S.RETURNED,),
        (("credit", "payable"), ("debit", "cash")),
        "returned",
    ),
)


async def _ledger(connection: AsyncConnection, layout: Layout) -> tuple[int, int]:
    transfers = entries = 0
    accounts = {"payable": _payable(), "cash": _cash(), "fund": literal(FUND_ACCOUNT)}
    for step in _LEDGER:
        where = _in(*step.statuses)
        transfer_id = _P.id * 4 + step.k
        allocation = step.kind == Kind.ALLOCATION
        transfers += await _from_payouts(
            connection,
            LedgerTransfer.__table__,
            {
                "id": transfer_id,
                "kind": step.kind.value,
                "phase": step.phase,
                "payout_id": null() if allocation else _P.id,
                "event_id": _P.event_id if step.k < 2 else null(),
                "resolves_id": _P.id * 4 + 1 if step.resolves else null(),
                "created_at": _by_day(getattr(layout, step.times)),
            },
            where,
        )
        for leg, (side, account) in enumerate(step.legs):
            entries += await _from_payouts(
                connection,
                LedgerEntry.__table__,
                {
                    "id": transfer_id * 2 + leg,
                    "transfer_id": transfer_id,
                    "account_id": accounts[account],
                    "side": side,
                    "amount_minor": _P.amount_minor,
                    "currency": _P.currency,
                    "phase": step.phase,
                },
                where,
            )
    return transfers, entries


async def _audit_trail(connection: AsyncConnection, layout: Layout) -> int:
    """The audit rows a run, the provider's answer and the poller leave on each payout."""
    pg = connection.dialect.name == "postgresql"
    obj = func.json_build_object if pg else func.json_object
    array = func.json_build_array if pg else func.json_array

    def detail(**values: Any) -> Any:
        args: list[Any] = []
        for key, value in values.items():
            args += [literal(key), value if isinstance(value, ColumnElement) else literal(value)]
        return obj(*args)

    explanation = case({d.country: d.explanation for d in layout.destinations}, value=_P.country)
    failed = _in(_S.FAILED)
    steps: list[tuple[int, tuple[PayoutStatus, ...], str, Any, Any, bool]] = [
        (
            0,
            (_S.SKIPPED,),
            "payout.skipped",
            layout.created,
            detail(
                reasons=array(literal(SKIP[0])),
                findings=array(detail(reason=SKIP[0], detail=SKIP[1])),
            ),
            True,
        ),
        (
            1,
            _HOLDING,
            "payout.status_changed",
            layout.created,
            detail(**{"from": null(), "to": "pending"}, amount=_decimal(pg), currency=_P.currency),
            True,
        ),
        (
            2,
            _HOLDING,
            "payout.routed",
            layout.created,
            detail(
                rail=_P.rail,
                rule=_P.routing_rule,
                currency=_P.target_currency,
                explanation=explanation,
                expected_settlement_date=_P.expected_settlement_date,
            ),
            True,
        ),
        (
            3,
            _HOLDING,
            "payout.status_changed",
            layout.created,
            detail(**{"from": "pending", "to": "submitting"}, idempotency_key=_P.idempotency_key),
            True,
        ),
        (
            4,
            _HOLDING,
            "payout.status_changed",
            layout.accepted,
            detail(
                **{"from": "submitting", "to": "submitted"},
                provider_order_id=_P.provider_order_id,
                provider=_P.provider,
                attempts=1,
                result="http_201",
            ),
            True,
        ),
        (
            5,
            (_S.COMPLETED, _S.FAILED, _S.RETURNED),
            "payout.status_changed",
            layout.settled,
            detail(
                **{"from": "submitted", "to": case((failed, "failed"), else_="completed")},
                effect=case((failed, "void"), else_="post"),
                provider_order_id=_P.provider_order_id,
                failure_code=case((failed, _P.failure_code), else_=null()),
            ),
            False,
        ),
        (
            6,
            (_S.RETURNED,),
            "payout.status_changed",
            layout.returned,
            detail(
                **{"from": "completed", "to": "returned"},
                effect="reverse",
                provider_order_id=_P.provider_order_id,
                failure_code=_P.failure_code,
            ),
            False,
        ),
    ]
    written = 0
    for step, statuses, action, times, value, by_run in steps:
        written += await _from_payouts(
            connection,
            AuditEvent.__table__,
            {
                "id": AUDIT_BASE + _P.id * 8 + step,
                "occurred_at": _by_day(times),
                "entity": "payout",
                "entity_id": _P.id,
                "payout_id": _P.id,
                "run_id": _P.run_id if by_run else null(),
                "action": action,
                "actor": "system",
                "detail": value,
            },
            _in(*statuses),
        )
    return written


def _decimal(pg: bool) -> Any:
    """USD minor units as the decimal string the engine writes ("1234.56")."""
    units, cents = _P.amount_minor // 100, _P.amount_minor % 100
    if pg:
        return func.concat(units, ".", func.lpad(cast(cents, String), 2, "0"))
    return func.printf("%d.%02d", units, cents)


async def _advance_sequences(connection: AsyncConnection) -> None:
    """Explicit ids bypassed the sequences; move them past the rows, as nextval would."""
    for table in _BY_SIZE:
        if table is PayoutRunItem:
            continue
        name = table.__tablename__
        await connection.exec_driver_sql(
            f"SELECT setval(pg_get_serial_sequence('{name}', 'id'),"
            f" (SELECT coalesce(max(id), 0) + 1 FROM {name}), false)"
        )


async def _analyze(engine: AsyncEngine) -> None:
    """Fresh statistics (and, on PostgreSQL, a vacuumed visibility map), as a live
    database would have; without them the planner guesses. Two tables at a time."""
    if engine.dialect.name != "postgresql":
        async with engine.begin() as connection:
            await connection.exec_driver_sql("ANALYZE")
        return
    slots = asyncio.Semaphore(2)

    async def vacuum(name: str) -> None:
        async with slots, engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.exec_driver_sql(f"VACUUM ANALYZE {name}")

    await asyncio.gather(*(vacuum(t.__tablename__) for t in _BY_SIZE))


_BY_SIZE = (  # largest first, so the two slots finish together
    LedgerEntry,
    AuditEvent,
    LedgerTransfer,
    Payout,
    Payee,
    Allocation,
    BankAccount,
    LedgerAccount,
    PayoutRunItem,
    PayoutRun,
    LiquidationEvent,
)


# -- mock banks and API keys ---------------------------------------------------------------


def mock_banks(now: datetime) -> dict[ProviderKind, MockBank]:
    """One bank per provider kind, its clock standing still at ``now``."""
    return {
        kind: MockBank(kind, MockBankConfig(seed=MOCK_SEED), ManualClock(now))
        for kind in ProviderKind
    }


def load_banks(layout: Layout, banks: Mapping[ProviderKind, MockBank]) -> int:
    """Store every seeded payout's order in its bank, as ``bank.create`` would have."""
    stored = 0
    for kind, order in layout.orders():
        banks[kind].load([order])
        stored += 1
    return stored


async def issue_ops_key(engine: AsyncEngine, now: datetime) -> str:
    return await SqlApiKeys(sessionmaker(engine)).issue(
        Role.OPS, "bench operator", now, key=DEMO_OPS_KEY
    )


# -- command line ----------------------------------------------------------------------


async def _main(url: str, n: int, banks: bool) -> dict[str, Any]:
    from persistence import ledger_checks

    engine = create_engine(url)
    try:
        now = datetime.now(UTC)
        seeded = await seed(engine, n, now, mock_banks(now) if banks else None)
        result: dict[str, Any] = {
            "workload": "seed",
            "backend": engine.dialect.name,
            "payouts": n,
            "rows": seeded.total_rows,
            "bank_orders": seeded.rows.get("bank_orders", 0),
            **seeded.seconds,
            "rows_per_s": round(seeded.total_rows / seeded.seconds["seed_s"]),
        }
        started = time.perf_counter()
        async with sessionmaker(engine)() as session:
            findings = await ledger_checks.verify(session)
        result["verify_s"] = round(time.perf_counter() - started, 3)
        result["ledger_findings"] = len(findings)
        for finding in findings[:5]:
            print(finding)
        async with engine.connect() as connection:
            for table in ("payouts", "audit_events", "ledger_entries"):
                count = await connection.scalar(text(f"SELECT count(*) FROM {table}"))
                result[f"{table}_rows"] = count
        return result
    finally:
        await engine.dispose()


def cli() -> None:
    from bench.common import database, report
    from persistence.migrate import upgrade

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payouts", type=int, default=10_000)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="postgresql")
    parser.add_argument("--banks", action="store_true", help="also load the mock bank orders")
    args = parser.parse_args()
    with database(args.backend) as url:
        upgrade(url)
        result = asyncio.run(_main(url, args.payouts, args.banks))
    report(f"bench.seed: {args.payouts:,} payouts on {args.backend}", [result])


if __name__ == "__main__":
    cli()
