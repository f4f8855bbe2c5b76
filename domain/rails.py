"""The rail table: which payment scheme serves which country, and what it needs.

Each rail carries what an operator needs to predict a payment: the account
fields the scheme requires, its settlement lag in business days, the cut-off
in the rail's own time zone, the holiday calendar it follows and any
per-payment limit. Cut-offs are provider-style submission deadlines, earlier
than the schemes' own last exchange windows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time
from enum import StrEnum

from domain.errors import NotFound
from domain.money import Money
from domain.ports import ProviderKind


class FxMode(StrEnum):
    NONE = "none"
    FIXED_TO_VARIABLE = (
        "fixed_to_variable"  # the funding amount is fixed, the payee gets the FX result
    )


class PaymentMethod(StrEnum):
    BANK_TRANSFER = "bank_transfer"
    WIRE = "wire"
    CHECK = "check"  # not payable by this engine
    PAYPAL = "paypal"  # not payable by this engine


PAYABLE_METHODS = frozenset({PaymentMethod.BANK_TRANSFER, PaymentMethod.WIRE})


@dataclass(frozen=True, slots=True)
class Rail:
    code: str
    name: str
    countries: tuple[str, ...]
    currency: str
    provider: ProviderKind
    required_fields: tuple[str, ...]
    settlement_lag_days: int
    cutoff: time
    timezone: str
    calendar: str
    max_amount: Money | None
    payment_type: str | None = None
    purpose_code: str | None = None


# fmt: off
SEPA_COUNTRIES = (
    "DE", "FR", "ES", "NL", "IT", "AT", "BE", "IE", "PT", "FI",
    "GR", "LU", "CY", "MT", "SK", "LT", "SI", "EE", "LV",
)
# fmt: on


def _local(
    code: str,
    name: str,
    country: str,
    currency: str,
    fields: tuple[str, ...],
    lag: int,
    cutoff: time,
    timezone: str,
    max_amount: Money | None = None,
    purpose_code: str | None = None,
) -> Rail:
    """A domestic scheme of one country, reached through the cross-border provider."""
    return Rail(
        code=code,
        name=name,
        countries=(country,),
        currency=currency,
        provider=ProviderKind.CROSS_BORDER,
        required_fields=fields,
        settlement_lag_days=lag,
        cutoff=cutoff,
        timezone=timezone,
        calendar=country,
        max_amount=max_amount,
        purpose_code=purpose_code,
    )


ACH = Rail(
    code="ACH",
    name="ACH (Nacha CCD)",
    countries=("US",),
    currency="USD",
    provider=ProviderKind.ACH,
    required_fields=("aba_routing", "account_number", "account_type"),
    settlement_lag_days=1,
    cutoff=time(16, 0),
    timezone="America/New_York",
    calendar="US-FED",
    # Nacha's Same Day ACH per-payment limit ($1M since March 2022); applied to
    # every ACH payout so that any of them may go out same day.
    max_amount=Money.parse("1000000.00", "USD"),
    payment_type="CCD",
)

INTERNATIONAL_WIRE = Rail(
    code="WIRE",
    name="SWIFT international wire",
    countries=(),
    currency="USD",
    provider=ProviderKind.WIRE,
    required_fields=("swift_bic", "account_number"),
    settlement_lag_days=2,
    cutoff=time(15, 0),
    timezone="America/New_York",
    calendar="US-FED",
    max_amount=None,
)

SEPA = Rail(
    code="SEPA",
    name="SEPA Credit Transfer",
    countries=SEPA_COUNTRIES,
    currency="EUR",
    provider=ProviderKind.CROSS_BORDER,
    required_fields=("iban",),  # a BIC is optional in SEPA since 2016
    settlement_lag_days=1,  # SCT rulebook: credited by D+1
    cutoff=time(15, 0),
    timezone="Europe/Berlin",
    calendar="TARGET2",
    max_amount=None,
)

# fmt: off
_LOCAL_RAILS = (
    # code, name, country, currency, required fields, lag (business days), cut-off, time zone
    # Bacs three-day cycle: input on day 1, credited on day 3 = two days after submission.
    # Bacs scheme item limit: GBP 20 million per credit.
    _local("BACS", "Bacs Direct Credit", "GB", "GBP", ("sort_code", "account_number"), 2,
           time(16, 0), "Europe/London", Money.parse("20000000.00", "GBP")),
    # Payments Canada CPA-005 transaction (purpose) code carried on every credit.
    _local("EFT", "Canadian EFT (AFT)", "CA", "CAD",
           ("institution_number", "transit_number", "account_number"), 1,
           time(15, 0), "America/Toronto", purpose_code="250"),
    _local("ZENGIN", "Japanese Zengin", "JP", "JPY",
           ("bank_code", "branch_code", "account_number", "account_type"), 0,
           time(14, 0), "Asia/Tokyo"),
    _local("BECS_AU", "Australian BECS (Direct Entry)", "AU", "AUD", ("bsb", "account_number"), 1,
           time(16, 0), "Australia/Sydney"),
    _local("GIRO", "Singapore GIRO", "SG", "SGD", ("bank_code", "account_number"), 1,
           time(15, 0), "Asia/Singapore"),
    # NEFT settles in half-hourly batches; RBI sets no upper limit per transaction.
    _local("NEFT", "Indian NEFT", "IN", "INR", ("ifsc", "account_number"), 0,
           time(17, 0), "Asia/Kolkata"),
    _local("CHATS", "Hong Kong CHATS", "HK", "HKD", ("bank_code", "branch_code", "account_number"),
           0, time(16, 0), "Asia/Hong_Kong"),
    _local("SIC", "Swiss Interbank Clearing (SIC)", "CH", "CHF", ("iban",), 0,
           time(14, 0), "Europe/Zurich"),
    _local("BANKGIROT", "Swedish Bankgirot", "SE", "SEK", ("iban",), 1,
           time(13, 0), "Europe/Stockholm"),
    _local("ELIXIR", "Polish Elixir", "PL", "PLN", ("iban",), 0,
           time(14, 0), "Europe/Warsaw"),
    _local("NETS", "Danish Nets clearing", "DK", "DKK", ("iban",), 1,
           time(14, 0), "Europe/Copenhagen"),
    # NZ account numbers embed bank and branch (BB-bbbb-AAAAAAA-SSS).
    _local("BECS_NZ", "New Zealand BECS", "NZ", "NZD", ("account_number",), 1,
           time(15, 0), "Pacific/Auckland"),
    _local("NICS", "Norwegian NICS", "NO", "NOK", ("iban",), 1,
           time(14, 0), "Europe/Oslo"),
    _local("SENT", "Romanian SENT", "RO", "RON", ("iban",), 1,
           time(14, 0), "Europe/Bucharest"),
    _local("SPEI", "SPEI (CCEN)", "MX", "MXN", ("clabe",), 0,
           time(17, 0), "America/Mexico_City"),
    _local("MASAV", "Israeli Masav", "IL", "ILS", ("iban",), 2,
           time(12, 0), "Asia/Jerusalem"),
    # Bank Indonesia: SKNBI carries credits up to IDR 1 billion; above that is BI-RTGS.
    _local("SKNBI", "Indonesian SKNBI", "ID", "IDR", ("bank_code", "account_number"), 0,
           time(14, 0), "Asia/Jakarta", Money.parse("1000000000.00", "IDR")),
    _local("ICS", "Hungarian ICS", "HU", "HUF", ("iban",), 0,
           time(15, 0), "Europe/Budapest"),
)
# fmt: on

RAILS: tuple[Rail, ...] = (ACH, SEPA, *_LOCAL_RAILS, INTERNATIONAL_WIRE)

_BY_CODE = {rail.code: rail for rail in RAILS}
_BY_COUNTRY = {country: rail for rail in RAILS for country in rail.countries}

SUPPORTED_COUNTRIES: frozenset[str] = frozenset(_BY_COUNTRY)


def rail_for_country(country: str) -> Rail | None:
    """The rail that serves ``country`` (ISO alpha-2) domestically, if any."""
    return _BY_COUNTRY.get(country.strip().upper())


def rail_by_code(code: str) -> Rail:
    try:
        return _BY_CODE[code]
    except KeyError:
        raise NotFound(f"unknown rail {code!r}", field="rail") from None
