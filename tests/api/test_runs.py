"""An operator's session over GraphQL: run the demo event, inspect it, run it again."""

from __future__ import annotations

from domain.ports import ProviderKind
from tests.conftest import GraphQLClient

START_RUN = """
mutation($event: ID!, $key: String) {
  startRun(input: {liquidationEventId: $event, idempotencyKey: $key}) {
    run { id status total created skipped failed inFlight alreadySubmitted
          skipBreakdown { reason count } event { code } }
    userErrors { field code message }
  }
}"""

PAYOUTS = """
query($filter: PayoutFilter, $first: Int, $after: String) {
  payouts(filter: $filter, first: $first, after: $after) {
    edges { cursor node { id status country railCode amount { amount currency }
                          rail { code currency } targetAmount { amount currency }
                          providerOrderId expectedSettlementDate } }
    pageInfo { hasNextPage endCursor }
  }
}"""

EXPECTED_SKIPS = {
    "amount_above_rail_limit",
    "invalid_amount",
    "invalid_bank_account",
    "invalid_method",
    "missing_country",
    "missing_external_account",
}


def total_orders(banks) -> int:
    return sum(len(bank.orders) for bank in banks.values())


async def test_full_run_then_rerun_creates_no_new_orders(gql: GraphQLClient, banks) -> None:
    first = (await gql.run_to_completion(START_RUN, event="LIQ-2024-001", key="op-1"))["startRun"]
    assert first["userErrors"] == []
    run = first["run"]
    assert run["status"] == "completed"
    assert run["event"]["code"] == "LIQ-2024-001"
    assert run["total"] == 60
    assert run["created"] + run["skipped"] + run["failed"] + run["inFlight"] == 60
    assert run["failed"] == 0 and run["inFlight"] == 0
    reasons = {r["reason"]: r["count"] for r in run["skipBreakdown"]}
    assert set(reasons) >= EXPECTED_SKIPS
    assert sum(reasons.values()) == run["skipped"]
    orders_after_first = total_orders(banks)
    assert orders_after_first == run["created"]

    second = (await gql.run_to_completion(START_RUN, event="LIQ-2024-001", key="op-2"))["startRun"][
        "run"
    ]
    assert second["id"] != run["id"]
    assert second["created"] == 0
    assert second["alreadySubmitted"] == run["created"]
    assert total_orders(banks) == orders_after_first


async def test_same_idempotency_key_returns_the_same_run(gql: GraphQLClient, banks) -> None:
    first = (await gql.run_to_completion(START_RUN, event="LIQ-2024-001", key="same"))["startRun"][
        "run"
    ]
    # the same key once more, after the run ended: the same run, nothing run again
    again = (await gql.run_to_completion(START_RUN, event="LIQ-2024-001", key="same"))["startRun"][
        "run"
    ]
    assert again == first
    assert total_orders(banks) == first["created"]


async def test_unknown_event_is_a_user_error_and_writes_nothing(gql: GraphQLClient) -> None:
    body = await gql.data(START_RUN, event="LIQ-1999-404", key="x")
    assert body["startRun"]["run"] is None
    assert body["startRun"]["userErrors"][0]["code"] == "NOT_FOUND"
    runs = await gql.data("{ runs { edges { node { id } } } }")
    assert runs["runs"]["edges"] == []


async def test_japanese_payouts_are_whole_yen_on_zengin(gql: GraphQLClient) -> None:
    await gql.run_to_completion(START_RUN, event="LIQ-2024-001", key="jp")
    page = (await gql.data(PAYOUTS, filter={"country": "JP"}))["payouts"]
    nodes = [e["node"] for e in page["edges"]]
    assert nodes, "the demo has Japanese investors"
    for node in nodes:
        assert node["railCode"] == "ZENGIN"
        assert node["rail"]["currency"] == "JPY"
        assert node["amount"]["currency"] == "USD"
        assert node["status"] == "SUBMITTED"
        assert node["targetAmount"]["currency"] == "JPY"
        assert "." not in node["targetAmount"]["amount"]  # JPY has no minor unit


async def test_filters_and_pagination_walk_every_payout_once(gql: GraphQLClient) -> None:
    await gql.run_to_completion(START_RUN, event="LIQ-2024-001", key="pages")
    seen, after = [], None
    while True:
        page = (await gql.data(PAYOUTS, filter={"eventId": "1"}, first=7, after=after))["payouts"]
        seen += [e["node"]["id"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len(seen) == len(set(seen)) == 60
    skipped = (await gql.data(PAYOUTS, filter={"status": "SKIPPED"}, first=100))["payouts"]
    assert {e["node"]["status"] for e in skipped["edges"]} == {"SKIPPED"}
    sepa = (await gql.data(PAYOUTS, filter={"rail": "SEPA"}, first=100))["payouts"]
    assert len(sepa["edges"]) >= 19


async def test_trace_reads_as_the_payouts_story(gql: GraphQLClient) -> None:
    await gql.run_to_completion(START_RUN, event="LIQ-2024-001", key="trace")
    node = await gql.data(PAYOUTS, filter={"country": "GB", "status": "SUBMITTED"}, first=1)
    payout_id = node["payouts"]["edges"][0]["node"]["id"]
    body = await gql.data(
        "query($id: ID!) { payout(id: $id) { status trace { action detail } } }", id=payout_id
    )
    actions = [t["action"] for t in body["payout"]["trace"]]
    assert actions == [
        "payout.status_changed",
        "payout.routed",
        "payout.status_changed",
        "payout.status_changed",
    ]
    steps = [(t["detail"].get("from"), t["detail"].get("to")) for t in body["payout"]["trace"]]
    assert steps[0] == (None, "pending")
    assert steps[2] == ("pending", "submitting")
    assert steps[3] == ("submitting", "submitted")
    assert body["payout"]["trace"][1]["detail"]["rail"] in ("BACS", "ACH")


async def test_a_rerun_leaves_paid_payouts_traces_as_they_were(gql: GraphQLClient) -> None:
    """A re-run's bookkeeping (it found an existing payment order) belongs to the run:
    a payout it did not touch keeps a trace that ends where the payout is."""
    trace = "query($id: ID!) { payout(id: $id) { status trace { action detail } } }"
    await gql.run_to_completion(START_RUN, event="LIQ-2024-001", key="first")
    node = await gql.data(PAYOUTS, filter={"country": "JP", "status": "SUBMITTED"}, first=1)
    payout_id = node["payouts"]["edges"][0]["node"]["id"]
    before = (await gql.data(trace, id=payout_id))["payout"]["trace"]
    for key in ("second", "third"):
        started = await gql.run_to_completion(START_RUN, event="LIQ-2024-001", key=key)
        rerun = started["startRun"]["run"]
        assert rerun["alreadySubmitted"] > 0
    after = (await gql.data(trace, id=payout_id))["payout"]["trace"]
    assert after == before
    assert after[-1]["detail"]["to"] == "submitted"


async def test_run_lists_its_payouts_and_breakdown(gql: GraphQLClient) -> None:
    run = (await gql.run_to_completion(START_RUN, event="LIQ-2024-001", key="r"))["startRun"]["run"]
    body = await gql.data(
        """query($id: ID!) { run(id: $id) { id skipped payouts(first: 100) {
              edges { node { status skipReason } } } } }""",
        id=run["id"],
    )
    nodes = [e["node"] for e in body["run"]["payouts"]["edges"]]
    assert len(nodes) == 60
    assert sum(1 for n in nodes if n["status"] == "SKIPPED") == run["skipped"]
    assert all(n["skipReason"] for n in nodes if n["status"] == "SKIPPED")


async def test_rails_and_route_preview(gql: GraphQLClient) -> None:
    rails = await gql.data("{ rails { code countries currency requiredFields cutoff timezone } }")
    countries = {c for r in rails["rails"] for c in r["countries"]}
    assert len(countries) >= 38
    decision = await gql.data(
        """{ route(country: "ca") { rail { code purposeCode } currency rule explanation
              expectedSettlementDate } }"""
    )
    assert decision["route"]["rail"] == {"code": "EFT", "purposeCode": "250"}
    assert decision["route"]["currency"] == "CAD"
    assert decision["route"]["rule"] == "local_rail"
    abroad = await gql.data(
        '{ route(country: "GB", hasUsBankAccount: true) { rail { code } currency rule } }'
    )
    assert abroad["route"] == {
        "rail": {"code": "ACH"},
        "currency": "USD",
        "rule": "us_bank_account_abroad",
    }
    wire = await gql.data('{ route(country: "KR") { rail { code } currency rule } }')
    assert wire["route"] == {
        "rail": {"code": "WIRE"},
        "currency": "USD",
        "rule": "international_wire",
    }


async def test_events_and_payees_are_listed(gql: GraphQLClient) -> None:
    events = await gql.data("{ events { code total { amount currency } allocationCount } }")
    codes = {e["code"]: e for e in events["events"]}
    assert codes["LIQ-2024-001"]["allocationCount"] == 60
    assert codes["LIQ-2024-002"]["total"] == {"amount": "25000000.00", "currency": "USD"}
    payees = await gql.data(
        "{ payees(first: 5) { edges { node { name bankAccounts { details { name value } } } } } }"
    )
    assert len(payees["payees"]["edges"]) == 5


CREATE_EVENT = """
mutation($input: CreateLiquidationEventInput!) {
  createLiquidationEvent(input: $input) {
    event { id code total { amount currency } allocationCount }
    userErrors { field code message }
  }
}"""


async def test_create_event_with_total_split_exactly(gql: GraphQLClient) -> None:
    payees = await gql.data("{ payees(first: 3) { edges { node { id } } } }")
    ids = [e["node"]["id"] for e in payees["payees"]["edges"]]
    body = await gql.data(
        CREATE_EVENT,
        input={
            "code": "LIQ-SPLIT",
            "name": "Split",
            "fundName": "Fund",
            "currency": "USD",
            "total": "100.00",
            "allocations": [{"payeeId": i, "weight": 1} for i in ids],
        },
    )
    payload = body["createLiquidationEvent"]
    assert payload["userErrors"] == []
    assert payload["event"]["total"] == {"amount": "100.00", "currency": "USD"}
    assert payload["event"]["allocationCount"] == 3
    run = (await gql.run_to_completion(START_RUN, event="LIQ-SPLIT", key="s"))["startRun"]["run"]
    nodes = (await gql.data(PAYOUTS, filter={"runId": run["id"]}))["payouts"]["edges"]
    amounts = sorted(n["node"]["amount"]["amount"] for n in nodes)
    assert amounts == ["33.33", "33.33", "33.34"]


async def test_create_event_then_run_pays_in_the_new_event(gql: GraphQLClient, banks) -> None:
    payees = await gql.data("{ payees(first: 2) { edges { node { id } } } }")
    ids = [e["node"]["id"] for e in payees["payees"]["edges"]]
    body = await gql.data(
        CREATE_EVENT,
        input={
            "code": "LIQ-NEW",
            "name": "New",
            "fundName": "Fund",
            "allocations": [{"payeeId": i, "amount": "1250.50"} for i in ids],
        },
    )
    assert body["createLiquidationEvent"]["event"]["total"]["amount"] == "2501.00"
    before = total_orders(banks)
    run = (await gql.run_to_completion(START_RUN, event="LIQ-NEW", key="n"))["startRun"]["run"]
    assert total_orders(banks) == before + run["created"]


async def test_providers_each_receive_their_rails(gql: GraphQLClient, banks) -> None:
    await gql.run_to_completion(START_RUN, event="LIQ-2024-001", key="kinds")
    rails = {kind: {o.body.rail for o in bank.orders.values()} for kind, bank in banks.items()}
    assert rails[ProviderKind.ACH] == {"ACH"}
    assert rails[ProviderKind.WIRE] == {"WIRE"}
    assert "ZENGIN" in rails[ProviderKind.CROSS_BORDER]
    assert not rails[ProviderKind.CROSS_BORDER] & {"ACH", "WIRE"}
