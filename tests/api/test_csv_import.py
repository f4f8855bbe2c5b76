"""importLiquidationEvent over HTTP: a CSV uploaded as the GraphQL multipart request spec
says, checked in a dry run, then imported all or nothing, once per idempotency key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from graph.app import create_app
from service.bootstrap import Container
from service.demo import DEMO_AUDITOR_KEY, DEMO_MERCHANT_KEYS
from tests.conftest import GraphQLClient

INVESTORS = Path(__file__).parents[2] / "examples" / "investors_1000.csv"
IMPORT = """mutation($input: ImportLiquidationEventInput!) {
  importLiquidationEvent(input: $input) {
    preview { rowsRead payeesNew payeesChanged payeesUnchanged accountsNew accountsChanged
      totals { amount currency } errorCount errors { row column code message }
      rows { row externalId amount { amount } rail skipReason }
      rails { key count } skipReasons { key count } }
    event { id code total { amount currency } allocationCount }
    userErrors { field code message } } }"""
TABLES = (
    "payees",
    "bank_accounts",
    "liquidation_events",
    "allocations",
    "audit_events",
    "idempotency_keys",
    "ledger_transfers",
    "ledger_entries",
    "ledger_accounts",
)
HEADER = "external_id,name,kind,country,email,amount,holder_name,iban\n"


async def counts(container: Container) -> dict[str, int]:
    async with container.sessions() as session:
        return {
            t: int(await session.scalar(text(f"SELECT count(*) FROM {t}")) or 0) for t in TABLES
        }


async def upload(http: httpx.AsyncClient, key: str, content: bytes, **input: Any) -> httpx.Response:
    """One multipart request: the operation, the map, and the file."""
    operations = {"query": IMPORT, "variables": {"input": {**input, "csv": None}}}
    return await http.post(
        "/graphql",
        data={
            "operations": json.dumps(operations),
            "map": json.dumps({"0": ["variables.input.csv"]}),
        },
        files={"0": ("investors.csv", content, "text/csv")},
        headers={"Authorization": f"Api-Key {key}"},
    )


async def imported(gql: GraphQLClient, content: bytes, **input: Any) -> dict[str, Any]:
    response = await upload(gql.http, gql.key, content, **input)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return dict(body["data"]["importLiquidationEvent"])


def event(code: str, **more: Any) -> dict[str, Any]:
    return {"eventId": code, "name": f"Fund {code}", "currency": "USD", **more}


async def test_the_investors_file_dry_run_predicts_a_rail_per_row_and_writes_nothing(
    gql: GraphQLClient, seeded: Container
) -> None:
    before = await counts(seeded)
    answer = await imported(gql, INVESTORS.read_bytes(), **event("LIQ-CSV-1000", dryRun=True))
    preview = answer["preview"]
    assert answer["userErrors"] == [] and answer["event"] is None
    assert preview["errorCount"] == 0 and preview["errors"] == []
    assert (preview["rowsRead"], preview["payeesNew"], preview["accountsNew"]) == (1000, 1000, 1000)
    assert len(preview["rows"]) == 1000
    assert all(row["rail"] for row in preview["rows"])
    assert all(row["skipReason"] is None for row in preview["rows"])
    assert preview["skipReasons"] == []
    rails = {entry["key"] for entry in preview["rails"]}
    assert {"ACH", "SEPA", "BACS", "NEFT", "SPEI", "ZENGIN", "WIRE", "BECS_NZ"} <= rails
    assert len(rails) == 21  # every rail of domain.rails
    assert await counts(seeded) == before


async def test_a_real_import_makes_the_event_once_per_key(
    gql: GraphQLClient, seeded: Container
) -> None:
    content = INVESTORS.read_bytes()
    preview = (await imported(gql, content, **event("LIQ-CSV-REAL", dryRun=True)))["preview"]
    first = await imported(gql, content, **event("LIQ-CSV-REAL", idempotencyKey="imp-1"))
    assert first["userErrors"] == []
    assert first["event"]["code"] == "LIQ-CSV-REAL"
    assert first["event"]["allocationCount"] == 1000
    assert first["event"]["total"] == preview["totals"][0]
    after = await counts(seeded)
    again = await imported(gql, content, **event("LIQ-CSV-REAL", idempotencyKey="imp-1"))
    assert again["event"]["id"] == first["event"]["id"] and again["userErrors"] == []
    assert await counts(seeded) == after
    other = content.replace(b"INV-00001,", b"INV-99999,")
    reused = await imported(gql, other, **event("LIQ-CSV-REAL", idempotencyKey="imp-1"))
    assert [e["code"] for e in reused["userErrors"]] == ["IDEMPOTENCY_KEY_REUSED"]
    assert reused["event"] is None
    no_key = await imported(gql, content, **event("LIQ-CSV-REAL"))
    assert [(e["field"], e["code"]) for e in no_key["userErrors"]] == [
        (["input", "eventId"], "CONFLICT")
    ]
    assert await counts(seeded) == after
    async with seeded.sessions() as session:
        paid = await session.scalar(
            text(
                "SELECT sum(a.amount_minor) FROM allocations a JOIN liquidation_events e"
                " ON e.id = a.event_id WHERE e.code = 'LIQ-CSV-REAL'"
            )
        )
    assert f"{paid / 100:.2f}" == preview["totals"][0]["amount"]


DE1 = "DE89370400440532013000"
DE2 = "DE02120300000000202051"


async def test_a_second_file_updates_payees_and_replaces_changed_accounts(
    gql: GraphQLClient, seeded: Container
) -> None:
    rows = (
        "CSV-A,Alice Ames,investor,DE,a@example.com,100.00,Alice Ames,{a}\n"
        "CSV-B,Bob Burr,investor,DE,b@example.com,200.00,Bob Burr,{b}\n"
    )
    first = HEADER + rows.format(a=DE1, b=DE1)
    done = await imported(gql, first.encode(), **event("LIQ-CSV-A"))
    assert done["userErrors"] == [] and done["preview"]["payeesNew"] == 2
    second = HEADER + rows.replace("Alice Ames,investor", "Alice Ames-Berg,investor").format(
        a=DE2, b=DE1
    )
    preview = (await imported(gql, second.encode(), **event("LIQ-CSV-B", dryRun=True)))["preview"]
    assert (preview["payeesNew"], preview["payeesChanged"], preview["payeesUnchanged"]) == (0, 1, 1)
    assert (preview["accountsNew"], preview["accountsChanged"]) == (0, 1)
    assert (await imported(gql, second.encode(), **event("LIQ-CSV-B")))["userErrors"] == []
    async with seeded.sessions() as session:
        accounts = (
            await session.execute(
                text(
                    "SELECT b.details, b.retired_at IS NULL FROM bank_accounts b JOIN payees p"
                    " ON p.id = b.payee_id WHERE p.reference = 'CSV-A' ORDER BY b.id"
                )
            )
        ).all()
        name = await session.scalar(text("SELECT name FROM payees WHERE reference = 'CSV-A'"))
    details = [json.loads(d) if isinstance(d, str) else d for d, _ in accounts]
    assert [(d["iban"], bool(live)) for d, (_, live) in zip(details, accounts, strict=True)] == [
        (DE1, False),
        (DE2, True),
    ]
    assert name == "Alice Ames-Berg"


async def test_weights_split_the_total_by_largest_remainder(
    gql: GraphQLClient, seeded: Container
) -> None:
    csv = (
        "external_id,name,kind,country,weight\n"
        "W-1,One,investor,DE,1\nW-2,Two,investor,DE,1\nW-3,Three,investor,DE,1\n"
    )
    answer = await imported(gql, csv.encode(), **event("LIQ-CSV-W", total="100.00"))
    assert answer["userErrors"] == []
    amounts = [row["amount"]["amount"] for row in answer["preview"]["rows"]]
    assert amounts == ["33.34", "33.33", "33.33"]
    # no account yet: a run would skip them, and the dry run said why
    assert answer["preview"]["skipReasons"] == [{"key": "missing_external_account", "count": 3}]


LONG_ROW = "X-1,Long,investor,DE,,1.00,,\n"
HOSTILE: dict[str, tuple[bytes, dict[str, Any], str, str | None]] = {
    # name: (file, extra input, expected code, the column a row error names)
    "a missing column": (
        b"external_id,name,country,amount\nX-1,A,DE,1.00\n",
        {},
        "INVALID_CSV",
        None,
    ),
    "semicolons": (
        b"external_id;name;kind;country;amount\nX-1;A;investor;DE;1.00\n",
        {},
        "INVALID_CSV",
        None,
    ),
    "Latin-1": (
        (HEADER + "X-1,Jos\u00e9,investor,DE,,1.00,,\n").encode("latin-1"),
        {},
        "INVALID_CSV",
        None,
    ),
    "a formula": (
        (HEADER + 'X-1,"=HYPERLINK(""http://evil"",""x"")",investor,DE,,1.00,,\n').encode(),
        {},
        "FORMULA_INJECTION",
        "name",
    ),
    "duplicate rows": (
        (HEADER + LONG_ROW + LONG_ROW).encode(),
        {},
        "DUPLICATE_ALLOCATION",
        "external_id",
    ),
    "too many decimals": (
        (HEADER + "X-1,A,investor,DE,,1.001,,\n").encode(),
        {},
        "INVALID_AMOUNT",
        "amount",
    ),
    "a bad IBAN": (
        (HEADER + "X-1,A,investor,DE,,1.00,A,DE00370400440532013000\n").encode(),
        {},
        "INVALID_BANK_ACCOUNT",
        "iban",
    ),
    "a short row": ((HEADER + "X-1,A,investor\n").encode(), {}, "INVALID_INPUT", None),
    "weights without a total": (
        b"external_id,name,kind,country,weight\nX-1,A,investor,DE,1\n",
        {},
        "INVALID_INPUT",
        None,
    ),
    "an event that exists": (
        (HEADER + LONG_ROW).encode(),
        {"eventId": "LIQ-2024-001"},
        "CONFLICT",
        None,
    ),
}


@pytest.mark.parametrize("case", list(HOSTILE))
async def test_every_hostile_file_is_refused_and_writes_nothing(
    case: str, gql: GraphQLClient, seeded: Container
) -> None:
    content, extra, code, column = HOSTILE[case]
    before = await counts(seeded)
    answer = await imported(gql, content, **{**event("LIQ-CSV-BAD"), **extra})
    assert answer["event"] is None
    found = {e["code"] for e in answer["userErrors"]} | {
        e["code"] for e in answer["preview"]["errors"]
    }
    assert code in found, answer
    if column is not None:
        assert [(e["column"], e["code"]) for e in answer["preview"]["errors"]] == [(column, code)]
        assert answer["preview"]["errors"][0]["row"] == 3 if case == "duplicate rows" else 2
    assert await counts(seeded) == before


async def test_a_bom_is_read_as_nothing(gql: GraphQLClient, seeded: Container) -> None:
    content = ("\ufeff" + HEADER.replace("external_id", "External ID") + LONG_ROW).encode()
    answer = await imported(gql, content, **event("LIQ-CSV-BOM", dryRun=True))
    assert answer["userErrors"] == [] and answer["preview"]["errorCount"] == 0
    assert answer["preview"]["rows"][0]["externalId"] == "X-1"


async def test_an_upload_above_the_limit_is_refused_before_it_is_read(
    seeded: Container,
) -> None:
    from service.demo import DEMO_OPS_KEY

    app = create_app(seeded.app_deps(), max_upload_bytes=10_000)
    before = await counts(seeded)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        big = (HEADER + LONG_ROW * 1000).encode()
        response = await upload(http, DEMO_OPS_KEY, big, **event("LIQ-CSV-BIG"))
        assert response.status_code == 413
        assert response.json()["errors"][0]["extensions"]["code"] == "REQUEST_TOO_LARGE"
        small = await upload(
            http, DEMO_OPS_KEY, (HEADER + LONG_ROW).encode(), **event("LIQ-CSV-OK", dryRun=True)
        )
        assert (
            small.status_code == 200
            and small.json()["data"]["importLiquidationEvent"]["userErrors"] == []
        )
    assert await counts(seeded) == before


@pytest.mark.parametrize("key", [DEMO_MERCHANT_KEYS["MER-ACME"], DEMO_AUDITOR_KEY])
async def test_payee_and_auditor_keys_are_forbidden_and_write_nothing(
    key: str, gql: GraphQLClient, seeded: Container
) -> None:
    before = await counts(seeded)
    response = await upload(gql.http, key, INVESTORS.read_bytes(), **event("LIQ-CSV-X"))
    body = response.json()
    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]
    assert await counts(seeded) == before


async def test_the_text_of_a_small_file_can_come_as_json(gql: GraphQLClient) -> None:
    data = await gql.data(IMPORT, input={**event("LIQ-CSV-TXT"), "csvText": HEADER + LONG_ROW})
    assert data["importLiquidationEvent"]["event"]["allocationCount"] == 1
    both = await gql.data(IMPORT, input=event("LIQ-CSV-NONE"))
    assert [e["code"] for e in both["importLiquidationEvent"]["userErrors"]] == ["INVALID_INPUT"]
