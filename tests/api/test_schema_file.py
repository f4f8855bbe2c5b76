"""schema.graphql is the contract frontends build against: it must match the code."""

from pathlib import Path

from graph.export import sdl

ROOT = Path(__file__).resolve().parents[2]
CONTRACT_OPERATIONS = [
    "payouts(",
    "payout(",
    "runs(",
    "run(",
    "events:",
    "payees(",
    "payee(",
    "rails:",
    "route(",
    "createLiquidationEvent(",
    "startRun(",
]


def test_schema_file_matches_the_code() -> None:
    committed = (ROOT / "schema.graphql").read_text()
    assert committed == sdl(), "schema changed: run `make schema` and commit schema.graphql"


def test_contract_operations_keep_their_names() -> None:
    text = sdl()
    for operation in CONTRACT_OPERATIONS:
        assert f"  {operation}" in text, operation
    for type_name in [
        "PayoutConnection",
        "PayoutRunConnection",
        "PayeeConnection",
        "UserError",
        "RailDecision",
        "StartRunPayload",
        "CreateLiquidationEventPayload",
    ]:
        assert f"type {type_name} " in text, type_name
