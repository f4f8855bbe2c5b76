"""Liquidation events: validate an event and its allocations before anything is stored.

Problems are collected and returned together (an operator fixes them in one go).
Allocations are given either as exact amounts, or as weights of a total that is
split with the largest-remainder method so the parts sum exactly to the total.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from domain.errors import ErrorCode, InvalidAmount, InvalidInput, PayoutEngineError, Problem
from domain.money import Money, allocate, check_currency

EVENT_CODE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{2,63}$")
MAX_ALLOCATIONS = 100_000


@dataclass(frozen=True, slots=True)
class AllocationInput:
    payee_id: int
    amount: str | None = None
    weight: int | None = None


@dataclass(frozen=True, slots=True)
class EventInput:
    code: str
    name: str
    fund_name: str
    currency: str
    allocations: Sequence[AllocationInput]
    total: str | None = None  # with weights: the amount to split


@dataclass(frozen=True, slots=True)
class EventPlan:
    code: str
    name: str
    fund_name: str
    total: Money
    allocations: tuple[tuple[int, Money], ...]  # (payee_id, amount)


def plan_event(data: EventInput) -> EventPlan | list[Problem]:
    problems: list[Problem] = []
    if not EVENT_CODE.match(data.code or ""):
        problems.append(
            Problem(
                "code", ErrorCode.INVALID_INPUT, "code is 3-64 characters of A-Z, 0-9, '-' or '_'"
            )
        )
    for name in ("name", "fund_name"):
        value = getattr(data, name)
        if not value or not value.strip() or len(value) > 200 or _has_control(value):
            problems.append(
                Problem(
                    name, ErrorCode.INVALID_INPUT, f"{name} is 1-200 characters, no control ones"
                )
            )
    try:
        check_currency(data.currency)
    except PayoutEngineError as exc:
        return [*problems, Problem("currency", exc.code, exc.message)]
    amounts = _allocation_amounts(data, problems)
    if problems or amounts is None:
        return problems
    try:
        total = sum((m for _, m in amounts), Money.zero(data.currency))
    except InvalidAmount:
        return [
            Problem("allocations", ErrorCode.INVALID_AMOUNT, "the allocations add up to too much")
        ]
    return EventPlan(data.code, data.name.strip(), data.fund_name.strip(), total, tuple(amounts))


def _has_control(text: str) -> bool:
    """Newlines, tabs, NUL and the like: nothing a name shown in a table should hold."""
    return any(unicodedata.category(char) == "Cc" for char in text)


def _allocation_amounts(
    data: EventInput, problems: list[Problem]
) -> list[tuple[int, Money]] | None:
    rows = data.allocations
    if not rows:
        problems.append(Problem("allocations", ErrorCode.INVALID_INPUT, "at least one allocation"))
        return None
    if len(rows) > MAX_ALLOCATIONS:
        problems.append(
            Problem(
                "allocations",
                ErrorCode.INVALID_INPUT,
                f"at most {MAX_ALLOCATIONS} allocations per event",
            )
        )
        return None
    seen: set[int] = set()
    for i, row in enumerate(rows):
        if row.payee_id in seen:
            problems.append(
                Problem(
                    f"allocations.{i}.payeeId",
                    ErrorCode.DUPLICATE_ALLOCATION,
                    f"payee {row.payee_id} is allocated twice",
                )
            )
        seen.add(row.payee_id)
    if data.total is not None:
        return _split(data, problems)
    amounts = []
    for i, row in enumerate(rows):
        if row.amount is None or row.weight is not None:
            problems.append(
                Problem(
                    f"allocations.{i}",
                    ErrorCode.INVALID_INPUT,
                    "give each allocation an amount, or give a total and weights",
                )
            )
            continue
        money = _positive(row.amount, data.currency, f"allocations.{i}.amount", problems)
        if money is not None:
            amounts.append((row.payee_id, money))
    return amounts


def _split(data: EventInput, problems: list[Problem]) -> list[tuple[int, Money]] | None:
    assert data.total is not None
    total = _positive(data.total, data.currency, "total", problems)
    weights = []
    for i, row in enumerate(data.allocations):
        if row.weight is None or row.amount is not None or row.weight <= 0:
            problems.append(
                Problem(
                    f"allocations.{i}.weight",
                    ErrorCode.INVALID_INPUT,
                    "with a total, each allocation needs a positive weight only",
                )
            )
        weights.append(row.weight or 0)
    if total is None or problems:
        return None
    parts = allocate(total, weights)
    if any(p.minor == 0 for p in parts):
        problems.append(
            Problem(
                "total",
                ErrorCode.INVALID_AMOUNT,
                "the total is too small to give every payee at least one unit",
            )
        )
        return None
    return [(row.payee_id, part) for row, part in zip(data.allocations, parts, strict=True)]


def _positive(amount: str, currency: str, field: str, problems: list[Problem]) -> Money | None:
    try:
        money = Money.parse(amount, currency)
    except PayoutEngineError as exc:
        problems.append(Problem(field, exc.code, exc.message))
        return None
    if money.minor <= 0:
        problems.append(
            Problem(field, ErrorCode.INVALID_AMOUNT, "amount must be greater than zero")
        )
        return None
    return money


def require(plan: EventPlan | list[Problem]) -> EventPlan:
    """For callers (seed, CLI) that want an exception rather than a list."""
    if isinstance(plan, list):
        raise InvalidInput("; ".join(f"{p.field}: {p.message}" for p in plan))
    return plan
