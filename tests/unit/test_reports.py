"""CSV export rows: exact money, categories from codes, nothing a spreadsheet runs."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest

from domain.money import Money
from domain.reports import RUN_COLUMNS, RunReportRow, encode, run_cells, safe_cell


def row(**changes: object) -> RunReportRow:
    base: dict[str, object] = {
        "payout_id": 7,
        "external_id": "INV-7",
        "name": 'Ada, "the" payee',
        "country": "JP",
        "rail": "ZENGIN",
        "amount_minor": 123456,
        "currency": "USD",
        "target_amount_minor": 182000,
        "target_currency": "JPY",
        "fx_rate": "147.42",
        "status": "returned",
        "skip_reason": None,
        "provider_order_id": "po_xb_1",
        "expected_settlement_date": date(2026, 12, 9),
        "failure_code": "MD07",
    }
    return RunReportRow(**(base | changes))  # type: ignore[arg-type]


def test_a_row_has_exact_amounts_in_major_units_and_the_codes_category() -> None:
    cells = dict(zip(RUN_COLUMNS, run_cells(row()), strict=True))
    assert (cells["amount"], cells["currency"]) == ("1234.56", "USD")
    assert (cells["target_amount"], cells["target_currency"]) == ("182000", "JPY")
    assert cells["expected_settlement_date"] == "2026-12-09"
    assert (cells["failure_code"], cells["failure_category"]) == ("MD07", "beneficiary_deceased")
    assert cells["skip_reason"] == ""


def test_a_three_decimal_currency_keeps_its_three_places() -> None:
    cells = dict(zip(RUN_COLUMNS, run_cells(row(amount_minor=1005, currency="BHD")), strict=True))
    assert cells["amount"] == "1.005"


@pytest.mark.parametrize("text", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"])
def test_cells_starting_like_a_formula_get_an_apostrophe(text: str) -> None:
    assert safe_cell(text) == "'" + text


def test_plain_cells_are_left_alone() -> None:
    assert [safe_cell(v) for v in ("Zoë", "1.00", None, 5)] == ["Zoë", "1.00", "", "5"]


def test_encoded_rows_read_back_as_written() -> None:
    cells = run_cells(row())
    text = encode([RUN_COLUMNS, cells])
    assert list(csv.reader(io.StringIO(text))) == [list(RUN_COLUMNS), cells]


@pytest.mark.parametrize("currency", ["USD", "JPY", "BHD", "EUR"])
@pytest.mark.parametrize("minor", [0, 1, 99, 100, 123456789, 10**15])
def test_amounts_read_as_the_apis_money_strings(currency: str, minor: int) -> None:
    cells = dict(
        zip(RUN_COLUMNS, run_cells(row(amount_minor=minor, currency=currency)), strict=True)
    )
    assert cells["amount"] == Money(minor, currency).to_decimal_string()


def test_a_payout_with_no_target_amount_has_empty_target_cells() -> None:
    skipped = row(target_amount_minor=None, target_currency="JPY", status="skipped")
    cells = dict(zip(RUN_COLUMNS, run_cells(skipped), strict=True))
    assert (cells["target_amount"], cells["target_currency"]) == ("", "")
