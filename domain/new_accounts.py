"""A new bank account for a payee, checked against the rail that would pay it.

The rail is the one routing picks for the payee as it is now (its country and payment
method; a US routing number abroad picks ACH). Every field the rail needs is checked
with the rail's own formats (``Rail.account_fields``), one problem per field; a field
the rail does not use is refused, so that what is stored is exactly what is paid
(an optional BIC is the exception: checked, and kept). An accepted account passes
``bank_details.validate_account`` for its rail, the check a run makes before paying.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from domain.account_fields import AccountField
from domain.bank_details import OPTIONAL_FIELDS, BankAccount, validate_account
from domain.errors import ErrorCode, PayoutEngineError, Problem, quoted
from domain.payees import MAX_NAME, text_problem
from domain.rails import Rail
from domain.routing import normalize_country, route

# The wire's BIC is its required ``swift_bic``; the API has one ``bic`` field for both.
_INPUT_NAME = {"swift_bic": "bic"}
# Values compared without spaces and in capitals: an IBAN is often written in groups.
_COMPACTED = frozenset({"iban", "bic", "swift_bic", "ifsc"})
BAD = ErrorCode.INVALID_BANK_ACCOUNT


# The account fields addBankAccount takes, by name (a CSV import's columns too).
ACCOUNT_FIELDS = (
    "iban",
    "bic",
    "aba_routing",
    "account_number",
    "account_type",
    "sort_code",
    "bsb",
    "ifsc",
    "clabe",
    "institution_number",
    "transit_number",
    "bank_code",
    "branch_code",
)


@dataclass(frozen=True, slots=True)
class AccountInput:
    holder_name: str
    currency: str
    country: str | None
    fields: Mapping[str, str]  # input name (snake_case) -> value, blank ones left out


@dataclass(frozen=True, slots=True)
class AccountPlan:
    rail: Rail
    holder_name: str
    country: str | None
    currency: str
    details: dict[str, str]  # the rail's field names


def input_name(field: str) -> str:
    return _INPUT_NAME.get(field, field)


def _value(field: str, raw: str) -> str:
    value = raw.strip()
    return value.replace(" ", "").upper() if field in _COMPACTED else value


def _rail_fields(rail: Rail) -> list[AccountField]:
    """The fields the rail needs, then the optional ones it does not ask for itself."""
    taken = {input_name(name) for name in rail.required_fields}
    optional = [f for f in OPTIONAL_FIELDS if input_name(f.name) not in taken]
    return [*rail.account_fields, *optional]


def _field_problems(rail: Rail, details: Mapping[str, str]) -> list[Problem]:
    problems = []
    for field in _rail_fields(rail):
        value = details.get(field.name, "")
        required = field.name in rail.required_fields
        if not value and required:
            message = f"missing {input_name(field.name)}, which {rail.name} requires"
            problems.append(Problem(input_name(field.name), BAD, message))
        elif value and (problem := field.problem(value, rail)):
            problems.append(Problem(input_name(field.name), BAD, problem))
    return problems


def _unused(rail: Rail, fields: Mapping[str, str]) -> list[Problem]:
    used = {input_name(field.name) for field in _rail_fields(rail)}
    return [
        Problem(name, BAD, f"{rail.name} does not use {name}; leave it out")
        for name in fields
        if name not in used
    ]


def _country(country: str | None, rail: Rail) -> tuple[str | None, list[Problem]]:
    if country is None:
        return None, []
    try:
        code = normalize_country(country)
    except PayoutEngineError as exc:
        return None, [exc.problem("country")]
    if rail.countries and code not in rail.countries:
        return code, [Problem("country", BAD, f"{rail.name} does not pay accounts held in {code}")]
    return code, []


def _currency(currency: str, rail: Rail) -> list[Problem]:
    if currency.strip().upper() == rail.currency:
        return []
    message = f"{rail.name} pays in {rail.currency}, not {quoted(currency)}"
    return [Problem("currency", ErrorCode.UNSUPPORTED_CURRENCY, message)]


def rail_for(
    payee_country: str | None, payment_method: str, has_us_routing: bool, now: datetime
) -> Rail | Problem:
    """The rail that would pay an account of this payee, or why none can."""
    if not payee_country:
        message = "the payee has no country; set one with updatePayee first"
        return Problem("payee_id", ErrorCode.UNKNOWN_COUNTRY, message)
    try:
        return route(
            payee_country,
            has_us_bank_account=has_us_routing,
            payment_method=payment_method,
            now=now,
        ).rail
    except PayoutEngineError as exc:
        return Problem("payee_id", exc.code, f"the payee cannot be paid: {exc.message}")


def plan_account(
    payee_country: str | None, payment_method: str, account: AccountInput, now: datetime
) -> AccountPlan | list[Problem]:
    """The account to store and the rail that will pay it, or every problem with it."""
    holder = account.holder_name.strip()
    problems = [p for p in [text_problem("holder_name", holder, MAX_NAME)] if p]
    values = {name: _value(name, raw) for name, raw in account.fields.items() if raw.strip()}
    rail = rail_for(payee_country, payment_method, bool(values.get("aba_routing")), now)
    if isinstance(rail, Problem):
        return [rail, *problems]
    country, country_problems = _country(account.country, rail)
    details = {
        field.name: values[input_name(field.name)]
        for field in _rail_fields(rail)
        if input_name(field.name) in values
    }
    problems += country_problems + _currency(account.currency, rail)
    problems += _field_problems(rail, details) + _unused(rail, values)
    if problems:
        return problems
    plan = AccountPlan(rail, holder, country, rail.currency, details)
    left = validate_account(rail, BankAccount("new", holder, country, rail.currency, details))
    if left:  # the run's check is the last word: never store what it would refuse
        return [Problem("input", BAD, "; ".join(left))]
    return plan
