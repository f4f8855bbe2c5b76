"""The mock banks over HTTP, as any client would see them."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from domain.errors import UnsupportedCurrency
from domain.money import Money
from domain.ports import OrderStatus, ProviderKind
from domain.rails import RAILS, Rail
from providers.mock import Fault, MockBank
from providers.mock.errors import BankError
from providers.mock.lifecycle import ACH_RETURN_REASONS
from providers.mock.validation import parse_order_body
from tests.providers.conftest import START, make_bank, order_body

Connect = Callable[[MockBank], httpx.AsyncClient]
ORDERS = "/v1/payment_orders"


async def create(http: httpx.AsyncClient, key: str, **overrides: Any) -> httpx.Response:
    return await http.post(ORDERS, json=order_body(**overrides), headers={"Idempotency-Key": key})


ACH_RETURN_CODES = {code for code, _ in ACH_RETURN_REASONS}


def xb_body(**overrides: Any) -> dict[str, Any]:
    fields = {
        "target_currency": "JPY",
        "rail": "Zengin",
        "beneficiary_country": "JP",
        "account": {"bank_code": "0001", "branch_code": "001", "account_number": "7654321"},
    }
    return fields | overrides


# -- create and idempotency -------------------------------------------------------


async def test_create_answers_201_with_the_order(connect: Connect) -> None:
    bank = make_bank()
    response = await create(connect(bank), "k1")

    assert response.status_code == 201
    order = response.json()
    assert order["id"].startswith("po_ach_")
    assert order["idempotency_key"] == "k1"
    assert order["status"] == "processing"
    assert order["amount"] == {"amount": "100.00", "currency": "USD"}
    assert order["target_amount"] is None and order["fx_rate"] is None
    assert order["created_at"] == START.isoformat()


async def test_same_key_and_body_replays_the_same_order(connect: Connect) -> None:
    bank = make_bank()
    http = connect(bank)
    first = await create(http, "k1")
    second = await create(http, "k1")

    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json() == second.json()
    assert bank.count_orders_for("k1") == 1
    assert (bank.stats.orders_created, bank.stats.replays) == (1, 1)


async def test_same_key_with_a_different_body_is_refused(connect: Connect) -> None:
    bank = make_bank()
    http = connect(bank)
    await create(http, "k1")
    response = await create(http, "k1", amount={"amount": "100.01", "currency": "USD"})

    assert response.status_code == 422
    assert response.json()["error"] == "idempotency_key_mismatch"
    assert bank.count_orders_for("k1") == 1


async def test_idempotency_key_is_required(connect: Connect) -> None:
    response = await connect(make_bank()).post(ORDERS, json=order_body())

    assert response.status_code == 400
    assert response.json()["error"] == "missing_idempotency_key"


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"amount": {"amount": 100.0, "currency": "USD"}}, "invalid_amount"),
        ({"amount": {"amount": "100.001", "currency": "USD"}}, "invalid_amount"),
        ({"amount": {"amount": "-5.00", "currency": "USD"}}, "invalid_amount"),
        ({"amount": {"amount": "0.00", "currency": "USD"}}, "invalid_amount"),
        ({"amount": {"amount": "1", "currency": "XYZ"}}, "unsupported_currency"),
        ({"target_currency": "EUR"}, "unsupported_currency"),
        ({"rail": "SEPA"}, "unsupported_rail"),
        ({"account": {}}, "invalid_account"),
        ({"account": {"account_number": 123}}, "invalid_account"),
        ({"beneficiary_name": "  "}, "invalid_request"),
        ({"beneficiary_country": "usa"}, "invalid_request"),
    ],
)
async def test_invalid_requests_are_400(
    connect: Connect, overrides: dict[str, Any], error: str
) -> None:
    bank = make_bank()
    response = await create(connect(bank), "k1", **overrides)

    assert (response.status_code, response.json()["error"]) == (400, error)
    assert bank.orders == {}


async def test_a_body_that_is_not_json_is_400(connect: Connect) -> None:
    response = await connect(make_bank()).post(
        ORDERS, content=b"{not json", headers={"Idempotency-Key": "k1"}
    )

    assert (response.status_code, response.json()["error"]) == (400, "invalid_json")


async def test_rejected_accounts_are_422_and_store_nothing(connect: Connect) -> None:
    bank = make_bank()
    bank.reject_accounts("123456789")
    response = await create(connect(bank), "k1")

    assert (response.status_code, response.json()["error"]) == (422, "account_closed")
    assert bank.count_orders_for("k1") == 0


@pytest.mark.parametrize(
    ("kind", "rail", "served"),
    [
        (ProviderKind.ACH, "ACH", True),
        (ProviderKind.ACH, "WIRE", False),
        (ProviderKind.WIRE, "WIRE", True),
        (ProviderKind.WIRE, "ACH", False),
        (ProviderKind.CROSS_BORDER, "SEPA", True),
        (ProviderKind.CROSS_BORDER, "ACH", False),
        (ProviderKind.CROSS_BORDER, "WIRE", False),
        (ProviderKind.CROSS_BORDER, "FPS", True),  # a local scheme the rail table lacks
        (ProviderKind.CROSS_BORDER, "", False),
    ],
)
def test_each_kind_serves_its_rails(kind: ProviderKind, rail: str, served: bool) -> None:
    assert make_bank(kind).serves_rail(rail) is served


@pytest.mark.parametrize("rail", RAILS, ids=lambda rail: rail.code)
def test_every_rail_is_served_by_its_own_provider_only(rail: Rail) -> None:
    assert [kind for kind in ProviderKind if make_bank(kind).serves_rail(rail.code)] == [
        rail.provider
    ]


async def test_cross_border_orders_carry_the_converted_amount(connect: Connect) -> None:
    bank = make_bank(ProviderKind.CROSS_BORDER, seed=7)
    http = connect(bank)
    quote = (await http.get("/v1/fx_quotes", params={"source": "USD", "target": "JPY"})).json()
    order = (await create(http, "k1", **xb_body())).json()

    rate = Decimal(quote["rate"])
    assert order["fx_rate"] == quote["rate"]
    expected = Money(int((Decimal(100) * rate).to_integral_value()), "JPY")
    assert order["target_amount"] == {"amount": expected.to_decimal_string(), "currency": "JPY"}


async def test_order_ids_depend_only_on_seed_kind_and_key(connect: Connect) -> None:
    ids = [(await create(connect(make_bank(seed=s)), "k1")).json()["id"] for s in (1, 1, 2)]

    assert ids[0] == ids[1] != ids[2]


# -- reading orders ---------------------------------------------------------------


async def test_get_one_order_and_404_for_unknown(connect: Connect) -> None:
    bank = make_bank()
    http = connect(bank)
    created = (await create(http, "k1")).json()

    assert (await http.get(f"{ORDERS}/{created['id']}")).json() == created
    missing = await http.get(f"{ORDERS}/po_ach_nope")
    assert (missing.status_code, missing.json()["error"]) == (404, "not_found")


async def test_find_by_idempotency_key(connect: Connect) -> None:
    bank = make_bank()
    http = connect(bank)
    created = (await create(http, "k1")).json()

    found = (await http.get(ORDERS, params={"idempotency_key": "k1"})).json()
    absent = (await http.get(ORDERS, params={"idempotency_key": "k2"})).json()
    assert found["data"] == [created]
    assert absent["data"] == []


# -- lifecycle on the bank clock --------------------------------------------------


async def status_of(http: httpx.AsyncClient, order_id: str) -> dict[str, Any]:
    order: dict[str, Any] = (await http.get(f"{ORDERS}/{order_id}")).json()
    return order


async def test_orders_complete_once_the_settlement_lag_has_passed(connect: Connect) -> None:
    bank = make_bank(settlement_lag_days={"ACH": 2})
    http = connect(bank)
    order_id = (await create(http, "k1")).json()["id"]

    bank.advance(timedelta(days=1))
    assert (await status_of(http, order_id))["status"] == "processing"
    bank.advance(timedelta(days=1))
    order = await status_of(http, order_id)
    assert order["status"] == "completed"
    assert order["updated_at"] == (START + timedelta(days=2)).isoformat()


async def test_a_returned_order_comes_back_a_day_after_completion(connect: Connect) -> None:
    bank = make_bank(return_rate=1.0)
    http = connect(bank)
    order_id = (await create(http, "k1")).json()["id"]

    bank.advance(timedelta(days=1))
    assert (await status_of(http, order_id))["status"] == "completed"
    bank.advance(timedelta(days=1))
    order = await status_of(http, order_id)
    assert order["status"] == "returned"
    assert (order["failure_code"], order["failure_reason"]) in ACH_RETURN_REASONS


async def test_return_rate_picks_a_stable_fraction(connect: Connect) -> None:
    bank = make_bank(return_rate=0.3, seed=11)
    http = connect(bank)
    for n in range(200):
        await create(http, f"k{n}")
    bank.advance(timedelta(days=2))
    statuses = [order.current(bank.now()).status for order in bank.orders.values()]

    returned = statuses.count(OrderStatus.RETURNED)
    assert 35 <= returned <= 85
    assert statuses.count(OrderStatus.COMPLETED) == 200 - returned


async def test_changed_since_pages_through_orders_in_a_stable_order(connect: Connect) -> None:
    bank = make_bank()
    http = connect(bank)
    for n in range(5):
        await create(http, f"k{n}")
        bank.advance(timedelta(hours=1))
    since = (START + timedelta(hours=1)).isoformat()

    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params = {"changed_since": since, "limit": "2"} | ({"cursor": cursor} if cursor else {})
        page = (await http.get(ORDERS, params=params)).json()
        seen.extend(order["idempotency_key"] for order in page["data"])
        pages += 1
        if (cursor := page["next_cursor"]) is None:
            break

    assert seen == ["k1", "k2", "k3", "k4"]
    assert pages == 2


async def test_a_status_change_moves_an_order_into_changed_since(connect: Connect) -> None:
    bank = make_bank()
    http = connect(bank)
    await create(http, "k1")
    bank.advance(timedelta(hours=2))
    await create(http, "k2")
    since = bank.now().isoformat()
    bank.advance(timedelta(hours=23))  # k1 completes at START + 24 h, k2 at + 26 h

    page = (await http.get(ORDERS, params={"changed_since": since})).json()
    assert [(o["idempotency_key"], o["status"]) for o in page["data"]] == [
        ("k2", "processing"),
        ("k1", "completed"),
    ]


@pytest.mark.parametrize(
    "params",
    [{"changed_since": "yesterday"}, {"limit": "0"}, {"limit": "x"}, {"cursor": "@@@"}],
)
async def test_bad_list_parameters_are_400(connect: Connect, params: dict[str, str]) -> None:
    response = await connect(make_bank()).get(ORDERS, params=params)

    assert response.status_code == 400


async def test_settlement_report_lists_completions_and_returns_by_date(connect: Connect) -> None:
    bank = make_bank(return_rate=1.0)
    http = connect(bank)
    await create(http, "k1")
    await create(http, "k2", amount={"amount": "50.25", "currency": "USD"})
    bank.advance(timedelta(days=3))
    day_one, day_two = ((START + timedelta(days=n)).date() for n in (1, 2))

    completed = (await http.get(f"/v1/settlement_reports/{day_one}")).json()
    returned = (await http.get(f"/v1/settlement_reports/{day_two}")).json()
    assert [e["status"] for e in completed["entries"]] == ["completed", "completed"]
    assert completed["totals"] == {"USD": {"count": 2, "completed": "150.25", "returned": "0.00"}}
    assert {e["idempotency_key"] for e in returned["entries"]} == {"k1", "k2"}
    assert all(e["failure_code"] in ACH_RETURN_CODES for e in returned["entries"])
    assert returned["totals"]["USD"]["returned"] == "150.25"


async def test_settlement_report_shows_only_what_has_happened(connect: Connect) -> None:
    bank = make_bank()
    http = connect(bank)
    await create(http, "k1")
    tomorrow = (START + timedelta(days=1)).date()

    assert (await http.get(f"/v1/settlement_reports/{tomorrow}")).json()["entries"] == []
    assert (await http.get("/v1/settlement_reports/2026-13-01")).status_code == 400


# -- FX quotes --------------------------------------------------------------------


async def fx(http: httpx.AsyncClient, source: str, target: str) -> httpx.Response:
    return await http.get("/v1/fx_quotes", params={"source": source, "target": target})


async def test_fx_quotes_are_deterministic_per_seed(connect: Connect) -> None:
    banks = [make_bank(ProviderKind.CROSS_BORDER, seed=s) for s in (1, 1, 2)]
    rates = [(await fx(connect(b), "USD", "JPY")).json()["rate"] for b in banks]

    assert rates[0] == rates[1] != rates[2]
    assert 140 < Decimal(rates[0]) < 160


async def test_fx_quotes_are_consistent_both_ways(connect: Connect) -> None:
    http = connect(make_bank(ProviderKind.CROSS_BORDER, seed=5))
    there = Decimal((await fx(http, "EUR", "INR")).json()["rate"])
    back = Decimal((await fx(http, "INR", "EUR")).json()["rate"])

    assert abs(there * back - 1) < Decimal("0.0001")


async def test_fx_quote_for_an_unknown_currency_is_400(connect: Connect) -> None:
    response = await fx(connect(make_bank()), "USD", "XXX")

    assert (response.status_code, response.json()["error"]) == (400, "unsupported_currency")


# -- faults -----------------------------------------------------------------------


async def test_over_the_rate_limit_answers_429_with_retry_after(connect: Connect) -> None:
    bank = make_bank(rate_limit_per_s=2)
    http = connect(bank)
    responses = [await fx(http, "USD", "USD") for _ in range(10)]

    limited = [r for r in responses if r.status_code == 429]
    assert [r.status_code for r in responses[:2]] == [200, 200]
    assert len(limited) >= 7
    assert all(int(r.headers["Retry-After"]) >= 1 for r in limited)
    assert bank.stats.by_status[429] == len(limited) == bank.stats.rate_limited


async def test_scripted_faults_are_consumed_by_creates_in_order(connect: Connect) -> None:
    bank = make_bank()
    http = connect(bank)
    bank.script(Fault.status(429, retry_after=2), Fault.status(503))

    await fx(http, "USD", "USD")  # reads do not consume the script
    first, second, third = [await create(http, "k1") for _ in range(3)]

    assert (first.status_code, first.headers["Retry-After"]) == (429, "2")
    assert (second.status_code, second.json()["error"]) == (503, "service_unavailable")
    assert third.status_code == 201


async def test_transient_errors_happen_before_anything_is_stored(connect: Connect) -> None:
    bank = make_bank(transient_error_rate=1.0)
    response = await create(connect(bank), "k1")

    assert response.status_code == 503
    assert bank.orders == {}


async def test_latency_is_a_real_wait(connect: Connect) -> None:
    http = connect(make_bank(latency_ms=30))
    started = time.perf_counter()
    await fx(http, "USD", "USD")

    assert time.perf_counter() - started >= 0.03


async def test_admin_advance_moves_a_served_banks_clock(connect: Connect) -> None:
    bank = make_bank()
    response = await connect(bank).post("/_admin/advance", json={"seconds": 86400})

    assert response.json()["now"] == (START + timedelta(days=1)).isoformat()
    assert bank.now() == START + timedelta(days=1)


def test_the_bank_clock_never_goes_back() -> None:
    with pytest.raises(ValueError):
        make_bank().advance(timedelta(seconds=-1))


# -- injected discrepancies -----------------------------------------------------

DAY = timedelta(days=1)
ADMIN = "/_admin/discrepancies"
YESTERDAY, TODAY = (START + DAY).date(), (START + 2 * DAY).date()
AN_ORDER = "<the id of an order the bank has>"


async def settled_yesterday(connect: Connect) -> tuple[MockBank, httpx.AsyncClient, list[str]]:
    """Three orders made at START, completed a day later; the clock is a day past that."""
    bank = make_bank()
    http = connect(bank)
    ids = [(await create(http, key)).json()["id"] for key in ("k1", "k2", "k3")]
    bank.advance(2 * DAY)
    return bank, http, ids


async def full_listing(http: httpx.AsyncClient, **params: str) -> list[dict[str, Any]]:
    orders: list[dict[str, Any]] = []
    query = {"limit": "2"} | params
    while True:
        page = (await http.get(ORDERS, params=query)).json()
        orders.extend(page["data"])
        if page["next_cursor"] is None:
            return orders
        query["cursor"] = page["next_cursor"]


async def report(http: httpx.AsyncClient, day: object) -> dict[str, Any]:
    data: dict[str, Any] = (await http.get(f"/v1/settlement_reports/{day}")).json()
    return data


async def snapshot(http: httpx.AsyncClient) -> tuple[object, ...]:
    """What a nightly reconciliation reads: every order and the last days' reports."""
    return (await full_listing(http), await report(http, YESTERDAY), await report(http, TODAY))


def by_key(orders: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    return [order for order in orders if order["idempotency_key"] == key]


async def test_a_dropped_order_is_gone_from_listings_and_reports(connect: Connect) -> None:
    bank, http, (first, *_) = await settled_yesterday(connect)
    bank.drop_order(first)

    assert by_key(await full_listing(http), "k1") == []
    assert by_key(await full_listing(http, changed_since=START.isoformat()), "k1") == []
    entries = (await report(http, YESTERDAY))["entries"]
    assert sorted(e["idempotency_key"] for e in entries) == ["k2", "k3"]
    assert (await http.get(f"{ORDERS}/{first}")).status_code == 404
    assert bank.order_for("k1") is None
    assert bank.stats.injected["missing_at_provider"] == 1


async def test_a_forced_status_is_a_change_now(connect: Connect) -> None:
    bank, http, (first, second, _) = await settled_yesterday(connect)
    forced_at = bank.now()
    bank.force_status(first, OrderStatus.FAILED, "AC04", "account_closed")
    bank.force_status(second, OrderStatus.RETURNED, "R01")

    since_then = await full_listing(http, changed_since=forced_at.isoformat())
    assert [(o["id"], o["status"]) for o in since_then] == sorted(
        [(first, "failed"), (second, "returned")]
    )
    failed = by_key(await full_listing(http), "k1")[0]
    assert (failed["failure_code"], failed["failure_reason"]) == ("AC04", "account_closed")
    assert failed["updated_at"] == forced_at.isoformat()
    # The failed one never settled; the returned one comes back in today's report.
    yesterday = (await report(http, YESTERDAY))["entries"]
    assert sorted(e["idempotency_key"] for e in yesterday) == ["k3"]
    today = (await report(http, TODAY))["entries"]
    assert [(e["idempotency_key"], e["status"], e["failure_code"]) for e in today] == [
        ("k2", "returned", "R01")
    ]


async def test_an_overridden_amount_shows_in_listings_and_report(connect: Connect) -> None:
    bank, http, (first, *_) = await settled_yesterday(connect)
    bank.override_amount(first, Money.parse("99.00", "USD"))

    for listing in (
        await full_listing(http),
        await full_listing(http, changed_since=START.isoformat()),
    ):
        assert by_key(listing, "k1")[0]["amount"] == {"amount": "99.00", "currency": "USD"}
    yesterday = await report(http, YESTERDAY)
    assert by_key(yesterday["entries"], "k1")[0]["amount"]["amount"] == "99.00"
    assert yesterday["totals"]["USD"] == {"count": 3, "completed": "299.00", "returned": "0.00"}


async def test_an_overridden_currency_keeps_the_minor_units(connect: Connect) -> None:
    bank = make_bank(ProviderKind.CROSS_BORDER)
    http = connect(bank)
    order_id = (await create(http, "k1", **xb_body())).json()["id"]
    bank.advance(2 * DAY)
    bank.override_currency(order_id, "JPY")  # 100.00 USD is 10000 minor units: JPY 10000

    for listing in (
        await full_listing(http),
        await full_listing(http, changed_since=START.isoformat()),
    ):
        assert listing[0]["amount"] == {"amount": "10000", "currency": "JPY"}
    yesterday = await report(http, YESTERDAY)
    assert yesterday["entries"][0]["amount"] == {"amount": "10000", "currency": "JPY"}
    assert yesterday["totals"] == {"JPY": {"count": 1, "completed": "10000", "returned": "0"}}
    assert bank.stats.injected["currency_mismatch"] == 1


def test_a_currency_override_must_change_the_currency_to_a_known_one() -> None:
    bank = make_bank()
    order_id = bank.create("k1", parse_order_body(order_body())).order.order_id

    with pytest.raises(BankError) as same:
        bank.override_currency(order_id, "USD")
    with pytest.raises(UnsupportedCurrency):
        bank.override_currency(order_id, "XYZ")
    assert same.value.status_code == 400
    assert bank.get(order_id).amount == Money.parse("100.00", "USD")


async def test_a_duplicate_is_a_second_settled_order_for_the_key(connect: Connect) -> None:
    bank, http, (_, second, _) = await settled_yesterday(connect)
    copy = bank.duplicate_order(second)

    for listing in (
        await full_listing(http),
        await full_listing(http, changed_since=START.isoformat()),
    ):
        assert sorted(o["id"] for o in by_key(listing, "k2")) == sorted([second, copy])
    yesterday = await report(http, YESTERDAY)
    assert sorted(e["order_id"] for e in by_key(yesterday["entries"], "k2")) == sorted(
        [second, copy]
    )
    assert yesterday["totals"]["USD"]["count"] == 4
    assert bank.count_orders_for("k2") == 2
    order = bank.order_for("k2")
    assert order is not None and order.order_id == second


async def test_an_unknown_order_is_accepted_now_under_a_key_no_payout_has(
    connect: Connect,
) -> None:
    bank, http, _ = await settled_yesterday(connect)
    injected_at = bank.now()
    order_id = bank.inject_unknown_order()

    since_then = await full_listing(http, changed_since=injected_at.isoformat())
    assert [(o["id"], o["status"]) for o in since_then] == [(order_id, "processing")]
    unknown = since_then[0]
    assert unknown["idempotency_key"] not in {"k1", "k2", "k3"}
    assert unknown["amount"] == {"amount": "100.00", "currency": "USD"}
    assert order_id in {o["id"] for o in await full_listing(http)}
    bank.advance(DAY)
    assert [e["order_id"] for e in (await report(http, TODAY + DAY))["entries"]] == [order_id]
    assert bank.inject_unknown_order() != order_id


async def test_an_orphaned_order_answers_the_payouts_own_retry(connect: Connect) -> None:
    bank = make_bank()
    http = connect(bank)
    order_id = bank.inject_unknown_order("payout-7", parse_order_body(order_body()))

    found = (await http.get(ORDERS, params={"idempotency_key": "payout-7"})).json()["data"]
    retried = await create(http, "payout-7")
    assert [o["id"] for o in found] == [order_id]
    assert (retried.status_code, retried.json()["id"]) == (200, order_id)
    with pytest.raises(BankError) as taken:
        bank.inject_unknown_order("payout-7")
    assert taken.value.status_code == 409


def test_injecting_into_an_unknown_order_is_a_404() -> None:
    bank = make_bank()

    with pytest.raises(BankError) as missing:
        bank.force_status("po_ach_nope", OrderStatus.FAILED)
    assert missing.value.status_code == 404


# -- the same over HTTP, for a bank served in another process -------------------------


def _drop(bank: MockBank, order_id: str) -> None:
    bank.drop_order(order_id)


def _fail(bank: MockBank, order_id: str) -> None:
    bank.force_status(order_id, OrderStatus.FAILED, "AC04", "account_closed")


def _amount(bank: MockBank, order_id: str) -> None:
    bank.override_amount(order_id, Money.parse("99.00", "USD"))


def _currency(bank: MockBank, order_id: str) -> None:
    bank.override_currency(order_id, "EUR")


def _duplicate(bank: MockBank, order_id: str) -> None:
    bank.duplicate_order(order_id)


@pytest.mark.parametrize(
    ("kind", "fields", "inject"),
    [
        ("missing_at_provider", {}, _drop),
        (
            "status_mismatch",
            {"status": "failed", "failure_code": "AC04", "failure_reason": "account_closed"},
            _fail,
        ),
        ("amount_mismatch", {"amount": {"amount": "99.00", "currency": "USD"}}, _amount),
        ("currency_mismatch", {"currency": "EUR"}, _currency),
        ("duplicate_payment", {}, _duplicate),
    ],
)
async def test_admin_discrepancies_do_what_the_methods_do(
    connect: Connect,
    kind: str,
    fields: dict[str, Any],
    inject: Callable[[MockBank, str], None],
) -> None:
    local, local_http, local_ids = await settled_yesterday(connect)
    served, served_http, served_ids = await settled_yesterday(connect)
    inject(local, local_ids[1])
    requests = served.stats.requests

    response = await served_http.post(
        ADMIN, json={"kind": kind, "order_id": served_ids[1]} | fields
    )

    assert response.status_code == 200
    assert response.json()["kind"] == kind
    assert served.stats.requests == requests  # control, not traffic
    assert await snapshot(served_http) == await snapshot(local_http)
    assert served.stats.injected == local.stats.injected == {kind: 1}


async def test_admin_unknown_order_with_and_without_a_body(connect: Connect) -> None:
    bank = make_bank()
    http = connect(bank)

    plain = await http.post(ADMIN, json={"kind": "unknown_at_provider"})
    orphan = await http.post(
        ADMIN,
        json={"kind": "unknown_at_provider", "idempotency_key": "payout-9", "body": order_body()},
    )

    assert plain.status_code == orphan.status_code == 200
    assert bank.get(plain.json()["order_id"]).body.rail == "ACH"
    order = bank.order_for("payout-9")
    assert order is not None and order.order_id == orphan.json()["order_id"]
    assert order.body == parse_order_body(order_body())


@pytest.mark.parametrize(
    ("payload", "status_code", "error"),
    [
        ([], 400, "invalid_request"),
        ({}, 400, "unknown_discrepancy"),
        ({"kind": "lost_in_the_mail"}, 400, "unknown_discrepancy"),
        ({"kind": "missing_at_provider"}, 400, "invalid_request"),
        ({"kind": "missing_at_provider", "order_id": 7}, 400, "invalid_request"),
        ({"kind": "duplicate_payment", "order_id": "po_ach_nope"}, 404, "not_found"),
        (
            {"kind": "status_mismatch", "order_id": AN_ORDER, "status": "lost"},
            400,
            "invalid_request",
        ),
        (
            {
                "kind": "status_mismatch",
                "order_id": AN_ORDER,
                "status": "failed",
                "failure_code": 4,
            },
            400,
            "invalid_request",
        ),
        ({"kind": "amount_mismatch", "order_id": AN_ORDER, "amount": "99"}, 400, "invalid_amount"),
        (
            {
                "kind": "amount_mismatch",
                "order_id": AN_ORDER,
                "amount": {"amount": "1.001", "currency": "USD"},
            },
            400,
            "invalid_amount",
        ),
        (
            {"kind": "currency_mismatch", "order_id": AN_ORDER, "currency": "XYZ"},
            400,
            "unsupported_currency",
        ),
        (
            {"kind": "currency_mismatch", "order_id": AN_ORDER, "currency": "USD"},
            400,
            "invalid_request",
        ),
        ({"kind": "unknown_at_provider", "body": "x"}, 400, "invalid_request"),
        ({"kind": "unknown_at_provider", "body": {"rail": "ACH"}}, 400, "invalid_amount"),
        ({"kind": "unknown_at_provider", "body": order_body(rail="SEPA")}, 400, "unsupported_rail"),
        ({"kind": "unknown_at_provider", "idempotency_key": "k1"}, 409, "idempotency_key_in_use"),
    ],
)
async def test_bad_admin_discrepancies_are_refused_and_change_nothing(
    connect: Connect, payload: Any, status_code: int, error: str
) -> None:
    bank, http, ids = await settled_yesterday(connect)
    if isinstance(payload, dict) and payload.get("order_id") == AN_ORDER:
        payload = payload | {"order_id": ids[0]}
    before = await snapshot(http)

    response = await http.post(ADMIN, json=payload)

    assert (response.status_code, response.json()["error"]) == (status_code, error)
    assert await snapshot(http) == before
    assert not bank.stats.injected


async def test_admin_endpoints_want_json(connect: Connect) -> None:
    http = connect(make_bank())
    for path in (ADMIN, "/_admin/advance"):
        response = await http.post(path, content=b"{not json")
        assert (response.status_code, response.json()["error"]) == (400, "invalid_json")


@pytest.mark.parametrize("seconds", [-1, "60", True, None, float("inf")])
async def test_admin_advance_wants_a_number_of_seconds(connect: Connect, seconds: Any) -> None:
    bank = make_bank()
    content = json.dumps({"seconds": seconds}, allow_nan=True).encode()
    response = await connect(bank).post("/_admin/advance", content=content)

    assert (response.status_code, response.json()["error"]) == (400, "invalid_request")
    assert bank.now() == START
