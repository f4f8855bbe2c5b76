"""The double-entry ledger: balanced entries, two-phase transfers, posting rules."""

import re
from collections import defaultdict

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from domain.errors import (
    CurrencyMismatch,
    IllegalTransition,
    InsufficientFunds,
    InvalidAmount,
    InvalidInput,
    UnbalancedEntry,
)
from domain.ledger import (
    AccountRef,
    AccountType,
    Balance,
    Kind,
    Phase,
    Side,
    Transfer,
    allocate,
    balance_deltas,
    check_available,
    credit,
    debit,
    fund_equity,
    fund_merchant,
    payable,
    post,
    provider_cash,
    reserve,
    reverse,
    void,
)
from domain.money import Money


def usd(amount: str) -> Money:
    return Money.parse(amount, "USD")


def apply(books: dict[str, Balance], transfer: Transfer) -> dict[str, Balance]:
    """The cached totals after writing ``transfer``, as the store keeps them."""
    updated = dict(books)
    for code, delta in balance_deltas(transfer).items():
        updated[code] = updated.get(code, Balance()) + delta
    return updated


def replay(journal: list[Transfer]) -> dict[str, Balance]:
    books: dict[str, Balance] = {}
    for transfer in journal:
        books = apply(books, transfer)
    return books


# --- an unbalanced entry cannot be constructed -----------------------------------------


def test_a_balanced_transfer_has_two_or_more_legs() -> None:
    transfer = Transfer.of(
        "allocation",
        Phase.POSTED,
        debit(fund_equity("USD"), usd("10.00")),
        credit(payable(1, "USD"), usd("6.00")),
        credit(payable(2, "USD"), usd("4.00")),
    )
    assert len(transfer.legs) == 3


@pytest.mark.parametrize("legs", [0, 1])
def test_fewer_than_two_legs_is_unbalanced(legs: int) -> None:
    one = [debit(fund_equity("USD"), usd("1.00"))]
    with pytest.raises(UnbalancedEntry, match="two or more legs"):
        Transfer.of("allocation", Phase.POSTED, *one[:legs])


def test_debits_must_equal_credits() -> None:
    with pytest.raises(UnbalancedEntry, match="USD debits 1000 != credits 999"):
        Transfer.of(
            "allocation",
            Phase.POSTED,
            debit(fund_equity("USD"), usd("10.00")),
            credit(payable(1, "USD"), usd("9.99")),
        )


def test_currencies_balance_separately() -> None:
    # 10.00 USD against 10.00 EUR is 1000 minor units each way, and still unbalanced.
    with pytest.raises(UnbalancedEntry, match=r"EUR debits 0 != credits 1000.*USD debits 1000"):
        Transfer.of(
            "allocation",
            Phase.POSTED,
            debit(fund_equity("USD"), usd("10.00")),
            credit(payable(1, "EUR"), Money.parse("10.00", "EUR")),
        )


def test_a_transfer_balanced_in_each_currency_is_fine() -> None:
    eur = Money.parse("9.50", "EUR")
    transfer = Transfer.of(
        "fx",
        Phase.POSTED,
        debit(payable(1, "USD"), usd("10.00")),
        credit(provider_cash("ach", "USD"), usd("10.00")),
        debit(provider_cash("sepa", "EUR"), eur),
        credit(payable(1, "EUR"), eur),
    )
    assert {leg.amount.currency for leg in transfer.legs} == {"USD", "EUR"}


@pytest.mark.parametrize("minor", [0, -100])
def test_a_leg_amount_is_positive(minor: int) -> None:
    with pytest.raises(InvalidAmount, match="positive"):
        debit(fund_equity("USD"), Money(minor, "USD"))


def test_a_leg_is_in_its_account_currency() -> None:
    with pytest.raises(CurrencyMismatch, match="USD account"):
        credit(payable(1, "USD"), Money.parse("5.00", "EUR"))


def test_the_kind_agrees_with_the_phase() -> None:
    legs = reserve(1, usd("1.00"), "ach").legs
    for kind, phase in [("void", Phase.POSTED), ("post", Phase.PENDING), ("reserve", Phase.VOIDED)]:
        with pytest.raises(InvalidInput, match="cannot be"):
            Transfer(kind, legs, phase)


def test_one_code_is_one_account() -> None:
    impostor = AccountRef("payee:1:payable:USD", AccountType.ASSET, "USD")
    with pytest.raises(InvalidInput, match="share the code"):
        Transfer.of(
            "x", Phase.POSTED, debit(impostor, usd("1.00")), credit(payable(1, "USD"), usd("1.00"))
        )


def test_only_a_pending_transfer_is_posted_or_voided() -> None:
    held = reserve(1, usd("1.00"), "ach")
    for settled in (post(held), void(held), allocate(1, usd("1.00"))):
        with pytest.raises(IllegalTransition):
            post(settled)
        with pytest.raises(IllegalTransition):
            void(settled)


def test_only_a_posted_transfer_is_reversed() -> None:
    held = reserve(1, usd("1.00"), "ach")
    for transfer in (held, void(held)):
        with pytest.raises(IllegalTransition):
            reverse(transfer)
    with pytest.raises(InvalidInput):
        reverse(post(held), kind="post")


def test_reversal_swaps_the_sides() -> None:
    settled = post(reserve(7, usd("3.00"), "ach"))
    returned = reverse(settled, kind="return")
    assert (returned.kind, returned.phase) == ("return", Phase.POSTED)
    assert [(leg.account.code, leg.side) for leg in returned.legs] == [
        ("payee:7:payable:USD", Side.CREDIT),
        ("platform:provider:ach:USD", Side.DEBIT),
    ]


def test_account_codes_and_types() -> None:
    assert payable(42, "USD") == payable(42, "USD")
    assert (payable(42, "USD").code, payable(42, "USD").type) == (
        "payee:42:payable:USD",
        AccountType.LIABILITY,
    )
    assert payable(42, "USD").owner_payee_id == 42
    assert provider_cash("ach", "USD").code == "platform:provider:ach:USD"
    assert fund_equity("USD").code == "platform:fund:USD"
    assert fund_merchant(3, Money(1, "INR")).legs[0].account.code == "platform:merchant_funding:INR"
    assert [t.normal_side for t in AccountType] == [
        Side.DEBIT,
        Side.CREDIT,
        Side.CREDIT,
        Side.DEBIT,
        Side.CREDIT,
    ]


# --- two-phase deltas -------------------------------------------------------------------


def test_each_phase_moves_the_totals() -> None:
    held = reserve(1, usd("2.50"), "ach")
    payee, cash = "payee:1:payable:USD", "platform:provider:ach:USD"
    assert balance_deltas(held) == {
        payee: Balance(pending_debits=250),
        cash: Balance(pending_credits=250),
    }
    assert balance_deltas(post(held)) == {
        payee: Balance(pending_debits=-250, posted_debits=250),
        cash: Balance(pending_credits=-250, posted_credits=250),
    }
    assert balance_deltas(void(held)) == {
        payee: Balance(pending_debits=-250),
        cash: Balance(pending_credits=-250),
    }
    assert balance_deltas(reverse(post(held), kind="return")) == {
        payee: Balance(posted_credits=250),
        cash: Balance(posted_debits=250),
    }


# --- a worked example -------------------------------------------------------------------

FUND, A, B, ACH = (
    "platform:fund:USD",
    "payee:1:payable:USD",
    "payee:2:payable:USD",
    "platform:provider:ach:USD",
)
TYPES = {
    FUND: AccountType.EQUITY,
    A: AccountType.LIABILITY,
    B: AccountType.LIABILITY,
    ACH: AccountType.ASSET,
}


def test_allocate_reserve_settle_void_return() -> None:
    journal: list[Transfer] = []
    books: dict[str, Balance] = {}

    def write(transfer: Transfer) -> Transfer:
        nonlocal books
        journal.append(transfer)
        books = apply(books, transfer)
        return transfer

    # 1. Event allocation: investor A (payee 1) is owed 1,000.00, investor B (payee 2) 500.00.
    write(allocate(1, usd("1000.00")))  # Dr fund 1,000.00 / Cr A 1,000.00
    write(allocate(2, usd("500.00")))  #   Dr fund   500.00 / Cr B   500.00
    # 2. Reserve A's full 1,000.00 and 200.00 of B's for outgoing ACH payouts (pending).
    a_payout = write(reserve(1, usd("1000.00"), "ach"))  # Dr A 1,000.00 / Cr ACH 1,000.00
    b_first = write(reserve(2, usd("200.00"), "ach"))  #    Dr B   200.00 / Cr ACH   200.00
    # A has nothing left to reserve; B has 500.00 - 200.00 = 300.00.
    assert books[A].available(AccountType.LIABILITY) == 0
    assert books[B].available(AccountType.LIABILITY) == 300_00
    with pytest.raises(InsufficientFunds, match=re.escape("0.01 USD exceeds the available 0.00")):
        check_available(books[A], AccountType.LIABILITY, usd("0.01"))
    with pytest.raises(InsufficientFunds, match=re.escape("300.01 USD exceeds the available 300")):
        check_available(books[B], AccountType.LIABILITY, usd("300.01"))
    check_available(books[B], AccountType.LIABILITY, usd("300.00"))
    # 3. A's payout settles (pending -> posted); B's first payout fails (voided).
    write(post(a_payout))
    write(void(b_first))
    # 4. B is paid 500.00, it settles, then the bank returns it.
    b_second = write(reserve(2, usd("500.00"), "ach"))
    b_settled = write(post(b_second))
    write(reverse(b_settled, kind="return"))  # Dr ACH 500.00 / Cr B 500.00

    # Posted legs, by account (pending ones all posted or voided by now):
    #   fund  Dr 1,000.00 + 500.00                          = Dr 1,500.00
    #   A     Cr 1,000.00;  Dr 1,000.00 (settled)           -> 0.00
    #   B     Cr 500.00 + 500.00 (return); Dr 500.00        -> Cr 500.00
    #   ACH   Cr 1,000.00 + 500.00; Dr 500.00 (return)      -> Cr 1,000.00 (paid out)
    assert books == {
        FUND: Balance(posted_debits=1500_00),
        A: Balance(posted_debits=1000_00, posted_credits=1000_00),
        B: Balance(posted_debits=500_00, posted_credits=1000_00),
        ACH: Balance(posted_debits=500_00, posted_credits=1500_00),
    }
    posted = {code: books[code].posted_balance(TYPES[code]) for code in books}
    available = {code: books[code].available(TYPES[code]) for code in books}
    pending = {code: books[code].pending_out(TYPES[code]) for code in books}
    # Fund equity was distributed (a debit balance); cash at the provider went out.
    assert posted == {FUND: -1500_00, A: 0, B: 500_00, ACH: -1000_00}
    assert available == posted
    assert pending == {FUND: 0, A: 0, B: 0, ACH: 0}
    # B's returned 500.00 can be paid again.
    check_available(books[B], AccountType.LIABILITY, usd("500.00"))
    # The trial balance: 3,500.00 of debits, 3,500.00 of credits, nothing pending.
    assert sum(b.posted_debits for b in books.values()) == 3500_00
    assert sum(b.posted_credits for b in books.values()) == 3500_00
    assert sum(b.pending_debits + b.pending_credits for b in books.values()) == 0
    assert replay(journal) == books


# --- property: any sequence of operations keeps the books straight ---------------------

PAYEES = st.sampled_from([1, 2, 3])
CURRENCIES = st.sampled_from(["USD", "EUR", "JPY"])
PROVIDERS = st.sampled_from(["ach", "sepa"])
AMOUNTS = st.integers(min_value=1, max_value=1_000_000)


def _sum_legs(transfers: list[Transfer]) -> dict[str, Balance]:
    """Totals computed the long way: posted legs of posted transfers, legs still held."""
    totals: dict[str, Balance] = defaultdict(Balance)
    for transfer in transfers:
        for leg in transfer.legs:
            minor = leg.amount.minor
            if transfer.phase is Phase.PENDING:
                change = (
                    Balance(pending_debits=minor)
                    if leg.side is Side.DEBIT
                    else Balance(pending_credits=minor)
                )
            else:
                change = (
                    Balance(posted_debits=minor)
                    if leg.side is Side.DEBIT
                    else Balance(posted_credits=minor)
                )
            totals[leg.account.code] += change
    return dict(totals)


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.journal: list[Transfer] = []
        self.balances: dict[str, Balance] = {}
        self.open: dict[int, Transfer] = {}  # journal index of a reservation -> it
        self.closed: set[int] = set()
        self.settled: dict[int, Transfer] = {}  # journal index of a post -> it
        self.returned: set[int] = set()

    def write(self, transfer: Transfer) -> int:
        for code, delta in balance_deltas(transfer).items():
            self.balances[code] = self.balances.get(code, Balance()) + delta
        self.journal.append(transfer)
        return len(self.journal) - 1

    def held(self, payee: int, currency: str) -> Balance:
        return self.balances.get(payable(payee, currency).code, Balance())

    @rule(payee=PAYEES, currency=CURRENCIES, minor=AMOUNTS)
    def allocate(self, payee: int, currency: str, minor: int) -> None:
        self.write(allocate(payee, Money(minor, currency)))

    @rule(payee=PAYEES, currency=CURRENCIES, minor=AMOUNTS)
    def fund_merchant(self, payee: int, currency: str, minor: int) -> None:
        self.write(fund_merchant(payee, Money(minor, currency)))

    @rule(payee=PAYEES, currency=CURRENCIES, minor=AMOUNTS, provider=PROVIDERS)
    def reserve(self, payee: int, currency: str, minor: int, provider: str) -> None:
        amount = Money(minor, currency)
        balance = self.held(payee, currency)
        if minor > balance.available(AccountType.LIABILITY):
            with pytest.raises(InsufficientFunds):
                check_available(balance, AccountType.LIABILITY, amount)
            return
        check_available(balance, AccountType.LIABILITY, amount)
        index = self.write(reserve(payee, amount, provider))
        self.open[index] = self.journal[index]

    @rule(payee=PAYEES, currency=CURRENCIES, provider=PROVIDERS)
    def reserve_everything(self, payee: int, currency: str, provider: str) -> None:
        balance = self.held(payee, currency)
        rest = balance.available(AccountType.LIABILITY)
        if rest > 0:
            check_available(balance, AccountType.LIABILITY, Money(rest, currency))
            index = self.write(reserve(payee, Money(rest, currency), provider))
            self.open[index] = self.journal[index]
        with pytest.raises(InsufficientFunds):
            check_available(self.held(payee, currency), AccountType.LIABILITY, Money(1, currency))

    @precondition(lambda self: self.open)
    @rule(data=st.data(), settle=st.booleans())
    def close(self, data: st.DataObject, settle: bool) -> None:
        index = data.draw(st.sampled_from(sorted(self.open)))
        assert index not in self.closed
        pending = self.open.pop(index)
        self.closed.add(index)
        if settle:
            settled = post(pending)
            self.settled[self.write(settled)] = settled
        else:
            self.write(void(pending))

    @precondition(lambda self: set(self.settled) - self.returned)
    @rule(data=st.data())
    def give_back(self, data: st.DataObject) -> None:
        index = data.draw(st.sampled_from(sorted(set(self.settled) - self.returned)))
        self.returned.add(index)
        self.write(reverse(self.settled[index], kind="return"))

    @invariant()
    def every_transfer_balances_per_currency(self) -> None:
        for transfer in self.journal:
            net: dict[str, int] = defaultdict(int)
            for leg in transfer.legs:
                net[leg.amount.currency] += leg.amount.minor * (1 if leg.side is Side.DEBIT else -1)
            assert not any(net.values())

    @invariant()
    def cached_totals_match_the_journal(self) -> None:
        # posted: every posted transfer's legs; pending: the reservations still open.
        expected = _sum_legs(
            [t for t in self.journal if t.phase is Phase.POSTED] + list(self.open.values())
        )
        assert {c: b for c, b in self.balances.items() if b != Balance()} == {
            c: b for c, b in expected.items() if b != Balance()
        }
        assert replay(self.journal) == self.balances

    @invariant()
    def the_books_balance(self) -> None:
        by_currency: dict[str, Balance] = defaultdict(Balance)
        for code, balance in self.balances.items():
            by_currency[code.rsplit(":", 1)[1]] += balance
        for total in by_currency.values():
            assert total.posted_debits == total.posted_credits
            assert total.pending_debits == total.pending_credits

    @invariant()
    def no_payee_is_overdrawn(self) -> None:
        for code, balance in self.balances.items():
            assert min(balance.pending_debits, balance.pending_credits) >= 0
            if code.startswith("payee:"):
                assert balance.available(AccountType.LIABILITY) >= 0

    @invariant()
    def each_reservation_closes_once(self) -> None:
        reservations = {i for i, t in enumerate(self.journal) if t.kind == Kind.RESERVE}
        assert reservations == self.open.keys() | self.closed
        assert not self.open.keys() & self.closed
        closes = sum(t.kind in (Kind.POST, Kind.VOID) for t in self.journal)
        assert closes == len(self.closed)


LedgerMachine.TestCase.settings = settings(max_examples=200, deadline=None, stateful_step_count=30)
TestLedgerProperties = LedgerMachine.TestCase
