"""Writing the ledger: transfers, their entries and the cached account totals, in bulk.

Everything here runs inside the caller's transaction, beside the payout change the
money movement belongs to. Cached totals get one UPDATE per account per batch, so
the platform's hot accounts (cash at each provider) are touched once per batch of
payouts, not once per payout.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, event, exists, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, aliased

from domain.ledger import AccountRef, Balance, Transfer, balance_deltas
from persistence.sql import allocate_ids, append_rows, chunked, insert_ignore, update_many
from persistence.tables import LedgerAccount, LedgerEntry, LedgerTransfer

_ACCOUNTS = LedgerAccount.__table__
# Core tables, not the mapped classes: an ORM insert goes through its bulk machinery,
# half the CPU of a one-row insert.
_TRANSFERS = LedgerTransfer.__table__
_ENTRIES = LedgerEntry.__table__


@dataclass(frozen=True, slots=True)
class Posting:
    """A transfer to write, and what it is about."""

    transfer: Transfer
    payout_id: int | None = None
    event_id: int | None = None
    resolves_id: int | None = None  # the pending transfer a post or void resolves


async def account_ids(
    session: AsyncSession, refs: Sequence[AccountRef], now: datetime
) -> dict[str, int]:
    """Ids of the accounts, creating the missing ones (one SELECT when none is)."""
    unique = {ref.code: ref for ref in refs}
    known: dict[str, int] = session.info.get(_KNOWN_IDS, {})
    found = {code: known[code] for code in unique if code in known}
    if len(found) < len(unique):
        found |= await _ids_of(session, [code for code in unique if code not in found])
    missing = [ref for code, ref in unique.items() if code not in found]
    if missing:
        await insert_ignore(
            session,
            _ACCOUNTS,
            [
                {
                    "code": ref.code,
                    "type": ref.type.value,
                    "currency": ref.currency,
                    "owner_payee_id": ref.owner_payee_id,
                    "created_at": now,
                }
                for ref in missing
            ],
            ["code"],
        )
        found |= await _ids_of(session, [ref.code for ref in missing])
    return found


async def _ids_of(session: AsyncSession, codes: list[str]) -> dict[str, int]:
    ids: dict[str, int] = {}
    for chunk in chunked(codes):  # an event allocating to 100,000 payees names 100,001
        rows = await session.execute(
            select(LedgerAccount.code, LedgerAccount.id).where(LedgerAccount.code.in_(chunk))
        )
        ids.update(rows.all())
    return ids


async def write(session: AsyncSession, postings: Sequence[Posting], now: datetime) -> list[int]:
    """Write the transfers with their entries and cached totals; returns transfer ids."""
    if not postings:
        return []
    ids = await account_ids(
        session, [leg.account for p in postings for leg in p.transfer.legs], now
    )
    if len(postings) == 1:  # one statement: the id comes back from the insert
        transfer_ids = [
            await session.scalar(
                insert(_TRANSFERS)
                .values(_transfer_row(postings[0], now))
                .returning(_TRANSFERS.c.id)
            )
        ]
    else:
        transfer_ids = await allocate_ids(session, LedgerTransfer.__table__, len(postings))
        await append_rows(
            session,
            _TRANSFERS,
            [
                {"id": tid, **_transfer_row(p, now)}
                for tid, p in zip(transfer_ids, postings, strict=True)
            ],
        )
    await append_rows(
        session,
        _ENTRIES,
        [
            {
                "transfer_id": tid,
                "account_id": ids[leg.account.code],
                "side": leg.side.value,
                "amount_minor": leg.amount.minor,
                "currency": leg.amount.currency,
                "phase": p.transfer.phase.value,
            }
            for tid, p in zip(transfer_ids, postings, strict=True)
            for leg in p.transfer.legs
        ],
    )
    await _apply_deltas(session, ids, postings)
    return transfer_ids


def _transfer_row(posting: Posting, now: datetime) -> dict[str, Any]:
    return {
        "kind": posting.transfer.kind,
        "phase": posting.transfer.phase.value,
        "payout_id": posting.payout_id,
        "event_id": posting.event_id,
        "resolves_id": posting.resolves_id,
        "created_at": now,
    }


async def _apply_deltas(
    session: AsyncSession, ids: dict[str, int], postings: Sequence[Posting]
) -> None:
    totals: dict[str, Balance] = {}
    for p in postings:
        for code, delta in balance_deltas(p.transfer).items():
            totals[code] = totals.get(code, Balance()) + delta
    c = _ACCOUNTS.c
    statement = (
        update(_ACCOUNTS)
        .where(c.id == bindparam("aid"))
        .values(
            pending_debits=c.pending_debits + bindparam("pd"),
            pending_credits=c.pending_credits + bindparam("pc"),
            posted_debits=c.posted_debits + bindparam("xd"),
            posted_credits=c.posted_credits + bindparam("xc"),
        )
    )
    locked = session.info.get(_KNOWN_IDS, {})  # by ``lock_balances``, in this transaction
    if (
        len(totals) > 1
        and session.bind is not None
        and session.bind.dialect.name == "postgresql"
        and not all(code in locked for code in totals)
    ):
        # One UPDATE ... FROM unnest() takes its rows in no set order: lock them first in
        # the order every writer takes (by code), as the executemany elsewhere does
        # (unless this transaction locked every one of them already).
        for chunk in chunked(sorted(totals)):
            await session.execute(
                select(c.id).where(c.code.in_(chunk)).order_by(c.code).with_for_update()
            )
    await update_many(
        session,
        statement,
        [
            {
                "aid": ids[code],
                "pd": b.pending_debits,
                "pc": b.pending_credits,
                "xd": b.posted_debits,
                "xc": b.posted_credits,
            }
            for code, b in sorted(totals.items())  # one lock order for every writer
        ],
        table=_ACCOUNTS,
        like=_DELTA_COLUMNS,
        set_sql={f: f"t.{f} + v.{p}" for p, f in _DELTA_COLUMNS.items() if p != "aid"},
        where_sql="t.id = v.aid",
    )


_DELTA_COLUMNS = {
    "aid": "id",
    "pd": "pending_debits",
    "pc": "pending_credits",
    "xd": "posted_debits",
    "xc": "posted_credits",
}


# Account ids this transaction has read already (``lock_balances``), by code: ``write``
# then needs no second look-up. Forgotten when the transaction (or a savepoint) ends.
_KNOWN_IDS = "payout_engine.ledger.account_ids"


@event.listens_for(Session, "after_transaction_end")
def _forget_ids(session: Session, _transaction: object) -> None:
    session.info.pop(_KNOWN_IDS, None)


async def lock_balances(session: AsyncSession, refs: Sequence[AccountRef]) -> dict[str, Balance]:
    """Current totals of these accounts, locked (FOR UPDATE; SQLite holds the write lock)."""
    codes = sorted({ref.code for ref in refs})
    c = _ACCOUNTS.c
    balances: dict[str, Balance] = {}
    known: dict[str, int] = session.info.setdefault(_KNOWN_IDS, {})
    for chunk in chunked(codes):  # in code order: one lock order for every writer
        rows = await session.execute(
            select(c.id, c.code, c.pending_debits, c.pending_credits)
            .add_columns(c.posted_debits, c.posted_credits)
            .where(c.code.in_(chunk))
            .order_by(c.code)
            .with_for_update()
        )
        for aid, code, *totals in rows.all():
            known[code] = aid
            balances[code] = Balance(*totals)
    return balances


def balance_of(row: LedgerAccount) -> Balance:
    return Balance(row.pending_debits, row.pending_credits, row.posted_debits, row.posted_credits)


async def open_reservations(session: AsyncSession, payout_ids: Sequence[int]) -> dict[int, int]:
    """payout id -> id of its reserve transfer that no post or void has resolved yet.

    NOT EXISTS on the unique ``resolves_id`` index, not NOT IN over every resolving
    transfer: at a million payouts PostgreSQL materialized the NOT IN list and took
    2 s per poller batch (5 ms this way)."""
    resolver = aliased(LedgerTransfer)
    rows = await session.execute(
        select(LedgerTransfer.payout_id, func.max(LedgerTransfer.id))
        .where(
            LedgerTransfer.payout_id.in_(list(payout_ids)),
            LedgerTransfer.kind == "reserve",
            ~exists().where(resolver.resolves_id == LedgerTransfer.id),
        )
        .group_by(LedgerTransfer.payout_id)
    )
    return {pid: tid for pid, tid in rows.all() if pid is not None}
