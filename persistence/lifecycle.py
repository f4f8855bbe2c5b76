"""The only code that writes ``payouts.status``: it applies ``domain.lifecycle`` paths.

``create`` inserts new payouts, ``advance`` moves existing ones. Either way, in the
caller's transaction: the rows are locked, each status write is guarded by the status
the path starts from, every step's ledger effect is written (reserve, post, void,
reverse), and every step leaves one audit row. A path the trigger may not take, or a
post or void with no open hold to resolve, raises before anything is written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from domain import ledger
from domain.errors import IllegalTransition, LedgerInconsistent
from domain.lifecycle import LedgerEffect, Path, PayoutStatus, Trigger
from domain.money import Money
from persistence import account_flags, audit, ledger_store, metrics, outbox
from persistence.sql import chunked, insert_returning, update_many
from persistence.tables import Payout

_PAYOUTS = Payout.__table__  # Core statements: half the CPU of the ORM's
Detail = Mapping[PayoutStatus, Mapping[str, Any]]  # audit detail by the step's target
# Further audit rows (action, detail) told right after the step that reaches a status,
# so that a payout's trace reads in order (pending, routed, submitting).
Notes = Mapping[PayoutStatus, Sequence[tuple[str, Mapping[str, Any]]]]


@dataclass(frozen=True, slots=True)
class NewPayout:
    """A payout to insert: its columns (no status) and the path it is created along."""

    values: Mapping[str, Any]
    path: Path
    detail: Detail = field(default_factory=dict)
    notes: Notes = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Move:
    """An existing payout to move along ``path``, writing ``values`` with its status."""

    payout_id: int
    path: Path
    values: Mapping[str, Any] = field(default_factory=dict)
    detail: Detail = field(default_factory=dict)
    notes: Notes = field(default_factory=dict)


# A payout as ``lock`` reads it: a Core row of the payouts table, its columns by name
# (a tenth of the CPU of an ORM entity, and nothing to track in the session).
PayoutRow = Row[Any]


async def lock(session: AsyncSession, ids: Iterable[int]) -> dict[int, PayoutRow]:
    """The payouts, locked for this transaction (SQLite already holds the write lock)."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    found: dict[int, PayoutRow] = {}
    for chunk in chunked(wanted):
        rows = await session.execute(
            select(_PAYOUTS).where(_PAYOUTS.c.id.in_(chunk)).with_for_update()
        )
        found.update((row.id, row) for row in rows.all())
    return found


async def create(
    session: AsyncSession,
    new: Sequence[NewPayout],
    now: datetime,
    trigger: Trigger,
    *,
    actor: str = audit.SYSTEM,
    run_id: int | None = None,
    balances: dict[str, ledger.Balance] | None = None,
) -> dict[str, int]:
    """Insert the payouts (a row another payout of its (event, payee) stands in the way
    of is left out) and apply their paths. Returns payout ids by idempotency key, of the
    rows inserted."""
    for item in new:
        _check(item.path, trigger)
    if not new:
        return {}
    rows = [
        {"attempt": 1, **item.values, "status": item.path.target.value, "version": 1}
        for item in new
    ]
    # Every unique index arbitrates: (event, payee, attempt) and the one live attempt
    # per (event, payee) alike, so a racing insert is left out, never an error.
    inserted = await insert_returning(session, _PAYOUTS, rows, ["idempotency_key", "id"])
    ids: dict[str, int] = {key: pid for key, pid in inserted}
    done = [
        (ids[item.values["idempotency_key"]], item.path, dict(item.values), item.detail, item.notes)
        for item in new
        if item.values["idempotency_key"] in ids
    ]
    await _effects_and_audit(session, done, now, actor, run_id, balances)
    return ids


async def advance(
    session: AsyncSession,
    moves: Sequence[Move],
    now: datetime,
    trigger: Trigger,
    *,
    actor: str = audit.SYSTEM,
    run_id: int | None = None,
    locked: Mapping[int, PayoutRow] | None = None,
) -> list[Move]:
    """Apply each move whose payout is still where its path starts; the rest (moved on
    by someone else) change nothing. Several moves of one payout in a batch chain up.
    Returns the moves applied, one per payout, their paths joined. ``locked``: the rows,
    if the caller has locked them in this transaction already."""
    rows = locked if locked is not None else await lock(session, (m.payout_id for m in moves))
    applied: dict[int, Move] = {}
    for m in moves:
        _check(m.path, trigger)
        row = rows.get(m.payout_id)
        if row is None:
            continue
        before = applied.get(m.payout_id)
        at = before.path.target if before else PayoutStatus(row.status)
        if m.path.source is not at:
            continue
        applied[m.payout_id] = _join(before, m) if before else m
    chosen = list(applied.values())
    await _write_statuses(session, rows, chosen, now)
    await account_flags.flag(session, rows, chosen, now)
    done = [(m.payout_id, m.path, _merged(rows[m.payout_id], m), m.detail, m.notes) for m in chosen]
    await _effects_and_audit(session, done, now, actor, run_id, None)
    return chosen


def _check(path: Path, trigger: Trigger) -> None:
    if not path.allowed_for(trigger):
        raise IllegalTransition(
            f"{trigger} may not move a payout {path.source or 'new'} -> {path.target}"
        )


def _join(first: Move, then: Move) -> Move:
    return Move(
        first.payout_id,
        Path(first.path.steps + then.path.steps),
        {**first.values, **then.values},
        {**first.detail, **then.detail},
        {**first.notes, **then.notes},
    )


def _merged(row: PayoutRow, move: Move) -> dict[str, Any]:
    """The payout's columns as they are after the move."""
    return dict(row._mapping) | dict(move.values)


async def _write_statuses(
    session: AsyncSession, rows: Mapping[int, PayoutRow], moves: Sequence[Move], now: datetime
) -> None:
    """One status-guarded UPDATE per set of columns written (executemany)."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for m in moves:
        values = {"status": m.path.target.value, "updated_at": now, **m.values}
        params = {"pid": m.payout_id, "was": rows[m.payout_id].status, **values}
        groups.setdefault(tuple(sorted(values)), []).append(params)
    for columns, batch in groups.items():
        await update_many(
            session,
            _guarded_update(columns),
            batch,
            table=_PAYOUTS,
            like={"pid": "id", "was": "status"},
            set_sql={name: f'v."{name}"' for name in columns} | {"version": "t.version + 1"},
            where_sql="t.id = v.pid AND t.status = v.was",
        )


def _guarded_update(columns: tuple[str, ...]) -> Any:
    return (
        update(_PAYOUTS)
        .where(_PAYOUTS.c.id == bindparam("pid"), _PAYOUTS.c.status == bindparam("was"))
        .values({name: bindparam(name) for name in columns} | {"version": _PAYOUTS.c.version + 1})
    )


_Done = tuple[int, Path, dict[str, Any], Detail, Notes]


async def _effects_and_audit(
    session: AsyncSession,
    done: Sequence[_Done],
    now: datetime,
    actor: str,
    run_id: int | None,
    balances: dict[str, ledger.Balance] | None,
) -> None:
    postings = await _postings(session, done, balances)
    await ledger_store.write(session, postings, now)
    await audit.write(session, [row for item in done for row in _audit(item, now, actor, run_id)])
    await outbox.payouts_changed(session, [(d[0], d[1].target.value, d[2]) for d in done], now)
    metrics.note_steps(session, [(pid, p.steps, row.get("rail")) for pid, p, row, *_ in done])


async def _postings(
    session: AsyncSession, done: Sequence[_Done], balances: dict[str, ledger.Balance] | None
) -> list[ledger_store.Posting]:
    effects = [(pid, s.effect, payout) for pid, path, payout, _, _ in done for s in path.steps]
    resolving = [pid for pid, e, _ in effects if e in (LedgerEffect.POST, LedgerEffect.VOID)]
    holds = await ledger_store.open_reservations(session, resolving) if resolving else {}
    # Built once per payout: the check of the balance and the posting use the same one.
    reserving = [_hold(pid, payout) for pid, e, payout in effects if e is LedgerEffect.RESERVE]
    if reserving:
        await _require_available(session, reserving, balances)
    reserved = iter(reserving)  # in the order of ``effects``
    postings = []
    for pid, effect, payout in effects:
        if effect is LedgerEffect.RESERVE:
            postings.append(
                ledger_store.Posting(next(reserved), payout_id=pid, event_id=payout["event_id"])
            )
        elif effect in (LedgerEffect.POST, LedgerEffect.VOID):
            if pid not in holds:
                raise LedgerInconsistent(f"payout {pid} has no open hold to {effect}")
            resolve = ledger.post if effect is LedgerEffect.POST else ledger.void
            postings.append(
                ledger_store.Posting(
                    resolve(_hold(pid, payout)), payout_id=pid, resolves_id=holds.pop(pid)
                )
            )
        elif effect is LedgerEffect.REVERSE:
            settled = ledger.post(_hold(pid, payout))
            postings.append(
                ledger_store.Posting(
                    ledger.reverse(settled, kind=ledger.Kind.RETURN),
                    payout_id=pid,
                )
            )
    return postings


def _hold(pid: int, payout: Mapping[str, Any]) -> ledger.Transfer:
    """The pending transfer that reserves (or reserved) this payout's amount."""
    if payout.get("provider") is None:
        raise LedgerInconsistent(f"payout {pid} has no provider, so it cannot hold money")
    amount = Money(payout["amount_minor"], payout["currency"])
    return ledger.reserve(payout["payee_id"], amount, payout["provider"])


async def _require_available(
    session: AsyncSession,
    holds: Sequence[ledger.Transfer],
    balances: dict[str, ledger.Balance] | None,
) -> None:
    """Every hold fits its payee's available balance, taken in order (rows locked)."""
    accounts = [hold.legs[0].account for hold in holds]
    if balances is None:
        balances = await ledger_store.lock_balances(session, accounts)
    for hold in holds:
        leg = hold.legs[0]
        current = balances.get(leg.account.code, ledger.Balance())
        ledger.check_available(current, leg.account.type, leg.amount)
        balances[leg.account.code] = current + ledger.balance_deltas(hold)[leg.account.code]


def _audit(item: _Done, now: datetime, actor: str, run_id: int | None) -> list[dict[str, Any]]:
    pid, path, _, detail, notes = item
    rows = []
    for s in path.steps:
        moved: dict[str, Any] = {"from": s.source.value if s.source else None, "to": s.target.value}
        rows.append(
            audit.audit_row(
                s.audit_action,
                now,
                payout_id=pid,
                run_id=run_id,
                actor=actor,
                **moved,
                effect=s.effect.value,
                **detail.get(s.target, {}),
            )
        )
        rows += [
            audit.audit_row(action, now, payout_id=pid, run_id=run_id, actor=actor, **told)
            for action, told in notes.get(s.target, ())
        ]
    return rows
