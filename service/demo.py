"""Demo data of the project's own making, deterministic, safe to load twice.

60 investors: one in each of the 38 rail countries, more in the large markets,
and the edge cases an operator meets: a non-US investor with a US bank account,
unsupported countries (AE, KR: international wire), a missing bank account, a
payment method the engine cannot pay, an invalid IBAN, a missing country, an
amount above the rail's limit, and a zero allocation. The three merchants of the
ledger issue are created too. Events: LIQ-2024-001 (the 60) and LIQ-2024-002
(a larger fund of ``large_event_size`` investors).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain import ledger
from domain.auth import Role
from domain.bank_details import details_verdict
from domain.events import AllocationInput, EventInput, plan_event, require
from domain.money import Money
from domain.ports import ProviderKind
from domain.rails import RAILS, rail_for_country
from persistence import ledger_store
from persistence.api_keys import SqlApiKeys
from persistence.event_store import SqlEventStore
from persistence.sql import chunked
from persistence.tables import BankAccount, LedgerAccount, LiquidationEvent, Payee
from providers.mock.bank import MockBank
from service.demo_accounts import sample_account_details

FIRST = [
    "Ana",
    "Ben",
    "Chen",
    "Dara",
    "Emil",
    "Fatima",
    "Goro",
    "Hana",
    "Ivan",
    "Jade",
    "Kofi",
    "Lena",
    "Mateo",
    "Nia",
    "Omar",
    "Priya",
    "Quinn",
    "Rosa",
    "Sven",
    "Tariq",
]
LAST = [
    "Almeida",
    "Berg",
    "Cohen",
    "Dubois",
    "Eriksen",
    "Fischer",
    "Garcia",
    "Haddad",
    "Ito",
    "Jansen",
    "Kowalski",
    "Lopez",
    "Moreau",
    "Novak",
    "Okafor",
    "Patel",
    "Rossi",
    "Sato",
    "Tanaka",
    "Weber",
]
EXTRA_COUNTRIES = ["US", "US", "GB", "DE", "FR", "JP", "CA", "AU", "IN", "NL", "SG", "CH", "MX"]


@dataclass
class DemoPayee:
    reference: str
    name: str
    country: str | None
    kind: str = "investor"
    payment_method: str = "bank_transfer"
    account: dict[str, str] | None = None
    account_country: str | None = None
    currency: str | None = None
    note: str = ""
    allocation: str | None = None  # a fixed USD amount for an edge case
    extra: dict[str, Any] = field(default_factory=dict)


def _name(i: int) -> str:
    return f"{FIRST[i % len(FIRST)]} {LAST[(i * 7) % len(LAST)]}"


def _regular(i: int, country: str, prefix: str = "INV") -> DemoPayee:
    rail = rail_for_country(country)
    return DemoPayee(
        reference=f"{prefix}-{i:04d}",
        name=_name(i),
        country=country,
        account=sample_account_details(country, seed=i),
        account_country=country,
        currency=rail.currency if rail else "USD",
    )


def investors() -> list[DemoPayee]:
    countries = sorted({c for rail in RAILS for c in rail.countries})
    people = [_regular(i + 1, c) for i, c in enumerate(countries + EXTRA_COUNTRIES)]
    n = len(people)
    bad_iban = dict(sample_account_details("DE", seed=99))
    bad_iban["iban"] = bad_iban["iban"][:-1] + ("0" if bad_iban["iban"][-1] != "0" else "1")
    edge = [
        DemoPayee(
            f"INV-{n + 1:04d}",
            "Gwen Harlow (UK resident, US account)",
            "GB",
            account=sample_account_details("US", seed=n + 1),
            account_country="US",
            currency="USD",
            note="non-US investor with a US bank account -> ACH",
        ),
        DemoPayee(
            f"INV-{n + 2:04d}",
            "Khalid Al Mansouri",
            "AE",
            account=sample_account_details("AE", seed=n + 2),
            account_country="AE",
            currency="USD",
            note="unsupported country -> international wire",
        ),
        DemoPayee(
            f"INV-{n + 3:04d}",
            "Kim Min-jun",
            "KR",
            account=sample_account_details("KR", seed=n + 3),
            account_country="KR",
            currency="USD",
            note="unsupported country -> international wire",
        ),
        DemoPayee(f"INV-{n + 4:04d}", "Nora Lindqvist", "SE", note="no bank account on file"),
        DemoPayee(
            f"INV-{n + 5:04d}",
            "Oscar Pereira",
            "PT",
            payment_method="check",
            account=sample_account_details("PT", seed=n + 5),
            account_country="PT",
            currency="EUR",
            note="pays by cheque: not a method this engine pays",
        ),
        DemoPayee(
            f"INV-{n + 6:04d}",
            "Greta Vogel",
            "DE",
            account=bad_iban,
            account_country="DE",
            currency="EUR",
            note="IBAN with a wrong check digit",
        ),
        DemoPayee(
            f"INV-{n + 7:04d}",
            "Sam Doe",
            None,
            account=sample_account_details("US", seed=n + 7),
            account_country="US",
            currency="USD",
            note="no country of residence on file",
        ),
        DemoPayee(
            f"INV-{n + 8:04d}",
            "Walter Brandt",
            "US",
            account=sample_account_details("US", seed=n + 8),
            account_country="US",
            currency="USD",
            allocation="1500000.00",
            note="above the ACH per-payment limit",
        ),
        DemoPayee(
            f"INV-{n + 9:04d}",
            "Zoe Marchetti",
            "IT",
            account=sample_account_details("IT", seed=n + 9),
            account_country="IT",
            currency="EUR",
            allocation="0.00",
            note="zero allocation",
        ),
    ]
    return people + edge


def _merchant(reference: str, name: str, seed: int, opening_balance: str) -> DemoPayee:
    return DemoPayee(
        reference,
        name,
        "IN",
        kind="merchant",
        account=sample_account_details("IN", seed=seed),
        account_country="IN",
        currency="INR",
        extra={"opening_balance": opening_balance},
    )


def merchants() -> list[DemoPayee]:
    return [
        _merchant("MER-ACME", "Acme Agency", 501, "10000.00"),
        _merchant("MER-FIAZ", "Freelancer Fiaz", 502, "5000.00"),
        _merchant("MER-TINY", "Tiny Studio", 503, "100.00"),
    ]


# The demo's clock starts on a Friday morning (UTC), so its dates are the same whenever it
# runs: a Japanese payout then settles on Tuesday 24 November, after Japan's Labour
# Thanksgiving Day (Monday 23), and the nightly reconciliation due is 19 November's.
DEMO_CLOCK_START = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def plant_unknown_order(banks: Mapping[ProviderKind, MockBank]) -> str | None:
    """Give the in-process wire bank one order that no payout made, so reconciliation has
    a break to show (``unknown_at_provider``). Nothing to do with a served wire bank."""
    bank = banks.get(ProviderKind.WIRE)
    return None if bank is None else bank.inject_unknown_order()


# Published demo keys: only ever loaded with the demo data (never on PostgreSQL by default).
DEMO_OPS_KEY = "pe_ops_demo_operator_key_for_local_use_only"
DEMO_APPROVER_KEY = "pe_approver_demo_approver_key_for_local_use_only"
DEMO_AUDITOR_KEY = "pe_auditor_demo_auditor_key_for_local_use_only"
DEMO_OWNER = "demo@example.com"
# Four eyes: the approver is another person than the operator who starts runs.
DEMO_APPROVER_OWNER = "approver@example.com"
DEMO_MERCHANT_KEYS = {
    "MER-ACME": "pe_payee_demo_acme_agency_local_use_only",
    "MER-FIAZ": "pe_payee_demo_freelancer_fiaz_local_use_only",
    "MER-TINY": "pe_payee_demo_tiny_studio_local_use_only",
}


def large_fund(size: int) -> list[DemoPayee]:
    countries = sorted({c for rail in RAILS for c in rail.countries})
    return [_regular(i, countries[i % len(countries)], prefix="INV2") for i in range(1, size + 1)]


def _amount(rng: random.Random) -> str:
    return f"{rng.randint(1_000, 250_000)}.{rng.randint(0, 99):02d}"


async def _insert_payees(
    session: AsyncSession, people: list[DemoPayee], now: datetime
) -> dict[str, int]:
    existing: dict[str, int] = {}
    for chunk in chunked([p.reference for p in people]):
        found = await session.execute(
            select(Payee.reference, Payee.id).where(Payee.reference.in_(chunk))
        )
        existing.update(found.all())
    new = [p for p in people if p.reference not in existing]
    if new:
        rows = (
            await session.execute(
                insert(Payee).returning(Payee.reference, Payee.id),
                [
                    {
                        "reference": p.reference,
                        "name": p.name,
                        "kind": p.kind,
                        "country": p.country,
                        "payment_method": p.payment_method,
                        "email": None,
                        "created_at": now,
                    }
                    for p in new
                ],
            )
        ).all()
        ids = dict(rows)
        accounts = [
            {
                "payee_id": ids[p.reference],
                "holder_name": p.name,
                "country": p.account_country,
                "currency": p.currency,
                "details": p.account,
                "details_verdict": details_verdict(
                    p.name, p.account_country, p.currency, p.account
                ),
                "is_default": True,
                "created_at": now,
            }
            for p in new
            if p.account is not None
        ]
        if accounts:
            await session.execute(insert(BankAccount), accounts)
        existing.update(ids)
    return existing


async def seed(
    sessions: async_sessionmaker[AsyncSession], now: datetime, large_event_size: int = 500
) -> dict[str, int]:
    """Load the demo; returns counts of what exists afterwards. Idempotent."""
    async with sessions.begin() as session:
        fund_one = investors()
        ids = await _insert_payees(session, fund_one + merchants(), now)
        fund_two = large_fund(large_event_size)
        ids.update(await _insert_payees(session, fund_two, now))
    await _fund_merchants(sessions, ids, now)
    await _issue_demo_keys(sessions, ids, now)
    events = SqlEventStore(sessions)
    rng = random.Random(2024)
    await _ensure_event(
        events,
        sessions,
        now,
        EventInput(
            code="LIQ-2024-001",
            name="Northwind Ventures I final distribution",
            fund_name="Northwind Ventures I",
            currency="USD",
            allocations=[
                AllocationInput(ids[p.reference], p.allocation or _amount(rng))
                for p in fund_one
                if p.allocation != "0.00"
            ],
        ),
        zero=[ids[p.reference] for p in fund_one if p.allocation == "0.00"],
    )
    await _ensure_event(
        events,
        sessions,
        now,
        EventInput(
            code="LIQ-2024-002",
            name="Northwind Ventures II liquidation",
            fund_name="Northwind Ventures II",
            currency="USD",
            total="25000000.00",
            allocations=[
                AllocationInput(ids[p.reference], weight=rng.randint(1, 100)) for p in fund_two
            ],
        ),
    )
    return {"payees": len(ids), "events": 2}


async def _fund_merchants(
    sessions: async_sessionmaker[AsyncSession], ids: dict[str, int], now: datetime
) -> None:
    """Opening balances of the demo merchants, posted once."""
    async with sessions.begin() as session:
        postings = []
        for merchant in merchants():
            payee_id = ids[merchant.reference]
            amount = Money.parse(merchant.extra["opening_balance"], merchant.currency or "INR")
            code = ledger.payable(payee_id, amount.currency).code
            if await session.scalar(select(LedgerAccount.id).where(LedgerAccount.code == code)):
                continue
            postings.append(ledger_store.Posting(ledger.fund_merchant(payee_id, amount)))
        await ledger_store.write(session, postings, now)


async def _issue_demo_keys(
    sessions: async_sessionmaker[AsyncSession], ids: dict[str, int], now: datetime
) -> None:
    keys = SqlApiKeys(sessions)
    await keys.issue(Role.OPS, "demo operator", now, key=DEMO_OPS_KEY, owner=DEMO_OWNER)
    await keys.issue(
        Role.APPROVER, "demo approver", now, key=DEMO_APPROVER_KEY, owner=DEMO_APPROVER_OWNER
    )
    await keys.issue(Role.AUDITOR, "demo auditor", now, key=DEMO_AUDITOR_KEY, owner=DEMO_OWNER)
    for reference, key in DEMO_MERCHANT_KEYS.items():
        await keys.issue(
            Role.PAYEE,
            f"demo {reference}",
            now,
            payee_id=ids[reference],
            key=key,
            owner=DEMO_OWNER,
        )


def demo_keys_text() -> str:
    lines = [
        f"  ops (everything)        Authorization: Api-Key {DEMO_OPS_KEY}",
        f"  approver (decides runs) Authorization: Api-Key {DEMO_APPROVER_KEY}",
        f"  auditor (reads only)    Authorization: Api-Key {DEMO_AUDITOR_KEY}",
    ]
    for merchant in merchants():
        key = DEMO_MERCHANT_KEYS[merchant.reference]
        lines.append(f"  {merchant.name:<22}  Authorization: Api-Key {key}")
    return "\n".join(lines)


async def _ensure_event(
    events: SqlEventStore,
    sessions: async_sessionmaker[AsyncSession],
    now: datetime,
    data: EventInput,
    zero: list[int] | None = None,
) -> None:
    async with sessions() as session:
        if await session.scalar(
            select(LiquidationEvent.id).where(LiquidationEvent.code == data.code)
        ):
            return
    created = await events.create(require(plan_event(data)), now, actor="seed")
    if isinstance(created, list):
        raise RuntimeError(f"demo event {data.code}: {created}")
    if zero:  # the API refuses zero allocations; the demo stores one to show the skip
        from persistence.tables import Allocation

        async with sessions.begin() as session:
            await session.execute(
                insert(Allocation),
                [
                    {"event_id": created, "payee_id": pid, "amount_minor": 0, "currency": "USD"}
                    for pid in zero
                ],
            )
