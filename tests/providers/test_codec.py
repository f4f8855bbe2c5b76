from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from domain.money import Money
from domain.ports import FxQuote, OrderStatus, ProviderOrder
from providers.codec import (
    fx_quote_from_json,
    fx_quote_to_json,
    order_from_json,
    order_to_json,
    parse_timestamp,
)

AT = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def test_an_order_survives_the_round_trip() -> None:
    order = ProviderOrder(
        order_id="po_xb_1",
        idempotency_key="k1",
        status=OrderStatus.RETURNED,
        amount=Money.parse("1234.56", "USD"),
        target_amount=Money.parse("185301", "JPY"),
        fx_rate=Decimal("150.093"),
        rail="Zengin",
        created_at=AT,
        updated_at=AT + timedelta(days=2),
        failure_code="R01",
        failure_reason="insufficient_funds",
    )
    data = order_to_json(order)

    assert data["amount"] == {"amount": "1234.56", "currency": "USD"}
    assert data["fx_rate"] == "150.093"
    assert order_from_json(data) == order


def test_a_quote_survives_the_round_trip() -> None:
    quote = FxQuote("USD", "BHD", Decimal("0.376000"), AT)

    assert fx_quote_from_json(fx_quote_to_json(quote)) == quote


def test_timestamps_are_normalised_to_utc_and_must_be_aware() -> None:
    assert parse_timestamp("2026-03-02T17:00:00+02:00") == AT
    assert parse_timestamp("2026-03-02T17:00:00+02:00").tzinfo is UTC
    with pytest.raises(ValueError):
        parse_timestamp("2026-03-02T15:00:00")
