"""The webhook rules on their own: signatures, the retry schedule, subscriptions and
which addresses an outgoing request may reach."""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

import pytest

from domain import webhooks


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    body = b'{"id":"1","type":"payout.completed"}'
    expected = hmac.new(b"whsec_k", b"1700000000." + body, hashlib.sha256).hexdigest()
    header = webhooks.signature("whsec_k", 1700000000, body)
    assert header == f"t=1700000000,v1={expected}"
    assert webhooks.verify("whsec_k", header, body, now=1700000100)
    assert not webhooks.verify("whsec_k", header, body + b" ", now=1700000100)
    assert not webhooks.verify("whsec_other", header, body, now=1700000100)
    assert not webhooks.verify("whsec_k", header, body, now=1700000000 + 301)  # replayed late
    assert not webhooks.verify("whsec_k", "v1=abc", body, now=1700000000)


def test_retries_wait_30_s_doubling_up_to_6_h() -> None:
    waits = [webhooks.next_wait(n).total_seconds() for n in range(1, 14)]
    assert waits == [30, 60, 120, 240, 480, 960, 1920, 3840, 7680, 15360, 21600, 21600, 21600]
    assert webhooks.next_wait(10_000) == timedelta(hours=6)


@pytest.mark.parametrize(
    ("patterns", "heard"),
    [
        ([], {"payout.completed", "run.running", "reconciliation_break.opened"}),
        (["*"], {"payout.completed", "run.running", "reconciliation_break.opened"}),
        (["payout.*"], {"payout.completed"}),
        (["run.running", "reconciliation_break.*"], {"run.running", "reconciliation_break.opened"}),
        (["payout.failed"], set()),
    ],
)
def test_an_endpoint_hears_the_types_it_listens_to(patterns: list[str], heard: set[str]) -> None:
    types = {"payout.completed", "run.running", "reconciliation_break.opened"}
    assert {t for t in types if webhooks.subscribed(patterns, t)} == heard


@pytest.mark.parametrize(
    ("address", "strict", "relaxed"),
    [
        ("93.184.215.14", None, None),
        ("2606:2800:220:1::1", None, None),
        ("127.0.0.1", "a loopback address", None),
        ("::1", "a loopback address", None),
        ("::ffff:127.0.0.1", "a loopback address", None),
        ("10.0.0.1", "a private address", None),
        ("172.16.5.4", "a private address", None),
        ("192.168.1.1", "a private address", None),
        ("fd00::1", "a private address", None),
        ("169.254.169.254", "a link-local address", "a link-local address"),
        ("fe80::1", "a link-local address", "a link-local address"),
        ("224.0.0.1", "a multicast address", "a multicast address"),
        ("240.0.0.1", "a reserved address", "a reserved address"),
        ("0.0.0.0", "an unspecified address", "an unspecified address"),
        ("100.64.0.1", "a non-global address", "a non-global address"),
    ],
)
def test_which_addresses_a_webhook_may_reach(
    address: str, strict: str | None, relaxed: str | None
) -> None:
    assert webhooks.refused_address(address, allow_private=False) == strict
    assert webhooks.refused_address(address, allow_private=True) == relaxed


def test_one_bad_address_of_a_host_refuses_it() -> None:
    found = webhooks.first_refusal(["93.184.215.14", "10.0.0.1"], allow_private=False)
    assert found == "10.0.0.1 is a private address"
