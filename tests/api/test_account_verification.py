"""Verification of payee before money leaves (issue 15, item 4).

A new account is checked with the bank that would pay it, right after it is added;
runs skip an account the bank says does not match, or one that replaced an account
already paid, with ``bank_account_unverified``, until an operator clears it.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from sqlalchemy import func, select

from domain.clock import ManualClock
from domain.ports import ProviderKind
from domain.verification import VerificationSettings, VerificationStatus
from persistence.payee_store import SqlPayees
from persistence.tables import AuditEvent, BankAccount, JobRun, Payout
from providers.mock.bank import MockBank
from providers.mock.config import MockBankConfig
from service.bootstrap import Container
from service.demo import (
    DEMO_APPROVER_KEY,
    DEMO_APPROVER_OWNER,
    DEMO_AUDITOR_KEY,
    DEMO_MERCHANT_KEYS,
    DEMO_OWNER,
)
from tests.api.test_onboarding import ADD_ACCOUNT, new_payee
from tests.conftest import GraphQLClient
from tests.jobs.conftest import SETTLED

IBAN_DE, IBAN_FR = "DE89370400440532013000", "FR1420041010050500013M02606"
VERIFICATION = """verification { status bankHeldName checkedAt replacesPaidAccount held
  holdReason clearedAt clearedBy note }"""
ADD = f"""mutation($input: AddBankAccountInput!) {{ addBankAccount(input: $input) {{
  bankAccount {{ id {VERIFICATION} }} userErrors {{ field code message }} }} }}"""
ACCOUNTS = f"""query($id: ID!) {{ payee(id: $id) {{ bankAccounts {{ id {VERIFICATION} }} }} }}"""
CLEAR = f"""mutation($id: ID!, $note: String!) {{ verifyBankAccount(input: {{id: $id, note: $note}})
  {{ bankAccount {{ id {VERIFICATION} }} approval {{ id kind subjectId status requestedBy }}
     userErrors {{ field code message }} }} }}"""
DECIDE = """mutation($id: ID!, $decision: ApprovalDecision!) {
  decideApproval(input: {approvalId: $id, decision: $decision}) {
    approval { status decidedBy } userErrors { code } } }"""


async def clear(gql: GraphQLClient, account_id: str, note: str) -> dict[str, Any]:
    """An ops key asks, the demo's approver (another owner) approves: the account's
    verification as it reads afterwards."""
    asked = (await gql.data(CLEAR, id=account_id, note=note))["verifyBankAccount"]
    assert asked["userErrors"] == [], asked
    assert asked["bankAccount"]["verification"]["held"] is True  # not before the approval
    approval = asked["approval"]
    assert (approval["kind"], approval["subjectId"], approval["status"]) == (
        "BANK_ACCOUNT",
        account_id,
        "PENDING",
    )
    decided = await gql.as_key(DEMO_APPROVER_KEY)(DECIDE, id=approval["id"], decision="APPROVE")
    assert decided["data"]["decideApproval"]["userErrors"] == [], decided
    return dict(asked["bankAccount"])


EVENT = """mutation($input: CreateLiquidationEventInput!) {
  createLiquidationEvent(input: $input) { event { code } userErrors { code } } }"""
RUN = """mutation($event: ID!, $key: String) {
  startRun(input: {liquidationEventId: $event, idempotencyKey: $key}) {
  run { created skipped skipBreakdown { reason count } } userErrors { code } } }"""
PAYOUTS = """query($payee: ID!) { payouts(filter: {payeeId: $payee}) {
  edges { node { id status event { code } } } } }"""


@pytest.fixture
def banks(clock: ManualClock) -> dict[ProviderKind, MockBank]:
    """Banks on the test's clock, so that advancing it settles their orders."""
    return {kind: MockBank(kind, MockBankConfig(seed=7), clock) for kind in ProviderKind}


async def add(gql: GraphQLClient, payee_id: str, name: str, iban: str = IBAN_DE) -> dict[str, Any]:
    account = {"payeeId": payee_id, "holderName": name, "currency": "EUR", "iban": iban}
    added = (await gql.data(ADD, input=account))["addBankAccount"]
    assert added["userErrors"] == [], added
    return dict(added["bankAccount"])


async def verification_of(gql: GraphQLClient, payee_id: str, account_id: str) -> dict[str, Any]:
    accounts = (await gql.data(ACCOUNTS, id=payee_id))["payee"]["bankAccounts"]
    return dict(next(a for a in accounts if a["id"] == account_id)["verification"])


async def event(gql: GraphQLClient, code: str, payee_ids: list[str]) -> None:
    made = await gql.data(
        EVENT,
        input={
            "code": code,
            "name": code,
            "fundName": "Own Fund",
            "currency": "USD",
            "allocations": [{"payeeId": p, "amount": "1000.00"} for p in payee_ids],
        },
    )
    assert made["createLiquidationEvent"]["userErrors"] == [], made


async def run(gql: GraphQLClient, code: str) -> dict[str, Any]:
    key = f"{code}-{uuid.uuid4().hex}"  # one run, sent again to read it once executed
    started = (await gql.run_to_completion(RUN, event=code, key=key))["startRun"]
    assert started["userErrors"] == [], started
    found = dict(started["run"])
    found["skipBreakdown"] = {r["reason"]: r["count"] for r in found["skipBreakdown"]}
    return found


async def payouts_of(
    gql: GraphQLClient, container: Container, payee_id: str
) -> list[tuple[str, str, str]]:
    """(event, status, bank account) of each of the payee's payouts."""
    edges = (await gql.data(PAYOUTS, payee=payee_id))["payouts"]["edges"]
    async with container.sessions() as session:
        rows = await session.execute(select(Payout.id, Payout.bank_account_id))
        sent_to = {payout_id: account_id for payout_id, account_id in rows}
    return sorted(
        (e["node"]["event"]["code"], e["node"]["status"], str(sent_to[int(e["node"]["id"])]))
        for e in edges
    )


async def settle_demo_accounts(container: Container) -> None:
    """Let the job ask about the demo's accounts (pending since they were loaded)."""
    while (await container.jobs.verifications.verify())["claimed"]:
        pass


async def audit_of(container: Container, account_id: str) -> list[tuple[str, dict[str, Any]]]:
    async with container.sessions() as session:
        rows = await session.execute(
            select(AuditEvent.action, AuditEvent.detail)
            .where(AuditEvent.entity == "bank_account", AuditEvent.entity_id == int(account_id))
            .order_by(AuditEvent.id)
        )
        return [(action, dict(detail)) for action, detail in rows]


async def count(container: Container, table: Any) -> int:
    async with container.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(table)) or 0)


# --- asked when added ---------------------------------------------------------------


async def test_a_new_account_is_verified_when_added_and_the_answer_is_audited(
    gql: GraphQLClient, seeded: Container, clock: ManualClock
) -> None:
    payee_id = await new_payee(gql, "VOP-MATCH", "DE")
    matched = await add(gql, payee_id, "Jane Mary Doe")
    assert matched["verification"] == {
        "status": "MATCH",
        "bankHeldName": None,
        "checkedAt": clock.now().isoformat(),
        "replacesPaidAccount": False,
        "held": False,
        "holdReason": None,
        "clearedAt": None,
        "clearedBy": None,
        "note": None,
    }
    assert [a for a, _ in await audit_of(seeded, matched["id"])] == [
        "bank_account.added",
        "bank_account.verified",
    ]
    close = await add(gql, payee_id, "Jane Mary Doe (close match)", IBAN_FR)
    assert (close["verification"]["status"], close["verification"]["bankHeldName"]) == (
        "CLOSE_MATCH",
        "J M Doe",
    )
    assert close["verification"]["held"] is False  # a close match does not hold payouts
    verified = (await audit_of(seeded, close["id"]))[-1]
    assert verified == (
        "bank_account.verified",
        {"payee_id": int(payee_id), "status": "close_match", "bank_held_name": "J M Doe"},
    )


async def test_an_unavailable_answer_is_asked_again_by_the_job(
    gql: GraphQLClient, seeded: Container, clock: ManualClock
) -> None:
    await settle_demo_accounts(seeded)
    payee_id = await new_payee(gql, "VOP-LATER", "DE")
    added = await add(gql, payee_id, "Ann Lee (unavailable)")
    assert added["verification"]["status"] == "UNAVAILABLE"
    assert added["verification"]["held"] is False
    too_soon = await seeded.jobs.verify_bank_accounts()
    assert too_soon.counts == {"claimed": 0}
    clock.advance(seeded.jobs.settings.verification.retry_after)
    later = await seeded.jobs.verify_bank_accounts()
    assert (later.status, later.counts) == ("succeeded", {"claimed": 1, "match": 1})
    checked = await verification_of(gql, payee_id, added["id"])
    assert (checked["status"], checked["checkedAt"]) == ("MATCH", clock.now().isoformat())
    answers = [d["status"] for a, d in await audit_of(seeded, added["id"]) if "verified" in a]
    assert answers == ["unavailable", "match"]
    async with seeded.sessions() as session:
        jobs = await session.scalars(select(JobRun.job).order_by(JobRun.id))
        assert jobs.all()[-2:] == ["verify_bank_accounts", "verify_bank_accounts"]


# --- the hold, and clearing it --------------------------------------------------------


async def test_a_no_match_account_is_skipped_until_cleared_then_paid_once(
    gql: GraphQLClient, seeded: Container
) -> None:
    payee_id = await new_payee(gql, "VOP-NOMATCH", "DE")
    added = await add(gql, payee_id, "Max Muster (no match)")
    assert added["verification"]["status"] == "NO_MATCH" and added["verification"]["held"]
    await event(gql, "LIQ-VOP-001", [payee_id])
    first = await run(gql, "LIQ-VOP-001")
    assert (first["created"], first["skipBreakdown"]) == (0, {"bank_account_unverified": 1})
    assert await payouts_of(gql, seeded, payee_id) == [("LIQ-VOP-001", "SKIPPED", added["id"])]

    await clear(gql, added["id"], "  called the payee: name is right ")
    shown = await verification_of(gql, payee_id, added["id"])
    assert (shown["status"], shown["held"], shown["note"]) == (
        "NO_MATCH",
        False,
        "called the payee: name is right",
    )
    assert shown["clearedAt"] is not None and shown["clearedBy"] == DEMO_APPROVER_OWNER
    assert (await audit_of(seeded, added["id"]))[-1][0] == "bank_account.cleared"

    # The skipped payout is evaluated again by the next run of the same event: paid now...
    second = await run(gql, "LIQ-VOP-001")
    assert (second["created"], second["skipBreakdown"]) == (1, {})
    # ... and once only: a third run finds its payment order.
    third = await run(gql, "LIQ-VOP-001")
    assert (third["created"], third["skipBreakdown"]) == (0, {"existing_payment_order": 1})
    assert await payouts_of(gql, seeded, payee_id) == [("LIQ-VOP-001", "SUBMITTED", added["id"])]


async def test_an_account_replacing_a_paid_one_is_held_the_account_takeover_path(
    gql: GraphQLClient, seeded: Container, clock: ManualClock
) -> None:
    payee_id = await new_payee(gql, "VOP-TAKEOVER", "DE")
    first = await add(gql, payee_id, "Jane Doe")
    await event(gql, "LIQ-TAKE-001", [payee_id])
    assert (await run(gql, "LIQ-TAKE-001"))["created"] == 1
    clock.advance(SETTLED)
    await seeded.jobs.poll_provider_status()
    assert await payouts_of(gql, seeded, payee_id) == [("LIQ-TAKE-001", "COMPLETED", first["id"])]

    second = await add(gql, payee_id, "Jane Doe", IBAN_FR)  # the bank says it matches
    shown = second["verification"]
    assert (shown["status"], shown["replacesPaidAccount"], shown["held"]) == ("MATCH", True, True)
    added = (await audit_of(seeded, second["id"]))[0]
    assert added[0] == "bank_account.added" and added[1]["replaces_paid"] is True

    await event(gql, "LIQ-TAKE-002", [payee_id])
    held = await run(gql, "LIQ-TAKE-002")
    assert (held["created"], held["skipBreakdown"]) == (0, {"bank_account_unverified": 1})
    await clear(gql, second["id"], "confirmed by phone with the payee")
    assert (await run(gql, "LIQ-TAKE-002"))["created"] == 1
    assert await payouts_of(gql, seeded, payee_id) == [
        ("LIQ-TAKE-001", "COMPLETED", first["id"]),
        ("LIQ-TAKE-002", "SUBMITTED", second["id"]),
    ]


async def test_an_account_added_before_any_completed_payout_is_not_held(
    gql: GraphQLClient,
) -> None:
    payee_id = await new_payee(gql, "VOP-SUBMITTED", "DE")
    await add(gql, payee_id, "Jane Doe")
    await event(gql, "LIQ-SUB-001", [payee_id])
    await run(gql, "LIQ-SUB-001")  # submitted, not completed: not paid yet
    second = await add(gql, payee_id, "Jane Doe", IBAN_FR)
    assert second["verification"]["replacesPaidAccount"] is False
    assert second["verification"]["held"] is False


# --- the call after the commit --------------------------------------------------------


async def test_a_bank_down_after_the_commit_leaves_the_account_pending_for_the_job(
    gql: GraphQLClient, seeded: Container, banks: dict[ProviderKind, MockBank], clock: ManualClock
) -> None:
    await settle_demo_accounts(seeded)
    bank = banks[ProviderKind.CROSS_BORDER]
    working = bank.config
    bank.config = MockBankConfig(seed=7, transient_error_rate=1.0)  # every call: 503
    payee_id = await new_payee(gql, "VOP-DOWN", "DE")
    added = await add(gql, payee_id, "Max Muster (no match)")  # the account is kept
    assert added["verification"]["status"] == "PENDING"
    assert added["verification"]["held"] is False  # pending holds nothing
    assert [a for a, _ in await audit_of(seeded, added["id"])] == ["bank_account.added"]
    bank.config = working
    clock.advance(seeded.jobs.settings.verification.retry_after)
    outcome = await seeded.jobs.verify_bank_accounts()
    assert outcome.counts == {"claimed": 1, "no_match": 1}
    assert (await verification_of(gql, payee_id, added["id"]))["held"] is True


async def test_a_slow_bank_does_not_hold_the_mutation_the_job_asks_later(
    gql: GraphQLClient, seeded: Container, banks: dict[ProviderKind, MockBank], clock: ManualClock
) -> None:
    await settle_demo_accounts(seeded)
    bank = banks[ProviderKind.CROSS_BORDER]
    working, verifications = bank.config, seeded.jobs.verifications
    bank.config = MockBankConfig(seed=7, latency_ms=30_000)  # each answer 30 s away
    verifications.settings = VerificationSettings(inline_timeout_s=0.05)
    payee_id = await new_payee(gql, "VOP-SLOW", "DE")
    added = await add(gql, payee_id, "Max Muster (no match)")
    assert added["verification"]["status"] == "PENDING"
    bank.config = working
    clock.advance(verifications.settings.retry_after)
    outcome = await seeded.jobs.verify_bank_accounts()
    assert outcome.counts == {"claimed": 1, "no_match": 1}


async def test_a_process_killed_between_the_commit_and_the_call_is_finished_by_the_job(
    gql: GraphQLClient, seeded: Container, clock: ManualClock
) -> None:
    """The account is committed and the process dies before it asks the bank: the
    account is pending, and the job, on its own, asks and holds it."""
    from domain.new_accounts import AccountInput

    await settle_demo_accounts(seeded)
    payee_id = await new_payee(gql, "VOP-KILLED", "DE")
    account = AccountInput("Max Muster (no match)", "EUR", None, {"iban": IBAN_DE})
    account_id = await SqlPayees(seeded.sessions).add_account(
        int(payee_id), account, clock.now(), "ops:1"
    )
    assert isinstance(account_id, int)
    assert (await verification_of(gql, payee_id, str(account_id)))["status"] == "PENDING"
    outcome = await seeded.jobs.verify_bank_accounts()  # never asked: due at once
    assert outcome.counts == {"claimed": 1, "no_match": 1}
    await event(gql, "LIQ-KILLED-001", [payee_id])
    skipped = await run(gql, "LIQ-KILLED-001")
    assert skipped["skipBreakdown"] == {"bank_account_unverified": 1}


async def test_two_workers_ask_about_each_account_once(
    seeded: Container, banks: dict[ProviderKind, MockBank], gql: GraphQLClient, clock: ManualClock
) -> None:
    from domain.new_accounts import AccountInput

    await settle_demo_accounts(seeded)
    asked = banks[ProviderKind.CROSS_BORDER].verifier.asks
    asked.clear()
    ids = []
    for n in range(6):
        payee_id = await new_payee(gql, f"VOP-MANY-{n}", "DE")
        account = AccountInput(f"Holder {n}", "EUR", None, {"iban": IBAN_DE})
        ids.append(
            await SqlPayees(seeded.sessions).add_account(
                int(payee_id), account, clock.now(), "ops:1"
            )
        )
    verifications = seeded.jobs.verifications
    results = await asyncio.gather(verifications.verify(), verifications.verify())
    assert sum(r["claimed"] for r in results) == 6  # split between them, none twice
    assert sum(asked.values()) == 6
    async with seeded.sessions() as session:
        statuses = await session.scalars(
            select(BankAccount.verification_status).where(BankAccount.id.in_(ids))
        )
        assert set(statuses) == {VerificationStatus.MATCH.value}
        verified = await session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "bank_account.verified", AuditEvent.entity_id.in_(ids))
        )
    assert verified == 6


# --- refusals -------------------------------------------------------------------------


async def test_bad_clearances_are_refused_and_write_nothing(
    gql: GraphQLClient, seeded: Container
) -> None:
    payee_id = await new_payee(gql, "VOP-BAD", "DE")
    held = await add(gql, payee_id, "Max Muster (no match)")
    fine = await add(gql, await new_payee(gql, "VOP-FINE", "DE"), "Jane Doe")
    before = await count(seeded, AuditEvent)
    cases = [
        (held["id"], "", [(["input", "note"], "INVALID_INPUT")]),
        (held["id"], "   ", [(["input", "note"], "INVALID_INPUT")]),
        (held["id"], "x" * 501, [(["input", "note"], "INVALID_INPUT")]),
        (held["id"], "bad\x07note", [(["input", "note"], "INVALID_INPUT")]),
        ("999999", "ok", [(["input", "id"], "NOT_FOUND")]),
        ("not-an-id", "", [(["input", "id"], "NOT_FOUND"), (["input", "note"], "INVALID_INPUT")]),
        (fine["id"], "nothing to clear", [(["input", "id"], "CONFLICT")]),
    ]
    for account_id, note, expected in cases:
        answer = (await gql.data(CLEAR, id=account_id, note=note))["verifyBankAccount"]
        assert answer["bankAccount"] is None
        assert [(e["field"], e["code"]) for e in answer["userErrors"]] == expected, note
    assert await count(seeded, AuditEvent) == before
    assert (await verification_of(gql, payee_id, held["id"]))["held"] is True
    await gql.data(CLEAR, id=held["id"], note="checked")
    waiting = (await gql.data(CLEAR, id=held["id"], note="again"))["verifyBankAccount"]
    assert [e["code"] for e in waiting["userErrors"]] == ["CONFLICT"]  # one request at a time
    assert (await verification_of(gql, payee_id, held["id"]))["held"] is True


async def test_clearing_takes_a_second_person_a_rejection_or_the_requester_keeps_it_held(
    gql: GraphQLClient, seeded: Container
) -> None:
    payee_id = await new_payee(gql, "VOP-FOUR-EYES", "DE")
    held = await add(gql, payee_id, "Max Muster (no match)")
    asked = (await gql.data(CLEAR, id=held["id"], note="looks fine"))["verifyBankAccount"]
    approval_id = asked["approval"]["id"]
    assert asked["approval"]["requestedBy"] == DEMO_OWNER

    made = await gql.data(
        """mutation { createApiKey(input: {name: "own approver", role: APPROVER,
        owner: "demo@example.com"}) { secret } }"""
    )
    same_owner = gql.as_key(made["createApiKey"]["secret"])
    mine = await same_owner(DECIDE, id=approval_id, decision="APPROVE")
    assert [e["code"] for e in mine["data"]["decideApproval"]["userErrors"]] == ["SELF_APPROVAL"]
    assert (await verification_of(gql, payee_id, held["id"]))["held"] is True

    other = gql.as_key(DEMO_APPROVER_KEY)
    rejected = await other(DECIDE, id=approval_id, decision="REJECT")
    assert rejected["data"]["decideApproval"]["approval"]["status"] == "REJECTED"
    assert (await verification_of(gql, payee_id, held["id"]))["held"] is True
    actions = [action for action, _ in await audit_of(seeded, held["id"])]
    assert "bank_account.cleared" not in actions and "approval.requested" in actions


@pytest.mark.parametrize("key", [DEMO_AUDITOR_KEY, DEMO_MERCHANT_KEYS["MER-ACME"]])
async def test_auditor_and_payee_keys_may_not_clear(
    gql: GraphQLClient, seeded: Container, key: str
) -> None:
    payee_id = await new_payee(gql, f"VOP-KEY-{key[-6:]}", "DE")
    held = await add(gql, payee_id, "Max Muster (no match)")
    body = await gql.as_key(key)(CLEAR, id=held["id"], note="let me through")
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert (await verification_of(gql, payee_id, held["id"]))["held"] is True


async def test_a_merchant_payout_to_a_held_account_is_refused(
    gql: GraphQLClient, seeded: Container
) -> None:
    from tests.api.test_merchant_payouts import merchant

    own, _ = await merchant(seeded, "MER-ACME")
    account = {"payeeId": own, "holderName": "Acme (no match)", "currency": "INR"}
    fields = {"ifsc": "HDFC0001234", "accountNumber": "50100012345678"}
    added = (await gql.data(ADD_ACCOUNT, input={**account, **fields}))["addBankAccount"]
    assert added["userErrors"] == [], added
    acme = gql.as_key(DEMO_MERCHANT_KEYS["MER-ACME"])
    create = """mutation($p: ID!, $a: ID!) { createPayout(input: {payeeId: $p, amount: "1.00",
      currency: "INR", bankAccountId: $a, idempotencyKey: "vop-1"}) {
      payout { id } userErrors { field code message } } }"""
    refused = (await acme.data(create, p=own, a=added["bankAccount"]["id"]))["createPayout"]
    assert refused["payout"] is None
    assert [(e["field"], e["code"]) for e in refused["userErrors"]] == [
        (["input", "bankAccountId"], "INELIGIBLE")
    ]
