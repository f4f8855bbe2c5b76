"""CSV exports: a run's payouts and the reconciliation breaks, over HTTP and the CLI."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import insert

from domain.ports import OrderStatus, ProviderKind
from persistence.tables import ReconciliationBreak, ReconciliationRun
from service.bootstrap import Container
from service.demo import DEMO_AUDITOR_KEY, DEMO_MERCHANT_KEYS
from tests.api.test_onboarding import new_payee
from tests.api.test_reason_codes import Banks, investor, pay, settle
from tests.conftest import GraphQLClient
from tests.service.test_cli import engine

RUN_PAYOUTS = """query($id: ID!) { run(id: $id) { payouts(first: 100) { edges { node {
  id status amount { amount currency } targetAmount { amount currency } fxRate railCode
  country providerOrderId expectedSettlementDate failureCode failureCategory skipReason
  payee { reference name } } } } } }"""


def rows(response: httpx.Response) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(response.text)))


async def get(gql: GraphQLClient, path: str, key: str | None = "ops") -> httpx.Response:
    headers = {} if key is None else {"Authorization": f"Api-Key {key}"}
    if key == "ops":
        headers = gql.headers
    return await gql.http.get(path, headers=headers)


async def small_run(gql: GraphQLClient, seeded: Container, banks: Banks) -> str:
    """Three payees: paid, failed with R03 at settlement, skipped (no account)."""
    paid = await investor(gql, "RP-PAID", "555100001")
    failed = await investor(gql, "RP-FAIL", "555100002")
    skipped = await new_payee(gql, "RP-SKIP", "DE")
    banks[ProviderKind.ACH].set_outcome("555100002", OrderStatus.FAILED, "R03")
    run = await pay(gql, "LIQ-RP-1", [paid, failed, skipped])
    await settle(seeded, banks[ProviderKind.ACH])
    return str(run["id"])


def expected_row(node: dict[str, Any]) -> dict[str, str]:
    target = node["targetAmount"] or {}
    return {
        "payout_id": node["id"],
        "investor_external_id": node["payee"]["reference"],
        "name": node["payee"]["name"],
        "country": node["country"] or "",
        "rail": node["railCode"] or "",
        "amount": node["amount"]["amount"],
        "currency": node["amount"]["currency"],
        "target_amount": target.get("amount", ""),
        "target_currency": target.get("currency", ""),
        "fx_rate": node["fxRate"] or "",
        "status": node["status"].lower(),
        "skip_reason": node["skipReason"] or "",
        "provider_order_id": node["providerOrderId"] or "",
        "expected_settlement_date": node["expectedSettlementDate"] or "",
        "failure_code": node["failureCode"] or "",
        "failure_category": (node["failureCategory"] or "").lower(),
    }


async def test_the_run_report_has_one_row_per_payout_as_the_api_shows_it(
    gql: GraphQLClient, seeded: Container, banks: Banks
) -> None:
    run_id = await small_run(gql, seeded, banks)
    response = await get(gql, f"/reports/runs/{run_id}.csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"] == f'attachment; filename="run-{run_id}.csv"'

    exported = rows(response)
    edges = (await gql.data(RUN_PAYOUTS, id=run_id))["run"]["payouts"]["edges"]
    shown = sorted((expected_row(e["node"]) for e in edges), key=lambda r: int(r["payout_id"]))
    assert exported == shown
    by_payee = {row["investor_external_id"]: row for row in exported}
    assert set(by_payee) == {"RP-PAID", "RP-FAIL", "RP-SKIP"}
    assert (by_payee["RP-PAID"]["status"], by_payee["RP-PAID"]["amount"]) == ("completed", "250.00")
    assert by_payee["RP-FAIL"]["failure_code"] == "R03"
    assert by_payee["RP-FAIL"]["failure_category"] == "account_closed_or_invalid"
    assert by_payee["RP-SKIP"]["skip_reason"] == "missing_external_account"


async def test_cells_a_spreadsheet_would_evaluate_are_quoted(
    gql: GraphQLClient, seeded: Container, banks: Banks
) -> None:
    evil = await new_payee(gql, "RP-EVIL", "DE", name='=HYPERLINK("http://x","y")')
    run = await pay(gql, "LIQ-RP-EVIL", [evil])
    [row] = rows(await get(gql, f"/reports/runs/{run['id']}.csv"))
    assert row["name"] == '\'=HYPERLINK("http://x","y")'


@pytest.mark.parametrize(
    ("key", "status"),
    [
        (None, 401),
        ("pe_ops_not_a_key", 401),
        (DEMO_MERCHANT_KEYS["MER-ACME"], 403),
        (DEMO_AUDITOR_KEY, 200),
        ("ops", 200),
    ],
)
async def test_reports_take_reader_keys_only(
    gql: GraphQLClient, seeded: Container, key: str | None, status: int
) -> None:
    run = await pay(gql, "LIQ-RP-AUTH", [await new_payee(gql, "RP-AUTH", "DE")])
    for path in (f"/reports/runs/{run['id']}.csv", "/reports/breaks.csv"):
        response = await get(gql, path, key)
        assert response.status_code == status, (path, response.text)
        if status != 200:
            assert "RP-AUTH" not in response.text
            assert response.json()["errors"][0]["extensions"]["code"] in {
                "UNAUTHENTICATED",
                "FORBIDDEN",
            }


async def test_an_unknown_run_is_404_and_a_bad_break_status_is_400(gql: GraphQLClient) -> None:
    assert (await get(gql, "/reports/runs/999999.csv")).status_code == 404
    assert (await get(gql, "/reports/runs/99999999999999999999999.csv")).status_code == 404
    assert (await get(gql, "/reports/breaks.csv?status=nope")).status_code == 400


async def add_break(seeded: Container, kind: str, status: str, note: str | None, day: int) -> int:
    now = datetime(2026, 11, day, 3, tzinfo=UTC)
    async with seeded.sessions.begin() as session:
        run_id = (
            await session.execute(
                insert(ReconciliationRun)
                .values(
                    business_date=now.date(),
                    status="completed",
                    trigger="manual",
                    started_at=now,
                    counts={},
                )
                .returning(ReconciliationRun.id)
            )
        ).scalar_one()
        values: dict[str, Any] = {
            "kind": kind,
            "fingerprint": f"order:{kind}",
            "status": status,
            "first_run_id": run_id,
            "last_run_id": run_id,
            "provider": "ach",
            "provider_order_id": "po_ach_x",
            "detail": "provider says failed, we say submitted",
            "evidence": {"ours": {"status": "submitted"}, "provider": {"status": "failed"}},
            "first_seen_at": now,
            "last_seen_at": now,
            "resolved_at": now if status != "open" else None,
            "resolution_note": note,
        }
        return (
            await session.execute(
                insert(ReconciliationBreak).values(values).returning(ReconciliationBreak.id)
            )
        ).scalar_one()


async def test_the_breaks_report_lists_breaks_with_both_sides(
    gql: GraphQLClient, seeded: Container
) -> None:
    open_id = await add_break(seeded, "status_mismatch", "open", None, day=1)
    done_id = await add_break(seeded, "amount_mismatch", "resolved", "+1 fixed by hand", day=2)
    everything = rows(await get(gql, "/reports/breaks.csv"))
    assert [int(r["id"]) for r in everything] == [open_id, done_id]
    first = everything[0]
    assert (first["kind"], first["status"], first["resolved_at"]) == ("status_mismatch", "open", "")
    assert (first["ours"], first["provider_record"]) == (
        '{"status":"submitted"}',
        '{"status":"failed"}',
    )
    assert everything[1]["resolution_note"] == "'+1 fixed by hand"
    opened = rows(await get(gql, "/reports/breaks.csv?status=open"))
    assert [int(r["id"]) for r in opened] == [open_id]


async def test_the_cli_writes_the_same_csv_as_the_api(
    gql: GraphQLClient, seeded: Container, banks: Banks, database_url: str, tmp_path: Path
) -> None:
    run_id = await small_run(gql, seeded, banks)
    over_http = (await get(gql, f"/reports/runs/{run_id}.csv")).text
    to_stdout = engine("report", "run", run_id, cwd=tmp_path, DATABASE_URL=database_url)
    assert to_stdout.returncode == 0, to_stdout.stderr
    assert to_stdout.stdout == over_http.replace("\r\n", "\n")  # read back as text
    out = tmp_path / "run.csv"
    to_file = engine(
        "report", "run", run_id, "--output", str(out), cwd=tmp_path, DATABASE_URL=database_url
    )
    assert to_file.returncode == 0 and out.read_bytes() == over_http.encode()
    missing = engine("report", "run", "999999", cwd=tmp_path, DATABASE_URL=database_url)
    assert missing.returncode == 1 and "no payout run 999999" in missing.stderr
    breaks = engine("report", "breaks", cwd=tmp_path, DATABASE_URL=database_url)
    assert breaks.stdout.splitlines()[0].startswith("id,kind,status,payout_id")
