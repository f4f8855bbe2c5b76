"""Whether a payout can be paid now, and if not every reason why.

All findings are collected, ordered as ``SkipReason`` is declared, so the
primary reason of a skipped payout is deterministic. A missing FX rate for a
rail's limit is not a finding but a programming error of the caller
(``MissingFxRate``): the run must fetch a rate for every rail currency first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from domain.bank_details import BankAccount, validate_account
from domain.errors import UnknownCountry, UnsupportedPaymentMethod
from domain.money import Money, convert
from domain.ports import ProviderKind
from domain.rails import PaymentMethod, Rail
from domain.reason_codes import explain
from domain.routing import RailDecision, normalize_country, payable_method, route


class SkipReason(StrEnum):
    EXISTING_PAYMENT_ORDER = "existing_payment_order"
    MISSING_COUNTRY = "missing_country"
    INVALID_METHOD = "invalid_method"
    INVALID_AMOUNT = "invalid_amount"
    MISSING_EXTERNAL_ACCOUNT = "missing_external_account"
    INVALID_BANK_ACCOUNT = "invalid_bank_account"
    BANK_ACCOUNT_UNVERIFIED = "bank_account_unverified"
    BANK_ACCOUNT_FLAGGED = "bank_account_flagged"
    AMOUNT_ABOVE_RAIL_LIMIT = "amount_above_rail_limit"
    UNKNOWN_COUNTRY = "unknown_country"
    UNSUPPORTED_CURRENCY = "unsupported_currency"


_ORDER = {reason: index for index, reason in enumerate(SkipReason)}


class MissingFxRate(LookupError):
    """The caller did not supply a rate the limit check needs (a bug, not a skip)."""


@dataclass(frozen=True, slots=True)
class Finding:
    reason: SkipReason
    detail: str


@dataclass(frozen=True, slots=True)
class PayeeProfile:
    country: str | None
    payment_method: PaymentMethod | str


@dataclass(frozen=True, slots=True)
class Eligibility:
    decision: RailDecision | None  # set whenever country and method allow routing
    findings: tuple[Finding, ...]

    @property
    def eligible(self) -> bool:
        return not self.findings and self.decision is not None

    @property
    def primary_reason(self) -> SkipReason | None:
        return self.findings[0].reason if self.findings else None


def _country(country: str | None) -> tuple[str | None, Finding | None]:
    if country is None or not country.strip():
        return None, Finding(SkipReason.MISSING_COUNTRY, "the payee has no country")
    try:
        return normalize_country(country), None
    except UnknownCountry as exc:
        return None, Finding(SkipReason.UNKNOWN_COUNTRY, exc.message)


def _method(method: PaymentMethod | str) -> tuple[PaymentMethod | None, Finding | None]:
    try:
        return payable_method(method), None
    except UnsupportedPaymentMethod as exc:
        return None, Finding(SkipReason.INVALID_METHOD, exc.message)


def amount_in(amount: Money, currency: str, fx_rates: Mapping[str, Decimal]) -> Money:
    """``amount`` in ``currency``; ``fx_rates`` maps a currency to units per one ``amount`` unit."""
    if amount.currency == currency:
        return amount
    rate = fx_rates.get(currency)
    if rate is None:
        raise MissingFxRate(f"no {amount.currency}->{currency} rate supplied")
    return convert(amount, rate, currency)


def _above_limit(amount: Money, rail: Rail, fx_rates: Mapping[str, Decimal]) -> Finding | None:
    if rail.max_amount is None or not amount.is_positive:
        return None
    payable = amount_in(amount, rail.currency, fx_rates)
    if payable <= rail.max_amount:
        return None
    return Finding(
        SkipReason.AMOUNT_ABOVE_RAIL_LIMIT,
        f"{payable} is above the {rail.name} limit of {rail.max_amount} per payment",
    )


def _account_findings(decision: RailDecision, account: BankAccount | None) -> list[Finding]:
    if account is None:
        return []
    problems = validate_account(decision.rail, account)
    if not problems:
        return []
    return [Finding(SkipReason.INVALID_BANK_ACCOUNT, "; ".join(problems))]


def _flagged(account: BankAccount | None) -> list[Finding]:
    if account is None or account.flag_code is None:
        return []
    return [Finding(SkipReason.BANK_ACCOUNT_FLAGGED, flagged_detail(account.flag_code))]


def flagged_detail(code: str) -> str:
    reason = explain(code)
    meaning = f" ({reason.description.lower()})" if reason is not None else ""
    return (
        f"a payment to this bank account came back {code}{meaning}; "
        "the payee needs a new bank account"
    )


# Only the cross-border provider converts currencies; ACH and wire pay what they are sent.
_CONVERTS = frozenset({ProviderKind.CROSS_BORDER})


def _needs_fx_the_provider_lacks(amount: Money, decision: RailDecision) -> Finding | None:
    if decision.currency == amount.currency or decision.rail.provider in _CONVERTS:
        return None
    return Finding(
        SkipReason.UNSUPPORTED_CURRENCY,
        f"{decision.rail.name} pays {decision.currency} only and cannot convert "
        f"{amount.currency}; fund this payout in {decision.currency}",
    )


def check_eligibility(
    *,
    amount: Money,
    payee: PayeeProfile,
    account: BankAccount | None,
    now: datetime,
    fx_rates: Mapping[str, Decimal],
    has_existing_order: bool = False,
) -> Eligibility:
    """Route the payout and report every reason it cannot be paid.

    Raises ``MissingFxRate`` when the chosen rail has a limit in a currency other
    than ``amount``'s and ``fx_rates`` has no rate for it.
    """
    findings: list[Finding] = []
    if has_existing_order:
        findings.append(
            Finding(SkipReason.EXISTING_PAYMENT_ORDER, "a payment order already exists")
        )
    country, country_finding = _country(payee.country)
    method, method_finding = _method(payee.payment_method)
    findings += [f for f in (country_finding, method_finding) if f is not None]
    if not amount.is_positive:
        findings.append(Finding(SkipReason.INVALID_AMOUNT, f"{amount} is not a positive amount"))
    if account is None:
        findings.append(
            Finding(SkipReason.MISSING_EXTERNAL_ACCOUNT, "the payee has no bank account on file")
        )
    elif account.hold:
        findings.append(Finding(SkipReason.BANK_ACCOUNT_UNVERIFIED, account.hold))
    findings += _flagged(account)
    decision = None
    if country is not None and method is not None:
        decision = route(
            country,
            has_us_bank_account=account is not None and account.has_us_routing,
            payment_method=method,
            now=now,
            funding_currency=amount.currency,
        )
        findings += _account_findings(decision, account)
        if no_fx := _needs_fx_the_provider_lacks(amount, decision):
            findings.append(no_fx)  # its limit cannot apply to money it will never send
        elif limit := _above_limit(amount, decision.rail, fx_rates):
            findings.append(limit)
    findings.sort(key=lambda finding: _ORDER[finding.reason])
    return Eligibility(decision=decision, findings=tuple(findings))
