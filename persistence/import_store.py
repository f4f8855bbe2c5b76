"""Importing a liquidation event from CSV: one pass over the file, in chunks, one transaction.

The domain (``domain.csv_import``) reads and checks each row; this looks up the
payees the rows name (by external id, a chunk at a time), and, for a real import,
writes each chunk's payees and accounts with set-based statements, then the event,
its allocations and ledger postings. Everything happens in one transaction that is
committed only when no row had an error, so an import is all or nothing. A dry run
only reads. A file with a weight column is read twice: once for the weights (the
largest-remainder split needs them all), then for the rest.

The idempotency key is claimed first, in the same transaction (as ``createPayout``
does): the same key with the same inputs and file replays the event it made; with
anything else it is ``IDEMPOTENCY_KEY_REUSED``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from typing import IO, Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain import csv_import as csvi
from domain import ledger
from domain.bank_details import BankAccount as Account
from domain.errors import ErrorCode, Problem
from domain.money import Money
from persistence import audit, idempotency_keys, ledger_store
from persistence.sql import chunked
from persistence.tables import Allocation, BankAccount, IdempotencyKey, LiquidationEvent, Payee

OPERATION = "importLiquidationEvent"
CHUNK = 2_000
_PAYEES = Payee.__table__
_ACCOUNTS = BankAccount.__table__


@dataclass
class ImportOutcome:
    preview: csvi.Preview
    event_id: int | None = None
    problems: list[Problem] = field(default_factory=list)
    replayed: bool = False


class _Refused(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems


class SqlEventImports:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def run(
        self, source: IO[bytes], request: csvi.ImportRequest, now: datetime, actor: str
    ) -> ImportOutcome:
        """Check (dry run) or import ``source``; a refusal writes nothing."""
        outcome = ImportOutcome(csvi.Preview(request.currency.strip().upper()))
        outcome.problems = csvi.check_request(request)
        if outcome.problems:
            return outcome
        try:
            amounts = await asyncio.to_thread(_weights_pass, source, request)
            async with self._sessions() as session, session.begin() as transaction:
                await _run(session, source, request, amounts, now, actor, outcome)
                if outcome.event_id is None or outcome.replayed:
                    await transaction.rollback()
        except csvi.CsvFileError as exc:
            outcome.problems = [exc.problem("csv")]
        except _Refused as refused:
            outcome.problems = refused.problems
        except IntegrityError:  # a request running alongside took the code or an external id
            message = (
                f"another request created event {request.event_code!r} or some of these"
                " payees meanwhile; nothing was imported: try again"
            )
            outcome.problems = [Problem("event_id", ErrorCode.CONFLICT, message)]
            outcome.event_id = None
        return outcome


def _weights_pass(source: IO[bytes], request: csvi.ImportRequest) -> dict[int, Money] | None:
    """With a weight column: each row's share of the total (rows with a bad weight get
    none, and are reported by the main pass). None for a file of amounts."""
    text = csvi.utf8(source)
    try:
        header, rows = csvi.read(text)
        total = csvi.check_total(request, header)
        if isinstance(total, list):
            raise _Refused(total)
        if total is None:
            return None
        weights = {}
        for row in rows:
            if isinstance(row, csvi.CsvRow) and isinstance(w := csvi.weight_of(row), int):
                weights[row.row] = w
        shares = csvi.split(total, weights)
        if isinstance(shares, list):
            raise _Refused(shares)
        return shares
    finally:
        text.detach()
        source.seek(0)


def _chunks(rows: Iterator[csvi.CsvRow | csvi.RowError]) -> list[csvi.CsvRow | csvi.RowError]:
    return list(islice(rows, CHUNK))


async def _run(
    session: AsyncSession,
    source: IO[bytes],
    request: csvi.ImportRequest,
    amounts: dict[int, Money] | None,
    now: datetime,
    actor: str,
    outcome: ImportOutcome,
) -> None:
    real = not request.dry_run
    if real and request.idempotency_key is not None:
        replayed = await _claim_key(session, actor, request, now)
        if replayed is not None:
            outcome.event_id, outcome.replayed = replayed
            outcome.preview = await _stored_preview(session, actor, request)
            return
    if await session.scalar(
        select(LiquidationEvent.id).where(LiquidationEvent.code == request.event_code)
    ):
        message = f"an event with code {request.event_code!r} already exists"
        raise _Refused([Problem("event_id", ErrorCode.CONFLICT, message)])
    text = csvi.utf8(source)
    try:
        _, rows = csvi.read(text)
        paid = await _rows(session, rows, request, amounts, now, actor, outcome.preview, real)
    finally:
        text.detach()
    preview = outcome.preview
    if preview.error_count:
        if real:
            message = f"{preview.error_count} row error(s); nothing was imported"
            outcome.problems = [Problem("csv", ErrorCode.ROW_ERRORS, message)]
        return
    if not preview.rows_read:
        raise _Refused([Problem("csv", ErrorCode.INVALID_CSV, "the file has no rows")])
    if real:
        outcome.event_id = await _event(session, request, paid, preview, now, actor)
        await _answer_key(session, actor, request, outcome.event_id, preview)


async def _rows(
    session: AsyncSession,
    rows: Iterator[csvi.CsvRow | csvi.RowError],
    request: csvi.ImportRequest,
    amounts: dict[int, Money] | None,
    now: datetime,
    actor: str,
    preview: csvi.Preview,
    real: bool,
) -> list[tuple[int, Money]]:
    seen: dict[str, int] = {}
    paid: list[tuple[int, Money]] = []
    while chunk := await asyncio.to_thread(_chunks, rows):
        checked = [_first_checks(item, request, amounts, seen, preview) for item in chunk]
        ready = [c for c in checked if c is not None]
        existing = await _existing(session, [row.get("external_id") for row, _ in ready], real)
        plans = await asyncio.to_thread(_plans, ready, existing, now, preview)
        if real and not preview.error_count:
            paid += await _write(session, plans, now, actor)
    return paid


def _first_checks(
    item: csvi.CsvRow | csvi.RowError,
    request: csvi.ImportRequest,
    amounts: dict[int, Money] | None,
    seen: dict[str, int],
    preview: csvi.Preview,
) -> tuple[csvi.CsvRow, Money] | None:
    """The row and its amount, when the cells allow going on (errors go to ``preview``)."""
    preview.rows_read += 1
    if isinstance(item, csvi.RowError):
        preview.error(item)
        return None
    errors = csvi.formula_errors(item)
    ext = item.get("external_id")
    if ext in seen:
        message = f"external id {ext!r} is also on row {seen[ext]}"
        errors.append(
            csvi.RowError(item.row, "external_id", ErrorCode.DUPLICATE_ALLOCATION, message)
        )
    else:
        seen[ext] = item.row
    amount: Money | csvi.RowError
    if amounts is None:
        amount = csvi.amount_of(item, request.currency)
    else:
        weight = csvi.weight_of(item)
        amount = weight if isinstance(weight, csvi.RowError) else amounts[item.row]
    if isinstance(amount, csvi.RowError):
        errors.append(amount)
    for error in errors:
        preview.error(error)
    return None if errors or isinstance(amount, csvi.RowError) else (item, amount)


def _plans(
    ready: list[tuple[csvi.CsvRow, Money]],
    existing: dict[str, csvi.Existing],
    now: datetime,
    preview: csvi.Preview,
) -> list[csvi.RowPlan]:
    plans = []
    for row, amount in ready:
        plan = csvi.plan_row(row, amount, existing.get(row.get("external_id")), now)
        if isinstance(plan, list):
            for error in plan:
                preview.error(error)
        else:
            preview.counted(plan)
            plans.append(plan)
    return plans


async def _existing(
    session: AsyncSession, references: Sequence[str], lock: bool
) -> dict[str, csvi.Existing]:
    """The stored payees of these external ids, each with its account in use."""
    query = (
        select(Payee, BankAccount)
        .outerjoin(
            BankAccount,
            (BankAccount.payee_id == Payee.id)
            & BankAccount.is_default.is_(True)
            & BankAccount.retired_at.is_(None),
        )
        .where(Payee.reference.in_(references))
    )
    if lock:
        query = query.with_for_update(of=Payee)
    found = {}
    for payee, account in (await session.execute(query)).all():
        found[payee.reference] = csvi.Existing(
            payee.id,
            payee.name,
            payee.kind,
            payee.country,
            payee.email,
            payee.payment_method,
            account.id if account else None,
            _account(account) if account else None,
        )
    return found


def _account(row: BankAccount) -> Account:
    details = {k: str(v) for k, v in row.details.items()}
    return Account(str(row.id), row.holder_name, row.country, row.currency, details)


async def _write(
    session: AsyncSession, plans: list[csvi.RowPlan], now: datetime, actor: str
) -> list[tuple[int, Money]]:
    """One chunk's payees and accounts; each row's payee id and amount."""
    audits: list[dict[str, Any]] = []
    ids = await _new_payees(session, [p for p in plans if p.existing is None], now, actor, audits)
    ids |= {p.external_id: p.existing.payee_id for p in plans if p.existing is not None}
    await _changed_payees(session, [p for p in plans if p.changes], now, actor, audits)
    await _new_accounts(session, [p for p in plans if p.new_account], ids, now, actor, audits)
    await audit.write(session, audits)
    return [(ids[p.external_id], p.amount) for p in plans]


async def _new_payees(
    session: AsyncSession,
    plans: list[csvi.RowPlan],
    now: datetime,
    actor: str,
    audits: list[dict[str, Any]],
) -> dict[str, int]:
    if not plans:
        return {}
    rows = [
        {
            "reference": p.payee.external_id,
            "name": p.payee.name,
            "kind": p.payee.kind.value,
            "country": p.payee.country,
            "email": p.payee.email,
            "payment_method": p.payee.payment_method.value,
            "created_at": now,
        }
        for p in plans
    ]
    result = await session.execute(
        insert(_PAYEES).returning(_PAYEES.c.id, _PAYEES.c.reference), rows
    )
    ids = {reference: payee_id for payee_id, reference in result.all()}
    audits += [
        audit.audit_row(
            "payee.created",
            now,
            entity="payee",
            entity_id=ids[p.external_id],
            actor=actor,
            external_id=p.external_id,
            country=p.payee.country,
            kind=p.payee.kind.value,
            source="csv_import",
        )
        for p in plans
    ]
    return ids


async def _changed_payees(
    session: AsyncSession,
    plans: list[csvi.RowPlan],
    now: datetime,
    actor: str,
    audits: list[dict[str, Any]],
) -> None:
    for p in plans:  # few rows change in practice; each keeps its own before/after
        assert p.existing is not None
        await session.execute(
            update(Payee).where(Payee.id == p.existing.payee_id).values(**p.changes)
        )
        before = {"name": p.existing.name, "country": p.existing.country, "email": p.existing.email}
        audits.append(
            audit.audit_row(
                "payee.updated",
                now,
                entity="payee",
                entity_id=p.existing.payee_id,
                actor=actor,
                before={k: before[k] for k in p.changes},
                after=p.changes,
                source="csv_import",
            )
        )


async def _new_accounts(
    session: AsyncSession,
    plans: list[csvi.RowPlan],
    ids: dict[str, int],
    now: datetime,
    actor: str,
    audits: list[dict[str, Any]],
) -> None:
    """Retire each payee's live accounts, then add the new one in use (as addBankAccount)."""
    if not plans:
        return
    payee_ids = [ids[p.external_id] for p in plans]
    retired = await session.execute(
        update(_ACCOUNTS)
        .where(_ACCOUNTS.c.payee_id.in_(payee_ids), _ACCOUNTS.c.retired_at.is_(None))
        .values(is_default=False, retired_at=now)
        .returning(_ACCOUNTS.c.id, _ACCOUNTS.c.payee_id)
    )
    old = list(retired.all())
    rows = []
    for p in plans:
        assert p.new_account is not None
        rows.append(
            {
                "payee_id": ids[p.external_id],
                "holder_name": p.new_account.holder_name,
                "country": p.new_account.country,
                "currency": p.new_account.currency,
                "details": p.new_account.details,
                "is_default": True,
                "created_at": now,
                "retired_at": None,
            }
        )
    added = await session.execute(
        insert(_ACCOUNTS).returning(_ACCOUNTS.c.id, _ACCOUNTS.c.payee_id), rows
    )
    new_by_payee = {payee_id: account_id for account_id, payee_id in added.all()}
    rails = {ids[p.external_id]: p.new_account.rail.code for p in plans if p.new_account}
    audits += [
        audit.audit_row(
            "bank_account.retired",
            now,
            entity="bank_account",
            entity_id=account_id,
            actor=actor,
            payee_id=payee_id,
            replaced_by=new_by_payee.get(payee_id),
        )
        for account_id, payee_id in old
    ]
    audits += [
        audit.audit_row(
            "bank_account.added",
            now,
            entity="bank_account",
            entity_id=account_id,
            actor=actor,
            payee_id=payee_id,
            rail=rails[payee_id],
            source="csv_import",
        )
        for payee_id, account_id in new_by_payee.items()
    ]


async def _event(
    session: AsyncSession,
    request: csvi.ImportRequest,
    paid: list[tuple[int, Money]],
    preview: csvi.Preview,
    now: datetime,
    actor: str,
) -> int:
    event_id: int | None = await session.scalar(
        insert(LiquidationEvent)
        .values(
            code=request.event_code,
            name=request.name.strip(),
            fund_name=request.fund_name.strip(),
            currency=preview.currency,
            total_minor=preview.total_minor,
            created_at=now,
        )
        .returning(LiquidationEvent.id)
    )
    assert event_id is not None
    for part in chunked(paid, CHUNK * 5):
        await session.execute(
            insert(Allocation),
            [
                {
                    "event_id": event_id,
                    "payee_id": pid,
                    "amount_minor": m.minor,
                    "currency": m.currency,
                }
                for pid, m in part
            ],
        )
        postings = [
            ledger_store.Posting(ledger.allocate(pid, m), event_id=event_id) for pid, m in part
        ]
        await ledger_store.write(session, postings, now)
    row = audit.audit_row(
        "event.created",
        now,
        entity="event",
        entity_id=event_id,
        actor=actor,
        code=request.event_code,
        total=preview.total.to_decimal_string(),
        currency=preview.currency,
        allocations=len(paid),
        source="csv_import",
        file_sha256=request.file_sha256,
    )
    await audit.write(session, [row])
    return event_id


def _counts(preview: csvi.Preview) -> dict[str, Any]:
    names = (
        "rows_read",
        "payees_new",
        "payees_changed",
        "payees_unchanged",
        "accounts_new",
        "accounts_changed",
        "total_minor",
    )
    return {name: getattr(preview, name) for name in names} | {
        "rails": preview.rails,
        "skips": preview.skips,
    }


async def _claim_key(
    session: AsyncSession, scope: str, request: csvi.ImportRequest, now: datetime
) -> tuple[int, bool] | None:
    """Take the key (None), or the event it already made (its id, replayed)."""
    assert request.idempotency_key is not None
    held = await idempotency_keys.take(
        session, scope, request.idempotency_key, OPERATION, request.fingerprint(), now
    )
    if held is None:
        return None
    event_id = held.response.get("event_id")
    if held.operation != OPERATION or held.request_hash != request.fingerprint() or not event_id:
        message = "this idempotencyKey was used for a different request"
        raise _Refused([Problem("idempotency_key", ErrorCode.IDEMPOTENCY_KEY_REUSED, message)])
    return int(event_id), True


async def _answer_key(
    session: AsyncSession,
    scope: str,
    request: csvi.ImportRequest,
    event_id: int,
    preview: csvi.Preview,
) -> None:
    if request.idempotency_key is None:
        return
    await session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.scope == scope, IdempotencyKey.key == request.idempotency_key)
        .values(response={"event_id": event_id, "preview": _counts(preview)})
    )


async def _stored_preview(
    session: AsyncSession, scope: str, request: csvi.ImportRequest
) -> csvi.Preview:
    response = await session.scalar(
        select(IdempotencyKey.response).where(
            IdempotencyKey.scope == scope, IdempotencyKey.key == request.idempotency_key
        )
    )
    counts = dict((response or {}).get("preview", {}))
    return csvi.Preview(request.currency.strip().upper(), **counts)
