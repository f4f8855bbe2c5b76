"""The mock banks' FX rates: reference mid rates jittered deterministically by seed.

Each currency gets one jitter factor per seed and cross rates are derived from
the per-USD rates, so quotes are consistent (A->B times B->A is about 1).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, localcontext

from domain.errors import UnsupportedCurrency
from providers.mock.seeded import unit_interval

# Units of each currency per US dollar; plausible mids, not market data.
MID_RATES_PER_USD: Mapping[str, Decimal] = {
    code: Decimal(rate)
    for code, rate in {
        "USD": "1",
        "EUR": "0.92",
        "GBP": "0.79",
        "CAD": "1.37",
        "JPY": "150.1",
        "AUD": "1.53",
        "SGD": "1.34",
        "INR": "83.9",
        "HKD": "7.80",
        "CHF": "0.88",
        "SEK": "10.6",
        "PLN": "3.98",
        "DKK": "6.86",
        "NZD": "1.68",
        "NOK": "10.9",
        "RON": "4.58",
        "MXN": "18.2",
        "ILS": "3.72",
        "IDR": "15900",
        "HUF": "362",
        "CNY": "7.20",
        "BRL": "5.45",
        "ZAR": "18.4",
        "KRW": "1380",
        "CZK": "23.1",
        "THB": "35.5",
        "PHP": "56.8",
        "MYR": "4.45",
        "AED": "3.6725",
        "SAR": "3.75",
        "BHD": "0.376",
        "KWD": "0.307",
    }.items()
}
MAX_JITTER = Decimal("0.005")  # +/- 0.5 %
SIGNIFICANT_DIGITS = 6


def _per_usd(seed: int, currency: str) -> Decimal:
    try:
        mid = MID_RATES_PER_USD[currency]
    except KeyError:
        raise UnsupportedCurrency(f"no FX rate for {currency!r}", field="currency") from None
    if currency == "USD":
        return mid
    jitter = Decimal(unit_interval(seed, "fx", currency)).quantize(Decimal("0.000001"))
    return mid * (1 + (2 * jitter - 1) * MAX_JITTER)


def fx_rate(seed: int, source: str, target: str) -> Decimal:
    """Units of ``target`` per one unit of ``source``, to six significant digits."""
    if source == target:
        _per_usd(seed, source)
        return Decimal(1)
    with localcontext() as context:
        context.prec = SIGNIFICANT_DIGITS
        return _per_usd(seed, target) / _per_usd(seed, source)
