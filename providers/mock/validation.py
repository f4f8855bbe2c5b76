"""Parse request bodies (a create-order body into an ``OrderBody``), or a 400 naming the field."""

from __future__ import annotations

from collections.abc import Mapping
from json import JSONDecodeError
from typing import Any

from starlette.requests import Request

from domain.money import Money, check_currency
from providers.mock.errors import BankError
from providers.mock.orders import OrderBody

MAX_IDEMPOTENCY_KEY = 255


def idempotency_key(headers: Mapping[str, str]) -> str:
    key = headers.get("idempotency-key", "").strip()
    if not key or len(key) > MAX_IDEMPOTENCY_KEY:
        raise BankError(400, "missing_idempotency_key", "an Idempotency-Key header is required")
    return key


async def json_object(request: Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except (JSONDecodeError, UnicodeDecodeError):
        raise BankError(400, "invalid_json", "the body is not JSON") from None
    return object_of(data, "the body")


def object_of(data: Any, name: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise BankError(400, "invalid_request", f"{name} must be a JSON object")
    return data


def parse_order_body(data: dict[str, Any]) -> OrderBody:
    return OrderBody(
        amount=parse_money(data.get("amount")),
        target_currency=check_currency(text_field(data, "target_currency")),
        rail=text_field(data, "rail"),
        beneficiary_name=text_field(data, "beneficiary_name"),
        beneficiary_country=_country(data.get("beneficiary_country")),
        account=_account(data.get("account")),
        reference=text_field(data, "reference", required=False),
    )


def parse_money(value: Any) -> Money:
    if not isinstance(value, dict) or not all(
        isinstance(value.get(name), str) for name in ("amount", "currency")
    ):
        raise BankError(400, "invalid_amount", 'amount is {"amount": "<decimal>", "currency"}')
    return Money.parse(value["amount"], value["currency"])


def text_field(data: Mapping[str, Any], name: str, *, required: bool = True) -> str:
    value = data.get(name, None if required else "")
    if not isinstance(value, str) or (required and not value.strip()):
        raise BankError(400, "invalid_request", f"{name} must be a non-empty string")
    return value


def optional_text(data: Mapping[str, Any], name: str) -> str | None:
    value = data.get(name)
    if value is not None and not (isinstance(value, str) and value.strip()):
        raise BankError(400, "invalid_request", f"{name} must be a non-empty string or absent")
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
