"""Control endpoints of a served mock bank: move its clock, inject discrepancies.

What an in-process test does with ``bank.advance`` or ``bank.drop_order``, a test
or demo does over HTTP to a bank served in another process. These endpoints skip
the fault gate and the stats: they are the tester's hands, not traffic.

``POST /_admin/discrepancies`` takes ``{"kind": <reconciliation break kind>, ...}``:

    missing_at_provider  order_id
    status_mismatch      order_id, status, failure_code?, failure_reason?
    amount_mismatch      order_id, amount ({"amount": "1.00", "currency": "USD"})
    currency_mismatch    order_id, currency
    duplicate_payment    order_id                    (answers the copy's id)
    unknown_at_provider  idempotency_key?, body?     (a create body; answers the new id)

and answers ``{"kind", "order_id"}``. Malformed input is a 400 naming the field,
an unknown order a 404, a key that already has an order a 409.

``POST /_admin/outcomes`` takes ``{"account", "status": "failed" | "returned",
"code"}``: that account's next orders end so, with that reason code.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from domain.ports import OrderStatus
from providers.codec import timestamp_to_json
from providers.mock.errors import BankError
from providers.mock.validation import (
    json_object,
    object_of,
    optional_text,
    parse_money,
    parse_order_body,
    text_field,
)

if TYPE_CHECKING:
    from providers.mock.bank import MockBank

Injector = Callable[["MockBank", dict[str, Any]], str]


async def advance_clock(request: Request, bank: MockBank) -> Response:
    """``{"seconds": n}`` moves the bank's clock forward by n seconds."""
    seconds = (await json_object(request)).get("seconds", 0)
    if not _is_number(seconds) or not (math.isfinite(seconds) and seconds >= 0):
        raise BankError(400, "invalid_request", "seconds is a number >= 0")
    bank.advance(timedelta(seconds=seconds))
    return JSONResponse({"now": timestamp_to_json(bank.now())})


async def inject_discrepancy(request: Request, bank: MockBank) -> Response:
    data = await json_object(request)
    kind = data.get("kind")
    inject = INJECTORS.get(kind) if isinstance(kind, str) else None
    if inject is None:
        raise BankError(400, "unknown_discrepancy", f"kind is one of: {', '.join(INJECTORS)}")
    return JSONResponse({"kind": kind, "order_id": inject(bank, data)})


async def force_outcome(request: Request, bank: MockBank) -> Response:
    """``{"account": <number or IBAN>, "status": "failed" | "returned", "code": "R03"}``:
    orders to that account from now on end so, with that reason code."""
    data = await json_object(request)
    account, code, status = text_field(data, "account"), text_field(data, "code"), _status(data)
    if status not in (OrderStatus.FAILED, OrderStatus.RETURNED):
        raise BankError(400, "invalid_request", "status is failed or returned")
    bank.set_outcome(account, status, code)
    return JSONResponse({"account": account, "status": status.value, "code": code})


def _missing(bank: MockBank, data: dict[str, Any]) -> str:
    order_id = text_field(data, "order_id")
    bank.drop_order(order_id)
    return order_id


def _status_mismatch(bank: MockBank, data: dict[str, Any]) -> str:
    order_id = text_field(data, "order_id")
    code, reason = optional_text(data, "failure_code"), optional_text(data, "failure_reason")
    bank.force_status(order_id, _status(data), code, reason)
    return order_id


def _amount_mismatch(bank: MockBank, data: dict[str, Any]) -> str:
    order_id = text_field(data, "order_id")
    bank.override_amount(order_id, parse_money(data.get("amount")))
    return order_id


def _currency_mismatch(bank: MockBank, data: dict[str, Any]) -> str:
    order_id = text_field(data, "order_id")
    bank.override_currency(order_id, text_field(data, "currency"))
    return order_id


def _duplicate(bank: MockBank, data: dict[str, Any]) -> str:
    return bank.duplicate_order(text_field(data, "order_id"))


def _unknown(bank: MockBank, data: dict[str, Any]) -> str:
    body = data.get("body")
    parsed = None if body is None else parse_order_body(object_of(body, "body"))
    return bank.inject_unknown_order(optional_text(data, "idempotency_key"), parsed)


def _status(data: dict[str, Any]) -> OrderStatus:
    try:
        return OrderStatus(text_field(data, "status"))
    except ValueError:
        statuses = ", ".join(OrderStatus)
        raise BankError(400, "invalid_request", f"status is one of: {statuses}") from None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


INJECTORS: Mapping[str, Injector] = {
    "missing_at_provider": _missing,
    "status_mismatch": _status_mismatch,
    "amount_mismatch": _amount_mismatch,
    "currency_mismatch": _currency_mismatch,
    "duplicate_payment": _duplicate,
    "unknown_at_provider": _unknown,
}
