"""importLiquidationEvent: a CSV of payees, accounts and amounts, checked or imported.

The file comes as a multipart upload (the GraphQL multipart request spec) in ``csv``;
a small one may come as text in ``csvText`` instead (GraphiQL cannot upload files).
The resolver hashes the file and hands it to the import store; the answer is a
preview (what the import would do, or did) and, for a real import, the event.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
from typing import IO, Any

import strawberry
from strawberry.file_uploads import Upload

from domain import csv_import as csvi
from domain.errors import ErrorCode, Problem
from graph.context import Info
from graph.errors import UserError, from_problems
from graph.types import LiquidationEvent, Money


@strawberry.input(
    description="A liquidation event from a CSV file (one of `csv` or `csvText`). Columns: "
    "external_id, name, kind, country, email, amount or weight, holder_name and the "
    "account fields of addBankAccount (iban, bic, aba_routing, account_number, ...)."
)
class ImportLiquidationEventInput:
    event_id: str = strawberry.field(description="The event's code, e.g. LIQ-2026-007.")
    name: str
    currency: str = strawberry.field(description="The amounts' currency, e.g. USD.")
    csv: Upload | None = strawberry.field(
        default=None, description="The file, as a multipart upload (at most 50 MB)."
    )
    csv_text: str | None = strawberry.field(
        default=None, description="Or the file's text, for small files (1 MB request limit)."
    )
    dry_run: bool = strawberry.field(
        default=False, description="Only check and preview; nothing is written."
    )
    idempotency_key: str | None = strawberry.field(
        default=None, description="Same key, same file: the same event, imported once."
    )
    fund_name: str | None = strawberry.field(
        default=None, description="The event's name unless told."
    )
    total: str | None = strawberry.field(
        default=None, description="With a weight column: the total split by largest remainder."
    )


@strawberry.type(description="One problem in one row (rows counted as in a spreadsheet).")
class ImportRowError:
    row: int
    column: str | None
    code: ErrorCode
    message: str


@strawberry.type(description="What a run would do with one row's payee.")
class ImportRowPrediction:
    row: int
    external_id: str
    amount: Money
    rail: str | None
    skip_reason: str | None


@strawberry.type
class ImportCount:
    key: str
    count: int


@strawberry.type(description="What the import would do (dry run) or did.")
class ImportPreview:
    rows_read: int
    payees_new: int
    payees_changed: int
    payees_unchanged: int
    accounts_new: int
    accounts_changed: int
    totals: list[Money]
    error_count: int
    errors: list[ImportRowError] = strawberry.field(description="The first 1,000 row errors.")
    rows: list[ImportRowPrediction] = strawberry.field(description="The first 1,000 rows.")
    rails: list[ImportCount] = strawberry.field(description="Rows per predicted rail.")
    skip_reasons: list[ImportCount] = strawberry.field(
        description="Rows a run would skip now, per reason (e.g. no bank account)."
    )

    @classmethod
    def of(cls, preview: csvi.Preview) -> ImportPreview:
        return cls(
            rows_read=preview.rows_read,
            payees_new=preview.payees_new,
            payees_changed=preview.payees_changed,
            payees_unchanged=preview.payees_unchanged,
            accounts_new=preview.accounts_new,
            accounts_changed=preview.accounts_changed,
            totals=[Money.of(preview.total_minor, preview.currency)] if preview.total_minor else [],
            error_count=preview.error_count,
            errors=[
                ImportRowError(row=e.row, column=e.column, code=e.code, message=e.message)
                for e in preview.errors
            ],
            rows=[
                ImportRowPrediction(
                    row=p.row,
                    external_id=p.external_id,
                    amount=Money.of(p.amount.minor, p.amount.currency),
                    rail=p.rail,
                    skip_reason=p.skip_reason,
                )
                for p in preview.rows
            ],
            rails=_counts(preview.rails),
            skip_reasons=_counts(preview.skips),
        )


def _counts(counts: dict[str, int]) -> list[ImportCount]:
    return [ImportCount(key=k, count=v) for k, v in sorted(counts.items())]


@strawberry.type
class ImportLiquidationEventPayload:
    preview: ImportPreview | None
    event: LiquidationEvent | None
    user_errors: list[UserError]


def sha256_of(stream: IO[bytes]) -> str:
    digest = hashlib.sha256()
    while block := stream.read(1 << 20):
        digest.update(block)
    stream.seek(0)
    return digest.hexdigest()


def _source(input: ImportLiquidationEventInput) -> IO[bytes] | Problem:
    if (input.csv is None) == (input.csv_text is None):
        message = "send the file in csv (a multipart upload) or its text in csvText"
        return Problem("csv", ErrorCode.INVALID_INPUT, message)
    if input.csv_text is not None:
        return io.BytesIO(input.csv_text.encode("utf-8", errors="surrogatepass"))
    upload: Any = input.csv
    stream = getattr(upload, "file", None)
    if stream is None:
        return Problem("csv", ErrorCode.INVALID_INPUT, "csv must be a file upload")
    stream.seek(0)
    return stream  # type: ignore[no-any-return]


async def import_event(
    info: Info, input: ImportLiquidationEventInput
) -> ImportLiquidationEventPayload:
    source = _source(input)
    if isinstance(source, Problem):
        return ImportLiquidationEventPayload(
            preview=None, event=None, user_errors=from_problems([source])
        )
    request = csvi.ImportRequest(
        event_code=input.event_id.strip(),
        name=input.name,
        fund_name=input.fund_name if input.fund_name is not None else input.name,
        currency=input.currency.strip().upper(),
        total=input.total,
        dry_run=input.dry_run,
        idempotency_key=input.idempotency_key,
        file_sha256=await asyncio.to_thread(sha256_of, source),
    )
    deps = info.context.deps
    outcome = await deps.imports.run(source, request, deps.clock.now(), info.context.caller.scope)
    event = None
    if outcome.event_id is not None:
        row = await info.context.loaders.events.load(outcome.event_id)
        event = LiquidationEvent.of(row) if row is not None else None
    return ImportLiquidationEventPayload(
        preview=ImportPreview.of(outcome.preview),
        event=event,
        user_errors=from_problems(outcome.problems),
    )
