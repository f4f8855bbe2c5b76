"""Paying failed or returned payouts again (issue 16.4): a new attempt at the
allocation, with a new provider key and a new hold, to the payee's current account;
refused while that account is flagged; at most one live attempt per allocation, held
by the database even when two requests race; behind the run approval rule."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from domain.ports import OrderStatus, ProviderKind
from persistence import ledger_checks, lifecycle
from persistence.tables import LedgerAccount, Payout, PayoutRetry
from service.bootstrap import Container, build_app
from service.demo import DEMO_APPROVER_KEY
from tests.api.test_merchant_payouts import CREATE, payout_input
from tests.api.test_onboarding import add_account
from tests.api.test_reason_codes import (
    Banks,
    ach_account,
    failing_merchant,
    investor,
    pay,
    payout,
    run,
    settle,
)
from tests.conftest import GraphQLClient

RETRY = """mutation($id: ID!, $key: String!) {
  retryPayout(input: {payoutId: $id, idempotencyKey: $key}) {
    retry { id status approvalId skipped { code count }
      attempts { id status attempt idempotencyKey retryOf { id } } }
    replayed userErrors { field code message } } }"""
RETRY_RUN = """mutation($run: ID!, $key: String!, $status: [RetryableStatus!]!) {
  retryPayouts(input: {runId: $run, idempotencyKey: $key, filter: {status: $status}}) {
    retry { id status skipped { code count } attempts { id attempt } }
    replayed userErrors { field code message } } }"""
ATTEMPTS = """query($id: ID!) { payout(id: $id) { id status attempt
  attempts { id status attempt retryOf { id } } trace { action } } }"""
DECIDE = """mutation($id: ID!, $decision: ApprovalDecision!) {
  decideApproval(input: {approvalId: $id, decision: $decision}) {
    approval { status } userErrors { code } } }"""


async def failed_payout(gql: GraphQLClient, seeded: Container, banks: Banks, tag: str) -> str:
    """A payee whose run payout failed on a technical code (the account stays usable)."""
    number = f"5551{sum(map(ord, tag)) * 131 % 100000:05d}"
    payee_id = await investor(gql, f"RT-{tag}", number)
    banks[ProviderKind.ACH].set_outcome(number, OrderStatus.FAILED, "R01")
    await pay(gql, f"LIQ-RT-{tag}", [payee_id])
    await settle(seeded, banks[ProviderKind.ACH])
    failed = await payout(gql, payee_id, f"LIQ-RT-{tag}")
    assert failed["status"] == "FAILED", failed
    recovers(banks, number)
    return str(failed["id"])


def recovers(banks: Banks, number: str) -> None:
    """Orders to this account complete from now on (the mock's default)."""
    banks[ProviderKind.ACH]._outcomes.pop(number, None)


async def retry(gql: GraphQLClient, payout_id: str, key: str) -> dict[str, Any]:
    return dict((await gql.data(RETRY, id=payout_id, key=key))["retryPayout"])


async def count(seeded: Container, model: Any = Payout) -> int:
    async with seeded.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def held(seeded: Container) -> int:
    async with seeded.sessions() as session:
        return int(await session.scalar(select(func.sum(LedgerAccount.pending_debits))) or 0)


async def test_a_failed_payout_is_paid_again_as_attempt_two(
    gql: GraphQLClient, seeded: Container, banks: Banks
) -> None:
    original = await failed_payout(gql, seeded, banks, "F1")
    before = (await gql.data(ATTEMPTS, id=original))["payout"]
    assert await held(seeded) == 0

    done = await retry(gql, original, "retry-f1")
    assert done["userErrors"] == [], done
    [attempt] = done["retry"]["attempts"]
    assert (attempt["status"], attempt["attempt"]) == ("PENDING", 2)
    assert attempt["retryOf"] == {"id": original}
    assert await held(seeded) == 25000  # the new hold: 250.00

    await seeded.jobs.dispatch_pending_payouts()
    await settle(seeded, banks[ProviderKind.ACH])
    after = (await gql.data(ATTEMPTS, id=original))["payout"]
    assert after["status"] == "FAILED"  # the original is untouched
    assert [(a["attempt"], a["status"]) for a in after["attempts"]] == [
        (1, "FAILED"),
        (2, "COMPLETED"),
    ]
    actions = [t["action"] for t in after["trace"]]
    assert actions[: len(before["trace"])] == [t["action"] for t in before["trace"]]
    assert "payout.retry_requested" in actions and "payout.retried" in actions
    assert await held(seeded) == 0
    async with seeded.sessions() as session:
        keys = list(await session.scalars(select(Payout.idempotency_key)))
        assert await ledger_checks.verify(session) == []
    assert len(set(keys)) == len(keys) == 2  # a new provider key


async def test_a_returned_payout_is_paid_again_to_the_payees_new_account(
    gql: GraphQLClient, seeded: Container, banks: Banks
) -> None:
    payee_id = await investor(gql, "RT-RET", "555000703")
    ach = banks[ProviderKind.ACH]
    ach.set_outcome("555000703", OrderStatus.RETURNED, "R03")
    await pay(gql, "LIQ-RT-RET", [payee_id])
    await settle(seeded, ach)
    returned = await payout(gql, payee_id, "LIQ-RT-RET")
    assert returned["status"] == "RETURNED"

    refused = await retry(gql, returned["id"], "ret-1")
    assert [e["code"] for e in refused["userErrors"]] == ["BANK_ACCOUNT_FLAGGED"]
    assert await count(seeded) == 1 and await held(seeded) == 0

    added = await add_account(gql, payee_id, "USD", ach_account("555000704"))
    assert added["userErrors"] == []
    done = await retry(gql, returned["id"], "ret-2")
    assert done["userErrors"] == [], done
    [attempt] = done["retry"]["attempts"]
    await seeded.jobs.dispatch_pending_payouts()
    await settle(seeded, ach)
    async with seeded.sessions() as session:
        row = await session.get(Payout, int(attempt["id"]))
        assert row is not None
        assert (row.status, row.bank_account_id) == ("completed", int(added["bankAccount"]["id"]))
        assert "555000704" in (row.order_request or {})["account"].values()
        assert await ledger_checks.verify(session) == []


@pytest.mark.parametrize("status", ["SUBMITTED", "COMPLETED"])
async def test_a_payout_that_is_not_failed_or_returned_is_not_paid_again(
    gql: GraphQLClient, seeded: Container, banks: Banks, status: str
) -> None:
    payee_id = await investor(gql, f"RT-{status}", "555000801")
    await pay(gql, "LIQ-RT-OK", [payee_id])
    if status == "COMPLETED":
        await settle(seeded, banks[ProviderKind.ACH])
    paid = await payout(gql, payee_id, "LIQ-RT-OK")
    assert paid["status"] == status
    refused = await retry(gql, paid["id"], "ok-1")
    assert [e["code"] for e in refused["userErrors"]] == ["NOT_RETRYABLE"]
    assert await count(seeded) == 1


async def test_the_same_key_replays_and_another_input_is_refused(
    gql: GraphQLClient, seeded: Container, banks: Banks
) -> None:
    original = await failed_payout(gql, seeded, banks, "K1")
    first = await retry(gql, original, "same")
    again = await retry(gql, original, "same")
    assert again["replayed"] is True and again["retry"]["id"] == first["retry"]["id"]
    assert await count(seeded) == 2
    other = await failed_payout(gql, seeded, banks, "K2")
    reused = await retry(gql, other, "same")
    assert [e["code"] for e in reused["userErrors"]] == ["IDEMPOTENCY_KEY_REUSED"]
    # Paid again already: a second key is refused, the live attempt blocks it.
    second = await retry(gql, original, "other")
    assert [e["code"] for e in second["userErrors"]] == ["NOT_RETRYABLE"]
    assert await count(seeded) == 3


async def test_two_concurrent_retries_create_exactly_one_attempt(
    gql: GraphQLClient, seeded: Container, banks: Banks
) -> None:
    original = await failed_payout(gql, seeded, banks, "C1")
    answers = await asyncio.gather(*(retry(gql, original, f"race-{i}") for i in range(4)))
    made = [a for a in answers if a["userErrors"] == []]
    assert len(made) == 1, answers
    assert {e["code"] for a in answers for e in a["userErrors"]} == {"NOT_RETRYABLE"}
    assert await count(seeded) == 2 and await held(seeded) == 25000


async def test_a_crash_before_commit_leaves_no_attempt_and_no_hold(
    gql: GraphQLClient, seeded: Container, banks: Banks, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = await failed_payout(gql, seeded, banks, "X1")
    create = lifecycle.create

    async def create_then_crash(*args: Any, **kwargs: Any) -> dict[str, int]:
        await create(*args, **kwargs)
        raise RuntimeError("killed after the attempt row, before commit")

    monkeypatch.setattr(lifecycle, "create", create_then_crash)
    body = await gql(RETRY, id=original, key="crash")
    assert body.get("errors"), body
    assert await count(seeded) == 1 and await held(seeded) == 0
    monkeypatch.setattr(lifecycle, "create", create)
    done = await retry(gql, original, "crash")  # the key was rolled back with the rest
    assert done["userErrors"] == [] and len(done["retry"]["attempts"]) == 1
    assert await count(seeded) == 2 and await held(seeded) == 25000


async def test_a_rerun_of_the_event_after_a_retry_pays_nobody_twice(
    gql: GraphQLClient, seeded: Container, banks: Banks
) -> None:
    original = await failed_payout(gql, seeded, banks, "R1")
    assert (await run(gql, "LIQ-RT-R1"))["created"] == 0  # a run does not retry by itself
    assert await count(seeded) == 1
    assert (await retry(gql, original, "rerun"))["userErrors"] == []
    await seeded.jobs.dispatch_pending_payouts()
    again = await run(gql, "LIQ-RT-R1")
    assert (again["created"], again["skipped"]) == (0, 1)
    await settle(seeded, banks[ProviderKind.ACH])
    assert (await run(gql, "LIQ-RT-R1"))["created"] == 0
    assert await count(seeded) == 2
    assert sum(len(b.orders) for b in banks.values()) == 2


async def test_retry_payouts_pays_again_the_failed_payouts_of_a_run(
    gql: GraphQLClient, seeded: Container, banks: Banks
) -> None:
    good = await investor(gql, "RT-B1", "555000901")
    bad = await investor(gql, "RT-B2", "555000902")
    ach = banks[ProviderKind.ACH]
    ach.set_outcome("555000902", OrderStatus.FAILED, "R01")
    summary = await pay(gql, "LIQ-RT-B", [good, bad])
    await settle(seeded, ach)
    recovers(banks, "555000902")
    body = await gql.data(RETRY_RUN, run=summary["id"], key="batch", status=["FAILED"])
    done = body["retryPayouts"]
    assert done["userErrors"] == [], done
    assert [a["attempt"] for a in done["retry"]["attempts"]] == [2]
    replay = await gql.data(RETRY_RUN, run=summary["id"], key="batch", status=["FAILED"])
    assert replay["retryPayouts"]["replayed"] is True
    assert await count(seeded) == 3


@pytest.mark.parametrize("decision", ["APPROVE", "REJECT"])
async def test_a_retry_waits_for_its_approval(
    gql: GraphQLClient, seeded: Container, banks: Banks, decision: str
) -> None:
    original = await failed_payout(gql, seeded, banks, f"A-{decision}")
    seeded.settings = seeded.settings.model_copy(update={"run_approval_min_total": "0"})
    four = build_app(seeded, migrate=False, recover=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=four), base_url="http://test"
    ) as http:
        ops = GraphQLClient(http, container=seeded)
        asked = await retry(ops, original, "approve-me")
        assert asked["userErrors"] == [], asked
        assert asked["retry"]["status"] == "AWAITING_APPROVAL"
        assert asked["retry"]["attempts"] == []
        assert await count(seeded) == 1 and await held(seeded) == 0
        decided = await ops.as_key(DEMO_APPROVER_KEY).data(
            DECIDE, id=asked["retry"]["approvalId"], decision=decision
        )
        assert decided["decideApproval"]["userErrors"] == []
        replay = await retry(ops, original, "approve-me")
    if decision == "APPROVE":
        assert replay["retry"]["status"] == "DONE"
        assert [a["attempt"] for a in replay["retry"]["attempts"]] == [2]
        assert await count(seeded) == 2 and await held(seeded) == 25000
    else:
        assert replay["retry"]["status"] == "REJECTED"
        assert await count(seeded) == 1 and await held(seeded) == 0


async def test_bad_inputs_are_user_errors_and_write_nothing(
    gql: GraphQLClient, seeded: Container, banks: Banks
) -> None:
    original = await failed_payout(gql, seeded, banks, "H1")
    before = (await count(seeded), await count(seeded, PayoutRetry), await held(seeded))
    cases = [
        (original, "", "INVALID_INPUT", ["input", "idempotencyKey"]),
        (original, "k\u0000" * 3, "INVALID_INPUT", ["input", "idempotencyKey"]),
        ("not-an-id", "h-1", "NOT_FOUND", ["input", "payoutId"]),
        ("99999999999999999999999", "h-2", "NOT_FOUND", ["input", "payoutId"]),
        ("424242", "h-3", "NOT_FOUND", ["input", "payoutId"]),
    ]
    for payout_id, key, code, field in cases:
        body = await gql(RETRY, id=payout_id, key=key)
        if "errors" in body:  # text the database cannot store is refused before resolvers
            continue
        errors = body["data"]["retryPayout"]["userErrors"]
        assert [(e["code"], e["field"]) for e in errors] == [(code, field)], (key, body)
    unknown = await gql.data(RETRY_RUN, run="31337", key="h-run", status=["FAILED"])
    assert [e["code"] for e in unknown["retryPayouts"]["userErrors"]] == ["NOT_FOUND"]
    empty = await gql.data(RETRY_RUN, run="1", key="h-run-2", status=[])
    assert [e["code"] for e in empty["retryPayouts"]["userErrors"]] == ["INVALID_INPUT"]
    after = (await count(seeded), await count(seeded, PayoutRetry), await held(seeded))
    assert after == before


async def test_a_merchant_payout_is_not_paid_again_this_way(
    gql: GraphQLClient, seeded: Container, banks: Banks
) -> None:
    payee_id, account_id, acme, xb = await failing_merchant(gql, seeded, banks, "TECH")
    made = await acme.data(CREATE, input=payout_input(payee_id, account_id, "10.00", "m-1"))
    payout_id = made["createPayout"]["payout"]["id"]
    await seeded.jobs.dispatch_pending_payouts()
    await settle(seeded, xb)
    async with seeded.sessions() as session:
        assert await session.scalar(select(Payout.status).where(Payout.id == int(payout_id))) == (
            "failed"
        )
    before = await count(seeded)
    refused = await retry(gql, payout_id, "m-1")
    assert [e["code"] for e in refused["userErrors"]] == ["NOT_RETRYABLE"]
    assert await count(seeded) == before
