"""CSV exports: a run's payouts and the reconciliation breaks, as operators file them.

Money is an exact decimal string in major units beside its currency column. Cells
that a spreadsheet would read as a formula (starting with ``=``, ``+``, ``-``, ``@``,
a tab or a carriage return) get a leading apostrophe, as OWASP advises for CSV
injection: payee names and notes come from users. Rows are encoded a chunk at a
time, so an export of any size is written in constant memory.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from domain.money import exponent
from domain.reason_codes import explain

RUN_COLUMNS = (
    "payout_id",
    "investor_external_id",
    "name",
    "country",
    "rail",
    "amount",
    "currency",
    "target_amount",
    "target_currency",
    "fx_rate",
    "status",
    "skip_reason",
    "provider_order_id",
    "expected_settlement_date",
    "failure_code",
    "failure_category",
)
BREAK_COLUMNS = (
    "id",
    "kind",
    "status",
    "payout_id",
    "provider",
    "provider_order_id",
    "detail",
    "ours",
    "provider_record",
    "first_seen_at",
    "last_seen_at",
    "resolved_at",
    "resolved_by",
    "resolution_note",
)
_FORMULA_CHARS = frozenset("=+-@\t\r")


@dataclass(frozen=True, slots=True)
class RunReportRow:
    payout_id: int
    external_id: str
    name: str
    country: str | None
    rail: str | None
    amount_minor: int
    currency: str
    target_amount_minor: int | None
    target_currency: str | None
    fx_rate: str | None
    status: str
    skip_reason: str | None
    provider_order_id: str | None
    expected_settlement_date: date | None
    failure_code: str | None


@dataclass(frozen=True, slots=True)
class BreakReportRow:
    id: int
    kind: str
    status: str
    payout_id: int | None
    provider: str | None
    provider_order_id: str | None
    detail: str
    evidence: Mapping[str, Any]
    first_seen_at: datetime
    last_seen_at: datetime
    resolved_at: datetime | None
    resolved_by: str | None
    resolution_note: str | None


def safe_cell(value: object) -> str:
    """The cell's text; one a spreadsheet would evaluate is quoted with an apostrophe."""
    if value is None:
        return ""
    if type(value) is str:
        return _text(value)
    text = value.isoformat() if isinstance(value, date | datetime) else str(value)
    return _text(text)


def _text(text: str | None) -> str:
    if not text:
        return ""
    return "'" + text if text[0] in _FORMULA_CHARS else text


def _major(minor: int, currency: str) -> str:
    """``Money(minor, currency).to_decimal_string()`` without building a Money per cell."""
    places = exponent(currency)
    sign = "-" if minor < 0 else ""
    whole, frac = divmod(abs(minor), 10**places)
    return f"{sign}{whole}.{frac:0{places}d}" if places else f"{sign}{whole}"


def run_cells(row: RunReportRow) -> list[str]:
    """The row's cells. Text that comes from users or providers goes through ``_text``;
    ids, amounts, currencies, statuses and dates are the engine's own and safe."""
    reason = explain(row.failure_code)
    target, target_currency = row.target_amount_minor, row.target_currency
    if target is None or not target_currency:
        target_cells = ["", ""]
    else:
        target_cells = [_major(target, target_currency), target_currency]
    settles = row.expected_settlement_date
    return [
        str(row.payout_id),
        _text(row.external_id),
        _text(row.name),
        _text(row.country),
        _text(row.rail),
        _major(row.amount_minor, row.currency),
        row.currency,
        *target_cells,
        _text(row.fx_rate),
        row.status,
        _text(row.skip_reason),
        _text(row.provider_order_id),
        settles.isoformat() if settles is not None else "",
        _text(row.failure_code),
        reason.category.value if reason is not None else "",
    ]


def break_cells(row: BreakReportRow) -> list[str]:
    values: tuple[object, ...] = (
        row.id,
        row.kind,
        row.status,
        row.payout_id,
        row.provider,
        row.provider_order_id,
        row.detail,
        _json(row.evidence.get("ours")),
        _json(row.evidence.get("provider")),
        row.first_seen_at,
        row.last_seen_at,
        row.resolved_at,
        row.resolved_by,
        row.resolution_note,
    )
    return [safe_cell(value) for value in values]


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True, separators=(",", ":"))


def encode(rows: Iterable[Sequence[str]]) -> str:
    """Rows as CSV text (RFC 4180 quoting, CRLF line ends)."""
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue()
