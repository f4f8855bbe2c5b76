"""A mock bank served by uvicorn on a free port, called over real TCP."""

from __future__ import annotations

from datetime import timedelta

from domain.ports import OrderStatus, ProviderKind, SubmitOutcome
from providers.client import remote_provider
from providers.mock.server import serving
from tests.providers.conftest import FakeSleep, make_bank, xb_request


async def test_remote_provider_against_a_served_bank(fake_sleep: FakeSleep) -> None:
    bank = make_bank(ProviderKind.CROSS_BORDER, seed=4)

    async with (
        serving(bank.app) as base_url,
        remote_provider(ProviderKind.CROSS_BORDER, base_url, sleep=fake_sleep) as client,
    ):
        result = await client.create_order(xb_request("k1"))
        quote = await client.fx_quote("USD", "JPY")
        bank.advance(timedelta(days=1))
        found = await client.find_order("k1")

    assert result.outcome is SubmitOutcome.ACCEPTED
    assert result.order is not None and result.order.fx_rate == quote.rate
    assert found is not None and found.status is OrderStatus.COMPLETED
    assert base_url.startswith("http://127.0.0.1:")
