"""A mock bank served by uvicorn on a free port, called over real TCP."""

from __future__ import annotations

from datetime import timedelta

import httpx

from domain.ports import OrderStatus, ProviderKind, SubmitOutcome
from providers.client import remote_provider
from providers.codec import parse_timestamp
from providers.mock.server import create_app, serving
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


async def test_a_served_bank_stands_still_by_default() -> None:
    app = create_app(ProviderKind.ACH)

    async with serving(app) as base_url, httpx.AsyncClient(base_url=base_url) as http:
        first = (await http.get("/health")).json()["now"]
        second = (await http.get("/health")).json()["now"]

    assert first == second


async def test_a_served_bank_on_a_fast_clock_moves_by_itself() -> None:
    app = create_app(ProviderKind.ACH, clock_speed=365 * 86400)  # a year per real second

    async with serving(app) as base_url, httpx.AsyncClient(base_url=base_url) as http:
        first = parse_timestamp((await http.get("/health")).json()["now"])
        second = parse_timestamp((await http.get("/health")).json()["now"])

    assert second > first


async def test_discrepancies_injected_over_http_reach_a_remote_client(
    fake_sleep: FakeSleep,
) -> None:
    bank = make_bank(ProviderKind.CROSS_BORDER, seed=4)

    async with (
        serving(bank.app) as base_url,
        remote_provider(ProviderKind.CROSS_BORDER, base_url, sleep=fake_sleep) as client,
        httpx.AsyncClient(base_url=base_url) as admin,
    ):
        created = await client.create_order(xb_request("k1"))
        assert created.order is not None
        bank.advance(timedelta(days=1))
        dropped = await admin.post(
            "/_admin/discrepancies",
            json={"kind": "missing_at_provider", "order_id": created.order.order_id},
        )
        unknown = await admin.post("/_admin/discrepancies", json={"kind": "unknown_at_provider"})
        listed = await client.list_orders()

    assert (dropped.status_code, unknown.status_code) == (200, 200)
    assert [o.order_id for o in listed] == [unknown.json()["order_id"]]
    assert listed[0].status is OrderStatus.PROCESSING
