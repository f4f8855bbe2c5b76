"""Read models for the API: keyset pages and batched look-ups for dataloaders."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy import BindParameter, Select, bindparam, func, inspect, select
from sqlalchemy.ext.asyncio import AsyncSession

from persistence.row_reads import RowQuery, id_in
from persistence.run_store import skip_breakdowns
from persistence.tables import (
    Allocation,
    AuditEvent,
    BankAccount,
    JobRun,
    LedgerAccount,
    LedgerEntry,
    LedgerTransfer,
    LiquidationEvent,
    Payee,
    Payout,
    PayoutRun,
    PayoutRunItem,
    ReconciliationBreak,
    ReconciliationRun,
)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PayoutFilterSpec:
    country: str | None = None
    status: str | None = None
    rail: str | None = None
    run_id: int | None = None
    event_id: int | None = None
    payee_id: int | None = None


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    rows: list[T]
    has_next: bool


async def _page(
    session: AsyncSession, statement: Select[Any], id_column: Any, first: int, after: int | None
) -> Page[Any]:
    """Newest first, keyset on the id: stable under inserts, O(page) to read."""
    if after is not None:
        statement = statement.where(id_column < after)
    rows = list(
        (await session.scalars(statement.order_by(id_column.desc()).limit(first + 1))).all()
    )
    return Page(rows[:first], len(rows) > first)


page_of = _page


# One statement per combination of filters given, each compiled once per dialect.
_PAYOUT_PAGES: dict[tuple[bool, ...], RowQuery] = {}
_PAYOUT_FILTERS = ("country", "status", "rail", "event_id", "payee_id")


def _payout_page_query(given: tuple[bool, ...]) -> RowQuery:
    """Payouts newest first, keyset on the id, with the filters ``given`` (in the order
    of ``_PAYOUT_FILTERS``, then run_id, then after) bound by name, and ``limit``."""
    query = _PAYOUT_PAGES.get(given)
    if query is not None:
        return query
    table = Payout.__table__

    def build(_: Any) -> Select[Any]:
        statement = select(*PAYOUT_COLUMNS)
        for name, present in zip(_PAYOUT_FILTERS, given, strict=False):
            if present:
                statement = statement.where(table.c[name] == bindparam(name))
        if given[-2]:
            runs = select(PayoutRunItem.payout_id).where(
                PayoutRunItem.run_id == bindparam("run_id")
            )
            statement = statement.where(table.c.id.in_(runs))
        if given[-1]:
            statement = statement.where(table.c.id < bindparam("after"))
        return statement.order_by(table.c.id.desc()).limit(bindparam("limit"))

    query = _PAYOUT_PAGES[given] = RowQuery("PayoutRow", build)
    return query


async def payouts_page(
    session: AsyncSession, spec: PayoutFilterSpec, first: int, after: int | None
) -> Page[Any]:
    """Newest first, keyset on the id: stable under inserts, O(page) to read. Rows, as
    ``payout_rows`` gives them."""
    filters = {
        "country": spec.country or None,
        "status": spec.status or None,
        "rail": spec.rail or None,
        "event_id": spec.event_id,
        "payee_id": spec.payee_id,
        "run_id": spec.run_id,
        "after": after,
    }
    given = tuple(value is not None for value in filters.values())
    params = {name: value for name, value in filters.items() if value is not None}
    rows = await _payout_page_query(given).rows(session, limit=first + 1, **params)
    return Page(rows[:first], len(rows) > first)


async def runs_page(session: AsyncSession, first: int, after: int | None) -> Page[PayoutRun]:
    return await _page(session, select(PayoutRun), PayoutRun.id, first, after)


@dataclass(frozen=True, slots=True)
class PayeeFilterSpec:
    search: str | None = None  # a substring of the name or the external id, any case
    country: str | None = None
    kind: str | None = None
    external_id: str | None = None


def like_pattern(search: str) -> str:
    """A lower-case substring pattern for LIKE ... ESCAPE '\\': the user's ``%`` and
    ``_`` match themselves, not any text."""
    escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped.lower()}%"


async def payees_page(
    session: AsyncSession, first: int, after: int | None, spec: PayeeFilterSpec | None = None
) -> Page[Payee]:
    statement = select(Payee)
    spec = spec or PayeeFilterSpec()
    if spec.search:
        pattern = like_pattern(spec.search)
        statement = statement.where(
            func.lower(Payee.name).like(pattern, escape="\\")
            | func.lower(Payee.reference).like(pattern, escape="\\")
        )
    if spec.country:
        statement = statement.where(Payee.country == spec.country)
    if spec.kind:
        statement = statement.where(Payee.kind == spec.kind)
    if spec.external_id is not None:
        statement = statement.where(Payee.reference == spec.external_id)
    return await _page(session, statement, Payee.id, first, after)


async def events(session: AsyncSession) -> list[LiquidationEvent]:
    return list(
        (await session.scalars(select(LiquidationEvent).order_by(LiquidationEvent.id))).all()
    )


async def event_by_ref(session: AsyncSession, ref: str) -> LiquidationEvent | None:
    """An event by its code (LIQ-2024-001) or its numeric id."""
    statement = select(LiquidationEvent).where(LiquidationEvent.code == ref)
    found = await session.scalar(statement)
    if found is None and ref.isdigit():
        found = await session.get(LiquidationEvent, int(ref))
    return found


# The dataloaders' statements are built once, their ids bound at execution (an
# "expanding" parameter): building a statement and its cache key cost more than a
# small read itself.
def _ids() -> BindParameter[Any]:
    return bindparam("ids", expanding=True)


_BY_IDS: dict[type[Any], tuple[Select[Any], str]] = {}


def _by_ids(model: type[Any]) -> tuple[Select[Any], str]:
    found = _BY_IDS.get(model)
    if found is None:
        key = inspect(model).primary_key[0]
        found = _BY_IDS[model] = (select(model).where(key.in_(_ids())), key.key)
    return found


async def by_ids(session: AsyncSession, model: type[T], ids: Sequence[int]) -> list[T | None]:
    statement, key = _by_ids(model)
    rows = (await session.scalars(statement, {"ids": sorted(set(ids))})).all()
    found = {getattr(row, key): row for row in rows}
    return [found.get(i) for i in ids]


# -- the API's hottest reads, as rows (``persistence.row_reads``) ----------------------------

# A payout's columns but the provider request frozen in it (``order_request``): the API
# never shows it, and decoding it is most of what reading a row costs.
PAYOUT_COLUMNS = tuple(c for c in Payout.__table__.c if c.key != "order_request")
_PAYOUT_ROWS = RowQuery(
    "PayoutRow",
    lambda d: select(*PAYOUT_COLUMNS).where(id_in(Payout.__table__.c.id, d)),
)
_TRACE_ROWS = RowQuery(
    "AuditRow",
    lambda d: (
        select(*AuditEvent.__table__.c)
        .where(id_in(AuditEvent.__table__.c.payout_id, d))
        .order_by(AuditEvent.__table__.c.payout_id, AuditEvent.__table__.c.id)
    ),
)


async def payout_rows(session: AsyncSession, ids: Sequence[int]) -> list[Any]:
    """Payouts by id (None where there is none), as rows with the columns' names."""
    rows = await _PAYOUT_ROWS.rows(session, ids=sorted(set(ids)))
    found = {row.id: row for row in rows}
    return [found.get(i) for i in ids]


async def trace_rows(session: AsyncSession, payout_ids: Sequence[int]) -> list[list[Any]]:
    """Each payout's audit records, oldest first, as rows."""
    rows = await _TRACE_ROWS.rows(session, ids=sorted(set(payout_ids)))
    grouped: dict[int, list[Any]] = defaultdict(list)
    for row in rows:
        grouped[row.payout_id].append(row)
    return [grouped.get(i, []) for i in payout_ids]


async def bank_accounts(session: AsyncSession, payee_ids: Sequence[int]) -> list[list[BankAccount]]:
    rows = (
        await session.scalars(
            select(BankAccount)
            .where(BankAccount.payee_id.in_(set(payee_ids)))
            .order_by(BankAccount.id.desc())  # newest first
        )
    ).all()
    grouped: dict[int, list[BankAccount]] = defaultdict(list)
    for row in rows:
        grouped[row.payee_id].append(row)
    return [grouped.get(i, []) for i in payee_ids]


async def allocation_counts(session: AsyncSession, event_ids: Sequence[int]) -> list[int]:
    rows = (
        await session.execute(
            select(Allocation.event_id, func.count())
            .where(Allocation.event_id.in_(set(event_ids)))
            .group_by(Allocation.event_id)
        )
    ).all()
    counts = {event_id: int(n) for event_id, n in rows}
    return [counts.get(i, 0) for i in event_ids]


async def breakdowns(
    session: AsyncSession, run_ids: Sequence[int]
) -> list[tuple[tuple[str, int], ...]]:
    found = await skip_breakdowns(session, list(set(run_ids)))
    return [found.get(i, ()) for i in run_ids]


async def ping(session: AsyncSession) -> None:
    await session.execute(select(1))


async def ledger_accounts(session: AsyncSession) -> list[LedgerAccount]:
    return list((await session.scalars(select(LedgerAccount).order_by(LedgerAccount.code))).all())


async def accounts_by_owner(
    session: AsyncSession, payee_ids: Sequence[int]
) -> list[list[LedgerAccount]]:
    rows = (
        await session.scalars(
            select(LedgerAccount)
            .where(LedgerAccount.owner_payee_id.in_(set(payee_ids)))
            .order_by(LedgerAccount.code)
        )
    ).all()
    grouped: dict[int, list[LedgerAccount]] = defaultdict(list)
    for row in rows:
        assert row.owner_payee_id is not None
        grouped[row.owner_payee_id].append(row)
    return [grouped.get(i, []) for i in payee_ids]


class EntryView(Protocol):
    """A ledger entry of a payout, with its transfer's kind and its account's code."""

    payout_id: int
    id: int
    transfer_id: int
    kind: str
    account_code: str
    side: str
    amount_minor: int
    currency: str
    phase: str
    created_at: datetime


_ENTRY_ROWS = RowQuery(
    "EntryRow",
    lambda d: (
        select(
            LedgerTransfer.payout_id,
            LedgerEntry.id,
            LedgerTransfer.id.label("transfer_id"),
            LedgerTransfer.kind,
            LedgerAccount.code.label("account_code"),
            LedgerEntry.side,
            LedgerEntry.amount_minor,
            LedgerEntry.currency,
            LedgerEntry.phase,
            LedgerTransfer.created_at,
        )
        .join(LedgerEntry, LedgerEntry.transfer_id == LedgerTransfer.id)
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .where(id_in(LedgerTransfer.payout_id, d))
        .order_by(LedgerTransfer.id, LedgerEntry.id)
    ),
)


async def entries_by_payout(
    session: AsyncSession, payout_ids: Sequence[int]
) -> list[list[EntryView]]:
    """Each payout's ledger entries, oldest first, as rows."""
    grouped: dict[int, list[EntryView]] = defaultdict(list)
    for row in await _ENTRY_ROWS.rows(session, ids=sorted(set(payout_ids))):
        grouped[row.payout_id].append(row)
    return [grouped.get(i, []) for i in payout_ids]


async def reconciliation_runs_page(
    session: AsyncSession, first: int, after: int | None
) -> Page[ReconciliationRun]:
    return await _page(session, select(ReconciliationRun), ReconciliationRun.id, first, after)


@dataclass(frozen=True, slots=True)
class BreakFilterSpec:
    kind: str | None = None
    status: str | None = None
    payout_id: int | None = None
    run_id: int | None = None  # found (first or again) by this reconciliation run


async def breaks_page(
    session: AsyncSession, spec: BreakFilterSpec, first: int, after: int | None
) -> Page[ReconciliationBreak]:
    b = ReconciliationBreak
    statement = select(b)
    if spec.kind:
        statement = statement.where(b.kind == spec.kind)
    if spec.status:
        statement = statement.where(b.status == spec.status)
    if spec.payout_id is not None:
        statement = statement.where(b.payout_id == spec.payout_id)
    if spec.run_id is not None:
        statement = statement.where(
            (b.first_run_id == spec.run_id) | (b.last_run_id == spec.run_id)
        )
    return await _page(session, statement, b.id, first, after)


async def job_runs_page(
    session: AsyncSession, job: str | None, first: int, after: int | None
) -> Page[JobRun]:
    statement = select(JobRun) if job is None else select(JobRun).where(JobRun.job == job)
    return await _page(session, statement, JobRun.id, first, after)


async def attempts_of(session: AsyncSession, event_id: int, payee_id: int) -> list[Payout]:
    """Every attempt at paying one allocation, first to last."""
    rows = await session.scalars(
        select(Payout)
        .where(Payout.event_id == event_id, Payout.payee_id == payee_id)
        .order_by(Payout.attempt)
    )
    return list(rows.all())
