"""A payee as an operator onboards it: checked whole, every problem reported at once.

The external id is the fund's own id for the investor or merchant (unique, checked by
the store); the country decides how the payee is paid (``domain.routing``), so a change
of country changes the rail of its next payout.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from domain.errors import ErrorCode, PayoutEngineError, Problem, quoted
from domain.rails import PaymentMethod
from domain.routing import normalize_country, payable_method


class PayeeKind(StrEnum):
    INVESTOR = "investor"
    MERCHANT = "merchant"


MAX_NAME = 200
MAX_EXTERNAL_ID = 64
MAX_EMAIL = 254
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069]")
_EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)+")
_EXTERNAL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]*")


@dataclass(frozen=True, slots=True)
class NewPayee:
    external_id: str
    name: str
    kind: PayeeKind
    country: str
    email: str | None
    payment_method: PaymentMethod


@dataclass(frozen=True, slots=True)
class PayeeChanges:
    """The fields to change; None leaves a field as it is."""

    name: str | None = None
    country: str | None = None
    email: str | None = None
    payment_method: PaymentMethod | None = None

    def applied_to(self, current: dict[str, str | None]) -> dict[str, str | None]:
        """The fields this changes, with their new values (only those that differ)."""
        wanted = {
            "name": self.name,
            "country": self.country,
            "email": self.email,
            "payment_method": self.payment_method.value if self.payment_method else None,
        }
        return {k: v for k, v in wanted.items() if v is not None and current.get(k) != v}


def text_problem(field: str, value: str, longest: int) -> Problem | None:
    if not 1 <= len(value) <= longest:
        return Problem(field, ErrorCode.INVALID_INPUT, f"{field} must be 1 to {longest} characters")
    if _CONTROL.search(value):
        return Problem(field, ErrorCode.INVALID_INPUT, f"{field} may not hold control characters")
    return None


def _external_id(value: str) -> tuple[str, Problem | None]:
    text = value.strip()
    if len(text) <= MAX_EXTERNAL_ID and _EXTERNAL_ID.fullmatch(text):
        return text, None
    message = (
        f"external_id must be 1 to {MAX_EXTERNAL_ID} letters, digits or . _ : / -,"
        " starting with a letter or digit"
    )
    return text, Problem("external_id", ErrorCode.INVALID_INPUT, message)


def _name(value: str) -> tuple[str, Problem | None]:
    text = value.strip()
    return text, text_problem("name", text, MAX_NAME)


def _country(value: str) -> tuple[str, Problem | None]:
    try:
        return normalize_country(value), None
    except PayoutEngineError as exc:
        return value, exc.problem("country")


def _email(value: str) -> tuple[str, Problem | None]:
    text = value.strip()
    if len(text) <= MAX_EMAIL and _EMAIL.fullmatch(text) and not _CONTROL.search(text):
        return text, None
    return text, Problem("email", ErrorCode.INVALID_INPUT, f"{quoted(value)} is not an email")


def _method(value: PaymentMethod) -> tuple[PaymentMethod, Problem | None]:
    try:
        return payable_method(value), None
    except PayoutEngineError as exc:
        return value, exc.problem("payment_method")


def check_new_payee(
    *,
    external_id: str,
    name: str,
    kind: PayeeKind,
    country: str,
    email: str | None,
    payment_method: PaymentMethod | None,
) -> NewPayee | list[Problem]:
    """The payee to store, or every problem with the input."""
    ext, p1 = _external_id(external_id)
    clean_name, p2 = _name(name)
    code, p3 = _country(country)
    address, p4 = _email(email) if email is not None else (None, None)
    method, p5 = _method(payment_method or PaymentMethod.BANK_TRANSFER)
    problems = [p for p in (p1, p2, p3, p4, p5) if p is not None]
    if problems:
        return problems
    return NewPayee(ext, clean_name, kind, code, address, method)


def check_changes(
    *,
    name: str | None = None,
    country: str | None = None,
    email: str | None = None,
    payment_method: PaymentMethod | None = None,
) -> PayeeChanges | list[Problem]:
    """The changes to make, or every problem with them; an absent field stays as it is."""
    new_name, p1 = _name(name) if name is not None else (None, None)
    new_country, p2 = _country(country) if country is not None else (None, None)
    new_email, p3 = _email(email) if email is not None else (None, None)
    method, p4 = _method(payment_method) if payment_method is not None else (None, None)
    problems = [p for p in (p1, p2, p3, p4) if p is not None]
    if problems:
        return problems
    return PayeeChanges(new_name, new_country, new_email, method)
