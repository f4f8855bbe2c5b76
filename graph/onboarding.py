"""Onboarding over GraphQL: payees and their bank accounts (ops keys only).

Resolvers parse the input, let the domain check it (``domain.payees``,
``domain.new_accounts``) through the store (``persistence.payee_store``), and map the
answer: problems become ``userErrors`` whose ``field`` is the input path.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import suppress

import strawberry

from domain import payees
from domain.errors import ErrorCode, Problem, quoted
from domain.new_accounts import ACCOUNT_FIELDS, AccountInput
from graph.context import Info
from graph.errors import UserError, from_problems
from graph.ids import parse_id
from graph.pagination import Connection, connection, decode_cursor, page_size
from graph.types import BankAccount, Payee, PaymentMethod
from persistence import queries

strawberry.enum(payees.PayeeKind, name="PayeeKind")
PayeeKind = payees.PayeeKind


@strawberry.input
class PayeeFilter:
    search: str | None = strawberry.field(
        default=None, description="Part of the name or the external id, in any case."
    )
    country: str | None = None
    kind: PayeeKind | None = None
    external_id: str | None = None


@strawberry.input
class CreatePayeeInput:
    external_id: str = strawberry.field(description="The fund's own id for the payee; unique.")
    name: str
    kind: PayeeKind
    country: str = strawberry.field(description="ISO 3166 alpha-2; it decides the rail.")
    email: str | None = None
    payment_method: PaymentMethod | None = strawberry.field(
        default=None, description="BANK_TRANSFER unless told; CHECK and PAYPAL are refused."
    )


@strawberry.type
class CreatePayeePayload:
    payee: Payee | None
    user_errors: list[UserError]


@strawberry.input
class UpdatePayeeInput:
    id: strawberry.ID
    name: str | None = None
    country: str | None = strawberry.field(
        default=None, description="A new country routes the payee's next payout anew."
    )
    email: str | None = None
    payment_method: PaymentMethod | None = None


@strawberry.type
class UpdatePayeePayload:
    payee: Payee | None
    user_errors: list[UserError]


@strawberry.input(
    description="A new account, checked against the rail that would pay it. Give the "
    "fields that rail needs (see `rails { requiredFields }`); others are refused."
)
class AddBankAccountInput:
    payee_id: strawberry.ID
    holder_name: str
    currency: str = strawberry.field(description="The rail's currency, e.g. EUR for SEPA.")
    country: str | None = strawberry.field(default=None, description="Where it is held.")
    iban: str | None = None
    bic: str | None = strawberry.field(default=None, description="SWIFT BIC; the wire needs it.")
    aba_routing: str | None = None
    account_number: str | None = None
    account_type: str | None = strawberry.field(
        default=None, description="ACH: checking or savings; Zengin: ordinary, current, savings."
    )
    sort_code: str | None = None
    bsb: str | None = None
    ifsc: str | None = None
    clabe: str | None = None
    institution_number: str | None = None
    transit_number: str | None = None
    bank_code: str | None = None
    branch_code: str | None = None


@strawberry.type
class AddBankAccountPayload:
    bank_account: BankAccount | None
    payee: Payee | None
    user_errors: list[UserError]


@strawberry.input
class RetireBankAccountInput:
    id: strawberry.ID


@strawberry.type
class RetireBankAccountPayload:
    bank_account: BankAccount | None
    payee: Payee | None
    user_errors: list[UserError]


def _no(field: str, what: str, value: str) -> list[UserError]:
    return from_problems([Problem(field, ErrorCode.NOT_FOUND, f"no {what} {quoted(value)}")])


async def _payee(info: Info, payee_id: int) -> Payee:
    for loader in (info.context.loaders.payees, info.context.loaders.bank_accounts):
        with suppress(KeyError):  # Strawberry's clear raises for a key never loaded
            loader.clear(payee_id)
    row = await info.context.loaders.payees.load(payee_id)
    assert row is not None
    return Payee.of(row)


async def _account(info: Info, payee: Payee, account_id: int) -> BankAccount:
    rows: Sequence[BankAccount] = await payee.bank_accounts(info)
    return next(account for account in rows if account.id == str(account_id))


async def payees_page(
    info: Info, filter: PayeeFilter | None, first: int | None, after: str | None
) -> Connection[Payee]:
    size = page_size(first, info.context.deps.max_page_size)
    f = filter or PayeeFilter()
    spec = queries.PayeeFilterSpec(
        search=f.search or None,
        country=f.country.strip().upper() if f.country else None,
        kind=f.kind.value if f.kind else None,
        external_id=f.external_id.strip() if f.external_id is not None else None,
    )
    async with info.context.session() as session:
        page = await queries.payees_page(session, size, decode_cursor(after), spec)
    return connection(page, Payee.of, lambda row: row.id)


async def create_payee(info: Info, input: CreatePayeeInput) -> CreatePayeePayload:
    checked = payees.check_new_payee(
        external_id=input.external_id,
        name=input.name,
        kind=input.kind,
        country=input.country,
        email=input.email,
        payment_method=input.payment_method,
    )
    if isinstance(checked, list):
        return CreatePayeePayload(payee=None, user_errors=from_problems(checked))
    deps = info.context.deps
    created = await deps.payees.create(checked, deps.clock.now(), info.context.caller.scope)
    if isinstance(created, list):
        return CreatePayeePayload(payee=None, user_errors=from_problems(created))
    return CreatePayeePayload(payee=await _payee(info, created), user_errors=[])


async def update_payee(info: Info, input: UpdatePayeeInput) -> UpdatePayeePayload:
    payee_id = parse_id(input.id)
    if payee_id is None:
        return UpdatePayeePayload(payee=None, user_errors=_no("id", "payee", input.id))
    checked = payees.check_changes(
        name=input.name,
        country=input.country,
        email=input.email,
        payment_method=input.payment_method,
    )
    if isinstance(checked, list):
        return UpdatePayeePayload(payee=None, user_errors=from_problems(checked))
    deps = info.context.deps
    problems = await deps.payees.update(
        payee_id, checked, deps.clock.now(), info.context.caller.scope
    )
    if problems:
        return UpdatePayeePayload(payee=None, user_errors=_renamed(problems, "payee_id", "id"))
    return UpdatePayeePayload(payee=await _payee(info, payee_id), user_errors=[])


def _renamed(problems: list[Problem], old: str, new: str) -> list[UserError]:
    return from_problems(
        Problem(new if p.field == old else p.field, p.code, p.message) for p in problems
    )


async def add_bank_account(info: Info, input: AddBankAccountInput) -> AddBankAccountPayload:
    payee_id = parse_id(input.payee_id)
    if payee_id is None:
        errors = _no("payee_id", "payee", input.payee_id)
        return AddBankAccountPayload(bank_account=None, payee=None, user_errors=errors)
    fields = {name: value for name in ACCOUNT_FIELDS if (value := getattr(input, name))}
    account = AccountInput(input.holder_name, input.currency, input.country, fields)
    deps = info.context.deps
    added = await deps.payees.add_account(
        payee_id, account, deps.clock.now(), info.context.caller.scope
    )
    if isinstance(added, list):
        return AddBankAccountPayload(
            bank_account=None, payee=None, user_errors=from_problems(added)
        )
    if deps.jobs is not None:  # committed: now ask the bank (the job retries if this fails)
        await deps.jobs.verifications.verify_new(added)
    payee = await _payee(info, payee_id)
    return AddBankAccountPayload(
        bank_account=await _account(info, payee, added), payee=payee, user_errors=[]
    )


async def retire_bank_account(
    info: Info, input: RetireBankAccountInput
) -> RetireBankAccountPayload:
    account_id = parse_id(input.id)
    if account_id is None:
        errors = _no("id", "bank account", input.id)
        return RetireBankAccountPayload(bank_account=None, payee=None, user_errors=errors)
    deps = info.context.deps
    payee_id, problems = await deps.payees.retire_account(
        account_id, deps.clock.now(), info.context.caller.scope
    )
    if problems:
        errors = from_problems(problems)
        return RetireBankAccountPayload(bank_account=None, payee=None, user_errors=errors)
    payee = await _payee(info, payee_id)
    return RetireBankAccountPayload(
        bank_account=await _account(info, payee, account_id), payee=payee, user_errors=[]
    )
