from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from domain.money import Money
from domain.ports import PaymentOrderRequest, ProviderKind
from providers.client import HttpPaymentProvider, in_process_provider
from providers.mock import ManualClock, MockBank, MockBankConfig

START = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # a Monday afternoon, UTC


class FakeSleep:
    """Records the waits tenacity asks for; yields to the loop instead of sleeping."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        await asyncio.sleep(0)


def make_bank(kind: ProviderKind = ProviderKind.ACH, **config: Any) -> MockBank:
    return MockBank(kind, MockBankConfig(**config), ManualClock(START))


def order_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "amount": {"amount": "100.00", "currency": "USD"},
        "target_currency": "USD",
        "rail": "ACH",
        "beneficiary_name": "Ada Lovelace",
        "beneficiary_country": "US",
        "account": {"routing_number": "011000015", "account_number": "123456789"},
        "reference": "LIQ-2024-001/ada",
    }
    return body | overrides


def order_request(key: str = "payout-1", **overrides: Any) -> PaymentOrderRequest:
    fields: dict[str, Any] = {
        "idempotency_key": key,
        "amount": Money.parse("100.00", "USD"),
        "target_currency": "USD",
        "rail": "ACH",
        "beneficiary_name": "Ada Lovelace",
        "beneficiary_country": "US",
        "account": {"routing_number": "011000015", "account_number": "123456789"},
        "reference": "LIQ-2024-001/ada",
    }
    return PaymentOrderRequest(**(fields | overrides))


def xb_request(key: str = "payout-jp", **overrides: Any) -> PaymentOrderRequest:
    fields: dict[str, Any] = {
        "target_currency": "JPY",
        "rail": "Zengin",
        "beneficiary_country": "JP",
        "account": {"bank_code": "0001", "branch_code": "001", "account_number": "1234567"},
    }
    return order_request(key, **(fields | overrides))


@pytest.fixture
def fake_sleep() -> FakeSleep:
    return FakeSleep()


@pytest.fixture
async def connect() -> AsyncIterator[Callable[[MockBank], httpx.AsyncClient]]:
    """Plain HTTP clients for mock banks, closed after the test."""
    clients: list[httpx.AsyncClient] = []

    def _connect(bank: MockBank) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=bank.app)
        clients.append(httpx.AsyncClient(transport=transport, base_url="http://bank"))
        return clients[-1]

    yield _connect
    for client in clients:
        await client.aclose()


@pytest.fixture
async def provider_for(
    fake_sleep: FakeSleep,
) -> AsyncIterator[Callable[..., HttpPaymentProvider]]:
    """Provider clients on in-process banks with the fake sleep, closed after the test."""
    providers: list[HttpPaymentProvider] = []

    def _provider(bank: MockBank, **kwargs: Any) -> HttpPaymentProvider:
        providers.append(in_process_provider(bank, **({"sleep": fake_sleep} | kwargs)))
        return providers[-1]

    yield _provider
    for provider in providers:
        await provider.aclose()
