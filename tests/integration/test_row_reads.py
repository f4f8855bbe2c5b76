"""The API's hottest reads (``persistence.row_reads``: the driver's own connection, no ORM)
give exactly what the ORM reads of the same rows give, value for value and type for
type: aware UTC datetimes, dates, JSON as dicts, None where there is nothing."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from persistence import queries
from persistence.tables import AuditEvent, LedgerAccount, LedgerEntry, LedgerTransfer, Payout
from service.bootstrap import Container


def _same(row: Any, model: Any, columns: list[str]) -> None:
    for name in columns:
        ours, theirs = getattr(row, name), getattr(model, name)
        assert (ours, type(ours)) == (theirs, type(theirs)), name


async def test_rows_read_by_the_driver_match_the_orm(seeded: Container) -> None:
    await seeded.runner.run("LIQ-2024-001", "row-reads")
    async with seeded.sessions() as session:
        payouts = list((await session.scalars(select(Payout).order_by(Payout.id))).all())
        ids = [p.id for p in payouts]
        assert len(ids) > 40
        rows = await queries.payout_rows(session, [*ids, 10**9])
        assert rows[-1] is None  # no such payout
        columns = [c.key for c in queries.PAYOUT_COLUMNS]
        assert "order_request" not in columns
        for row, payout in zip(rows, payouts, strict=False):
            _same(row, payout, columns)
        assert any(p.expected_settlement_date for p in payouts)
        assert all(row.created_at.utcoffset() is not None for row in rows[:-1])

        traces = await queries.trace_rows(session, ids)
        for payout_id, trace in zip(ids, traces, strict=True):
            events = (
                await session.scalars(
                    select(AuditEvent)
                    .where(AuditEvent.payout_id == payout_id)
                    .order_by(AuditEvent.id)
                )
            ).all()
            assert len(trace) == len(events) > 0
            for row, audit in zip(trace, events, strict=True):
                _same(row, audit, [c.key for c in AuditEvent.__table__.c])
                assert isinstance(row.detail, dict)

        entries = await queries.entries_by_payout(session, ids)
        assert any(entries)
        for payout_id, listed in zip(ids, entries, strict=True):
            expected = (
                await session.execute(
                    select(LedgerEntry, LedgerTransfer, LedgerAccount.code)
                    .join(LedgerTransfer, LedgerEntry.transfer_id == LedgerTransfer.id)
                    .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
                    .where(LedgerTransfer.payout_id == payout_id)
                    .order_by(LedgerTransfer.id, LedgerEntry.id)
                )
            ).all()
            assert [
                (e.id, t.id, t.kind, code, e.side, e.amount_minor, e.currency, e.phase)
                for e, t, code in expected
            ] == [
                (
                    r.id,
                    r.transfer_id,
                    r.kind,
                    r.account_code,
                    r.side,
                    r.amount_minor,
                    r.currency,
                    r.phase,
                )
                for r in listed
            ]
            assert [t.created_at for _, t, _ in expected] == [r.created_at for r in listed]


async def test_a_page_of_rows_is_the_orm_page_newest_first_with_each_filter(
    seeded: Container,
) -> None:
    await seeded.runner.run("LIQ-2024-001", "row-pages")
    async with seeded.sessions() as session:
        everything = list((await session.scalars(select(Payout).order_by(Payout.id.desc()))).all())
        country = everything[0].country
        specs = [
            queries.PayoutFilterSpec(),
            queries.PayoutFilterSpec(country=country),
            queries.PayoutFilterSpec(status=everything[0].status, country=country),
            queries.PayoutFilterSpec(payee_id=everything[3].payee_id),
            queries.PayoutFilterSpec(event_id=everything[0].event_id, rail=everything[0].rail),
            queries.PayoutFilterSpec(run_id=everything[0].run_id),
            queries.PayoutFilterSpec(country="ZZ"),
        ]
        for spec in specs:
            wanted = [
                p.id
                for p in everything
                if all(
                    getattr(spec, f) is None or getattr(p, f) == getattr(spec, f)
                    for f in ("country", "status", "rail", "event_id", "payee_id", "run_id")
                )
            ]
            seen: list[int] = []
            after = None
            while True:
                page = await queries.payouts_page(session, spec, 7, after)
                seen += [row.id for row in page.rows]
                if not page.has_next:
                    break
                after = page.rows[-1].id
            assert seen == wanted, spec
