"""An operator reconciles over GraphQL: runs a date, reads breaks and job runs, resolves one."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from domain.money import Money
from domain.ports import ProviderKind
from persistence.tables import AuditEvent
from service.bootstrap import Container
from service.demo import DEMO_MERCHANT_KEYS
from tests.conftest import GraphQLClient

RUN_RECONCILIATION = """
mutation($day: Date) {
  runReconciliation(input: {businessDate: $day}) {
    reconciliationRun { id businessDate status trigger attempts counts }
    userErrors { field code message }
  }
}"""

BREAKS = """
query($filter: BreakFilter, $first: Int) {
  reconciliationBreaks(filter: $filter, first: $first) {
    edges { node { id kind status detail evidence providerOrderId resolutionNote resolvedBy
                   payout { id status } } }
    pageInfo { hasNextPage }
  }
}"""

RESOLVE = """
mutation($id: ID!, $note: String!) {
  resolveBreak(input: {breakId: $id, note: $note}) {
    break { id status resolutionNote resolvedBy resolvedAt }
    userErrors { field code message }
  }
}"""

RUNS = "{ reconciliationRuns(first: 5) { edges { node { businessDate status counts } } } }"
JOB_RUNS = "{ jobRuns(first: 10) { edges { node { job trigger status counts worker } } } }"
DAY = "2026-03-01"


async def _run_event(seeded: Container) -> None:
    await seeded.runner.run("LIQ-2024-001", "recon-api")


async def test_a_clean_day_has_no_breaks_and_is_listed(gql: GraphQLClient, seeded) -> None:
    await _run_event(seeded)
    payload = (await gql.data(RUN_RECONCILIATION, day=DAY))["runReconciliation"]
    assert payload["userErrors"] == []
    run = payload["reconciliationRun"]
    assert (run["businessDate"], run["status"], run["trigger"]) == (DAY, "completed", "manual")
    assert run["counts"]["provider_orders"] == 53
    assert run["counts"]["breaks_found"] == 0
    runs = (await gql.data(RUNS))["reconciliationRuns"]["edges"]
    assert [r["node"]["businessDate"] for r in runs] == [DAY]
    jobs = [e["node"] for e in (await gql.data(JOB_RUNS))["jobRuns"]["edges"]]
    assert jobs[0]["job"] == "nightly_reconciliation"
    assert jobs[0]["trigger"] == "manual" and jobs[0]["status"] == "succeeded"
    assert jobs[0]["counts"]["business_date"] == DAY


async def test_an_operator_sees_a_break_and_resolves_it_with_a_note(
    gql: GraphQLClient, seeded: Container, banks
) -> None:
    await _run_event(seeded)
    bank = banks[ProviderKind.ACH]
    order_id = next(iter(bank.orders))
    bank.override_amount(order_id, Money.parse("1.00", "USD"))
    await gql.data(RUN_RECONCILIATION, day=DAY)

    found = await gql.data(BREAKS, filter={"kind": "AMOUNT_MISMATCH", "status": "OPEN"})
    edges = found["reconciliationBreaks"]["edges"]
    assert len(edges) == 1
    node = edges[0]["node"]
    assert node["providerOrderId"] == order_id
    assert node["evidence"]["provider"]["amount"] == "1.00 USD"
    assert node["payout"]["status"] == "SUBMITTED"
    none_of_other_kind = await gql.data(BREAKS, filter={"kind": "MISSING_AT_PROVIDER"})
    assert none_of_other_kind["reconciliationBreaks"]["edges"] == []

    resolved = await gql.data(RESOLVE, id=node["id"], note="bank confirmed a typo; refunded")
    assert resolved["resolveBreak"]["userErrors"] == []
    closed = resolved["resolveBreak"]["break"]
    assert closed["status"] == "RESOLVED"
    assert closed["resolutionNote"] == "bank confirmed a typo; refunded"
    assert closed["resolvedBy"].startswith("ops:")
    async with seeded.sessions() as session:
        audit = (
            await session.scalars(
                select(AuditEvent).where(AuditEvent.action == "reconciliation.break_resolved")
            )
        ).all()
    assert [(a.entity_id, a.detail["note"]) for a in audit] == [
        (int(node["id"]), "bank confirmed a typo; refunded")
    ]

    again = (await gql.data(RESOLVE, id=node["id"], note="twice"))["resolveBreak"]
    assert again["break"] is None
    assert again["userErrors"][0]["code"] == "BREAK_NOT_OPEN"
    # Seen again by the next run, it stays resolved: the operator accepted it.
    await gql.data(RUN_RECONCILIATION, day=DAY)
    still = await gql.data(BREAKS, filter={"kind": "AMOUNT_MISMATCH"})
    assert [e["node"]["status"] for e in still["reconciliationBreaks"]["edges"]] == ["RESOLVED"]


async def test_bad_resolutions_are_refused_and_change_nothing(gql: GraphQLClient) -> None:
    for ident, note, code in [
        ("999999", "done", "NOT_FOUND"),
        ("abc", "done", "NOT_FOUND"),
        ("1", "   ", "INVALID_INPUT"),
        ("1", "x" * 2001, "INVALID_INPUT"),
    ]:
        payload = (await gql.data(RESOLVE, id=ident, note=note))["resolveBreak"]
        assert payload["break"] is None
        assert payload["userErrors"][0]["code"] == code, (ident, note)


async def test_a_future_date_is_refused(gql: GraphQLClient, seeded: Container) -> None:
    future = date(2030, 1, 1).isoformat()
    payload = (await gql.data(RUN_RECONCILIATION, day=future))["runReconciliation"]
    assert payload["reconciliationRun"] is None
    assert payload["userErrors"][0]["code"] == "INVALID_INPUT"
    assert (await gql.data(RUNS))["reconciliationRuns"]["edges"] == []


async def test_payee_keys_cannot_reconcile_or_read_breaks(gql: GraphQLClient) -> None:
    payee = gql.as_key(next(iter(DEMO_MERCHANT_KEYS.values())))
    for document, variables in [
        (RUN_RECONCILIATION, {"day": DAY}),
        (BREAKS, {}),
        (RUNS, {}),
        (JOB_RUNS, {}),
        (RESOLVE, {"id": "1", "note": "mine now"}),
    ]:
        body = await payee(document, **variables)
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", document
