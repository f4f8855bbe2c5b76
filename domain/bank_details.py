"""Validation of a payee's bank account against the rail that will pay it.

The rail says which fields it needs and their formats (``Rail.account_fields``).
Problems come back as a list of operator-readable sentences (empty = valid),
never raised one at a time. Messages name the field but never echo account
numbers back, so they are safe to log and to show in the operator console.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from domain.account_fields import BIC, AccountField
from domain.rails import RAILS, Rail


@dataclass(frozen=True, slots=True)
class BankAccount:
    id: str
    holder_name: str
    country: str | None
    currency: str | None
    details: Mapping[str, str]
    # Why verification of payee holds payouts to it (``domain.verification``), if it does.
    hold: str | None = None
    # The reason code that flagged the account as unusable (domain.reason_codes), if any.
    flag_code: str | None = None
    # The rails whose field checks these details passed when the account was added
    # (``details_verdict``): a run does not check them again. Empty: check as usual.
    fields_valid_for: frozenset[str] = frozenset()

    @property
    def has_us_routing(self) -> bool:
        return bool(self.field("aba_routing"))

    def field(self, name: str) -> str:
        """The stripped value of a detail, "" when absent."""
        value = self.details.get(name)
        return value.strip() if isinstance(value, str) else ""


# Checked whenever present, even where the rail does not need them.
OPTIONAL_FIELDS = (BIC,)


def _required_problem(rail: Rail, field: AccountField, value: str) -> str | None:
    if not value:
        return f"missing {field.name}, which {rail.name} requires"
    return field.problem(value, rail)


def _field_problems(rail: Rail, account: BankAccount) -> list[str]:
    found = [_required_problem(rail, f, account.field(f.name)) for f in rail.account_fields]
    optional = [f for f in OPTIONAL_FIELDS if f.name not in rail.required_fields]
    found += [f.problem(value, rail) for f in optional if (value := account.field(f.name))]
    return [problem for problem in found if problem]


def _placement_problems(rail: Rail, account: BankAccount) -> list[str]:
    """A domestic rail pays accounts held in its own countries and currency only;
    the wire, which has no country of its own, pays them anywhere."""
    if not rail.countries:
        return []
    problems = []
    if account.country and account.country.upper() not in rail.countries:
        problems.append(f"account is held in {account.country}, which {rail.name} does not serve")
    if account.currency and account.currency.upper() != rail.currency:
        problems.append(f"account is in {account.currency}, but {rail.name} pays {rail.currency}")
    return problems


def validate_account(rail: Rail, account: BankAccount) -> list[str]:
    """Every problem that would stop ``rail`` paying ``account``; empty means valid."""
    if rail.code in account.fields_valid_for:  # checked when it was added
        return _placement_problems(rail, account)
    return _placement_problems(rail, account) + _field_problems(rail, account)


# The version of the rails' field checks a stored verdict was reached under: bump it
# when a rail's account fields or a field's check change, and verdicts stored before
# are ignored (those accounts are checked on every run again, as before verdicts).
FIELD_RULES = 1


def details_verdict(
    holder_name: str, country: str | None, currency: str | None, details: Mapping[str, str]
) -> dict[str, Any]:
    """What to store with a new account: the rails whose field checks its details pass
    (an account's details never change; a new account is a new row). Checking the
    format of an IBAN or a routing number is a fifth of a run's evaluation otherwise."""
    account = BankAccount("new", holder_name, country, currency, details)
    return {
        "rules": FIELD_RULES,
        "rails": [rail.code for rail in RAILS if not _field_problems(rail, account)],
    }


def valid_for(verdict: Mapping[str, Any] | None) -> frozenset[str]:
    """The rails a stored verdict vouches for: none if absent or under older rules."""
    if not verdict or verdict.get("rules") != FIELD_RULES:
        return frozenset()
    return frozenset(str(code) for code in verdict.get("rails", ()))
