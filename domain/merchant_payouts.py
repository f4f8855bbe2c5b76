"""Ad-hoc payouts a payee requests against its ledger balance, with an idempotency key.

Input is validated here, all problems at once; the request's fingerprint is what an
idempotency key is bound to (same key + different fingerprint = key reused).
``plan_payout`` decides whether the payout can be made and how (route, provider key,
the frozen order); the store only loads what it needs and saves what it decided.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from domain import ledger
from domain.bank_details import BankAccount
from domain.eligibility import Finding, MissingFxRate, PayeeProfile, SkipReason, check_eligibility
from domain.errors import ErrorCode, InsufficientFunds, PayoutEngineError, Problem, quoted
from domain.idempotency import key_problem
from domain.money import Money
from domain.orders import new_provider_key, order_for
from domain.ports import PaymentOrderRequest
from domain.routing import RailDecision


@dataclass(frozen=True, slots=True)
class PayoutRequest:
    payee_id: int
    amount: Money
    bank_account_id: int
    idempotency_key: str

    def fingerprint(self) -> str:
        """What the key stands for; the key itself is not part of it."""
        body = {
            "payee_id": self.payee_id,
            "amount": self.amount.to_decimal_string(),
            "currency": self.amount.currency,
            "bank_account_id": self.bank_account_id,
        }
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def parse_request(
    payee_id: str, amount: str, currency: str, bank_account_id: str, idempotency_key: str
) -> PayoutRequest | list[Problem]:
    problems: list[Problem] = []
    bad_key = key_problem(idempotency_key)
    if bad_key is not None:
        problems.append(bad_key)
    ids = {}
    for name, value in (("payee_id", payee_id), ("bank_account_id", bank_account_id)):
        if not value or not value.isascii() or not value.isdigit() or len(value) > 18:
            problems.append(Problem(name, ErrorCode.NOT_FOUND, f"{quoted(value)} is not an id"))
        else:
            ids[name] = int(value)
    money = None
    try:
        money = Money.parse(amount, currency)
    except PayoutEngineError as exc:
        problems.append(Problem(exc.field or "amount", exc.code, exc.message))
    if money is not None and money.minor <= 0:
        problems.append(
            Problem("amount", ErrorCode.INVALID_AMOUNT, "amount must be greater than zero")
        )
    if problems or money is None:
        return problems
    return PayoutRequest(ids["payee_id"], money, ids["bank_account_id"], idempotency_key)


@dataclass(frozen=True, slots=True)
class PlannedPayout:
    decision: RailDecision
    order: PaymentOrderRequest


# What a finding that makes an account unpayable means for the request's fields.
_REFUSALS = {
    SkipReason.INVALID_BANK_ACCOUNT: ("bank_account_id", ErrorCode.INVALID_BANK_ACCOUNT),
    SkipReason.BANK_ACCOUNT_FLAGGED: ("bank_account_id", ErrorCode.BANK_ACCOUNT_FLAGGED),
    SkipReason.INVALID_AMOUNT: ("amount", ErrorCode.INVALID_AMOUNT),
    SkipReason.AMOUNT_ABOVE_RAIL_LIMIT: ("amount", ErrorCode.AMOUNT_ABOVE_RAIL_LIMIT),
    # A rail that pays another currency and cannot convert: the request's currency is wrong.
    SkipReason.UNSUPPORTED_CURRENCY: ("currency", ErrorCode.UNSUPPORTED_CURRENCY),
}


Route = RailDecision | list[Problem]


def route_payout(
    request: PayoutRequest, payee: PayeeProfile, account: BankAccount | None, now: datetime
) -> Route:
    """How ``request`` would be paid to ``account`` (the rail, hence the provider whose
    accounts its hold touches), or why it cannot be; the balance is not asked."""
    if account is None:
        return [
            Problem(
                "bank_account_id",
                ErrorCode.NOT_FOUND,
                f"payee {request.payee_id} has no bank account {request.bank_account_id}",
            )
        ]
    if account.hold:
        message = f"bank account {request.bank_account_id} is held: {account.hold}"
        return [Problem("bank_account_id", ErrorCode.INELIGIBLE, message)]
    return _route(request, payee, account, now)


def route_payouts(
    requests: Sequence[PayoutRequest],
    payee: PayeeProfile,
    accounts: Mapping[int, BankAccount],
    now: datetime,
) -> list[Route]:
    """``route_payout`` for each of one payee's requests (``accounts`` by id)."""
    return [route_payout(r, payee, accounts.get(r.bank_account_id), now) for r in requests]


def accounts_touched(
    requests: Sequence[PayoutRequest], routes: Sequence[Route]
) -> list[ledger.AccountRef]:
    """Every ledger account the requests' holds may change: each currency's payable, and
    the accounts of each routed request's reservation. A store locks them all at once."""
    touched: dict[str, ledger.AccountRef] = {}
    # The accounts depend on the payee, currency and provider, not on the amount.
    holds: dict[tuple[int, str, str], Money] = {}
    for request, route in zip(requests, routes, strict=True):
        payable = ledger.payable(request.payee_id, request.amount.currency)
        touched[payable.code] = payable
        if isinstance(route, RailDecision):
            provider = route.rail.provider.value
            holds[(request.payee_id, request.amount.currency, provider)] = request.amount
    for (payee_id, _, provider), amount in holds.items():
        hold = ledger.reserve(payee_id, amount, provider)
        touched.update((leg.account.code, leg.account) for leg in hold.legs)
    return list(touched.values())


def plan_payout(
    request: PayoutRequest,
    payee: PayeeProfile,
    account: BankAccount | None,
    balance: ledger.Balance | None,
    now: datetime,
) -> PlannedPayout | list[Problem]:
    """Whether ``request`` can be paid from ``balance`` (the payee's payable in the
    request's currency, None if it has none) to ``account``, and the order if so."""
    route = route_payout(request, payee, account, now)
    return _plan_routed(request, route, balance, account, payee)


def _plan_routed(
    request: PayoutRequest,
    route: Route,
    balance: ledger.Balance | None,
    account: BankAccount | None,
    payee: PayeeProfile,
) -> PlannedPayout | list[Problem]:
    """Whether ``request``, routed so, can be paid from ``balance`` (the payee's payable
    in the request's currency, None if it has none), and the order if so."""
    currency = request.amount.currency
    if balance is None:
        return [
            Problem(
                "currency",
                ErrorCode.CURRENCY_MISMATCH,
                f"payee {request.payee_id} has no {currency} balance",
            )
        ]
    if isinstance(route, list):
        return route
    assert account is not None  # routed: it has one
    try:
        ledger.check_available(balance, ledger.AccountType.LIABILITY, request.amount)
    except InsufficientFunds as exc:
        return [exc.problem()]
    order = order_for(new_provider_key(), request.amount, route, account, payee.country)
    return PlannedPayout(route, order)


def plan_payouts(
    requests: Sequence[PayoutRequest],
    payee: PayeeProfile,
    accounts: Mapping[int, BankAccount],
    balances: Mapping[str, ledger.Balance],
    now: datetime,
) -> list[PlannedPayout | list[Problem]]:
    """``plan_payout`` for each of one payee's requests, in order, each against what the
    ones before it left."""
    routes = route_payouts(requests, payee, accounts, now)
    return plan_routed_payouts(requests, routes, payee, accounts, balances)


def plan_routed_payouts(
    requests: Sequence[PayoutRequest],
    routes: Sequence[Route],
    payee: PayeeProfile,
    accounts: Mapping[int, BankAccount],
    balances: Mapping[str, ledger.Balance],
) -> list[PlannedPayout | list[Problem]]:
    """``plan_payout`` for each of one payee's routed requests, in order, each against
    what the ones before it left: ``accounts`` by id, ``balances`` (the payee's payables)
    by currency. A refused request holds nothing, so it changes nothing for the next."""
    left = dict(balances)
    plans: list[PlannedPayout | list[Problem]] = []
    for request, route in zip(requests, routes, strict=True):
        currency = request.amount.currency
        account = accounts.get(request.bank_account_id)
        plan = _plan_routed(request, route, left.get(currency), account, payee)
        if isinstance(plan, PlannedPayout):
            left[currency] = left[currency] + _held(request, plan)
        plans.append(plan)
    return plans


def _held(request: PayoutRequest, plan: PlannedPayout) -> ledger.Balance:
    """How the payout's reservation changes the payee's payable."""
    hold = ledger.reserve(request.payee_id, request.amount, plan.decision.rail.provider.value)
    payable = ledger.payable(request.payee_id, request.amount.currency)
    return ledger.balance_deltas(hold)[payable.code]


def _route(
    request: PayoutRequest, payee: PayeeProfile, account: BankAccount, now: datetime
) -> RailDecision | list[Problem]:
    try:
        eligibility = check_eligibility(
            amount=request.amount, payee=payee, account=account, now=now, fx_rates={}
        )
    except MissingFxRate:
        return [
            Problem(
                "currency",
                ErrorCode.UNSUPPORTED_CURRENCY,
                "paying this balance to that account's rail needs FX, "
                "which merchant payouts do not do yet",
            )
        ]
    if not eligibility.eligible or eligibility.decision is None:
        return [_refusal(f) for f in eligibility.findings]
    if eligibility.decision.currency != request.amount.currency:
        return [
            Problem(
                "currency",
                ErrorCode.UNSUPPORTED_CURRENCY,
                f"the account is paid in {eligibility.decision.currency}, "
                f"not {request.amount.currency}",
            )
        ]
    return eligibility.decision


def _refusal(finding: Finding) -> Problem:
    field, code = _REFUSALS.get(finding.reason, ("payee_id", ErrorCode.INELIGIBLE))
    return Problem(field, code, finding.detail)
