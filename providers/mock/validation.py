"""Parse a create-order body into an ``OrderBody``, or a 400 naming the field."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from domain.money import Money, check_currency
from providers.mock.errors import BankError
from providers.mock.orders import OrderBody

MAX_IDEMPOTENCY_KEY = 255


def idempotency_key(headers: Mapping[str, str]) -> str:
    key = headers.get("idempotency-key", "").strip()
    if not key or len(key) > MAX_IDEMPOTENCY_KEY:
        raise BankError(400, "missing_idempotency_key", "an Idempotency-Key header is required")
    return key


def parse_order_body(data: Any) -> OrderBody:
    if not isinstance(data, dict):
        raise BankError(400, "invalid_request", "the body must be a JSON object")
    return OrderBody(
        amount=_money(data.get("amount")),
        target_currency=check_currency(_text(data, "target_currency")),
        rail=_text(data, "rail"),
        beneficiary_name=_text(data, "beneficiary_name"),
        beneficiary_country=_country(data.get("beneficiary_country")),
        account=_account(data.get("account")),
        reference=_text(data, "reference", required=False),
    )


def _money(value: Any) -> Money:
    if not isinstance(value, dict) or not all(
        isinstance(value.get(name), str) for name in ("amount", "currency")
    ):
        raise BankError(400, "invalid_amount", 'amount is {"amount": "<decimal>", "currency"}')
    return Money.parse(value["amount"], value["currency"])


def _text(data: Mapping[str, Any], name: str, *, required: bool = True) -> str:
    value = data.get(name, None if required else "")
    if not isinstance(value, str) or (required and not value.strip()):
        raise BankError(400, "invalid_request", f"{name} must be a non-empty string")
    return value


def _country(value: Any) -> str | None:
    if value is None:
        return None
    if not (isinstance(value, str) and len(value) == 2 and value.isalpha() and value.isupper()):
        raise BankError(400, "invalid_request", "beneficiary_country is an ISO 3166 alpha-2 code")
    return value


def _account(value: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict) or not value:
        raise BankError(400, "invalid_account", "account must be a non-empty object")
    if not all(isinstance(k, str) and isinstance(v, str) and v for k, v in value.items()):
        raise BankError(400, "invalid_account", "account fields must be non-empty strings")
    return tuple(sorted(value.items()))
