"""The rail table: which payment scheme serves which country, and what it needs.

Each rail carries what an operator needs to predict a payment: the account
fields the scheme requires and their formats, its settlement lag in business
days, the cut-off in the rail's own time zone, the holiday calendar it follows
and any per-payment limit. Cut-offs are provider-style submission deadlines,
earlier than the schemes' own last exchange windows. Everything else (account
validation, settlement dates, the demo's sample accounts, the mock banks) reads
these entries, so a new rail is one entry here plus its tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time
from enum import StrEnum

from domain.account_fields import (
    ABA_ROUTING,
    CLABE,
    IBAN,
    IFSC,
    SWIFT_BIC,
    AccountField,
    NzAccountNumber,
    WireAccountNumber,
    digits,
    one_of,
)
from domain.calendars import SATURDAY, SUNDAY, TARGET2, US_FED, Calendar
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
    account_fields: tuple[AccountField, ...]  # all required, checked in this order
    settlement_lag_days: int
    cutoff: time
    timezone: str
    calendar: Calendar
    max_amount: Money | None
    payment_type: str | None = None
    purpose_code: str | None = None

    @property
    def required_fields(self) -> tuple[str, ...]:
        return tuple(field.name for field in self.account_fields)


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
    fields: tuple[AccountField, ...],
    lag: int,
    cutoff: time,
    timezone: str,
    max_amount: Money | None = None,
    purpose_code: str | None = None,
    calendar: Calendar | None = None,
) -> Rail:
    """A domestic scheme of one country, reached through the cross-border provider.

    It follows the country's public holidays unless ``calendar`` says otherwise.
    """
    return Rail(
        code=code,
        name=name,
        countries=(country,),
        currency=currency,
        provider=ProviderKind.CROSS_BORDER,
        account_fields=fields,
        settlement_lag_days=lag,
        cutoff=cutoff,
        timezone=timezone,
        calendar=calendar or Calendar(country),
        max_amount=max_amount,
        purpose_code=purpose_code,
    )


ACH = Rail(
    code="ACH",
    name="ACH (Nacha CCD)",
    countries=("US",),
    currency="USD",
    provider=ProviderKind.ACH,
    account_fields=(
        ABA_ROUTING,
        digits("account_number", 4, 17),  # Nacha DFI account number field is 17 characters
        one_of("account_type", "checking", "savings"),
    ),
    settlement_lag_days=1,
    cutoff=time(16, 0),
    timezone="America/New_York",
    calendar=US_FED,
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
    account_fields=(SWIFT_BIC, AccountField("account_number", WireAccountNumber())),
    settlement_lag_days=2,
    cutoff=time(15, 0),
    timezone="America/New_York",
    calendar=US_FED,
    max_amount=None,
)

SEPA = Rail(
    code="SEPA",
    name="SEPA Credit Transfer",
    countries=SEPA_COUNTRIES,
    currency="EUR",
    provider=ProviderKind.CROSS_BORDER,
    account_fields=(IBAN,),  # a BIC is optional in SEPA since 2016
    settlement_lag_days=1,  # SCT rulebook: credited by D+1
    cutoff=time(15, 0),
    timezone="Europe/Berlin",
    calendar=TARGET2,
    max_amount=None,
)

# fmt: off
_LOCAL_RAILS = (
    # code, name, country, currency, account fields, lag (business days), cut-off, time zone
    # Bacs three-day cycle: input on day 1, credited on day 3 = two days after submission.
    # Bacs scheme item limit: GBP 20 million per credit.
    _local("BACS", "Bacs Direct Credit", "GB", "GBP",
           (digits("sort_code", 6), digits("account_number", 8)), 2,
           time(16, 0), "Europe/London", Money.parse("20000000.00", "GBP"),
           calendar=Calendar("GB", subdiv="ENG")),  # Bacs follows the England bank holidays
    # Payments Canada CPA-005 transaction (purpose) code carried on every credit.
    _local("EFT", "Canadian EFT (AFT)", "CA", "CAD",
           (digits("institution_number", 3), digits("transit_number", 5),
            digits("account_number", 7, 12)), 1,
           time(15, 0), "America/Toronto", purpose_code="250",
           calendar=Calendar("CA", categories=("public", "government"))),  # Payments Canada
    # Account types: futsu (ordinary), toza (current), chochiku (savings).
    _local("ZENGIN", "Japanese Zengin", "JP", "JPY",
           (digits("bank_code", 4), digits("branch_code", 3), digits("account_number", 7),
            one_of("account_type", "ordinary", "current", "savings")), 0,
           time(14, 0), "Asia/Tokyo",
           calendar=Calendar("JP", categories=("public", "bank"))),  # banks close 31 Dec - 3 Jan
    # BECS account field is 9 characters.
    _local("BECS_AU", "Australian BECS (Direct Entry)", "AU", "AUD",
           (digits("bsb", 6), digits("account_number", 5, 9)), 1,
           time(16, 0), "Australia/Sydney"),
    _local("GIRO", "Singapore GIRO", "SG", "SGD",
           (digits("bank_code", 4), digits("account_number", 6, 17)), 1,
           time(15, 0), "Asia/Singapore"),
    # NEFT settles in half-hourly batches; RBI sets no upper limit per transaction.
    _local("NEFT", "Indian NEFT", "IN", "INR",
           (IFSC, digits("account_number", 9, 18)), 0,
           time(17, 0), "Asia/Kolkata"),
    # The holidays package counts Saturday as a working day in HK; CHATS does not run then.
    _local("CHATS", "Hong Kong CHATS", "HK", "HKD",
           (digits("bank_code", 3), digits("branch_code", 3), digits("account_number", 6, 12)), 0,
           time(16, 0), "Asia/Hong_Kong",
           calendar=Calendar("HK", weekend=frozenset({SATURDAY, SUNDAY}))),
    _local("SIC", "Swiss Interbank Clearing (SIC)", "CH", "CHF", (IBAN,), 0,
           time(14, 0), "Europe/Zurich",
           calendar=Calendar("CH", subdiv="ZH")),  # SIC runs from Zurich
    _local("BANKGIROT", "Swedish Bankgirot", "SE", "SEK", (IBAN,), 1,
           time(13, 0), "Europe/Stockholm",
           calendar=Calendar("SE", categories=("public", "de_facto"))),  # Midsummer/Christmas Eve
    _local("ELIXIR", "Polish Elixir", "PL", "PLN", (IBAN,), 0,
           time(14, 0), "Europe/Warsaw"),
    _local("NETS", "Danish Nets clearing", "DK", "DKK", (IBAN,), 1,
           time(14, 0), "Europe/Copenhagen"),
    # NZ account numbers embed bank and branch (BB-bbbb-AAAAAAA-SSS).
    _local("BECS_NZ", "New Zealand BECS", "NZ", "NZD",
           (AccountField("account_number", NzAccountNumber()),), 1,
           time(15, 0), "Pacific/Auckland"),
    _local("NICS", "Norwegian NICS", "NO", "NOK", (IBAN,), 1,
           time(14, 0), "Europe/Oslo"),
    _local("SENT", "Romanian SENT", "RO", "RON", (IBAN,), 1,
           time(14, 0), "Europe/Bucharest"),
    _local("SPEI", "SPEI (CCEN)", "MX", "MXN", (CLABE,), 0,
           time(17, 0), "America/Mexico_City"),
    # Friday-Saturday weekend, from the holidays package.
    _local("MASAV", "Israeli Masav", "IL", "ILS", (IBAN,), 2,
           time(12, 0), "Asia/Jerusalem"),
    # Bank Indonesia: SKNBI carries credits up to IDR 1 billion; above that is BI-RTGS.
    _local("SKNBI", "Indonesian SKNBI", "ID", "IDR",
           (digits("bank_code", 3), digits("account_number", 8, 16)), 0,
           time(14, 0), "Asia/Jakarta", Money.parse("1000000000.00", "IDR"),
           calendar=Calendar("ID", categories=("public", "government"))),  # joint leave days
    # Hungary has working Saturdays; the holidays package knows them.
    _local("ICS", "Hungarian ICS", "HU", "HUF", (IBAN,), 0,
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
