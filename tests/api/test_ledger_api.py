"""What an operator sees of the ledger over GraphQL."""

from __future__ import annotations

from tests.conftest import GraphQLClient

RUN = """mutation { startRun(input: {liquidationEventId: "LIQ-2024-001", idempotencyKey: "l"}) {
  run { created } } }"""


async def test_a_submitted_payout_shows_its_hold(gql: GraphQLClient) -> None:
    await gql.run_to_completion(RUN)
    page = await gql.data("""{ payouts(filter: {country: "GB", status: SUBMITTED}, first: 1) {
        edges { node { amount { amount currency } payee { id } provider
          ledgerEntries { kind phase side account amount { amount currency } } } } } }""")
    node = page["payouts"]["edges"][0]["node"]
    entries = node["ledgerEntries"]
    payee = node["payee"]["id"]
    assert {(e["kind"], e["phase"], e["side"], e["account"]) for e in entries} == {
        ("reserve", "pending", "debit", f"payee:{payee}:payable:USD"),
        ("reserve", "pending", "credit", f"platform:provider:{node['provider']}:USD"),
    }
    assert {e["amount"]["amount"] for e in entries} == {node["amount"]["amount"]}


async def test_ledger_accounts_balance_and_payee_balances(gql: GraphQLClient) -> None:
    await gql.run_to_completion(RUN)
    accounts = (
        await gql.data("""{ ledgerAccounts { code type currency
        pendingDebits { amount } pendingCredits { amount } postedDebits { amount }
        postedCredits { amount } available { amount } } }""")
    )["ledgerAccounts"]
    by_code = {a["code"]: a for a in accounts}
    debits = sum(
        int(a[f"{p}Debits"]["amount"].replace(".", ""))
        for a in accounts
        for p in ("pending", "posted")
    )
    credits = sum(
        int(a[f"{p}Credits"]["amount"].replace(".", ""))
        for a in accounts
        for p in ("pending", "posted")
    )
    assert debits == credits  # the books balance (all USD here)
    assert by_code["platform:provider:ach:USD"]["pendingCredits"]["amount"] != "0.00"
    payables = [a for a in accounts if a["code"].endswith(":payable:USD")]
    assert payables and all(not a["available"]["amount"].startswith("-") for a in payables)

    page = await gql.data("""{ payouts(filter: {status: SKIPPED}, first: 100) {
        edges { node { skipReason amount { amount } payee { balances {
          code available { amount currency } } } } } } }""")
    for edge in page["payouts"]["edges"]:
        node = edge["node"]
        if node["skipReason"] == "invalid_amount":
            continue  # the zero allocation was never credited
        balance = node["payee"]["balances"][0]
        # nothing was held for a skipped payout: its whole allocation is still available
        assert balance["available"] == {"amount": node["amount"]["amount"], "currency": "USD"}
