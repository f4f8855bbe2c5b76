"""Money as integer minor units of an ISO 4217 currency.

Exponents come from the ISO 4217 table (``iso4217`` package): JPY 0, USD 2, BHD 3.
Amounts cross the API as exact decimal strings; anything that would need rounding
is rejected, never rounded.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cache

from iso4217 import Currency

from domain.errors import CurrencyMismatch, InvalidAmount, UnsupportedCurrency, quoted

# 10^15 minor units: a trillion dollars; anything above is a typo or an attack.
MAX_MINOR_UNITS = 10**15
_DECIMAL = re.compile(r"^(?P<int>[0-9]+)(?:\.(?P<frac>[0-9]+))?$")


@cache
def exponent(currency: str) -> int:
    """Minor-unit exponent of an ISO 4217 currency; rejects funds and metals."""
    try:
        value = Currency(currency).exponent
    except ValueError:
        raise UnsupportedCurrency(
            f"unknown currency {quoted(currency)}", field="currency"
        ) from None
    if value is None:
        raise UnsupportedCurrency(f"{currency} has no minor unit", field="currency")
    return value


def check_currency(currency: str) -> str:
    exponent(currency)
    return currency


@dataclass(frozen=True, slots=True, order=False)
class Money:
    minor: int
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.minor, int) or isinstance(self.minor, bool):
            raise InvalidAmount("money is an integer number of minor units", field="amount")
        if abs(self.minor) > MAX_MINOR_UNITS:
            raise InvalidAmount("amount is too large", field="amount")
        check_currency(self.currency)

    @classmethod
    def parse(cls, amount: str, currency: str) -> Money:
        """Parse an exact decimal string ("1234.56"); more decimals than allowed is an error."""
        text = amount.strip() if isinstance(amount, str) else None
        negative = bool(text) and text.startswith("-")
        match = _DECIMAL.match(text[1:] if negative else text) if text else None
        if match is None:
            raise InvalidAmount(f"{quoted(amount)} is not a decimal amount", field="amount")
        places = exponent(currency)
        frac = (match["frac"] or "").rstrip("0")
        if len(frac) > places:
            raise InvalidAmount(
                f"{currency} allows {places} decimal place(s), got {quoted(amount)}", field="amount"
            )
        digits = match["int"].lstrip("0")
        if len(digits) > 16:
            raise InvalidAmount("amount is too large", field="amount")
        minor = int(match["int"]) * 10**places + int(frac.ljust(places, "0") or 0)
        return cls(-minor if negative else minor, currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    def to_decimal_string(self) -> str:
        places = exponent(self.currency)
        sign = "-" if self.minor < 0 else ""
        whole, frac = divmod(abs(self.minor), 10**places)
        return f"{sign}{whole}.{frac:0{places}d}" if places else f"{sign}{whole}"

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise CurrencyMismatch(f"cannot combine {self.currency} with {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor + other.minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor - other.minor, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.minor < other.minor

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.minor <= other.minor

    def __gt__(self, other: Money) -> bool:
        self._same(other)
        return self.minor > other.minor

    def __ge__(self, other: Money) -> bool:
        self._same(other)
        return self.minor >= other.minor

    @property
    def is_positive(self) -> bool:
        return self.minor > 0

    def __str__(self) -> str:
        return f"{self.to_decimal_string()} {self.currency}"


def convert(amount: Money, rate: Decimal, target_currency: str) -> Money:
    """Convert at ``rate`` (target per source unit), rounding half-even to the target's unit."""
    source_units = Decimal(amount.minor).scaleb(-exponent(amount.currency))
    target = (source_units * rate).scaleb(exponent(target_currency))
    return Money(int(target.quantize(Decimal(1), rounding="ROUND_HALF_EVEN")), target_currency)


def allocate(total: Money, weights: Sequence[int]) -> list[Money]:
    """Split ``total`` by integer ``weights`` with the largest-remainder method.

    The parts always sum exactly to ``total``; ties go to the earlier weight.
    """
    if not weights or any(w < 0 for w in weights) or sum(weights) == 0:
        raise InvalidAmount("weights must be non-negative and not all zero", field="weights")
    if total.minor < 0:
        raise InvalidAmount("cannot allocate a negative total", field="total")
    weight_sum = sum(weights)
    quotas = [divmod(total.minor * w, weight_sum) for w in weights]
    shares = [q for q, _ in quotas]
    leftover = total.minor - sum(shares)
    by_remainder = sorted(range(len(weights)), key=lambda i: (-quotas[i][1], i))
    for i in by_remainder[:leftover]:
        shares[i] += 1
    return [Money(s, total.currency) for s in shares]
