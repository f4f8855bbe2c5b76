"""The bank-account fields a rail asks for, each with the format its scheme gives it.

A rail lists its fields (``Rail.account_fields``) and ``bank_details`` checks an
account against them, so the formats of a new rail are written in its entry and
nowhere else. A format is a small value with the scheme's parameters (``Digits(7)``
for a Zengin account number, ``Digits(4, 17)`` for an ACH one), which also lets the
demo see what a field should look like. Problems name the field but never echo its
value, so they are safe to log and to show in the operator console.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import schwifty
from schwifty import exceptions as iban_errors
from stdnum.nz import bankaccount as nz_bank_account
from stdnum.us import rtn

if TYPE_CHECKING:
    from domain.rails import Rail


class FieldFormat(Protocol):
    def problem(self, field: str, value: str, rail: Rail) -> str | None:
        """What is wrong with ``value`` as ``field`` of an account ``rail`` pays, if anything."""
        ...


@dataclass(frozen=True, slots=True)
class AccountField:
    name: str
    format: FieldFormat

    def problem(self, value: str, rail: Rail) -> str | None:
        return self.format.problem(self.name, value, rail)


def digits_problem(field: str, value: str, low: int, high: int) -> str | None:
    if value.isascii() and value.isdigit() and low <= len(value) <= high:
        return None
    size = f"{low}" if low == high else f"{low} to {high}"
    return f"{field} must be {size} digits"


@dataclass(frozen=True, slots=True)
class Digits:
    """ASCII digits only: exactly ``low`` of them, or ``low`` to ``high``."""

    low: int
    high: int | None = None

    @property
    def longest(self) -> int:
        return self.low if self.high is None else self.high

    def problem(self, field: str, value: str, rail: Rail) -> str | None:
        return digits_problem(field, value, self.low, self.longest)


@dataclass(frozen=True, slots=True)
class OneOf:
    """One of a few words, in any case."""

    choices: frozenset[str]

    def problem(self, field: str, value: str, rail: Rail) -> str | None:
        if value.lower() in self.choices:
            return None
        return f"{field} must be one of {', '.join(sorted(self.choices))}"


_IBAN_PROBLEMS: dict[type[Exception], str] = {
    iban_errors.InvalidChecksumDigits: "iban has invalid check digits",
    iban_errors.InvalidBBANChecksum: "iban has an invalid national check digit",
    iban_errors.InvalidLength: "iban has the wrong length for its country",
    iban_errors.InvalidCountryCode: "iban starts with an unknown country code",
}


def _parse_iban(value: str) -> tuple[schwifty.IBAN | None, str | None]:
    try:
        iban = schwifty.IBAN(value)
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


@dataclass(frozen=True, slots=True)
class Iban:
    """A valid IBAN from one of the countries the rail serves (any, for the wire)."""

    def problem(self, field: str, value: str, rail: Rail) -> str | None:
        iban, problem = _parse_iban(value)
        if iban is None:
            return problem
        if rail.countries and iban.country_code not in rail.countries:
            return f"{field} is from {iban.country_code}, which {rail.name} does not serve"
        return None


@dataclass(frozen=True, slots=True)
class Bic:
    def problem(self, field: str, value: str, rail: Rail) -> str | None:
        try:
            schwifty.BIC(value)
        except iban_errors.SchwiftyException:
            return f"{field} is not a valid BIC"
        return None


@dataclass(frozen=True, slots=True)
class AbaRouting:
    def problem(self, field: str, value: str, rail: Rail) -> str | None:
        if value.isdigit() and rtn.is_valid(value):
            return None
        return f"{field} is not a valid ABA number"


_IFSC = re.compile(r"[A-Z]{4}0[A-Z0-9]{6}")


@dataclass(frozen=True, slots=True)
class Ifsc:
    def problem(self, field: str, value: str, rail: Rail) -> str | None:
        return None if _IFSC.fullmatch(value) else f"{field} must look like HDFC0001234"


_CLABE_WEIGHTS = (3, 7, 1) * 6


def clabe_check_digit(first17: str) -> int:
    total = sum(int(d) * w % 10 for d, w in zip(first17, _CLABE_WEIGHTS, strict=False))
    return (10 - total % 10) % 10


@dataclass(frozen=True, slots=True)
class Clabe:
    """Mexico's 18-digit CLABE, its last digit a weighted check digit."""

    def problem(self, field: str, value: str, rail: Rail) -> str | None:
        if problem := digits_problem(field, value, 18, 18):
            return problem
        if clabe_check_digit(value[:17]) != int(value[17]):
            return f"{field} has an invalid check digit"
        return None


@dataclass(frozen=True, slots=True)
class NzAccountNumber:
    """Bank, branch, account and suffix in one number (BB-bbbb-AAAAAAA-SSS), checked."""

    def problem(self, field: str, value: str, rail: Rail) -> str | None:
        if nz_bank_account.is_valid(value):
            return None
        return f"{field} is not a valid New Zealand account number"


_WIRE_ACCOUNT = re.compile(r"[A-Z0-9]{1,34}")


@dataclass(frozen=True, slots=True)
class WireAccountNumber:
    """Whatever the receiving bank uses (an IBAN included): up to 34 letters or digits."""

    def problem(self, field: str, value: str, rail: Rail) -> str | None:
        if _WIRE_ACCOUNT.fullmatch(value.replace(" ", "").upper()):
            return None
        return f"{field} must be 1 to 34 letters or digits"


def digits(name: str, low: int, high: int | None = None) -> AccountField:
    return AccountField(name, Digits(low, high))


def one_of(name: str, *choices: str) -> AccountField:
    return AccountField(name, OneOf(frozenset(choices)))


IBAN = AccountField("iban", Iban())
BIC = AccountField("bic", Bic())
SWIFT_BIC = AccountField("swift_bic", Bic())
ABA_ROUTING = AccountField("aba_routing", AbaRouting())
IFSC = AccountField("ifsc", Ifsc())
CLABE = AccountField("clabe", Clabe())
