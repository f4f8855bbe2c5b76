"""A liquidation event imported from a CSV file: the file read, each row checked.

The file is UTF-8 (a byte-order mark is allowed), comma-separated, with a header row.
Header names are matched without regard to case, spaces or dashes ("E-mail" is
``email``). Columns: ``external_id``, ``name``, ``kind``, ``country`` (required),
``email``, exactly one of ``amount`` (exact decimal in the event currency) or
``weight`` (a positive integer share of the event total), ``holder_name`` and the
account fields of ``addBankAccount`` (``iban``, ``bic``, ``aba_routing``, ...).

Rows are numbered as a spreadsheet shows them: the header is row 1. A row is checked
like ``createPayee`` + ``addBankAccount`` would check it, one error per bad cell with
its column. A cell that a spreadsheet would run as a formula (starting with = + - @)
is refused, not neutralised, so that what is stored is what was sent. Everything
here reads the file one row at a time; the caller keeps what it needs.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import IO

from domain.bank_details import BankAccount
from domain.eligibility import Eligibility, MissingFxRate, PayeeProfile, check_eligibility
from domain.errors import ErrorCode, PayoutEngineError, Problem, quoted
from domain.events import EVENT_CODE
from domain.idempotency import key_problem
from domain.money import Money, allocate, check_currency
from domain.new_accounts import ACCOUNT_FIELDS, AccountInput, AccountPlan, plan_account, rail_for
from domain.payees import MAX_NAME, NewPayee, PayeeKind, check_new_payee, text_problem
from domain.rails import PaymentMethod
from domain.routing import route

MAX_ROWS = 200_000
MAX_WEIGHT = 10**12
ERRORS_SHOWN = 1_000
ROWS_SHOWN = 1_000
PAYEE_COLUMNS = ("external_id", "name", "kind", "country", "email")
REQUIRED = ("external_id", "name", "kind", "country")
ACCOUNT_COLUMNS = ACCOUNT_FIELDS  # the account fields addBankAccount takes
COLUMNS = (*PAYEE_COLUMNS, "amount", "weight", "holder_name", *ACCOUNT_COLUMNS)
ALIASES = {"e_mail": "email", "routing_number": "aba_routing", "externalid": "external_id"}
FORMULA_STARTS = ("=", "+", "-", "@")
_BAD = ErrorCode.INVALID_INPUT


class CsvFileError(PayoutEngineError):
    """The file as a whole cannot be read; nothing of it is imported."""

    code = ErrorCode.INVALID_CSV


@dataclass(frozen=True, slots=True)
class RowError:
    row: int
    column: str | None
    code: ErrorCode
    message: str


@dataclass(frozen=True, slots=True)
class Header:
    columns: tuple[str, ...]  # canonical name per position
    by_weight: bool


@dataclass(frozen=True, slots=True)
class CsvRow:
    row: int
    cells: Mapping[str, str]  # canonical column -> stripped value ("" when blank)

    def get(self, column: str) -> str:
        return self.cells.get(column, "")


@dataclass(frozen=True, slots=True)
class Existing:
    """A payee already stored under the row's external id, with its account in use."""

    payee_id: int
    name: str
    kind: str
    country: str | None
    email: str | None
    payment_method: str
    account_id: int | None
    account: BankAccount | None


@dataclass(frozen=True, slots=True)
class RowPlan:
    row: int
    external_id: str
    payee: NewPayee
    existing: Existing | None
    changes: dict[str, str]  # payee columns that differ from what is stored
    new_account: AccountPlan | None  # an account to add (retiring the one in use)
    amount: Money
    rail: str | None
    skip_reason: str | None


@dataclass(frozen=True, slots=True)
class Prediction:
    row: int
    external_id: str
    amount: Money
    rail: str | None
    skip_reason: str | None


@dataclass
class Preview:
    """What an import would do (dry run) or did: counts, errors and predictions."""

    currency: str
    rows_read: int = 0
    payees_new: int = 0
    payees_changed: int = 0
    payees_unchanged: int = 0
    accounts_new: int = 0
    accounts_changed: int = 0
    total_minor: int = 0
    error_count: int = 0
    errors: list[RowError] = field(default_factory=list)
    rows: list[Prediction] = field(default_factory=list)
    rails: dict[str, int] = field(default_factory=dict)
    skips: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> Money:
        return Money(self.total_minor, self.currency)

    def error(self, error: RowError) -> None:
        self.error_count += 1
        if len(self.errors) < ERRORS_SHOWN:
            self.errors.append(error)

    def counted(self, plan: RowPlan) -> None:
        self.total_minor += plan.amount.minor
        if plan.existing is None:
            self.payees_new += 1
        elif plan.changes:
            self.payees_changed += 1
        else:
            self.payees_unchanged += 1
        if plan.new_account is not None:
            if plan.existing is None or plan.existing.account is None:
                self.accounts_new += 1
            else:
                self.accounts_changed += 1
        rail = plan.rail or "NONE"
        self.rails[rail] = self.rails.get(rail, 0) + 1
        if plan.skip_reason:
            self.skips[plan.skip_reason] = self.skips.get(plan.skip_reason, 0) + 1
        if len(self.rows) < ROWS_SHOWN:
            self.rows.append(
                Prediction(plan.row, plan.external_id, plan.amount, plan.rail, plan.skip_reason)
            )


def canonical(name: str) -> str:
    key = name.strip().lower().replace(" ", "_").replace("-", "_")
    return ALIASES.get(key, key)


def utf8(stream: IO[bytes]) -> io.TextIOWrapper:
    """UTF-8 text, without the byte-order mark if there is one; bad bytes raise. The
    caller detaches it when done, so that ``stream`` stays open (and can be re-read)."""
    return io.TextIOWrapper(stream, encoding="utf-8-sig", errors="strict", newline="")


def _header(cells: list[str]) -> Header:
    if len(cells) == 1 and any(mark in cells[0] for mark in (";", "\t", "|")):
        raise CsvFileError(
            "the header has one column holding ';', tab or '|': separate columns with commas",
            field="csv",
        )
    names = [canonical(cell) for cell in cells]
    unknown = [cell for cell, name in zip(cells, names, strict=True) if name not in COLUMNS]
    if unknown:
        raise CsvFileError(
            f"unknown column {quoted(unknown[0])}; the columns are {', '.join(COLUMNS)}",
            field="csv",
        )
    doubled = sorted({name for name in names if names.count(name) > 1})
    if doubled:
        raise CsvFileError(f"column {doubled[0]} appears twice", field="csv")
    missing = [name for name in REQUIRED if name not in names]
    if missing:
        raise CsvFileError(f"missing column {', '.join(missing)}", field="csv")
    if ("amount" in names) == ("weight" in names):
        raise CsvFileError("give exactly one of the columns amount or weight", field="csv")
    return Header(tuple(names), by_weight="weight" in names)


def _records(text: IO[str]) -> Iterator[list[str]]:
    reader = csv.reader(text, dialect="excel", strict=True)
    try:
        yield from reader
    except UnicodeDecodeError:
        message = f"the file is not UTF-8 (near row {reader.line_num + 1}); save it as UTF-8"
        raise CsvFileError(message, field="csv") from None
    except csv.Error as exc:
        raise CsvFileError(f"row {reader.line_num}: {exc}", field="csv") from None


def read(text: IO[str]) -> tuple[Header, Iterator[CsvRow | RowError]]:
    """The header, and the rows one at a time (a row of the wrong width is an error).
    Raises ``CsvFileError`` for the header at once, and for the rest as it is read."""
    records = _records(text)
    first = next(records, None)
    if first is None or not any(cell.strip() for cell in first):
        raise CsvFileError("the file is empty: it needs a header row", field="csv")
    header = _header(first)
    return header, _rows(header, records)


def _rows(header: Header, records: Iterator[list[str]]) -> Iterator[CsvRow | RowError]:
    width = len(header.columns)
    for number, cells in enumerate(records, start=2):
        if number - 1 > MAX_ROWS:
            raise CsvFileError(f"the file has more than {MAX_ROWS} rows", field="csv")
        if not any(cell.strip() for cell in cells):
            continue  # a blank line, as spreadsheets leave at the end
        if len(cells) != width:
            message = f"the row has {len(cells)} cells; the header has {width}"
            yield RowError(number, None, _BAD, message)
            continue
        yield CsvRow(number, {n: c.strip() for n, c in zip(header.columns, cells, strict=True)})


def formula_errors(row: CsvRow) -> list[RowError]:
    return [
        RowError(
            row.row,
            column,
            ErrorCode.FORMULA_INJECTION,
            f"{column} starts with {value[0]!r}, which a spreadsheet runs as a formula",
        )
        for column, value in row.cells.items()
        if value.startswith(FORMULA_STARTS)
    ]


def weight_of(row: CsvRow) -> int | RowError:
    value = row.get("weight")
    if value.isascii() and value.isdigit() and 0 < int(value) <= MAX_WEIGHT:
        return int(value)
    message = f"weight must be a whole number from 1 to {MAX_WEIGHT}"
    return RowError(row.row, "weight", ErrorCode.INVALID_AMOUNT, message)


def amount_of(row: CsvRow, currency: str) -> Money | RowError:
    try:
        money = Money.parse(row.get("amount"), currency)
    except PayoutEngineError as exc:
        return RowError(row.row, "amount", exc.code, exc.message)
    if money.minor <= 0:
        return RowError(row.row, "amount", ErrorCode.INVALID_AMOUNT, "amount must be above zero")
    return money


def _payee(row: CsvRow) -> NewPayee | list[RowError]:
    try:
        kind = PayeeKind(row.get("kind").lower())
    except ValueError:
        kinds = ", ".join(k.value for k in PayeeKind)
        return [RowError(row.row, "kind", _BAD, f"kind must be one of {kinds}")]
    checked = check_new_payee(
        external_id=row.get("external_id"),
        name=row.get("name"),
        kind=kind,
        country=row.get("country"),
        email=row.get("email") or None,
        payment_method=None,
    )
    if isinstance(checked, list):
        return [_row_error(row, p) for p in checked]
    return checked


def _row_error(row: CsvRow, problem: Problem) -> RowError:
    column = problem.field if problem.field in COLUMNS else None
    return RowError(row.row, column, problem.code, problem.message)


def _changes(payee: NewPayee, existing: Existing) -> dict[str, str]:
    wanted = {"name": payee.name, "country": payee.country, "email": payee.email}
    stored = {"name": existing.name, "country": existing.country, "email": existing.email}
    return {k: v for k, v in wanted.items() if v is not None and stored[k] != v}


def _account(
    row: CsvRow, payee: NewPayee, method: str, now: datetime
) -> AccountPlan | list[RowError] | None:
    fields = {name: value for name in ACCOUNT_COLUMNS if (value := row.get(name))}
    holder = row.get("holder_name")
    if not fields and not holder:
        return None
    rail = rail_for(payee.country, method, bool(fields.get("aba_routing")), now)
    currency = rail.currency if not isinstance(rail, Problem) else ""
    plan = plan_account(payee.country, method, AccountInput(holder, currency, None, fields), now)
    if isinstance(plan, list):
        return [_row_error(row, p) for p in plan]
    return plan


def _same_account(plan: AccountPlan, stored: BankAccount | None) -> bool:
    return (
        stored is not None
        and stored.holder_name == plan.holder_name
        and stored.currency == plan.currency
        and dict(stored.details) == plan.details
    )


def _predict(
    amount: Money, country: str, method: str, account: BankAccount | None, now: datetime
) -> tuple[str | None, str | None]:
    """The rail a run would pick and its first skip reason, if any. A rail limit in
    another currency needs a live FX quote, which the run fetches; a preview does not
    check that one limit (a rate of 0 puts every amount under it)."""
    profile = PayeeProfile(country=country, payment_method=method)

    def check(rates: dict[str, Decimal]) -> Eligibility:
        return check_eligibility(
            amount=amount, payee=profile, account=account, now=now, fx_rates=rates
        )

    try:
        found = check({})
    except MissingFxRate:
        has_us = account is not None and account.has_us_routing
        decision = route(country, has_us_bank_account=has_us, payment_method=method, now=now)
        found = check({decision.rail.currency: Decimal(0)})
    rail = found.decision.rail.code if found.decision else None
    reason = found.primary_reason
    return rail, reason.value if reason else None


def plan_row(
    row: CsvRow, amount: Money, existing: Existing | None, now: datetime
) -> RowPlan | list[RowError]:
    """What importing the row does, or every error in it."""
    payee = _payee(row)
    if isinstance(payee, list):
        return payee
    if existing is not None and existing.kind != payee.kind.value:
        message = f"payee {payee.external_id} is stored as {existing.kind}; kind cannot change"
        return [RowError(row.row, "kind", ErrorCode.CONFLICT, message)]
    method = existing.payment_method if existing else PaymentMethod.BANK_TRANSFER.value
    account = _account(row, payee, method, now)
    if isinstance(account, list):
        return account
    stored = existing.account if existing else None
    if account is not None and _same_account(account, stored):
        account = None
    paid = stored if account is None else _as_account(account)
    rail, skip = _predict(amount, payee.country, method, paid, now)
    changes = _changes(payee, existing) if existing else {}
    return RowPlan(
        row.row, payee.external_id, payee, existing, changes, account, amount, rail, skip
    )


def _as_account(plan: AccountPlan) -> BankAccount:
    return BankAccount("new", plan.holder_name, plan.country, plan.currency, plan.details)


@dataclass(frozen=True, slots=True)
class ImportRequest:
    event_code: str
    name: str
    fund_name: str
    currency: str
    total: str | None  # with a weight column: the amount the weights split
    dry_run: bool
    idempotency_key: str | None
    file_sha256: str  # the file's bytes, so that the same key with another file is refused

    def fingerprint(self) -> str:
        """What the idempotency key stands for: everything but the key and ``dry_run``."""
        parts = [self.event_code, self.name, self.fund_name, self.currency, self.total or ""]
        text = "\x1f".join([*parts, self.file_sha256])
        return hashlib.sha256(text.encode()).hexdigest()


def check_request(request: ImportRequest) -> list[Problem]:
    """Problems with the inputs beside the file (the event's code, name, currency...)."""
    problems: list[Problem] = []
    if not EVENT_CODE.match(request.event_code):
        message = "eventId is 3-64 characters of A-Z, 0-9, '-' or '_'"
        problems.append(Problem("event_id", _BAD, message))
    for name, value in (("name", request.name), ("fund_name", request.fund_name)):
        if problem := text_problem(name, value.strip(), MAX_NAME):
            problems.append(problem)
    try:
        check_currency(request.currency)
    except PayoutEngineError as exc:
        problems.append(exc.problem("currency"))
    if request.idempotency_key is not None and (bad := key_problem(request.idempotency_key)):
        problems.append(bad)
    return problems


def check_total(request: ImportRequest, header: Header) -> Money | list[Problem] | None:
    """The total to split (weight column), None (amount column), or why neither fits."""
    if not header.by_weight:
        if request.total is None:
            return None
        message = "total goes with a weight column; this file has amounts"
        return [Problem("total", _BAD, message)]
    if request.total is None:
        return [Problem("total", _BAD, "a file with a weight column needs a total to split")]
    try:
        total = Money.parse(request.total, request.currency)
    except PayoutEngineError as exc:
        return [exc.problem("total")]
    if total.minor <= 0:
        return [Problem("total", ErrorCode.INVALID_AMOUNT, "total must be above zero")]
    return total


def split(total: Money, weights: Mapping[int, int]) -> dict[int, Money] | list[Problem]:
    """Each row's share of ``total`` by largest remainder (ties to the earlier row)."""
    if not weights:
        return {}
    rows = sorted(weights)
    parts = allocate(total, [weights[row] for row in rows])
    if any(part.minor == 0 for part in parts):
        message = "the total is too small to give every row at least one unit"
        return [Problem("total", ErrorCode.INVALID_AMOUNT, message)]
    return dict(zip(rows, parts, strict=True))
