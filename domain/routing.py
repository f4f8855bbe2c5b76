"""Which rail pays a payee, by a fixed priority of four rules.

1. a payee outside the US with a US bank account -> ACH (CCD, USD)
2. a US payee -> ACH (CCD, USD)
3. a supported country -> its local rail in local currency, FX fixed-to-variable
4. anything else -> international wire (USD)

A payee who asked for a wire gets the international wire whatever the rules say.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from functools import lru_cache

import pycountry

from domain.calendars import expected_settlement_date
from domain.errors import UnknownCountry, UnsupportedPaymentMethod, quoted
from domain.rails import (
    ACH,
    INTERNATIONAL_WIRE,
    PAYABLE_METHODS,
    FxMode,
    PaymentMethod,
    Rail,
    rail_for_country,
)


class RoutingRule(StrEnum):
    US_BANK_ACCOUNT_ABROAD = "us_bank_account_abroad"
    US_PAYEE = "us_payee"
    LOCAL_RAIL = "local_rail"
    INTERNATIONAL_WIRE = "international_wire"

    @property
    def number(self) -> int:
        return list(RoutingRule).index(self) + 1

    @property
    def label(self) -> str:
        return f"Rule {self.number} ({self.value})"


@dataclass(frozen=True, slots=True)
class RailDecision:
    rail: Rail
    currency: str
    fx_mode: FxMode
    rule: RoutingRule
    explanation: str
    expected_settlement_date: date


def normalize_country(code: str) -> str:
    """Upper-cased ISO 3166 alpha-2 code; anything else is an UnknownCountry."""
    country = _known_country(code.strip().upper()) if isinstance(code, str) else None
    if country is None:
        raise UnknownCountry(f"{quoted(code)} is not an ISO 3166 country code", field="country")
    return country


@lru_cache(maxsize=1024)
def _known_country(country: str) -> str | None:
    if len(country) != 2 or not country.isalpha():
        return None
    return country if pycountry.countries.get(alpha_2=country) is not None else None


def payable_method(method: PaymentMethod | str) -> PaymentMethod:
    """The method as a PaymentMethod this engine can pay; otherwise UnsupportedPaymentMethod."""
    try:
        parsed = PaymentMethod(method)
    except ValueError:
        raise UnsupportedPaymentMethod(
            f"unknown payment method {quoted(method)}", field="payment_method"
        ) from None
    if parsed not in PAYABLE_METHODS:
        raise UnsupportedPaymentMethod(
            f"{parsed.value} payouts are not supported; use a bank transfer or a wire",
            field="payment_method",
        )
    return parsed


def _pick(
    country: str, has_us_bank_account: bool, method: PaymentMethod
) -> tuple[Rail, RoutingRule, str]:
    """The rail, the rule that chose it, and why (the start of an operator's sentence)."""
    if method is PaymentMethod.WIRE:
        why = "the payee asked to be paid by wire, so it is paid by"
        return INTERNATIONAL_WIRE, RoutingRule.INTERNATIONAL_WIRE, why
    if country != "US" and has_us_bank_account:
        why = f"the payee is in {country} but holds a US bank account (ABA routing), so is paid by"
        return ACH, RoutingRule.US_BANK_ACCOUNT_ABROAD, why
    if country == "US":
        return ACH, RoutingRule.US_PAYEE, "US payees are paid by"
    rail = rail_for_country(country)
    if rail is not None:
        return rail, RoutingRule.LOCAL_RAIL, f"{country} is served by"
    why = f"{country} has no local rail, so the payee is paid by"
    return INTERNATIONAL_WIRE, RoutingRule.INTERNATIONAL_WIRE, why


def _fx_clause(rail: Rail, fx_mode: FxMode, funding_currency: str) -> str:
    if fx_mode is FxMode.NONE:
        return ""
    return (
        f"; the {funding_currency} amount is fixed and the recipient gets"
        f" the {rail.currency} equivalent"
    )


def route(
    country: str,
    *,
    has_us_bank_account: bool = False,
    payment_method: PaymentMethod | str = PaymentMethod.BANK_TRANSFER,
    now: datetime,
    funding_currency: str = "USD",
) -> RailDecision:
    """Pick the rail for a payee in ``country``; ``now`` (aware) drives the settlement date.

    ``funding_currency`` is the fixed side of any FX; when the rail pays in it, no FX applies.
    """
    code = normalize_country(country)
    method = payable_method(payment_method)
    return _decide(code, has_us_bank_account, method, now, funding_currency)


# A run routes each batch at one instant: the same inputs then give the same decision,
# so it is worked out once per rail and batch, not once per payout.
@lru_cache(maxsize=4096)
def _decide(
    code: str, has_us_bank_account: bool, method: PaymentMethod, now: datetime, funding: str
) -> RailDecision:
    rail, rule, why = _pick(code, has_us_bank_account, method)
    fx_mode = FxMode.NONE if rail.currency == funding else FxMode.FIXED_TO_VARIABLE
    fx = _fx_clause(rail, fx_mode, funding)
    explanation = f"{rule.label}: {why} {rail.name} in {rail.currency}{fx}."
    return RailDecision(
        rail=rail,
        currency=rail.currency,
        fx_mode=fx_mode,
        rule=rule,
        explanation=explanation,
        expected_settlement_date=expected_settlement_date(rail, now),
    )
