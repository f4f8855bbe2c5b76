"""The HTTP provider client against in-process mock banks (httpx ASGI transport)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import format_datetime

import httpx
import pytest

from domain.errors import ProviderUnavailable, UnsupportedCurrency
from domain.money import Money
from domain.ports import (
    Attempt,
    OrderStatus,
    PaymentProvider,
    ProviderKind,
    SubmitOutcome,
)
from providers.client import HttpPaymentProvider
from providers.mock import Fault
from providers.mock.lifecycle import ACH_RETURN_REASONS
from tests.providers.conftest import START, FakeSleep, make_bank, order_request, xb_request

ProviderFor = Callable[..., HttpPaymentProvider]


def results(attempts: tuple[Attempt, ...]) -> list[str]:
    return [attempt.result for attempt in attempts]


async def test_it_implements_the_domain_port(provider_for: ProviderFor) -> None:
    provider: PaymentProvider = provider_for(make_bank())

    assert provider.kind is ProviderKind.ACH


async def test_accepted_order_is_parsed_into_domain_values(provider_for: ProviderFor) -> None:
    bank = make_bank(ProviderKind.CROSS_BORDER, seed=3)
    result = await provider_for(bank).create_order(xb_request())

    assert result.outcome is SubmitOutcome.ACCEPTED
    order = result.order
    assert order is not None
    assert order.status is OrderStatus.PROCESSING
    assert order.amount == Money.parse("100.00", "USD")
    assert order.target_amount is not None and order.target_amount.currency == "JPY"
    assert isinstance(order.fx_rate, Decimal)
    assert order.created_at == START and order.created_at.tzinfo is not None
    assert result.attempts == (Attempt(1, "http_201", 201, None),)


async def test_creating_twice_with_one_key_makes_one_order(provider_for: ProviderFor) -> None:
    bank = make_bank()
    provider = provider_for(bank)
    first = await provider.create_order(order_request("k1"))
    second = await provider.create_order(order_request("k1"))

    assert first.order is not None and second.order is not None
    assert first.order.order_id == second.order.order_id
    assert results(second.attempts) == ["http_200"]
    assert bank.count_orders_for("k1") == 1


async def test_reusing_a_key_for_another_order_is_rejected(provider_for: ProviderFor) -> None:
    bank = make_bank()
    provider = provider_for(bank)
    await provider.create_order(order_request("k1"))
    result = await provider.create_order(order_request("k1", reference="something else"))

    assert result.outcome is SubmitOutcome.REJECTED
    assert result.error_code == "idempotency_key_mismatch"
    assert bank.count_orders_for("k1") == 1


async def test_429_waits_for_retry_after_then_succeeds(
    provider_for: ProviderFor, fake_sleep: FakeSleep
) -> None:
    bank = make_bank()
    bank.script(Fault.status(429, retry_after=2))
    result = await provider_for(bank).create_order(order_request())

    assert result.outcome is SubmitOutcome.ACCEPTED
    assert fake_sleep.calls == [2]
    assert result.attempts == (
        Attempt(1, "http_429", 429, 2.0),
        Attempt(2, "http_201", 201, None),
    )


async def test_503_backs_off_then_succeeds(
    provider_for: ProviderFor, fake_sleep: FakeSleep
) -> None:
    bank = make_bank()
    bank.script(Fault.status(503), Fault.status(502), Fault.status(504))
    result = await provider_for(bank).create_order(order_request())

    assert result.outcome is SubmitOutcome.ACCEPTED
    assert fake_sleep.calls == [1, 2, 4]
    assert results(result.attempts) == ["http_503", "http_502", "http_504", "http_201"]


async def test_retry_after_is_capped_at_30_seconds(
    provider_for: ProviderFor, fake_sleep: FakeSleep
) -> None:
    bank = make_bank()
    bank.script(Fault.status(429, retry_after=120))
    await provider_for(bank).create_order(order_request())

    assert fake_sleep.calls == [30]


async def test_a_bad_account_is_rejected_without_retrying(
    provider_for: ProviderFor, fake_sleep: FakeSleep
) -> None:
    bank = make_bank()
    bank.reject_accounts("123456789")
    result = await provider_for(bank).create_order(order_request())

    assert result.outcome is SubmitOutcome.REJECTED
    assert (result.error_code, result.order) == ("account_closed", None)
    assert results(result.attempts) == ["http_422"]
    assert fake_sleep.calls == []


async def test_an_invalid_request_is_rejected_without_retrying(
    provider_for: ProviderFor, fake_sleep: FakeSleep
) -> None:
    result = await provider_for(make_bank()).create_order(order_request(rail="SEPA"))

    assert (result.outcome, result.error_code) == (SubmitOutcome.REJECTED, "unsupported_rail")
    assert results(result.attempts) == ["http_400"]
    assert fake_sleep.calls == []


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
async def test_client_errors_fail_at_once(
    provider_for: ProviderFor, fake_sleep: FakeSleep, status: int
) -> None:
    bank = make_bank()
    bank.script(Fault.status(status, error="nope"))
    result = await provider_for(bank).create_order(order_request())

    assert (result.outcome, result.error_code) == (SubmitOutcome.REJECTED, "nope")
    assert len(result.attempts) == 1 and fake_sleep.calls == []


async def test_a_timeout_after_the_order_was_created_is_retried_safely(
    provider_for: ProviderFor, fake_sleep: FakeSleep
) -> None:
    bank = make_bank()
    bank.script(Fault.timeout_after_create())
    result = await provider_for(bank, call_timeout_s=0.05).create_order(order_request("k1"))

    assert result.outcome is SubmitOutcome.ACCEPTED
    assert results(result.attempts) == ["timeout", "http_200"]
    assert fake_sleep.calls == [1]
    assert bank.count_orders_for("k1") == 1
    assert bank.stats.timeouts == 1


async def test_exhausted_retries_are_unavailable_with_the_last_error(
    provider_for: ProviderFor, fake_sleep: FakeSleep
) -> None:
    bank = make_bank(transient_error_rate=1.0)
    result = await provider_for(bank).create_order(order_request())

    assert result.outcome is SubmitOutcome.UNAVAILABLE
    assert result.error_code == "service_unavailable"
    assert fake_sleep.calls == [1, 2, 4, 8, 16]
    assert [a.wait_seconds for a in result.attempts] == [1, 2, 4, 8, 16, None]
    assert [a.number for a in result.attempts] == [1, 2, 3, 4, 5, 6]
    assert bank.orders == {}


async def test_backoff_is_capped_at_30_seconds(
    provider_for: ProviderFor, fake_sleep: FakeSleep
) -> None:
    bank = make_bank(transient_error_rate=1.0)
    await provider_for(bank, max_attempts=8).create_order(order_request())

    assert fake_sleep.calls == [1, 2, 4, 8, 16, 30, 30]


async def test_repeated_timeouts_end_unavailable(
    provider_for: ProviderFor, fake_sleep: FakeSleep
) -> None:
    bank = make_bank()
    bank.script(*[Fault.timeout_after_create()] * 3)
    provider = provider_for(bank, call_timeout_s=0.02, max_attempts=3)
    result = await provider.create_order(order_request("k1"))

    assert (result.outcome, result.error_code) == (SubmitOutcome.UNAVAILABLE, "timeout")
    assert bank.count_orders_for("k1") == 1  # safe to ask again later: same key


async def test_hundreds_of_concurrent_creates_with_faults_make_one_order_each(
    provider_for: ProviderFor,
) -> None:
    bank = make_bank(
        seed=42, transient_error_rate=0.1, timeout_after_create_rate=0.05, hang_seconds=30
    )
    provider = provider_for(bank, call_timeout_s=0.05)
    keys = [f"payout-{n}" for n in range(200)]
    submitted = await asyncio.gather(*(provider.create_order(order_request(k)) for k in keys))

    assert {r.outcome for r in submitted} == {SubmitOutcome.ACCEPTED}
    assert len(bank.orders) == 200
    assert all(bank.count_orders_for(k) == 1 for k in keys)
    assert {r.order.idempotency_key for r in submitted if r.order} == set(keys)
    assert bank.stats.transient_errors > 0 and bank.stats.timeouts > 0


async def test_the_client_rate_limit_keeps_the_bank_from_answering_429(
    provider_for: ProviderFor,
) -> None:
    limited_bank, unlimited_bank = (
        make_bank(rate_limit_per_s=100, rate_limit_burst=5) for _ in "ab"
    )
    polite = provider_for(limited_bank, rate_limit_per_s=100, rate_limit_burst=2)
    eager = provider_for(unlimited_bank, max_attempts=1)

    done = await asyncio.gather(*(polite.create_order(order_request(f"k{n}")) for n in range(30)))
    await asyncio.gather(*(eager.create_order(order_request(f"k{n}")) for n in range(30)))

    assert {r.outcome for r in done} == {SubmitOutcome.ACCEPTED}
    assert limited_bank.stats.rate_limited == 0
    assert unlimited_bank.stats.rate_limited > 0


# -- reads ------------------------------------------------------------------------


async def test_find_order_by_key(provider_for: ProviderFor) -> None:
    bank = make_bank()
    provider = provider_for(bank)
    created = (await provider.create_order(order_request("k1"))).order

    assert await provider.find_order("k1") == created
    assert await provider.find_order("unknown") is None


async def test_get_order_by_id(provider_for: ProviderFor) -> None:
    bank = make_bank()
    provider = provider_for(bank)
    created = (await provider.create_order(order_request("k1"))).order
    assert created is not None

    assert await provider.get_order(created.order_id) == created
    assert await provider.get_order("po_ach_missing") is None


async def test_reads_retry_transient_faults_then_raise(provider_for: ProviderFor) -> None:
    bank = make_bank(transient_error_rate=1.0)

    with pytest.raises(ProviderUnavailable):
        await provider_for(bank).find_order("k1")
    assert bank.stats.requests == 6


async def test_list_orders_follows_pagination(provider_for: ProviderFor) -> None:
    bank = make_bank()
    provider = provider_for(bank, page_size=2)
    for n in range(5):
        await provider.create_order(order_request(f"k{n}"))
        bank.advance(timedelta(minutes=1))
    requests_before = bank.stats.requests

    orders = await provider.list_orders()
    assert [o.idempotency_key for o in orders] == [f"k{n}" for n in range(5)]
    assert bank.stats.requests - requests_before == 3


async def test_list_orders_changed_since_sees_completions(provider_for: ProviderFor) -> None:
    bank = make_bank(return_rate=1.0)
    provider = provider_for(bank)
    await provider.create_order(order_request("k1"))
    bank.advance(timedelta(days=1, hours=1))

    changed = await provider.list_orders(changed_since=START + timedelta(hours=1))
    assert [(o.idempotency_key, o.status) for o in changed] == [("k1", OrderStatus.COMPLETED)]
    bank.advance(timedelta(days=1))
    returned = (await provider.list_orders(changed_since=bank.now() - timedelta(hours=2)))[0]
    assert returned.status is OrderStatus.RETURNED
    assert returned.failure_code in {code for code, _ in ACH_RETURN_REASONS}


async def test_list_orders_wants_an_aware_time(provider_for: ProviderFor) -> None:
    with pytest.raises(ValueError):
        await provider_for(make_bank()).list_orders(changed_since=datetime(2026, 1, 1))


async def test_fx_quote(provider_for: ProviderFor) -> None:
    provider = provider_for(make_bank(ProviderKind.CROSS_BORDER, seed=9))
    first = await provider.fx_quote("USD", "INR")
    again = await provider.fx_quote("USD", "INR")

    assert first == again
    assert (first.source_currency, first.target_currency) == ("USD", "INR")
    assert 80 < first.rate < 90
    assert first.quoted_at == START
    with pytest.raises(UnsupportedCurrency):
        await provider.fx_quote("USD", "XXX")


# -- faults no mock bank produces -------------------------------------------------


def provider_on(
    handler: Callable[[httpx.Request], httpx.Response], sleep: FakeSleep
) -> HttpPaymentProvider:
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="http://bank")
    return HttpPaymentProvider(ProviderKind.ACH, http, max_attempts=3, sleep=sleep)


async def test_a_crash_in_the_bank_is_a_retried_500(
    provider_for: ProviderFor, monkeypatch: pytest.MonkeyPatch
) -> None:
    bank = make_bank()

    def crash(*_: object) -> None:
        raise RuntimeError("bug in the bank")

    monkeypatch.setattr(bank, "create", crash)
    result = await provider_for(bank, max_attempts=2).create_order(order_request())

    assert (result.outcome, result.error_code) == (SubmitOutcome.UNAVAILABLE, "http_500")


async def test_a_success_that_is_not_an_object_is_not_trusted(fake_sleep: FakeSleep) -> None:
    async with provider_on(lambda _: httpx.Response(200, json=[]), fake_sleep) as provider:
        result = await provider.create_order(order_request())

    assert (result.outcome, result.error_code) == (SubmitOutcome.UNAVAILABLE, "invalid_response")


async def test_transport_errors_are_retried_then_unavailable(fake_sleep: FakeSleep) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async with provider_on(refuse, fake_sleep) as provider:
        result = await provider.create_order(order_request())

    assert (result.outcome, result.error_code) == (SubmitOutcome.UNAVAILABLE, "transport_error")
    assert results(result.attempts) == ["transport_error"] * 3


async def test_an_unreadable_success_is_retried_not_trusted(fake_sleep: FakeSleep) -> None:
    async with provider_on(lambda _: httpx.Response(201, text="<html>"), fake_sleep) as provider:
        result = await provider.create_order(order_request())

    assert (result.outcome, result.error_code) == (SubmitOutcome.UNAVAILABLE, "invalid_response")


async def test_an_http_date_retry_after_is_honoured(fake_sleep: FakeSleep) -> None:
    answers = iter(
        [
            httpx.Response(503, headers={"Retry-After": _http_date(seconds=7)}),
            httpx.Response(503, json={"error": "still_down"}),
            httpx.Response(503, json={"error": "still_down"}),
        ]
    )
    async with provider_on(lambda _: next(answers), fake_sleep) as provider:
        result = await provider.create_order(order_request())

    assert 5 <= fake_sleep.calls[0] <= 7
    assert fake_sleep.calls[1] == 2
    assert result.error_code == "still_down"


def _http_date(seconds: int) -> str:
    return format_datetime(datetime.now(UTC) + timedelta(seconds=seconds), usegmt=True)
