"""JSON shapes of the provider API, shared by the HTTP client and the mock banks.

Money is ``{"amount": "12.34", "currency": "USD"}`` with an exact decimal string;
rates are decimal strings; timestamps are ISO 8601 in UTC with an explicit offset.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from domain.money import Money
from domain.ports import (
    FxQuote,
    OrderStatus,
    PaymentOrderRequest,
    ProviderOrder,
    SettlementEntry,
    SettlementReport,
)
from domain.verification import (
    ANSWERS,
    VerificationAnswer,
    VerificationRequest,
    VerificationStatus,
)

JsonObject = dict[str, Any]


def money_to_json(money: Money) -> JsonObject:
    return {"amount": money.to_decimal_string(), "currency": money.currency}


def money_from_json(data: Mapping[str, Any]) -> Money:
    return Money.parse(data["amount"], data["currency"])


def optional_money_from_json(data: Mapping[str, Any] | None) -> Money | None:
    return None if data is None else money_from_json(data)


def timestamp_to_json(moment: datetime) -> str:
    return parse_timestamp(moment.isoformat()).isoformat()


def parse_timestamp(text: str) -> datetime:
    """An aware ISO 8601 timestamp, normalised to UTC; a naive one is an error."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no UTC offset")
    return moment.astimezone(UTC)


def decimal_to_json(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


def order_request_to_json(request: PaymentOrderRequest) -> JsonObject:
    return request.body()


def order_to_json(order: ProviderOrder) -> JsonObject:
    return {
        "id": order.order_id,
        "idempotency_key": order.idempotency_key,
        "status": order.status.value,
        "amount": money_to_json(order.amount),
        "target_amount": None
        if order.target_amount is None
        else money_to_json(order.target_amount),
        "fx_rate": decimal_to_json(order.fx_rate),
        "rail": order.rail,
        "created_at": timestamp_to_json(order.created_at),
        "updated_at": timestamp_to_json(order.updated_at),
        "failure_code": order.failure_code,
        "failure_reason": order.failure_reason,
    }


def order_from_json(data: Mapping[str, Any]) -> ProviderOrder:
    fx_rate = data.get("fx_rate")
    return ProviderOrder(
        order_id=data["id"],
        idempotency_key=data["idempotency_key"],
        status=OrderStatus(data["status"]),
        amount=money_from_json(data["amount"]),
        target_amount=optional_money_from_json(data.get("target_amount")),
        fx_rate=None if fx_rate is None else Decimal(fx_rate),
        rail=data["rail"],
        created_at=parse_timestamp(data["created_at"]),
        updated_at=parse_timestamp(data["updated_at"]),
        failure_code=data.get("failure_code"),
        failure_reason=data.get("failure_reason"),
    )


def fx_quote_to_json(quote: FxQuote) -> JsonObject:
    return {
        "source": quote.source_currency,
        "target": quote.target_currency,
        "rate": decimal_to_json(quote.rate),
        "quoted_at": timestamp_to_json(quote.quoted_at),
    }


def fx_quote_from_json(data: Mapping[str, Any]) -> FxQuote:
    return FxQuote(
        source_currency=data["source"],
        target_currency=data["target"],
        rate=Decimal(data["rate"]),
        quoted_at=parse_timestamp(data["quoted_at"]),
    )


def settlement_report_from_json(data: Mapping[str, Any]) -> SettlementReport:
    return SettlementReport(
        provider=data["provider"],
        day=date.fromisoformat(data["date"]),
        entries=tuple(
            SettlementEntry(
                order_id=entry["order_id"],
                idempotency_key=entry["idempotency_key"],
                status=OrderStatus(entry["status"]),
                at=parse_timestamp(entry["at"]),
                amount=money_from_json(entry["amount"]),
            )
            for entry in data["entries"]
        ),
    )


def verification_request_to_json(request: VerificationRequest) -> JsonObject:
    return {
        "rail": request.rail,
        "holder_name": request.holder_name,
        "country": request.country,
        "account": dict(request.account),
    }


def verification_answer_from_json(data: Mapping[str, Any]) -> VerificationAnswer:
    status = VerificationStatus(data["status"])
    if status not in ANSWERS:
        raise ValueError(f"{status.value!r} is not an answer a bank gives")
    held = data.get("bank_held_name")
    if held is not None and not isinstance(held, str):
        raise TypeError("bank_held_name is a string or null")
    return VerificationAnswer(status, held if status is VerificationStatus.CLOSE_MATCH else None)
