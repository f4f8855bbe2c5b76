"""Validation of a payee's bank account against the rail that will pay it.

Problems come back as a list of operator-readable sentences (empty = valid),
never raised one at a time. Messages name the field but never echo account
numbers back, so they are safe to log and to show in the operator console.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from schwifty import BIC, IBAN
from schwifty import exceptions as iban_errors
from stdnum.nz import bankaccount as nz_bank_account
from stdnum.us import rtn

from domain.rails import INTERNATIONAL_WIRE, Rail


@dataclass(frozen=True, slots=True)
class BankAccount:
    id: str
    holder_name: str
    country: str | None
    currency: str | None
    details: Mapping[str, str]

    @property
    def has_us_routing(self) -> bool:
        return bool(self.field("aba_routing"))

    def field(self, name: str) -> str:
        """The stripped value of a detail, "" when absent."""
        value = self.details.get(name)
        return value.strip() if isinstance(value, str) else ""


Check = Callable[[Rail, str], str | None]

_IFSC = re.compile(r"[A-Z]{4}0[A-Z0-9]{6}")
_WIRE_ACCOUNT = re.compile(r"[A-Z0-9]{1,34}")
_CLABE_WEIGHTS = (3, 7, 1) * 6

# Account number lengths (digits) per rail, as the domestic schemes define them.
_ACCOUNT_DIGITS: dict[str, tuple[int, int]] = {
    "ACH": (4, 17),  # Nacha DFI account number field is 17 characters
    "BACS": (8, 8),
    "EFT": (7, 12),
    "ZENGIN": (7, 7),
    "BECS_AU": (5, 9),  # BECS account field is 9 characters
    "GIRO": (6, 17),
    "NEFT": (9, 18),
    "CHATS": (6, 12),
    "SKNBI": (8, 16),
}

ACCOUNT_TYPES: dict[str, frozenset[str]] = {
    "ACH": frozenset({"checking", "savings"}),
    "ZENGIN": frozenset({"ordinary", "current", "savings"}),  # futsu, toza, chochiku
}

_IBAN_PROBLEMS: dict[type[Exception], str] = {
    iban_errors.InvalidChecksumDigits: "iban has invalid check digits",
    iban_errors.InvalidBBANChecksum: "iban has an invalid national check digit",
    iban_errors.InvalidLength: "iban has the wrong length for its country",
    iban_errors.InvalidCountryCode: "iban starts with an unknown country code",
}


def _digits(field: str, value: str, low: int, high: int) -> str | None:
    if value.isascii() and value.isdigit() and low <= len(value) <= high:
        return None
    size = f"{low}" if low == high else f"{low} to {high}"
    return f"{field} must be {size} digits"


def _fixed_digits(field: str, length: int) -> Check:
    return lambda _rail, value: _digits(field, value, length, length)


def _parse_iban(value: str) -> tuple[IBAN | None, str | None]:
    try:
        iban = IBAN(value)
        with warnings.catch_warnings():
            # Countries without a registered national check-digit algorithm are accepted as is.
            warnings.simplefilter("ignore", iban_errors.NationalChecksumNotVerified)
            iban.validate(validate_bban=True)
    except iban_errors.SchwiftyException as exc:
        return None, _IBAN_PROBLEMS.get(type(exc), "iban is malformed")
    return iban, None


def iban_problem(value: str) -> str | None:
    """What is wrong with an IBAN (format, check digits, national check digits), if anything."""
    return _parse_iban(value)[1]


def _check_iban(rail: Rail, value: str) -> str | None:
    iban, problem = _parse_iban(value)
    if iban is None:
        return problem
    if rail.countries and iban.country_code not in rail.countries:
        return f"iban is from {iban.country_code}, which {rail.name} does not serve"
    return None


def _check_bic(field: str) -> Check:
    def check(_rail: Rail, value: str) -> str | None:
        try:
            BIC(value)
        except iban_errors.SchwiftyException:
            return f"{field} is not a valid BIC"
        return None

    return check


def _check_aba(_rail: Rail, value: str) -> str | None:
    return (
        None if value.isdigit() and rtn.is_valid(value) else "aba_routing is not a valid ABA number"
    )


def _check_ifsc(_rail: Rail, value: str) -> str | None:
    return None if _IFSC.fullmatch(value) else "ifsc must look like HDFC0001234"


def clabe_check_digit(first17: str) -> int:
    total = sum(int(d) * w % 10 for d, w in zip(first17, _CLABE_WEIGHTS, strict=False))
    return (10 - total % 10) % 10


def _check_clabe(rail: Rail, value: str) -> str | None:
    if problem := _digits("clabe", value, 18, 18):
        return problem
    if clabe_check_digit(value[:17]) != int(value[17]):
        return "clabe has an invalid check digit"
    return None


def _check_account_number(rail: Rail, value: str) -> str | None:
    if rail.code == "BECS_NZ":
        valid = nz_bank_account.is_valid(value)
        return None if valid else "account_number is not a valid New Zealand account number"
    if rail is INTERNATIONAL_WIRE:
        valid = _WIRE_ACCOUNT.fullmatch(value.replace(" ", "").upper()) is not None
        return None if valid else "account_number must be 1 to 34 letters or digits"
    low, high = _ACCOUNT_DIGITS.get(rail.code, (1, 34))
    return _digits("account_number", value, low, high)


def _check_bank_code(rail: Rail, value: str) -> str | None:
    length = {"ZENGIN": 4, "GIRO": 4, "CHATS": 3, "SKNBI": 3}.get(rail.code)
    return _digits("bank_code", value, length, length) if length else None


def _check_branch_code(rail: Rail, value: str) -> str | None:
    length = {"ZENGIN": 3, "CHATS": 3}.get(rail.code)
    return _digits("branch_code", value, length, length) if length else None


def _check_account_type(rail: Rail, value: str) -> str | None:
    allowed = ACCOUNT_TYPES.get(rail.code)
    if allowed is None or value.lower() in allowed:
        return None
    return f"account_type must be one of {', '.join(sorted(allowed))}"


CHECKS: dict[str, Check] = {
    "iban": _check_iban,
    "bic": _check_bic("bic"),
    "swift_bic": _check_bic("swift_bic"),
    "aba_routing": _check_aba,
    "account_number": _check_account_number,
    "sort_code": _fixed_digits("sort_code", 6),
    "bsb": _fixed_digits("bsb", 6),
    "institution_number": _fixed_digits("institution_number", 3),
    "transit_number": _fixed_digits("transit_number", 5),
    "ifsc": _check_ifsc,
    "clabe": _check_clabe,
    "bank_code": _check_bank_code,
    "branch_code": _check_branch_code,
    "account_type": _check_account_type,
}

_OPTIONAL_CHECKED = ("bic",)  # checked whenever present, even where the rail does not need it


def _field_problems(rail: Rail, account: BankAccount) -> list[str]:
    problems = []
    optional = [name for name in _OPTIONAL_CHECKED if name not in rail.required_fields]
    for name in (*rail.required_fields, *optional):
        value = account.field(name)
        if not value:
            if name in rail.required_fields:
                problems.append(f"missing {name}, which {rail.name} requires")
            continue
        if problem := CHECKS[name](rail, value):
            problems.append(problem)
    return problems


def _placement_problems(rail: Rail, account: BankAccount) -> list[str]:
    """A domestic rail pays accounts held in its own countries and currency only."""
    if rail is INTERNATIONAL_WIRE:
        return []
    problems = []
    if account.country and account.country.upper() not in rail.countries:
        problems.append(f"account is held in {account.country}, which {rail.name} does not serve")
    if account.currency and account.currency.upper() != rail.currency:
        problems.append(f"account is in {account.currency}, but {rail.name} pays {rail.currency}")
    return problems


def validate_account(rail: Rail, account: BankAccount) -> list[str]:
    """Every problem that would stop ``rail`` paying ``account``; empty means valid."""
    return _placement_problems(rail, account) + _field_problems(rail, account)
