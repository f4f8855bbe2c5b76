"""Reading an event's CSV and checking its rows (domain.csv_import), without a database."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest

from domain import csv_import as csvi
from domain.bank_details import BankAccount
from domain.errors import ErrorCode
from domain.money import Money

NOW = datetime(2026, 3, 2, 10, tzinfo=UTC)
HEADER = "external_id,name,kind,country,email,amount,holder_name,iban"


def rows(text: str | bytes) -> list[csvi.CsvRow | csvi.RowError]:
    data = text.encode() if isinstance(text, str) else text
    _, found = csvi.read(csvi.utf8(io.BytesIO(data)))
    return list(found)


def only_row(line: str) -> csvi.CsvRow:
    [row] = rows(f"{HEADER}\n{line}\n")
    assert isinstance(row, csvi.CsvRow)
    return row


def file_error(text: str | bytes) -> str:
    with pytest.raises(csvi.CsvFileError) as raised:
        rows(text)
    return raised.value.message


def test_header_names_ignore_case_spaces_and_dashes() -> None:
    text = "External ID, NAME ,Kind,country,E-mail,Amount\nA-1,Ann,investor,DE,a@x.io,5\n"
    [row] = rows(text)
    assert isinstance(row, csvi.CsvRow)
    assert row.cells == {
        "external_id": "A-1",
        "name": "Ann",
        "kind": "investor",
        "country": "DE",
        "email": "a@x.io",
        "amount": "5",
    }


def test_a_byte_order_mark_is_not_part_of_the_first_column() -> None:
    [row] = rows(b"\xef\xbb\xbf" + f"{HEADER}\nA-1,Ann,investor,DE,,5,,\n".encode())
    assert isinstance(row, csvi.CsvRow) and row.get("external_id") == "A-1"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "empty"),
        ("external_id;name;kind;country;amount\n", "commas"),
        ("external_id\tname\tkind\tcountry\tamount\n", "commas"),
        ("external_id,name,country,amount\n", "missing column kind"),
        ("external_id,name,kind,country\n", "exactly one of the columns amount or weight"),
        ("external_id,name,kind,country,amount,weight\n", "exactly one"),
        ("external_id,name,kind,country,amount,shoe_size\n", "unknown column 'shoe_size'"),
        ("external_id,name,kind,country,amount,Amount\n", "amount appears twice"),
    ],
)
def test_a_bad_header_is_one_clear_error(text: str, says: str) -> None:
    assert says in file_error(text)


def test_bytes_that_are_not_utf8_are_one_error_naming_where() -> None:
    text = f"{HEADER}\n" + "A-1,Ann,investor,DE,,5,,\n" * 3 + "A-9,Jos\xe9,investor,DE,,5,,\n"
    assert "not UTF-8" in file_error(text.encode("latin-1"))


def test_more_rows_than_the_limit_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(csvi, "MAX_ROWS", 3)
    ok = f"{HEADER}\n" + "".join(f"A-{i},Ann,investor,DE,,5,,\n" for i in range(3))
    assert len(rows(ok)) == 3
    assert "more than 3 rows" in file_error(ok + "A-9,Ann,investor,DE,,5,,\n")


def test_rows_are_numbered_as_a_spreadsheet_shows_them_and_blank_lines_skipped() -> None:
    found = rows(f"{HEADER}\nA-1,Ann,investor,DE,,5,,\n\nA-2,Bo,investor\n")
    assert [(r.row, type(r).__name__) for r in found] == [(2, "CsvRow"), (4, "RowError")]


@pytest.mark.parametrize("cell", ["=1+1", "+1", "-1", "@SUM(A1)", '=HYPERLINK("x")'])
def test_formula_cells_are_refused_with_their_column(cell: str) -> None:
    row = only_row(f'A-1,"{cell.replace(chr(34), chr(34) * 2)}",investor,DE,,5,,')
    [error] = csvi.formula_errors(row)
    assert (error.row, error.column, error.code) == (2, "name", ErrorCode.FORMULA_INJECTION)


@pytest.mark.parametrize(
    ("amount", "currency", "minor"), [("5", "USD", 500), ("1234.5", "USD", 123450), ("7", "JPY", 7)]
)
def test_amounts_are_exact_in_the_event_currency(amount: str, currency: str, minor: int) -> None:
    assert csvi.amount_of(only_row(f"A-1,Ann,investor,DE,,{amount},,"), currency) == Money(
        minor, currency
    )


@pytest.mark.parametrize(
    ("amount", "currency"), [("1.001", "USD"), ("1.5", "JPY"), ("0", "USD"), ("x", "USD")]
)
def test_a_bad_amount_is_a_row_error_on_the_amount_column(amount: str, currency: str) -> None:
    error = csvi.amount_of(only_row(f"A-1,Ann,investor,DE,,{amount},,"), currency)
    assert isinstance(error, csvi.RowError) and error.column == "amount"


def test_a_row_is_checked_like_create_payee_and_add_bank_account() -> None:
    row = only_row("A 1,,robot,ZZ,not-mail,5,Ann,DE00370400440532013000")
    errors = csvi.plan_row(row, Money(500, "USD"), None, NOW)
    assert isinstance(errors, list)
    assert {e.column for e in errors} == {"kind"}  # kind first: without it nothing else fits
    row = only_row("A 1,,investor,ZZ,not-mail,5,Ann,DE00370400440532013000")
    errors = csvi.plan_row(row, Money(500, "USD"), None, NOW)
    assert isinstance(errors, list)
    assert {e.column for e in errors} == {"external_id", "name", "country", "email"}
    row = only_row("A-1,Ann,investor,DE,,5,Ann,DE00370400440532013000")
    errors = csvi.plan_row(row, Money(500, "USD"), None, NOW)
    assert isinstance(errors, list)
    assert [(e.column, e.code) for e in errors] == [("iban", ErrorCode.INVALID_BANK_ACCOUNT)]


def test_a_row_of_a_stored_payee_counts_what_differs() -> None:
    stored = BankAccount("7", "Ann", None, "EUR", {"iban": "DE89370400440532013000"})
    existing = csvi.Existing(1, "Ann", "investor", "DE", None, "bank_transfer", 7, stored)
    same = only_row("A-1,Ann,investor,DE,,5,Ann,DE89 3704 0044 0532 0130 00")
    plan = csvi.plan_row(same, Money(500, "USD"), existing, NOW)
    assert isinstance(plan, csvi.RowPlan)
    assert (plan.changes, plan.new_account, plan.rail, plan.skip_reason) == ({}, None, "SEPA", None)
    moved = only_row("A-1,Ann Lee,investor,FR,,5,Ann,FR1420041010050500013M02606")
    plan = csvi.plan_row(moved, Money(500, "USD"), existing, NOW)
    assert isinstance(plan, csvi.RowPlan)
    assert plan.changes == {"name": "Ann Lee", "country": "FR"}
    assert plan.new_account is not None and plan.new_account.details["iban"].startswith("FR")
    merchant = only_row("A-1,Ann,merchant,DE,,5,,")
    errors = csvi.plan_row(merchant, Money(500, "USD"), existing, NOW)
    assert isinstance(errors, list) and errors[0].column == "kind"


def test_a_payee_without_an_account_is_predicted_skipped() -> None:
    plan = csvi.plan_row(only_row("A-1,Ann,investor,GB,,5,,"), Money(500, "USD"), None, NOW)
    assert isinstance(plan, csvi.RowPlan)
    assert (plan.rail, plan.skip_reason) == ("BACS", "missing_external_account")


def test_weights_split_by_largest_remainder_in_row_order() -> None:
    shares = csvi.split(Money(10000, "USD"), {2: 1, 3: 1, 4: 1})
    assert shares == {2: Money(3334, "USD"), 3: Money(3333, "USD"), 4: Money(3333, "USD")}
    assert isinstance(csvi.split(Money(2, "USD"), {2: 1, 3: 1, 4: 1}), list)


def test_the_fingerprint_covers_the_file_and_inputs_but_not_dry_run() -> None:
    base = csvi.ImportRequest("LIQ-1", "N", "N", "USD", None, False, "k", "abc")
    same = csvi.ImportRequest("LIQ-1", "N", "N", "USD", None, True, "k2", "abc")
    other = csvi.ImportRequest("LIQ-1", "N", "N", "USD", None, False, "k", "abd")
    assert base.fingerprint() == same.fingerprint() != other.fingerprint()
