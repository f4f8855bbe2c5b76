"""Verification of payee over GraphQL: an operator clears a held account (ops keys only).

The bank is asked after ``addBankAccount`` commits (``domain.verification``); this
module is the human side: ``verifyBankAccount`` records who cleared a held account,
when and why, so that runs pay it again.
"""

from __future__ import annotations

from contextlib import suppress

import strawberry

from domain.errors import ErrorCode, Problem
from domain.run_workflow import Requester
from domain.verification import MAX_NOTE, check_note
from graph.context import Info
from graph.errors import UserError, from_problems
from graph.ids import parse_id
from graph.run_workflow import Approval
from graph.types import BankAccount, Payee
from persistence import tables
from persistence.verification_store import SqlVerifications


@strawberry.input(
    description="Clear an account held by verification (NO_MATCH, or it replaced an "
    "already-paid account), so that runs pay it."
)
class VerifyBankAccountInput:
    id: strawberry.ID
    note: str = strawberry.field(description=f"Why it is safe to pay; 1-{MAX_NOTE} characters.")


@strawberry.type
class VerifyBankAccountPayload:
    bank_account: BankAccount | None
    approval: Approval | None = strawberry.field(
        description="The BANK_ACCOUNT approval an approver of another owner decides; the "
        "account stays held until it is approved."
    )
    user_errors: list[UserError]


def _refused(problems: list[Problem]) -> VerifyBankAccountPayload:
    return VerifyBankAccountPayload(
        bank_account=None, approval=None, user_errors=from_problems(problems)
    )


async def verify_bank_account(
    info: Info, input: VerifyBankAccountInput
) -> VerifyBankAccountPayload:
    account_id = parse_id(input.id)
    note, problems = check_note(input.note)
    if account_id is None:
        problems.insert(0, Problem("id", ErrorCode.NOT_FOUND, f"no bank account {input.id!r}"))
    if problems or account_id is None:
        return _refused(problems)
    deps = info.context.deps
    caller = info.context.caller
    store = SqlVerifications(deps.sessions)
    payee_id, approval_id, problems = await store.request_clearance(
        account_id,
        note,
        Requester(caller.key_id, caller.owner or caller.name),
        deps.approval_ttl,
        deps.clock.now(),
    )
    if problems or approval_id is None:
        return _refused(problems)
    async with info.context.session() as session:
        row = await session.get(tables.Approval, approval_id)
    assert row is not None
    return VerifyBankAccountPayload(
        bank_account=await _account(info, payee_id, account_id),
        approval=Approval.of(row),
        user_errors=[],
    )


async def _account(info: Info, payee_id: int, account_id: int) -> BankAccount:
    loaders = info.context.loaders
    for loader in (loaders.payees, loaders.bank_accounts):
        with suppress(KeyError):  # Strawberry's clear raises for a key never loaded
            loader.clear(payee_id)
    row = await loaders.payees.load(payee_id)
    assert row is not None
    accounts: list[BankAccount] = await Payee.of(row).bank_accounts(info)
    return next(account for account in accounts if account.id == str(account_id))
