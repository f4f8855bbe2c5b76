"""The mock banks' Confirmation / Verification of Payee, through the engine's client."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from domain.errors import InvalidInput, ProviderUnavailable
from domain.ports import ProviderKind
from domain.verification import VerificationAnswer, VerificationRequest, VerificationStatus
from providers.client import HttpPaymentProvider
from tests.providers.conftest import make_bank

ProviderFor = Callable[..., HttpPaymentProvider]
S = VerificationStatus
IBAN = {"iban": "DE89370400440532013000"}


def ask(
    name: str, account: dict[str, str] | None = None, rail: str = "SEPA"
) -> VerificationRequest:
    return VerificationRequest(1, rail, name, "DE", IBAN if account is None else account)


@pytest.mark.parametrize(
    ("name", "answer"),
    [
        ("Jane Mary Doe", VerificationAnswer(S.MATCH)),
        ("Jane Mary Doe (close match)", VerificationAnswer(S.CLOSE_MATCH, "J M Doe")),
        ("Acme (Close Match)", VerificationAnswer(S.CLOSE_MATCH, "Acme Ltd")),
        ("Jane Mary Doe (no match)", VerificationAnswer(S.NO_MATCH)),
        ("Jane Mary Doe (unavailable)", VerificationAnswer(S.UNAVAILABLE)),
    ],
)
async def test_a_test_asks_for_each_answer_by_the_holder_name(
    provider_for: ProviderFor, name: str, answer: VerificationAnswer
) -> None:
    provider = provider_for(make_bank(ProviderKind.CROSS_BORDER))
    assert await provider.verify_account(ask(name)) == answer


async def test_an_unavailable_account_is_answered_once_the_bank_can_check(
    provider_for: ProviderFor,
) -> None:
    bank = make_bank(ProviderKind.CROSS_BORDER, verification_unavailable_asks=2)
    provider = provider_for(bank)
    answers = [(await provider.verify_account(ask("Ann Lee (unavailable)"))).status for _ in "123"]
    assert answers == [S.UNAVAILABLE, S.UNAVAILABLE, S.MATCH]


def _accounts(count: int) -> list[dict[str, str]]:
    return [{"account_number": f"{n:09d}", "aba_routing": "021000021"} for n in range(count)]


async def _answers(provider: HttpPaymentProvider) -> list[VerificationStatus]:
    return [
        (await provider.verify_account(ask("Ann Lee", account, rail="ACH"))).status
        for account in _accounts(200)
    ]


async def test_without_markers_every_account_matches_by_default(provider_for: ProviderFor) -> None:
    assert set(await _answers(provider_for(make_bank(ProviderKind.ACH)))) == {S.MATCH}


async def test_seeded_rates_give_the_same_answer_per_account_whatever_the_order(
    provider_for: ProviderFor,
) -> None:
    rates = {
        "verification_no_match_rate": 0.1,
        "verification_close_match_rate": 0.1,
        "verification_unavailable_rate": 0.1,
    }
    first = await _answers(provider_for(make_bank(ProviderKind.ACH, seed=3, **rates)))
    again = provider_for(make_bank(ProviderKind.ACH, seed=3, **rates))
    backwards = [
        (await again.verify_account(ask("Ann Lee", account, rail="ACH"))).status
        for account in reversed(_accounts(200))
    ]
    assert backwards[::-1] == first
    assert set(first) == {S.MATCH, S.CLOSE_MATCH, S.NO_MATCH, S.UNAVAILABLE}
    assert first.count(S.MATCH) > 100  # mostly matches
    other_seed = await _answers(provider_for(make_bank(ProviderKind.ACH, seed=4, **rates)))
    assert other_seed != first


async def test_a_rail_the_bank_does_not_serve_and_a_bad_body_are_refused(
    provider_for: ProviderFor,
) -> None:
    provider = provider_for(make_bank(ProviderKind.ACH))
    with pytest.raises(InvalidInput, match="unsupported_rail"):
        await provider.verify_account(ask("Ann Lee"))
    with pytest.raises(InvalidInput, match="account"):
        await provider.verify_account(ask("Ann Lee", account={}, rail="ACH"))


async def test_a_bank_that_keeps_failing_is_unavailable_to_the_caller(
    provider_for: ProviderFor,
) -> None:
    provider = provider_for(
        make_bank(ProviderKind.CROSS_BORDER, transient_error_rate=1.0), max_attempts=3
    )
    with pytest.raises(ProviderUnavailable):
        await provider.verify_account(ask("Ann Lee"))
