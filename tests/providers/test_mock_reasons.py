"""The mock banks answer with the reason codes of the rail's scheme, and tests can
force one: ACH speaks NACHA R-codes, SEPA and the other rails ISO 20022."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest

from domain.ports import OrderStatus, ProviderKind
from domain.reason_codes import REASON_CODES, Scheme
from providers.mock import MockBank
from tests.providers.conftest import make_bank, order_body
from tests.providers.test_mock_lifecycle import body, create, status, xb_body

ACH_CODE = re.compile(r"^R\d\d$")
SAMPLE = 300


def codes(bank: MockBank, rail: str | None) -> set[str]:
    for n in range(SAMPLE):
        create(bank, f"k{n}", xb_body(rail) if rail else None)
    bank.advance(timedelta(days=5))
    events = [status(bank, order_id) for order_id in bank.orders]
    return {e.failure_code for e in events if e.failure_code is not None}


def test_ach_orders_fail_and_return_with_r_codes_the_table_knows() -> None:
    found = codes(make_bank(failure_rate=0.3, return_rate=0.3, seed=3), None)
    assert len(found) > 3
    assert all(ACH_CODE.match(code) for code in found), found
    assert all(REASON_CODES[code].scheme is Scheme.ACH for code in found)


def test_sepa_orders_fail_and_return_with_iso_20022_codes_the_table_knows() -> None:
    bank = make_bank(ProviderKind.CROSS_BORDER, failure_rate=0.3, return_rate=0.3, seed=3)
    found = codes(bank, "SEPA")
    assert len(found) > 3
    assert all(REASON_CODES[code].scheme is Scheme.ISO20022 for code in found), found


@pytest.mark.parametrize("status_", [OrderStatus.FAILED, OrderStatus.RETURNED])
def test_a_forced_outcome_gives_that_code_to_that_account_only(status_: OrderStatus) -> None:
    bank = make_bank()
    bank.set_outcome("000999", status_, "R16")
    forced = create(
        bank, "k1", body(account={"routing_number": "011000015", "account_number": "000999"})
    )
    other = create(bank, "k2")
    bank.advance(timedelta(days=3))
    event = status(bank, forced.order_id)
    assert (event.status, event.failure_code, event.failure_reason) == (
        status_,
        "R16",
        "account_frozen",
    )
    assert status(bank, other.order_id).status is OrderStatus.COMPLETED


def test_a_forced_outcome_is_failed_or_returned() -> None:
    with pytest.raises(ValueError):
        make_bank().set_outcome("000999", OrderStatus.COMPLETED, "R01")


async def test_a_refused_account_says_the_scheme_code_beside_the_error() -> None:
    bank = make_bank()
    bank.reject_accounts("123456789")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=bank.app), base_url="http://bank"
    ) as http:
        response = await http.post(
            "/v1/payment_orders", json=order_body(), headers={"Idempotency-Key": "k"}
        )
    assert response.status_code == 422
    assert (response.json()["error"], response.json()["reason_code"]) == ("account_closed", "R02")


async def test_a_served_bank_takes_a_forced_outcome_over_http() -> None:
    bank = make_bank()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=bank.app), base_url="http://bank"
    ) as http:
        bad = await http.post(
            "/_admin/outcomes", json={"account": "1", "status": "completed", "code": "R01"}
        )
        set_ = {"account": "123456789", "status": "returned", "code": "R10"}
        good = await http.post("/_admin/outcomes", json=set_)
        created = await http.post(
            "/v1/payment_orders", json=order_body(), headers={"Idempotency-Key": "k"}
        )
    assert bad.status_code == 400 and good.json() == set_
    bank.advance(timedelta(days=3))
    event = status(bank, created.json()["id"])
    assert (event.status, event.failure_code) == (OrderStatus.RETURNED, "R10")
