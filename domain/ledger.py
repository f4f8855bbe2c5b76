"""Double-entry ledger: accounts, balanced transfers and the posting rules.

A transfer is a journal entry of two or more legs, each a positive amount on an
explicit debit or credit side; one whose debits and credits differ in any currency
cannot be constructed. Money moves in two phases, as in TigerBeetle: reserving a
payout writes a PENDING transfer, counted in its accounts' pending totals; settling
writes a "post" transfer that moves the same legs from pending to posted; failing or
cancelling writes a "void" that releases them. A return after settlement is a new
posted transfer with the sides swapped. Nothing is edited: every change is a new
transfer, and ``balance_deltas`` says how it moves the cached per-account totals.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from enum import StrEnum

from domain.errors import (
    CurrencyMismatch,
    IllegalTransition,
    InsufficientFunds,
    InvalidAmount,
    InvalidInput,
    UnbalancedEntry,
)
from domain.money import Money, check_currency


class Side(StrEnum):
    DEBIT = "debit"
    CREDIT = "credit"

    @property
    def opposite(self) -> Side:
        return Side.CREDIT if self is Side.DEBIT else Side.DEBIT


class AccountType(StrEnum):
    ASSET = "asset"
    LIABILITY = "liability"
    EQUITY = "equity"
    EXPENSE = "expense"
    REVENUE = "revenue"

    @property
    def normal_side(self) -> Side:
        """The side that increases the account: debit for assets and expenses."""
        return Side.DEBIT if self in (AccountType.ASSET, AccountType.EXPENSE) else Side.CREDIT


class Phase(StrEnum):
    PENDING = "pending"
    POSTED = "posted"
    VOIDED = "voided"


class Kind(StrEnum):
    """The kinds of transfer the posting rules write; ``Transfer.kind`` is any string."""

    ALLOCATION = "allocation"
    MERCHANT_FUNDING = "merchant_funding"
    RESERVE = "reserve"
    POST = "post"
    VOID = "void"
    REVERSE = "reverse"
    RETURN = "return"


@dataclass(frozen=True, slots=True)
class AccountRef:
    code: str
    type: AccountType
    currency: str
    owner_payee_id: int | None = None

    def __post_init__(self) -> None:
        if not self.code:
            raise InvalidInput("an account needs a code", field="code")
        check_currency(self.currency)


@dataclass(frozen=True, slots=True)
class Leg:
    account: AccountRef
    side: Side
    amount: Money

    def __post_init__(self) -> None:
        object.__setattr__(self, "side", Side(self.side))
        if not self.amount.is_positive:
            raise InvalidAmount(f"a leg amount must be positive, got {self.amount}", field="amount")
        if self.amount.currency != self.account.currency:
            raise CurrencyMismatch(
                f"{self.amount} cannot go to {self.account.code}, a {self.account.currency} account"
            )


def debit(account: AccountRef, amount: Money) -> Leg:
    return Leg(account, Side.DEBIT, amount)


def credit(account: AccountRef, amount: Money) -> Leg:
    return Leg(account, Side.CREDIT, amount)


@dataclass(frozen=True, slots=True)
class Transfer:
    """A journal entry: two or more legs whose debits equal credits in each currency."""

    kind: str
    legs: tuple[Leg, ...]
    phase: Phase

    def __post_init__(self) -> None:
        object.__setattr__(self, "legs", tuple(self.legs))
        object.__setattr__(self, "phase", Phase(self.phase))
        _check_balanced(self.legs)
        _check_accounts(self.legs)
        _check_kind(self.kind, self.phase)

    @classmethod
    def of(cls, kind: str, phase: Phase, *legs: Leg) -> Transfer:
        return cls(kind, legs, phase)


def _check_balanced(legs: tuple[Leg, ...]) -> None:
    if len(legs) < 2:
        raise UnbalancedEntry(f"a transfer needs two or more legs, got {len(legs)}")
    totals: dict[str, dict[Side, int]] = defaultdict(lambda: {Side.DEBIT: 0, Side.CREDIT: 0})
    for leg in legs:
        totals[leg.amount.currency][leg.side] += leg.amount.minor
    off = [
        f"{currency} debits {sides[Side.DEBIT]} != credits {sides[Side.CREDIT]} (minor units)"
        for currency, sides in sorted(totals.items())
        if sides[Side.DEBIT] != sides[Side.CREDIT]
    ]
    if off:
        raise UnbalancedEntry("unbalanced transfer: " + "; ".join(off))


def _check_accounts(legs: tuple[Leg, ...]) -> None:
    seen: dict[str, AccountRef] = {}
    for leg in legs:
        if seen.setdefault(leg.account.code, leg.account) != leg.account:
            raise InvalidInput(f"two different accounts share the code {leg.account.code}")


def _check_kind(kind: str, phase: Phase) -> None:
    # balance_deltas reads a transfer by its phase and kind, so they must agree.
    if (kind == Kind.VOID) != (phase is Phase.VOIDED):
        raise InvalidInput(f"a {kind!r} transfer cannot be {phase}", field="kind")
    if kind == Kind.POST and phase is not Phase.POSTED:
        raise InvalidInput(f"a {kind!r} transfer cannot be {phase}", field="kind")


# --- accounts ---------------------------------------------------------------------------


def payable(payee_id: int, currency: str) -> AccountRef:
    """What the platform owes a payee, in the currency their funds were allocated in."""
    code = f"payee:{payee_id}:payable:{currency}"
    return AccountRef(code, AccountType.LIABILITY, currency, owner_payee_id=payee_id)


def provider_cash(provider_kind: str, currency: str) -> AccountRef:
    """The platform's cash held at a payment provider (the settlement account)."""
    if not provider_kind or ":" in provider_kind:
        raise InvalidInput(f"bad provider kind {provider_kind!r}", field="provider_kind")
    return AccountRef(f"platform:provider:{provider_kind}:{currency}", AccountType.ASSET, currency)


def fund_equity(currency: str) -> AccountRef:
    """Fund distributions: debited when an event's proceeds are allocated to investors."""
    return AccountRef(f"platform:fund:{currency}", AccountType.EQUITY, currency)


def merchant_funding(currency: str) -> AccountRef:
    """Merchant funding: debited for a merchant's opening balance."""
    return AccountRef(f"platform:merchant_funding:{currency}", AccountType.EQUITY, currency)


# --- posting rules ----------------------------------------------------------------------


def allocate(payee_id: int, amount: Money) -> Transfer:
    """An event allocation: the payee is now owed ``amount``."""
    source = fund_equity(amount.currency)
    owed = payable(payee_id, amount.currency)
    return Transfer.of(Kind.ALLOCATION, Phase.POSTED, debit(source, amount), credit(owed, amount))


def fund_merchant(payee_id: int, amount: Money) -> Transfer:
    """A merchant's opening balance."""
    source = merchant_funding(amount.currency)
    owed = payable(payee_id, amount.currency)
    return Transfer.of(
        Kind.MERCHANT_FUNDING, Phase.POSTED, debit(source, amount), credit(owed, amount)
    )


def reserve(payee_id: int, amount: Money, provider_kind: str) -> Transfer:
    """Hold ``amount`` of the payee's balance for an outgoing payout (pending)."""
    owed = payable(payee_id, amount.currency)
    cash = provider_cash(provider_kind, amount.currency)
    return Transfer.of(Kind.RESERVE, Phase.PENDING, debit(owed, amount), credit(cash, amount))


def post(pending: Transfer) -> Transfer:
    """Settle a reservation: the same legs move from pending to posted."""
    _require_phase(pending, Phase.PENDING, "post")
    return Transfer(Kind.POST, pending.legs, Phase.POSTED)


def void(pending: Transfer) -> Transfer:
    """Release a reservation that will not be paid (failed or cancelled)."""
    _require_phase(pending, Phase.PENDING, "void")
    return Transfer(Kind.VOID, pending.legs, Phase.VOIDED)


def reverse(posted: Transfer, kind: str = Kind.REVERSE) -> Transfer:
    """Undo a posted transfer with a new one, sides swapped (a return after settlement)."""
    _require_phase(posted, Phase.POSTED, "reverse")
    if kind in (Kind.POST, Kind.VOID):
        raise InvalidInput(f"a reversal cannot be of kind {kind!r}", field="kind")
    legs = tuple(Leg(leg.account, leg.side.opposite, leg.amount) for leg in posted.legs)
    return Transfer(kind, legs, Phase.POSTED)


def _require_phase(transfer: Transfer, phase: Phase, action: str) -> None:
    if transfer.phase is not phase:
        raise IllegalTransition(f"cannot {action} a {transfer.phase} {transfer.kind} transfer")


# --- balances ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Balance:
    """An account's cached totals in minor units; also used for a change to them."""

    pending_debits: int = 0
    pending_credits: int = 0
    posted_debits: int = 0
    posted_credits: int = 0

    def __add__(self, other: Balance) -> Balance:
        return Balance(
            self.pending_debits + other.pending_debits,
            self.pending_credits + other.pending_credits,
            self.posted_debits + other.posted_debits,
            self.posted_credits + other.posted_credits,
        )

    def __neg__(self) -> Balance:
        return Balance(
            -self.pending_debits, -self.pending_credits, -self.posted_debits, -self.posted_credits
        )

    def __sub__(self, other: Balance) -> Balance:
        return self + -other

    def posted_balance(self, normal: AccountType | Side) -> int:
        """Posted totals, positive on the account's normal side."""
        net = self.posted_debits - self.posted_credits
        return net if _normal_side(normal) is Side.DEBIT else -net

    def pending_out(self, normal: AccountType | Side) -> int:
        """Pending amounts against the normal side (held, not yet posted)."""
        return self.pending_credits if _normal_side(normal) is Side.DEBIT else self.pending_debits

    def available(self, normal: AccountType | Side) -> int:
        """Posted balance less what is held; for a payable: posted Cr - posted Dr - pending Dr."""
        return self.posted_balance(normal) - self.pending_out(normal)


def _normal_side(normal: AccountType | Side) -> Side:
    return normal if isinstance(normal, Side) else normal.normal_side


def balance_deltas(transfer: Transfer) -> dict[str, Balance]:
    """How writing ``transfer`` changes each account's totals, by account code."""
    deltas: dict[str, Balance] = {}
    for leg in transfer.legs:
        code = leg.account.code
        deltas[code] = deltas.get(code, Balance()) + _leg_delta(transfer, leg)
    return deltas


def _leg_delta(transfer: Transfer, leg: Leg) -> Balance:
    minor = leg.amount.minor
    debit_side = leg.side is Side.DEBIT
    pending = Balance(pending_debits=minor) if debit_side else Balance(pending_credits=minor)
    posted = Balance(posted_debits=minor) if debit_side else Balance(posted_credits=minor)
    if transfer.phase is Phase.PENDING:
        return pending
    if transfer.phase is Phase.VOIDED:
        return -pending
    return posted - pending if transfer.kind == Kind.POST else posted


def check_available(balance: Balance, account_type: AccountType, amount: Money) -> None:
    """The available-balance rule: raise ``InsufficientFunds`` if holding ``amount`` would
    take the account's available balance below zero."""
    if not amount.is_positive:
        raise InvalidAmount(f"cannot reserve {amount}", field="amount")
    available = balance.available(account_type)
    if amount.minor > available:
        shown = Money(max(available, 0), amount.currency)
        raise InsufficientFunds(f"{amount} exceeds the available {shown}", field="amount")
