"""Hostile input over HTTP: one row per request a user (or an attacker) could send.

Every row is sent as a frontend would send it, and must be answered with the status and
the error code it names (``errors[].extensions.code`` or a payload's ``userErrors[].code``),
or, for a look-up that finds nothing, with null or an empty page. No answer may hold a
stack trace, a file path or SQL, no error may come without a code, and every table of
the database must hold exactly what it held before the request.

The table's length is the number of inputs tried; per category and operation:

    .venv/bin/python -m tests.api.test_hostile_inputs
"""

# The tables below keep one row per line (``fmt: off``), some of them past 100 columns.
# ruff: noqa: E501

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sqlalchemy import insert, select

from domain.money import Money
from domain.ports import ProviderKind
from graph.app import create_app
from persistence.payout_feed import PayoutFeed
from persistence.tables import BankAccount, Payee
from providers.mock.server import serving
from service.bootstrap import Container, build_app, server_limits
from service.demo import DEMO_MERCHANT_KEYS, DEMO_OPS_KEY
from tests.api.test_bad_input import snapshot
from tests.api.test_merchant_payouts import merchant
from tests.api.test_subscriptions import connected
from tests.conftest import GraphQLClient

# --- what a row is ---------------------------------------------------------------------


@dataclass(frozen=True)
class Ref:
    """A value known once the database is seeded (an id), put in when the row is sent."""

    name: str
    spelled: Callable[[str], str] = str


@dataclass(frozen=True)
class Gql:
    """A GraphQL document POSTed as JSON, with the key of ``key`` (ops, tiny or acme)."""

    query: str
    variables: dict[str, Any] = field(default_factory=dict)
    key: str = "ops"


@dataclass(frozen=True)
class Raw:
    """A request shaped by hand, with the ops key: the body, its type, the method."""

    body: bytes | Callable[[], bytes] = b""
    content_type: str | None = "application/json"
    method: str = "POST"
    chunks: int = 0  # > 0: a chunked body of that many 64 KiB chunks, no Content-Length
    params: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Row:
    target: str  # the operation the input is aimed at, or HTTP for the request itself
    name: str
    category: str
    request: Gql | Raw
    code: str | None  # None: answered with nothing (null, an empty page) and no error
    status: int = 200
    served: bool = False  # through a real uvicorn server, not httpx's ASGI transport

    @property
    def id(self) -> str:
        return f"{self.target} / {self.name}" + (" (uvicorn)" if self.served else "")


WRONG_TYPE = "wrong type"
NULL = "null or missing"
EMPTY = "empty string"
HUGE = "huge"
UNICODE = "unicode and control characters"
AMOUNT = "bad amount or currency"
DATE = "impossible date"
UNKNOWN_ID = "unknown id"
SQL = "SQL-looking string"
BANK = "invalid IBAN or ABA"
DUPLICATE = "duplicate id"
PAGE = "page size or cursor"
SHAPE = "query shape (depth, aliases, tokens, syntax)"
RULE = "business rule"
TRANSPORT = "transport (JSON, content type, method, size)"
CATEGORIES = [
    WRONG_TYPE,
    NULL,
    EMPTY,
    HUGE,
    UNICODE,
    AMOUNT,
    DATE,
    UNKNOWN_ID,
    SQL,
    BANK,
    DUPLICATE,
    PAGE,
    SHAPE,
    RULE,
    TRANSPORT,
]
MUTATIONS = [
    "createLiquidationEvent",
    "createPayout",
    "cancelPayout",
    "startRun",
    "cancelRun",
    "decideApproval",
    "runReconciliation",
    "resolveBreak",
    "createPayee",
    "updatePayee",
    "addBankAccount",
    "retireBankAccount",
    "verifyBankAccount",
]
QUERIES = [
    "payouts",
    "payout",
    "runs",
    "run",
    "events",
    "payees",
    "payee",
    "ledgerAccounts",
    "rails",
    "route",
    "reconciliationRuns",
    "reconciliationBreaks",
    "jobRuns",
]
HTTP = "HTTP"

TINY, TINY_ACCOUNT = Ref("tiny"), Ref("tiny_account")
ACME, ACME_ACCOUNT = Ref("acme"), Ref("acme_account")
INVESTOR_1, INVESTOR_2 = Ref("investor_1"), Ref("investor_2")
NUL, SURROGATE = "\x00", "\ud800"  # sent as JSON escapes: \u0000 and \ud800


def arabic_indic(digits: str) -> str:
    return "".join(chr(0x660 + int(d)) for d in digits)


def superscript(digits: str) -> str:
    return digits.translate(SUPERSCRIPT)


SUPERSCRIPT = str.maketrans(
    "0123456789", "\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079"
)


# --- the table ---------------------------------------------------------------------------

CREATE_EVENT = """mutation($input: CreateLiquidationEventInput!) {
  createLiquidationEvent(input: $input) { event { id } userErrors { field code message } } }"""


def event_input(**overrides: Any) -> dict[str, Any]:
    return {
        "code": "LIQ-HOSTILE",
        "name": "Hostile",
        "fundName": "Fund",
        "currency": "USD",
        "allocations": [{"payeeId": INVESTOR_1, "amount": "100.00"}],
    } | overrides


def one(amount: Any = "1.00", payee: Any = INVESTOR_1, **more: Any) -> list[dict[str, Any]]:
    return [{"payeeId": payee, "amount": amount, **more}]


def split(total: str, *weights: tuple[Any, Any]) -> dict[str, Any]:
    """A total and the weights it is split by, each ``(payee, weight)``."""
    return {"total": total, "allocations": [{"payeeId": p, "weight": w} for p, w in weights]}


def event(name: str, category: str, expect: str, /, **overrides: Any) -> Row:
    request = Gql(CREATE_EVENT, {"input": event_input(**overrides)})
    return Row("createLiquidationEvent", name, category, request, expect)


def event_vars(name: str, category: str, expect: str, variables: dict[str, Any]) -> Row:
    return Row("createLiquidationEvent", name, category, Gql(CREATE_EVENT, variables), expect)


NUL_LITERAL = """mutation { createLiquidationEvent(input: {code: "LIQ-NUL", name: "a\\u0000b",
  fundName: "F", allocations: [{payeeId: "1", amount: "1.00"}]}) { userErrors { code } } }"""
TOO_MUCH = [{"payeeId": Ref(f"investor_{i}"), "amount": "9999999999999.99"} for i in (1, 2, 3)]

# fmt: off
EVENT_ROWS = [
    event_vars("input is a string", WRONG_TYPE, "INVALID_INPUT", {"input": "LIQ-1"}),
    event("amount is a JSON number", WRONG_TYPE, "INVALID_INPUT", allocations=one(100)),
    event("amount is a float", WRONG_TYPE, "INVALID_INPUT", allocations=one(1.5)),
    event("code is a number", WRONG_TYPE, "INVALID_INPUT", code=12345),
    event("weight is a string", WRONG_TYPE, "INVALID_INPUT", **split("10.00", (INVESTOR_1, "1"))),
    event("weight is a float", WRONG_TYPE, "INVALID_INPUT", **split("10.00", (INVESTOR_1, 1.5))),
    event("weight above 32 bits", WRONG_TYPE, "INVALID_INPUT", **split("10.00", (INVESTOR_1, 2**40))),
    event("allocations are a string", WRONG_TYPE, "INVALID_INPUT", allocations="everyone"),
    event("unknown field", WRONG_TYPE, "INVALID_INPUT", bogus=True),
    event_vars("input is null", NULL, "INVALID_INPUT", {"input": None}),
    event_vars("input is missing", NULL, "INVALID_INPUT", {}),
    event("code is null", NULL, "INVALID_INPUT", code=None),
    event("allocations are null", NULL, "INVALID_INPUT", allocations=None),
    event("payeeId is null", NULL, "INVALID_INPUT", allocations=one(payee=None)),
    event("neither amount nor weight", NULL, "INVALID_INPUT", allocations=one(amount=None)),
    event("code is empty", EMPTY, "INVALID_INPUT", code=""),
    event("name is empty", EMPTY, "INVALID_INPUT", name=""),
    event("name is blank", EMPTY, "INVALID_INPUT", name="   "),
    event("fundName is empty", EMPTY, "INVALID_INPUT", fundName=""),
    event("currency is empty", EMPTY, "UNSUPPORTED_CURRENCY", currency=""),
    event("amount is empty", EMPTY, "INVALID_AMOUNT", allocations=one("")),
    event("payeeId is empty", EMPTY, "NOT_FOUND", allocations=one(payee="")),
    event("no allocations", EMPTY, "INVALID_INPUT", allocations=[]),
    event("name of 100,000 characters", HUGE, "INVALID_INPUT", name="n" * 100_000),
    event("code of 10,000 characters", HUGE, "INVALID_INPUT", code="L" * 10_000),
    event("amount of 5,000 digits", HUGE, "INVALID_AMOUNT", allocations=one("9" * 5_000)),
    event("3,000 allocations to unknown payees", HUGE, "NOT_FOUND",
          allocations=[{"payeeId": str(900_000 + i), "amount": "1.00"} for i in range(3_000)]),
    event("NUL in the name", UNICODE, "INVALID_INPUT", name=f"Fund{NUL}"),
    event("unpaired surrogate in the name", UNICODE, "INVALID_INPUT", name=f"Fund{SURROGATE}"),
    event("ANSI escape in the name", UNICODE, "INVALID_INPUT", name="\x1b[31mred\x1b[0m"),
    event("newline in the fund name", UNICODE, "INVALID_INPUT", fundName="Fund\nInjected: yes"),
    event("Cyrillic look-alike in the code", UNICODE, "INVALID_INPUT", code="LIQ-\u0406D"),
    event("full-width currency", UNICODE, "UNSUPPORTED_CURRENCY", currency="\uff35\uff33\uff24"),
    event("Arabic-Indic digits in the amount", UNICODE, "INVALID_AMOUNT", allocations=one(arabic_indic("100"))),
    event("full-width digits in the amount", UNICODE, "INVALID_AMOUNT", allocations=one("\uff11\uff10\uff10")),
    event("superscript payeeId", UNICODE, "NOT_FOUND", allocations=one(payee=Ref("investor_1", superscript))),
    event("Arabic-Indic payeeId", UNICODE, "NOT_FOUND", allocations=one(payee=Ref("investor_1", arabic_indic))),
    Row("createLiquidationEvent", "NUL in a literal of the document", UNICODE, Gql(NUL_LITERAL), "INVALID_INPUT"),
    event("negative", AMOUNT, "INVALID_AMOUNT", allocations=one("-5.00")),
    event("zero", AMOUNT, "INVALID_AMOUNT", allocations=one("0")),
    event("negative zero", AMOUNT, "INVALID_AMOUNT", allocations=one("-0.00")),
    event("a tenth of a cent", AMOUNT, "INVALID_AMOUNT", allocations=one("10.001")),
    event("cents of yen", AMOUNT, "INVALID_AMOUNT", currency="JPY", allocations=one("100.5")),
    event("four decimals of dinar", AMOUNT, "INVALID_AMOUNT", currency="BHD", allocations=one("1.0001")),
    event("absurdly large", AMOUNT, "INVALID_AMOUNT", allocations=one("99999999999999999999.00")),
    event("parts that add up to too much", AMOUNT, "INVALID_AMOUNT", allocations=TOO_MUCH),
    event("exponent", AMOUNT, "INVALID_AMOUNT", allocations=one("1e3")),
    event("NaN", AMOUNT, "INVALID_AMOUNT", allocations=one("NaN")),
    event("Infinity", AMOUNT, "INVALID_AMOUNT", allocations=one("Infinity")),
    event("decimal comma", AMOUNT, "INVALID_AMOUNT", allocations=one("12,50")),
    event("words", AMOUNT, "INVALID_AMOUNT", allocations=one("ten dollars")),
    event("hexadecimal", AMOUNT, "INVALID_AMOUNT", allocations=one("0x10")),
    event("leading plus", AMOUNT, "INVALID_AMOUNT", allocations=one("+1.00")),
    event("no integer part", AMOUNT, "INVALID_AMOUNT", allocations=one(".50")),
    event("total too small to split", AMOUNT, "INVALID_AMOUNT",
          **split("0.01", (INVESTOR_1, 1), (INVESTOR_2, 1))),
    event("negative total", AMOUNT, "INVALID_AMOUNT", **split("-10.00", (INVESTOR_1, 1))),
    event("zero weight", AMOUNT, "INVALID_INPUT", **split("10.00", (INVESTOR_1, 0))),
    event("negative weight", AMOUNT, "INVALID_INPUT", **split("10.00", (INVESTOR_1, -1))),
    event("weight and amount both", AMOUNT, "INVALID_INPUT", total="10.00", allocations=one("1.00", weight=1)),
    event("unknown currency", AMOUNT, "UNSUPPORTED_CURRENCY", currency="XYZ"),
    event("lower-case currency", AMOUNT, "UNSUPPORTED_CURRENCY", currency="usd"),
    event("gold has no minor unit", AMOUNT, "UNSUPPORTED_CURRENCY", currency="XAU"),
    event("unknown payee", UNKNOWN_ID, "NOT_FOUND", allocations=one(payee="999999")),
    event("payee id of 18 nines", UNKNOWN_ID, "NOT_FOUND", allocations=one(payee="9" * 18)),
    event("payee id of 30 digits", UNKNOWN_ID, "NOT_FOUND", allocations=one(payee="9" * 30)),
    event("negative payee id", UNKNOWN_ID, "NOT_FOUND", allocations=one(payee="-1")),
    event("payee id is a word", UNKNOWN_ID, "NOT_FOUND", allocations=one(payee="abc")),
    event("DROP TABLE in the code", SQL, "INVALID_INPUT", code="'; DROP TABLE payouts; --"),
    event("OR 1=1 as the payee id", SQL, "NOT_FOUND", allocations=one(payee="1 OR 1=1")),
    event("statement in the amount", SQL, "INVALID_AMOUNT", allocations=one("1; DELETE FROM ledger_entries")),
    event("quote in the currency", SQL, "UNSUPPORTED_CURRENCY", currency="USD' OR '1'='1"),
    event("the same payee twice", DUPLICATE, "DUPLICATE_ALLOCATION", allocations=[*one("1.00"), *one("2.00")]),
    event("the same payee twice, by weight", DUPLICATE, "DUPLICATE_ALLOCATION",
          **split("10.00", (INVESTOR_1, 1), (INVESTOR_1, 2))),
    event("the same payee as 1 and 01", DUPLICATE, "DUPLICATE_ALLOCATION",
          allocations=[*one("1.00"), *one("2.00", payee=Ref("investor_1", lambda i: f"0{i}"))]),
    event("an existing code", RULE, "CONFLICT", code="LIQ-2024-001"),
]
# fmt: on

CREATE_PAYOUT = """mutation($input: CreatePayoutInput!) {
  createPayout(input: $input) { payout { id } userErrors { field code message } } }"""


def payout_input(**overrides: Any) -> dict[str, Any]:
    return {
        "payeeId": TINY,
        "amount": "1.00",
        "currency": "INR",
        "bankAccountId": TINY_ACCOUNT,
        "idempotencyKey": "hostile-key-0001",
    } | overrides


def payout(name: str, category: str, expect: str, /, key: str = "tiny", **overrides: Any) -> Row:
    request = Gql(CREATE_PAYOUT, {"input": payout_input(**overrides)}, key)
    return Row("createPayout", name, category, request, expect)


# fmt: off
PAYOUT_ROWS = [
    payout("amount is a JSON number", WRONG_TYPE, "INVALID_INPUT", amount=10),
    payout("payeeId is a boolean", WRONG_TYPE, "INVALID_INPUT", payeeId=True),
    payout("idempotencyKey is a number", WRONG_TYPE, "INVALID_INPUT", idempotencyKey=12345678),
    payout("bankAccountId is an object", WRONG_TYPE, "INVALID_INPUT", bankAccountId={"id": 1}),
    Row("createPayout", "input is a list", WRONG_TYPE,
        Gql(CREATE_PAYOUT, {"input": [payout_input()]}, "tiny"), "INVALID_INPUT"),
    Row("createPayout", "input is null", NULL, Gql(CREATE_PAYOUT, {"input": None}, "tiny"), "INVALID_INPUT"),
    payout("amount is null", NULL, "INVALID_INPUT", amount=None),
    payout("currency is null", NULL, "INVALID_INPUT", currency=None),
    payout("idempotencyKey is null", NULL, "INVALID_INPUT", idempotencyKey=None),
    payout("amount is empty", EMPTY, "INVALID_AMOUNT", amount=""),
    payout("currency is empty", EMPTY, "UNSUPPORTED_CURRENCY", currency=""),
    payout("idempotencyKey is empty", EMPTY, "INVALID_INPUT", idempotencyKey=""),
    payout("payeeId is empty", EMPTY, "NOT_FOUND", payeeId=""),
    payout("bankAccountId is empty", EMPTY, "NOT_FOUND", bankAccountId=""),
    payout("idempotencyKey of 129 characters", HUGE, "INVALID_INPUT", idempotencyKey="k" * 129),
    payout("idempotencyKey of 100,000 characters", HUGE, "INVALID_INPUT", idempotencyKey="k" * 100_000),
    payout("amount of 1,000 digits", HUGE, "INVALID_AMOUNT", amount="1" * 1_000),
    payout("currency of 10,000 characters", HUGE, "UNSUPPORTED_CURRENCY", currency="I" * 10_000),
    payout("Cyrillic idempotencyKey", UNICODE, "INVALID_INPUT",
           idempotencyKey="\u043a\u043b\u044e\u0447-\u043e\u0434\u0438\u043d-\u0434\u0432\u0430"),
    payout("emoji in the idempotencyKey", UNICODE, "INVALID_INPUT", idempotencyKey="hostile-\U0001f4b8-key"),
    payout("spaces in the idempotencyKey", UNICODE, "INVALID_INPUT", idempotencyKey="hostile key 0001"),
    payout("NUL in the idempotencyKey", UNICODE, "INVALID_INPUT", idempotencyKey=f"hostile-key{NUL}"),
    payout("unpaired surrogate in the idempotencyKey", UNICODE, "INVALID_INPUT",
           idempotencyKey=f"hostile-key{SURROGATE}"),
    payout("right-to-left override in the idempotencyKey", UNICODE, "INVALID_INPUT",
           idempotencyKey="hostile-\u202ekey"),
    payout("zero-width space in the currency", UNICODE, "UNSUPPORTED_CURRENCY", currency="INR\u200b"),
    payout("Arabic-Indic digits in the amount", UNICODE, "INVALID_AMOUNT", amount=arabic_indic("1")),
    payout("own payeeId in Arabic-Indic digits", UNICODE, "NOT_FOUND", payeeId=Ref("tiny", arabic_indic)),
    payout("own payeeId in superscript digits", UNICODE, "NOT_FOUND", payeeId=Ref("tiny", superscript)),
    payout("negative", AMOUNT, "INVALID_AMOUNT", amount="-1.00"),
    payout("zero", AMOUNT, "INVALID_AMOUNT", amount="0"),
    payout("zero with decimals", AMOUNT, "INVALID_AMOUNT", amount="0.00"),
    payout("a tenth of a paisa", AMOUNT, "INVALID_AMOUNT", amount="10.001"),
    payout("exponent", AMOUNT, "INVALID_AMOUNT", amount="1e2"),
    payout("NaN", AMOUNT, "INVALID_AMOUNT", amount="NaN"),
    payout("decimal comma", AMOUNT, "INVALID_AMOUNT", amount="1,00"),
    payout("absurdly large", AMOUNT, "INVALID_AMOUNT", amount="10000000000000000"),
    payout("a currency the payee holds none of", AMOUNT, "CURRENCY_MISMATCH", currency="USD"),
    payout("unknown currency", AMOUNT, "UNSUPPORTED_CURRENCY", currency="XYZ"),
    payout("lower-case currency", AMOUNT, "UNSUPPORTED_CURRENCY", currency="inr"),
    payout("unknown payee", UNKNOWN_ID, "NOT_FOUND", payeeId="999999"),
    payout("payee id of 30 digits", UNKNOWN_ID, "NOT_FOUND", payeeId="9" * 30),
    payout("unknown bank account", UNKNOWN_ID, "NOT_FOUND", bankAccountId="999999"),
    payout("another payee's bank account", UNKNOWN_ID, "NOT_FOUND", bankAccountId=ACME_ACCOUNT),
    payout("another payee", UNKNOWN_ID, "NOT_FOUND", payeeId=ACME, bankAccountId=ACME_ACCOUNT),
    payout("OR 1=1 as the payee id", SQL, "NOT_FOUND", payeeId="1 OR 1=1"),
    payout("statement as the bank account id", SQL, "NOT_FOUND", bankAccountId="1; DROP TABLE bank_accounts"),
    payout("quote in the amount", SQL, "INVALID_AMOUNT", amount="1.00' OR '1'='1"),
    payout("comment in the currency", SQL, "UNSUPPORTED_CURRENCY", currency="INR'--"),
    payout("a US account whose ABA routing number fails its checksum", BANK, "INVALID_BANK_ACCOUNT",
           bankAccountId=Ref("tiny_bad_aba_account")),
    payout("an IBAN with a wrong check digit (ops paying the demo investor)", BANK,
           "INVALID_BANK_ACCOUNT", key="ops", payeeId=Ref("bad_iban_payee"),
           bankAccountId=Ref("bad_iban_account"), currency="USD"),
    payout("a used idempotencyKey with another amount", RULE, "IDEMPOTENCY_KEY_REUSED",
           idempotencyKey="hostile-used-key", amount="11.00"),
    payout("more than the balance", RULE, "INSUFFICIENT_FUNDS", amount="90.01"),
]
# fmt: on

CANCEL_PAYOUT = """mutation($input: CancelPayoutInput!) {
  cancelPayout(input: $input) { payout { id status } userErrors { field code message } } }"""


def cancel(name: str, category: str, code: str, payout_id: Any, key: str = "tiny") -> Row:
    request = Gql(CANCEL_PAYOUT, {"input": {"payoutId": payout_id}}, key)
    return Row("cancelPayout", name, category, request, code)


SIXTEEN_CANCELS = (
    "mutation { "
    + " ".join(
        f'c{i}: cancelPayout(input: {{payoutId: "{i}"}}) {{ userErrors {{ code }} }}'
        for i in range(16)
    )
    + " }"
)

# fmt: off
CANCEL_ROWS = [
    cancel("payoutId is a boolean", WRONG_TYPE, "INVALID_INPUT", True),
    cancel("payoutId is a float", WRONG_TYPE, "INVALID_INPUT", 1.5),
    Row("cancelPayout", "input is a string", WRONG_TYPE, Gql(CANCEL_PAYOUT, {"input": "1"}, "tiny"),
        "INVALID_INPUT"),
    cancel("payoutId is null", NULL, "INVALID_INPUT", None),
    Row("cancelPayout", "payoutId is missing", NULL, Gql(CANCEL_PAYOUT, {"input": {}}, "tiny"),
        "INVALID_INPUT"),
    cancel("payoutId is empty", EMPTY, "NOT_FOUND", ""),
    cancel("payoutId is blank", EMPTY, "NOT_FOUND", "  "),
    cancel("payoutId of 10,000 digits", HUGE, "NOT_FOUND", "9" * 10_000),
    cancel("superscript payoutId", UNICODE, "NOT_FOUND", Ref("acme_payout", superscript), "ops"),
    cancel("Arabic-Indic payoutId", UNICODE, "NOT_FOUND", Ref("acme_payout", arabic_indic), "ops"),
    cancel("NUL in the payoutId", UNICODE, "INVALID_INPUT", f"1{NUL}"),
    cancel("unknown payout", UNKNOWN_ID, "NOT_FOUND", "999999"),
    cancel("negative payout id", UNKNOWN_ID, "NOT_FOUND", "-1"),
    cancel("another payee's payout", UNKNOWN_ID, "NOT_FOUND", Ref("acme_payout")),
    cancel("OR 1=1 as the payout id", SQL, "NOT_FOUND", "1 OR 1=1"),
    cancel("UPDATE as the payout id", SQL, "NOT_FOUND", "1; UPDATE payouts SET status='cancelled'"),
    cancel("a payout already cancelled", RULE, "ILLEGAL_TRANSITION", Ref("cancelled_payout")),
    Row("cancelPayout", "16 aliased cancellations (limit 15)", SHAPE, Gql(SIXTEEN_CANCELS), "QUERY_TOO_COMPLEX"),
]
# fmt: on

START_RUN = """mutation($input: StartRunInput!) {
  startRun(input: $input) { run { id } userErrors { field code message } } }"""


def run(name: str, category: str, expect: str, /, **overrides: Any) -> Row:
    variables = {"input": {"liquidationEventId": "LIQ-2024-001", **overrides}}
    return Row("startRun", name, category, Gql(START_RUN, variables), expect)


# fmt: off
RUN_ROWS = [
    run("liquidationEventId is a boolean", WRONG_TYPE, "INVALID_INPUT", liquidationEventId=True),
    run("idempotencyKey is a number", WRONG_TYPE, "INVALID_INPUT", idempotencyKey=42),
    Row("startRun", "input is a list", WRONG_TYPE,
        Gql(START_RUN, {"input": [{"liquidationEventId": "LIQ-2024-001"}]}), "INVALID_INPUT"),
    Row("startRun", "input is null", NULL, Gql(START_RUN, {"input": None}), "INVALID_INPUT"),
    run("liquidationEventId is null", NULL, "INVALID_INPUT", liquidationEventId=None),
    run("liquidationEventId is empty", EMPTY, "NOT_FOUND", liquidationEventId=""),
    run("liquidationEventId is blank", EMPTY, "NOT_FOUND", liquidationEventId="   "),
    run("idempotencyKey is empty", EMPTY, "INVALID_INPUT", idempotencyKey=""),
    run("liquidationEventId of 100,000 characters", HUGE, "NOT_FOUND", liquidationEventId="L" * 100_000),
    run("idempotencyKey of 129 characters", HUGE, "INVALID_INPUT", idempotencyKey="k" * 129),
    run("idempotencyKey of 100,000 characters", HUGE, "INVALID_INPUT", idempotencyKey="k" * 100_000),
    run("superscript event id", UNICODE, "NOT_FOUND", liquidationEventId=superscript("1")),
    run("full-width event code", UNICODE, "NOT_FOUND", liquidationEventId="\uff2c\uff29\uff31-2024-001"),
    run("NUL in the event code", UNICODE, "INVALID_INPUT", liquidationEventId=f"LIQ-2024-001{NUL}"),
    run("unpaired surrogate in the event code", UNICODE, "INVALID_INPUT", liquidationEventId=f"LIQ{SURROGATE}"),
    run("Cyrillic idempotencyKey", UNICODE, "INVALID_INPUT", idempotencyKey="\u043a\u043b\u044e\u0447"),
    run("spaces in the idempotencyKey", UNICODE, "INVALID_INPUT", idempotencyKey="run key 1"),
    run("unknown event code", UNKNOWN_ID, "NOT_FOUND", liquidationEventId="LIQ-NOPE"),
    run("unknown event id", UNKNOWN_ID, "NOT_FOUND", liquidationEventId="999999"),
    run("event id of 30 digits", UNKNOWN_ID, "NOT_FOUND", liquidationEventId="9" * 30),
    run("negative event id", UNKNOWN_ID, "NOT_FOUND", liquidationEventId="-1"),
    run("quote in the event code", SQL, "NOT_FOUND", liquidationEventId="LIQ-2024-001' OR '1'='1"),
    run("OR 1=1 as the event id", SQL, "NOT_FOUND", liquidationEventId="1 OR 1=1"),
    run("DROP TABLE after the event code", SQL, "NOT_FOUND",
        liquidationEventId="LIQ-2024-001; DROP TABLE payout_runs"),
]
# fmt: on

RUN_RECONCILIATION = """mutation($input: RunReconciliationInput!) {
  runReconciliation(input: $input) {
    reconciliationRun { id } userErrors { field code message } } }"""


def reconcile(name: str, category: str, code: str, day: Any) -> Row:
    request = Gql(RUN_RECONCILIATION, {"input": {"businessDate": day}})
    return Row("runReconciliation", name, category, request, code)


FEBRUARY_30 = (
    'mutation { runReconciliation(input: {businessDate: "2026-02-30"}) { userErrors { code } } }'
)

# fmt: off
RECONCILE_ROWS = [
    reconcile("businessDate is a number", WRONG_TYPE, "INVALID_INPUT", 20260301),
    reconcile("businessDate is a boolean", WRONG_TYPE, "INVALID_INPUT", True),
    reconcile("businessDate is a list", WRONG_TYPE, "INVALID_INPUT", ["2026-03-01"]),
    reconcile("businessDate is a date-time", WRONG_TYPE, "INVALID_INPUT", "2026-03-01T00:00:00"),
    reconcile("businessDate is day/month/year", WRONG_TYPE, "INVALID_INPUT", "01/03/2026"),
    Row("runReconciliation", "input is null", NULL, Gql(RUN_RECONCILIATION, {"input": None}), "INVALID_INPUT"),
    reconcile("businessDate is empty", EMPTY, "INVALID_INPUT", ""),
    reconcile("businessDate and 100,000 characters", HUGE, "INVALID_INPUT", "2026-03-01" + "x" * 100_000),
    reconcile("full-width digits", UNICODE, "INVALID_INPUT",
              "\uff12\uff10\uff12\uff16-\uff10\uff13-\uff10\uff11"),
    reconcile("Arabic-Indic digits", UNICODE, "INVALID_INPUT",
              f"{arabic_indic('2026')}-{arabic_indic('03')}-{arabic_indic('01')}"),
    reconcile("NUL after the date", UNICODE, "INVALID_INPUT", f"2026-03-01{NUL}"),
    reconcile("the 30th of February", DATE, "INVALID_INPUT", "2026-02-30"),
    reconcile("month 13", DATE, "INVALID_INPUT", "2026-13-01"),
    reconcile("year 0", DATE, "INVALID_INPUT", "0000-01-01"),
    reconcile("tomorrow", RULE, "INVALID_INPUT", "2026-03-03"),
    reconcile("the last day of year 9999", RULE, "INVALID_INPUT", "9999-12-31"),
    reconcile("the first day of year 1", RULE, "INVALID_INPUT", "0001-01-01"),
    reconcile("two years ago", RULE, "INVALID_INPUT", "2024-03-01"),
    reconcile("DROP TABLE after the date", SQL, "INVALID_INPUT", "2026-03-01'; DROP TABLE job_runs; --"),
    Row("runReconciliation", "the 30th of February as a literal", DATE, Gql(FEBRUARY_30),
        "GRAPHQL_VALIDATION_FAILED"),
]
# fmt: on

RESOLVE_BREAK = """mutation($input: ResolveBreakInput!) {
  resolveBreak(input: $input) { break { id status } userErrors { field code message } } }"""


def resolve(name: str, category: str, expect: str, /, **overrides: Any) -> Row:
    variables = {"input": {"breakId": Ref("open_break"), "note": "checked", **overrides}}
    return Row("resolveBreak", name, category, Gql(RESOLVE_BREAK, variables), expect)


# fmt: off
RESOLVE_ROWS = [
    resolve("note is a number", WRONG_TYPE, "INVALID_INPUT", note=42),
    resolve("breakId is a boolean", WRONG_TYPE, "INVALID_INPUT", breakId=True),
    resolve("note is null", NULL, "INVALID_INPUT", note=None),
    Row("resolveBreak", "input is empty", NULL, Gql(RESOLVE_BREAK, {"input": {}}), "INVALID_INPUT"),
    resolve("note is empty", EMPTY, "INVALID_INPUT", note=""),
    resolve("note is white space", EMPTY, "INVALID_INPUT", note=" \n\t "),
    resolve("breakId is empty", EMPTY, "NOT_FOUND", breakId=""),
    resolve("note of 2,001 characters", HUGE, "INVALID_INPUT", note="n" * 2_001),
    resolve("note of 500,000 characters", HUGE, "INVALID_INPUT", note="n" * 500_000),
    resolve("breakId of 10,000 digits", HUGE, "NOT_FOUND", breakId="9" * 10_000),
    resolve("NUL in the note", UNICODE, "INVALID_INPUT", note=f"done{NUL}"),
    resolve("unpaired surrogate in the note", UNICODE, "INVALID_INPUT", note=f"done{SURROGATE}"),
    resolve("terminal escape in the note", UNICODE, "INVALID_INPUT", note="done\x1b[2J\x1b[31m"),
    resolve("superscript breakId", UNICODE, "NOT_FOUND", breakId=Ref("open_break", superscript)),
    resolve("Arabic-Indic breakId", UNICODE, "NOT_FOUND", breakId=Ref("open_break", arabic_indic)),
    resolve("unknown break", UNKNOWN_ID, "NOT_FOUND", breakId="999999"),
    resolve("break id of 30 digits", UNKNOWN_ID, "NOT_FOUND", breakId="9" * 30),
    resolve("OR 1=1 as the break id", SQL, "NOT_FOUND", breakId="1 OR 1=1"),
    resolve("a break already resolved", RULE, "BREAK_NOT_OPEN", breakId=Ref("resolved_break")),
]
# fmt: on


def query(
    target: str, name: str, category: str, expect: str | None, document: str, /, **variables: Any
) -> Row:
    return Row(target, name, category, Gql(document, variables), expect)


PAYOUTS = (
    "query($first: Int, $after: String, $filter: PayoutFilter) "
    "{ payouts(first: $first, after: $after, filter: $filter) { edges { node { id } } } }"
)
PAYOUT = "query($id: ID!) { payout(id: $id) { id amount { amount } } }"
PAYEE = "query($id: ID!) { payee(id: $id) { id name } }"
RUN = "query($id: ID!) { run(id: $id) { id } }"
RUNS = (
    "query($first: Int, $after: String) { runs(first: $first, after: $after) { edges { cursor } } }"
)
PAYEES = (
    "query($first: Int, $after: String) "
    "{ payees(first: $first, after: $after) { edges { cursor } } }"
)
ROUTE = (
    "query($country: String!, $us: Boolean, $method: PaymentMethod) "
    "{ route(country: $country, hasUsBankAccount: $us, paymentMethod: $method) { currency } }"
)
RECONCILIATION_RUNS = (
    "query($first: Int, $after: String) "
    "{ reconciliationRuns(first: $first, after: $after) { edges { cursor } } }"
)
BREAKS = (
    "query($first: Int, $filter: BreakFilter) "
    "{ reconciliationBreaks(first: $first, filter: $filter) { edges { cursor } } }"
)
JOB_RUNS = (
    "query($first: Int, $after: String, $job: String) "
    "{ jobRuns(first: $first, after: $after, job: $job) { edges { cursor } } }"
)
FORGED = "bm90LWEtY3Vyc29y"  # base64 of "not-a-cursor"


def cursor(text: str) -> str:
    import base64

    return base64.urlsafe_b64encode(text.encode()).decode()


DEPTH_10 = (
    "{ runs { edges { node { payouts { edges { node { payee { bankAccounts "
    "{ details { name } } } } } } } } } }"
)

# fmt: off
QUERY_ROWS = [
    query("payouts", "first is a string", WRONG_TYPE, "INVALID_INPUT", PAYOUTS, first="10"),
    query("payouts", "first above 32 bits", WRONG_TYPE, "INVALID_INPUT", PAYOUTS, first=2**31),
    query("payouts", "status is not a status", WRONG_TYPE, "INVALID_INPUT", PAYOUTS, filter={"status": "nope"}),
    query("payouts", "a page of 1,000", PAGE, "PAGE_SIZE", PAYOUTS, first=1000),
    query("payouts", "a page of 0", PAGE, "PAGE_SIZE", PAYOUTS, first=0),
    query("payouts", "a page of -1", PAGE, "PAGE_SIZE", PAYOUTS, first=-1),
    query("payouts", "a forged cursor", PAGE, "INVALID_CURSOR", PAYOUTS, after=FORGED),
    query("payouts", "an empty cursor", PAGE, "INVALID_CURSOR", PAYOUTS, after=""),
    query("payouts", "a cursor of 100,000 characters", PAGE, "INVALID_CURSOR", PAYOUTS, after="a" * 100_000),
    query("payouts", "a cursor with a negative key", PAGE, "INVALID_CURSOR", PAYOUTS, after=cursor("k:-5")),
    query("payouts", "a cursor with a 40-digit key", PAGE, "INVALID_CURSOR", PAYOUTS,
          after=cursor("k:" + "9" * 40)),
    query("payouts", "an unpaired surrogate as the cursor", UNICODE, "INVALID_INPUT", PAYOUTS, after=SURROGATE),
    query("payouts", "a runId that is not an id", UNKNOWN_ID, "INVALID_INPUT", PAYOUTS, filter={"runId": "x"}),
    query("payouts", "a superscript payeeId", UNICODE, "INVALID_INPUT", PAYOUTS,
          filter={"payeeId": superscript("1")}),
    query("payouts", "an eventId of 30 digits", UNKNOWN_ID, "INVALID_INPUT", PAYOUTS,
          filter={"eventId": "9" * 30}),
    query("payouts", "NUL in the country filter", UNICODE, "INVALID_INPUT", PAYOUTS,
          filter={"country": f"D{NUL}"}),
    query("payouts", "OR 1=1 in the country filter", SQL, None, PAYOUTS, filter={"country": "' OR '1'='1"}),
    query("payouts", "UNION SELECT in the rail filter", SQL, None, PAYOUTS,
          filter={"rail": "ACH' UNION SELECT key_hash FROM api_keys --"}),
    query("payouts", "a country filter of 100,000 characters", HUGE, None, PAYOUTS,
          filter={"country": "D" * 100_000}),
    query("payouts", "a status that is not a status, as a literal", SHAPE, "GRAPHQL_VALIDATION_FAILED",
          "{ payouts(filter: {status: NOPE}) { edges { cursor } } }"),
    query("payout", "id is null", NULL, "INVALID_INPUT", PAYOUT, id=None),
    query("payout", "id is missing", SHAPE, "GRAPHQL_VALIDATION_FAILED", "{ payout { id } }"),
    query("payout", "unknown id", UNKNOWN_ID, None, PAYOUT, id="999999"),
    query("payout", "id of 30 digits", UNKNOWN_ID, None, PAYOUT, id="9" * 30),
    query("payout", "superscript id", UNICODE, None, PAYOUT, id=superscript("1")),
    query("payout", "NUL in the id", UNICODE, "INVALID_INPUT", PAYOUT, id=f"1{NUL}"),
    query("payout", "OR 1=1 as the id", SQL, None, PAYOUT, id="1 OR 1=1"),
    query("payee", "a word as the id", UNKNOWN_ID, None, PAYEE, id="abc"),
    query("payee", "Arabic-Indic id", UNICODE, None, PAYEE, id=Ref("tiny", arabic_indic)),
    query("payee", "id of 30 digits", UNKNOWN_ID, None, PAYEE, id="9" * 30),
    query("payee", "OR 1=1 as the id", SQL, None, PAYEE, id="1' OR '1'='1"),
    query("run", "unknown id", UNKNOWN_ID, None, RUN, id="999999"),
    query("run", "superscript id", UNICODE, None, RUN, id=superscript("1")),
    query("runs", "a page of 101", PAGE, "PAGE_SIZE", RUNS, first=101),
    query("runs", "a forged cursor", PAGE, "INVALID_CURSOR", RUNS, after=FORGED),
    query("runs", "ten levels deep (limit 8)", SHAPE, "QUERY_TOO_COMPLEX", DEPTH_10),
    query("payees", "a page of 1,000", PAGE, "PAGE_SIZE", PAYEES, first=1000),
    query("payees", "a cursor of another kind", PAGE, "INVALID_CURSOR", PAYEES, after=cursor("payee:1")),
    query("events", "an argument it does not take", SHAPE, "GRAPHQL_VALIDATION_FAILED",
          "{ events(first: 1000) { code } }"),
    query("ledgerAccounts", "a field it does not have", SHAPE, "GRAPHQL_VALIDATION_FAILED",
          "{ ledgerAccounts { code keyHash } }"),
    query("rails", "an argument it does not take", SHAPE, "GRAPHQL_VALIDATION_FAILED",
          '{ rails(country: "DE") { code } }'),
    query("rails", "50 aliases (limit 15)", SHAPE, "QUERY_TOO_COMPLEX",
          "{ " + " ".join(f"a{i}: rails {{ code }}" for i in range(50)) + " }"),
    query("rails", "3,000 tokens (limit 2,000)", SHAPE, "QUERY_TOO_COMPLEX",
          "{ rails { " + " ".join("code" for _ in range(3000)) + " } }"),
    query("rails", "the same field 1,500 times", SHAPE, "QUERY_TOO_COMPLEX",
          "{ rails { " + " ".join("code" for _ in range(1500)) + " } }"),
    query("route", "an unknown country", UNKNOWN_ID, "UNKNOWN_COUNTRY", ROUTE, country="ZZ"),
    query("route", "a country name", WRONG_TYPE, "UNKNOWN_COUNTRY", ROUTE, country="Germany"),
    query("route", "hasUsBankAccount is a string", WRONG_TYPE, "INVALID_INPUT", ROUTE, country="DE", us="yes"),
    query("route", "a method the engine cannot pay", RULE, "UNSUPPORTED_PAYMENT_METHOD", ROUTE,
          country="DE", method="CHECK"),
    query("route", "a method that does not exist", WRONG_TYPE, "INVALID_INPUT", ROUTE, country="DE",
          method="CARRIER_PIGEON"),
    query("route", "country is null", NULL, "INVALID_INPUT", ROUTE, country=None),
    query("route", "country is empty", EMPTY, "UNKNOWN_COUNTRY", ROUTE, country=""),
    query("route", "country of 10,000 characters", HUGE, "UNKNOWN_COUNTRY", ROUTE, country="D" * 10_000),
    query("route", "NUL in the country", UNICODE, "INVALID_INPUT", ROUTE, country=f"D{NUL}"),
    query("route", "an unpaired surrogate as the country", UNICODE, "INVALID_INPUT", ROUTE, country=SURROGATE),
    query("route", "full-width country", UNICODE, "UNKNOWN_COUNTRY", ROUTE, country="\uff24\uff25"),
    query("route", "quote in the country", SQL, "UNKNOWN_COUNTRY", ROUTE, country="DE' --"),
    query("reconciliationRuns", "a page of 0", PAGE, "PAGE_SIZE", RECONCILIATION_RUNS, first=0),
    query("reconciliationRuns", "a forged cursor", PAGE, "INVALID_CURSOR", RECONCILIATION_RUNS, after=FORGED),
    query("reconciliationBreaks", "a page of 1,000", PAGE, "PAGE_SIZE", BREAKS, first=1000),
    query("reconciliationBreaks", "a payoutId that is not an id", UNKNOWN_ID, "INVALID_INPUT", BREAKS,
          filter={"payoutId": "x"}),
    query("reconciliationBreaks", "a run id of 30 digits", UNKNOWN_ID, "INVALID_INPUT", BREAKS,
          filter={"reconciliationRunId": "9" * 30}),
    query("reconciliationBreaks", "a kind that is not a kind", WRONG_TYPE, "INVALID_INPUT", BREAKS,
          filter={"kind": "everything"}),
    query("jobRuns", "a page of 101", PAGE, "PAGE_SIZE", JOB_RUNS, first=101),
    query("jobRuns", "a forged cursor", PAGE, "INVALID_CURSOR", JOB_RUNS, after=FORGED),
    query("jobRuns", "NUL in the job name", UNICODE, "INVALID_INPUT", JOB_RUNS, job=f"poll{NUL}"),
    query("jobRuns", "OR 1=1 as the job name", SQL, None, JOB_RUNS, job="x' OR '1'='1"),
    query("jobRuns", "a job name of 100,000 characters", HUGE, None, JOB_RUNS, job="j" * 100_000),
    query("payoutUpdated", "a subscription POSTed over HTTP", TRANSPORT, "BAD_REQUEST",
          "subscription { payoutUpdated { id } }"),
]
# fmt: on

DOCUMENT = "GraphQL document"
DEEP_INTROSPECTION = (
    "{ __schema { types { fields { type { " + "ofType { " * 200 + "name" + " }" * 200 + " } } } } }"
)
# 19 levels of fields: __schema, types, fields, type, 14 times ofType, name.
INTROSPECTION_19_LEVELS = (
    "{ __schema { types { fields { type { " + "ofType { " * 14 + "name" + " }" * 19
)
FIELDS_OF_FIELDS = (
    "{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }"
)

# fmt: off
DOCUMENT_ROWS = [
    query(DOCUMENT, "cut off", SHAPE, "GRAPHQL_PARSE_FAILED", "{ payouts(first: "),
    query(DOCUMENT, "only white space", SHAPE, "GRAPHQL_PARSE_FAILED", "   "),
    query(DOCUMENT, "only a comment", SHAPE, "GRAPHQL_PARSE_FAILED", "# nothing here"),
    query(DOCUMENT, "JSON instead of GraphQL", SHAPE, "GRAPHQL_PARSE_FAILED", '{"payouts": {"first": 10}}'),
    query(DOCUMENT, "SQL instead of GraphQL", SQL, "GRAPHQL_PARSE_FAILED", "SELECT * FROM api_keys"),
    query(DOCUMENT, "an unknown field", SHAPE, "GRAPHQL_VALIDATION_FAILED", "{ nosuchfield }"),
    query(DOCUMENT, "a mutation without its input", SHAPE, "GRAPHQL_VALIDATION_FAILED",
          "mutation { startRun { run { id } } }"),
    query(DOCUMENT, "two anonymous operations", SHAPE, "GRAPHQL_VALIDATION_FAILED",
          "{ rails { code } } { events { code } }"),
    query(DOCUMENT, "a fragment cycle", SHAPE, "GRAPHQL_VALIDATION_FAILED",
          "query { ...A } fragment A on Query { ...B } fragment B on Query { ...A }"),
    query(DOCUMENT, "one directive twice", SHAPE, "GRAPHQL_VALIDATION_FAILED",
          "{ rails @skip(if: false) @skip(if: false) { code } }"),
    query(DOCUMENT, "introspection nested 200 deep", SHAPE, "QUERY_TOO_COMPLEX", DEEP_INTROSPECTION),
    query(DOCUMENT, "introspection 19 levels deep", SHAPE, "QUERY_TOO_COMPLEX", INTROSPECTION_19_LEVELS),
    query(DOCUMENT, "introspection listing the fields of fields of fields", SHAPE, "QUERY_TOO_COMPLEX",
          FIELDS_OF_FIELDS),
    query(DOCUMENT, "an unpaired surrogate escaped in a literal", UNICODE, "GRAPHQL_PARSE_FAILED",
          '{ route(country: "\\ud800") { currency } }'),
    query(DOCUMENT, "a variable of an unknown type", SHAPE, "GRAPHQL_VALIDATION_FAILED",
          "query($x: Secret) { rails { code } }"),
]
# fmt: on


def padded(size: int) -> Callable[[], bytes]:
    """A well-formed request of ``size`` bytes: a valid query and a padding variable."""

    def body() -> bytes:
        head, tail = b'{"query": "{ rails { code } }", "variables": {"pad": "', b'"}}'
        return head + b"x" * (size - len(head) - len(tail)) + tail

    return body


def http(name: str, code: str, status: int, request: Raw, served: bool = False) -> Row:
    return Row(HTTP, name, TRANSPORT, request, code, status, served)


RAILS = b'{"query": "{ rails { code } }"}'
MUTATION = 'mutation { cancelPayout(input: {payoutId: "1"}) { userErrors { code } } }'
DEEP_JSON = (
    b'{"query": "{ rails { code } }", "variables": {"x": ' + b"[" * 200_000 + b"]" * 200_000 + b"}}"
)
MULTIPART = b'--b\r\nContent-Disposition: form-data; name="operations"\r\n\r\n{}\r\n--b--\r\n'

# fmt: off
HTTP_ROWS = [
    http("malformed JSON", "BAD_REQUEST", 400, Raw(b'{"query": ')),
    http("an empty body", "BAD_REQUEST", 400, Raw(b"")),
    http("a JSON string", "BAD_REQUEST", 400, Raw(b'"{ rails { code } }"')),
    http("a JSON number", "BAD_REQUEST", 400, Raw(b"42")),
    http("JSON null", "BAD_REQUEST", 400, Raw(b"null")),
    http("a batch (not enabled)", "BAD_REQUEST", 400, Raw(b"[" + RAILS + b"," + RAILS + b"]")),
    http("an empty batch", "BAD_REQUEST", 400, Raw(b"[]")),
    http("bytes that are not UTF-8", "BAD_REQUEST", 400, Raw(b'{"query": "\xff\xfe"}')),
    http("JSON nested 200,000 deep", "BAD_REQUEST", 400, Raw(DEEP_JSON)),
    http("query is a number", "BAD_REQUEST", 400, Raw(b'{"query": 42}')),
    http("variables are a list", "BAD_REQUEST", 400, Raw(b'{"query": "{ rails { code } }", "variables": [1]}')),
    http("no query", "BAD_REQUEST", 400, Raw(b'{"variables": {}}')),
    http("an empty query", "BAD_REQUEST", 400, Raw(b'{"query": ""}')),
    http("an unknown operationName", "BAD_REQUEST", 400,
         Raw(b'{"query": "query A { rails { code } }", "operationName": "B"}')),
    http("text/plain", "UNSUPPORTED_MEDIA_TYPE", 415, Raw(RAILS, "text/plain")),
    http("a form", "UNSUPPORTED_MEDIA_TYPE", 415,
         Raw(b"query=%7B+rails+%7B+code+%7D+%7D", "application/x-www-form-urlencoded")),
    # uploads are on (importLiquidationEvent's CSV), so a multipart body is read:
    http("multipart without a query", "BAD_REQUEST", 400, Raw(MULTIPART, "multipart/form-data; boundary=b")),
    http("multipart that is not", "BAD_REQUEST", 400, Raw(b"--x\r\nnonsense", "multipart/form-data; boundary=b")),
    http("no Content-Type", "UNSUPPORTED_MEDIA_TYPE", 415, Raw(RAILS, None)),
    http("application/graphql", "UNSUPPORTED_MEDIA_TYPE", 415,
         Raw(b"{ rails { code } }", "application/graphql")),
    http("a look-alike of application/json", "UNSUPPORTED_MEDIA_TYPE", 415, Raw(RAILS, "application/jsonp")),
    http("a mutation in a GET", "METHOD_NOT_ALLOWED", 405, Raw(method="GET", params={"query": MUTATION})),
    http("a query in a GET", "METHOD_NOT_ALLOWED", 405,
         Raw(method="GET", params={"query": "{ rails { code } }"})),
    http("PUT", "METHOD_NOT_ALLOWED", 405, Raw(RAILS, method="PUT")),
    http("DELETE", "METHOD_NOT_ALLOWED", 405, Raw(method="DELETE")),
    http("10 MB with its Content-Length", "REQUEST_TOO_LARGE", 413, Raw(padded(10_000_000))),
    http("2 MB chunked, without a Content-Length", "REQUEST_TOO_LARGE", 413, Raw(chunks=32)),
    # Through uvicorn too: httpx's ASGI transport skips the server's own HTTP handling.
    http("malformed JSON", "BAD_REQUEST", 400, Raw(b'{"query": '), served=True),
    http("an empty body", "BAD_REQUEST", 400, Raw(b""), served=True),
    http("text/plain", "UNSUPPORTED_MEDIA_TYPE", 415, Raw(RAILS, "text/plain"), served=True),
    http("10 MB with its Content-Length", "REQUEST_TOO_LARGE", 413, Raw(padded(10_000_000)), served=True),
    http("6 MB chunked, without a Content-Length", "REQUEST_TOO_LARGE", 413, Raw(chunks=96), served=True),
]
# fmt: on

# Sent as graphql-transport-ws ``subscribe`` messages on an authenticated socket: the
# error comes back as an ``error`` message, or a ``next`` whose payload holds errors.
WATCH = "subscription($run: ID, $payee: ID) { payoutUpdated(runId: $run, payeeId: $payee) { id } }"
SOCKET_INPUTS = {
    "cut off": ("subscription { payoutUpdated(", {}, "GRAPHQL_PARSE_FAILED"),
    "an unknown field": ("subscription { nosuch }", {}, "GRAPHQL_VALIDATION_FAILED"),
    "two root fields": (
        "subscription { a: payoutUpdated { id } b: payoutUpdated { id } }",
        {},
        "GRAPHQL_VALIDATION_FAILED",
    ),
    "a runId that is not an id": (WATCH, {"run": "x"}, "INVALID_INPUT"),
    "a superscript payeeId": (WATCH, {"payee": superscript("1")}, "INVALID_INPUT"),
    "a runId of 30 digits": (WATCH, {"run": "9" * 30}, "INVALID_INPUT"),
    "NUL in the runId": (WATCH, {"run": f"1{NUL}"}, "INVALID_INPUT"),
    "a runId that is a float": (WATCH, {"run": 5.5}, "INVALID_INPUT"),
}

# Values thousands of times longer than any valid one. Each is refused with its code, and
# the answer quotes at most a short beginning of the value: it stays small.
HUNDRED_THOUSAND_DECIMALS = "1." + "1" * 100_000
FIVE_HUNDRED_KB = 500_000

# fmt: off
HUGE_VALUES = [
    query("route", "a country of 500 KB", HUGE, "UNKNOWN_COUNTRY", ROUTE, country="D" * FIVE_HUNDRED_KB),
    query("route", "a country of 500 KB in a literal", HUGE, "UNKNOWN_COUNTRY",
          '{ route(country: "' + "D" * FIVE_HUNDRED_KB + '") { currency } }'),
    query("route", "a number of 500 KB as the country, in a literal", HUGE, "GRAPHQL_VALIDATION_FAILED",
          "{ route(country: " + "9" * FIVE_HUNDRED_KB + ") { currency } }"),
    event("an amount with 100,000 decimals", HUGE, "INVALID_AMOUNT", allocations=one(HUNDRED_THOUSAND_DECIMALS)),
    event("a currency of 500 KB", HUGE, "UNSUPPORTED_CURRENCY", currency="U" * FIVE_HUNDRED_KB),
    event("a payeeId of 500 KB", HUGE, "NOT_FOUND", allocations=one(payee="9" * FIVE_HUNDRED_KB)),
    payout("an amount with 100,000 decimals", HUGE, "INVALID_AMOUNT", amount=HUNDRED_THOUSAND_DECIMALS),
    payout("an amount of 500 KB", HUGE, "INVALID_AMOUNT", amount="1,5" * (FIVE_HUNDRED_KB // 3)),
    payout("a payeeId of 500 KB", HUGE, "NOT_FOUND", payeeId="9" * FIVE_HUNDRED_KB),
    cancel("a payoutId of 500 KB", HUGE, "NOT_FOUND", "p" * FIVE_HUNDRED_KB),
    run("a liquidationEventId of 500 KB", HUGE, "NOT_FOUND", liquidationEventId="L" * FIVE_HUNDRED_KB),
    resolve("a breakId of 500 KB", HUGE, "NOT_FOUND", breakId="b" * FIVE_HUNDRED_KB),
]
# fmt: on

CREATE_PAYEE = """mutation($input: CreatePayeeInput!) {
  createPayee(input: $input) { payee { id } userErrors { field code message } } }"""
UPDATE_PAYEE = """mutation($input: UpdatePayeeInput!) {
  updatePayee(input: $input) { payee { id } userErrors { field code message } } }"""
ADD_ACCOUNT = """mutation($input: AddBankAccountInput!) {
  addBankAccount(input: $input) { bankAccount { id } userErrors { field code message } } }"""
RETIRE_ACCOUNT = """mutation($input: RetireBankAccountInput!) {
  retireBankAccount(input: $input) { bankAccount { id } userErrors { field code message } } }"""


def new_payee(name: str, category: str, expect: str, /, **overrides: Any) -> Row:
    base = {"externalId": "HOSTILE-1", "name": "Hostile", "kind": "INVESTOR", "country": "DE"}
    return Row(
        "createPayee", name, category, Gql(CREATE_PAYEE, {"input": base | overrides}), expect
    )


def change_payee(name: str, category: str, expect: str, /, **overrides: Any) -> Row:
    request = Gql(UPDATE_PAYEE, {"input": {"id": INVESTOR_1} | overrides})
    return Row("updatePayee", name, category, request, expect)


def new_account(name: str, category: str, expect: str, /, **overrides: Any) -> Row:
    base = {
        "payeeId": TINY,
        "holderName": "Tiny",
        "currency": "INR",
        "ifsc": "HDFC0001234",
        "accountNumber": "50100012345678",
    }
    return Row(
        "addBankAccount", name, category, Gql(ADD_ACCOUNT, {"input": base | overrides}), expect
    )


def retire(name: str, category: str, expect: str, account: Any) -> Row:
    request = Gql(RETIRE_ACCOUNT, {"input": {"id": account}})
    return Row("retireBankAccount", name, category, request, expect)


VERIFY_ACCOUNT = """mutation($input: VerifyBankAccountInput!) {
  verifyBankAccount(input: $input) { bankAccount { id } userErrors { field code message } } }"""


def clear(name: str, category: str, expect: str, /, **overrides: Any) -> Row:
    request = Gql(VERIFY_ACCOUNT, {"input": {"id": TINY_ACCOUNT, "note": "checked"} | overrides})
    return Row("verifyBankAccount", name, category, request, expect)


# fmt: off
ONBOARDING_ROWS = [
    new_payee("externalId is a number", WRONG_TYPE, "INVALID_INPUT", externalId=42),
    new_payee("kind is unknown", WRONG_TYPE, "INVALID_INPUT", kind="WHALE"),
    new_payee("name is null", NULL, "INVALID_INPUT", name=None),
    new_payee("name is blank", EMPTY, "INVALID_INPUT", name="   "),
    new_payee("name of 10,000 characters", HUGE, "INVALID_INPUT", name="n" * 10_000),
    new_payee("NUL in the name", UNICODE, "INVALID_INPUT", name=f"a{NUL}b"),
    new_payee("right-to-left override in the name", UNICODE, "INVALID_INPUT", name="a\u202eb"),
    new_payee("quote in the externalId", SQL, "INVALID_INPUT", externalId="X' OR '1'='1"),
    new_payee("country XX", RULE, "UNKNOWN_COUNTRY", country="XX"),
    new_payee("an email without a domain", RULE, "INVALID_INPUT", email="someone@"),
    new_payee("a payment method the engine cannot pay", RULE, "UNSUPPORTED_PAYMENT_METHOD",
              paymentMethod="CHECK"),
    new_payee("an externalId already taken", DUPLICATE, "CONFLICT", externalId="INV-0001"),
    change_payee("id is a boolean", WRONG_TYPE, "INVALID_INPUT", id=True),
    change_payee("unknown payee", UNKNOWN_ID, "NOT_FOUND", id="999999"),
    change_payee("payee id of 30 digits", UNKNOWN_ID, "NOT_FOUND", id="9" * 30),
    change_payee("country of 10,000 characters", HUGE, "UNKNOWN_COUNTRY", country="D" * 10_000),
    change_payee("empty name", EMPTY, "INVALID_INPUT", name=""),
    new_account("unknown payee", UNKNOWN_ID, "NOT_FOUND", payeeId="999999"),
    new_account("OR 1=1 as the payee id", SQL, "NOT_FOUND", payeeId="1 OR 1=1"),
    new_account("holderName is empty", EMPTY, "INVALID_INPUT", holderName=""),
    new_account("a currency the rail does not pay in", AMOUNT, "UNSUPPORTED_CURRENCY", currency="USD"),
    new_account("an IFSC in lower case", BANK, "INVALID_BANK_ACCOUNT", ifsc="hdfc0001234x"),
    new_account("an ABA routing number failing its checksum", BANK, "INVALID_BANK_ACCOUNT",
                abaRouting="123456789", accountType="checking", currency="USD"),
    new_account("an IBAN with a wrong check digit", BANK, "INVALID_BANK_ACCOUNT",
                payeeId=INVESTOR_1, iban="DE88370400440532013000", ifsc=None, accountNumber=None),
    new_account("a field the rail does not use", RULE, "INVALID_BANK_ACCOUNT", clabe="002180000118359710"),
    retire("id is a boolean", WRONG_TYPE, "INVALID_INPUT", True),
    retire("unknown account", UNKNOWN_ID, "NOT_FOUND", "999999"),
    retire("DROP TABLE as the id", SQL, "NOT_FOUND", "1; DROP TABLE bank_accounts"),
    retire("empty id", EMPTY, "NOT_FOUND", ""),
    clear("id is a boolean", WRONG_TYPE, "INVALID_INPUT", id=True),
    clear("note is null", NULL, "INVALID_INPUT", note=None),
    clear("unknown account", UNKNOWN_ID, "NOT_FOUND", id="999999"),
    clear("DROP TABLE as the id", SQL, "NOT_FOUND", id="1; DROP TABLE bank_accounts"),
    clear("note is blank", EMPTY, "INVALID_INPUT", note="   "),
    clear("note of 10,000 characters", HUGE, "INVALID_INPUT", note="n" * 10_000),
    clear("a bell in the note", UNICODE, "INVALID_INPUT", note="a\x07b"),
    clear("an account verification does not hold", RULE, "CONFLICT"),
]
# fmt: on

CANCEL_RUN = """mutation($input: CancelRunInput!) {
  cancelRun(input: $input) { run { id } userErrors { field code message } } }"""
DECIDE = """mutation($input: DecideApprovalInput!) {
  decideApproval(input: $input) { approval { id } userErrors { field code message } } }"""


def cancel_run(name: str, category: str, expect: str, run_id: Any) -> Row:
    return Row("cancelRun", name, category, Gql(CANCEL_RUN, {"input": {"runId": run_id}}), expect)


# fmt: off
WORKFLOW_ROWS = [
    cancel_run("runId is a boolean", WRONG_TYPE, "INVALID_INPUT", True),
    cancel_run("runId is null", NULL, "INVALID_INPUT", None),
    cancel_run("runId is empty", EMPTY, "NOT_FOUND", ""),
    cancel_run("runId of 100,000 digits", HUGE, "NOT_FOUND", "9" * 100_000),
    cancel_run("superscript runId", UNICODE, "NOT_FOUND", superscript("1")),
    cancel_run("unknown runId", UNKNOWN_ID, "NOT_FOUND", "999999"),
    cancel_run("SQL in runId", SQL, "NOT_FOUND", "1 OR 1=1"),
    # the ops key decides nothing (four eyes: approver keys only)
    Row("decideApproval", "an ops key deciding", RULE,
        Gql(DECIDE, {"input": {"approvalId": "1", "decision": "APPROVE"}}), "FORBIDDEN"),
    Row("decideApproval", "decision is not an enum value", WRONG_TYPE,
        Gql(DECIDE, {"input": {"approvalId": "1", "decision": "MAYBE"}}), "INVALID_INPUT"),
]
# fmt: on

HOSTILE_INPUTS = [
    *WORKFLOW_ROWS,
    *EVENT_ROWS,
    *ONBOARDING_ROWS,
    *PAYOUT_ROWS,
    *CANCEL_ROWS,
    *RUN_ROWS,
    *RECONCILE_ROWS,
    *RESOLVE_ROWS,
    *QUERY_ROWS,
    *DOCUMENT_ROWS,
    *HTTP_ROWS,
]

# --- sending a row and judging the answer ------------------------------------------------

KEYS = {
    "ops": DEMO_OPS_KEY,
    "tiny": DEMO_MERCHANT_KEYS["MER-TINY"],
    "acme": DEMO_MERCHANT_KEYS["MER-ACME"],
}
# What must never reach a client: a traceback, a source file, a driver's name, SQL. Each
# counts only when the request did not carry it itself (an error may quote the input).
LEAKS = [
    re.compile(pattern)
    for pattern in (
        r"Traceback \(most recent call last\)",
        r'File "[^"]*", line \d+',
        r"\w\.py\b",
        r"site-packages",
        r"(?i:sqlalchemy|psycopg|sqlite|asyncpg)",
        r"\[SQL: ",
        r"\bSELECT\b.+\bFROM\b",
        r"\bINSERT INTO\b",
        r"\bUPDATE\b.+\bSET\b",
        r"\bDELETE FROM\b",
        r"\b(Integrity|Operational|Programming|Data|Attribute|Key|Type|Recursion)Error\b",
        r"\bUnicode(En|De)codeError\b",
    )
]


def filled(value: Any, refs: dict[str, str]) -> Any:
    if isinstance(value, Ref):
        return value.spelled(refs[value.name])
    if isinstance(value, dict):
        return {k: filled(v, refs) for k, v in value.items()}
    if isinstance(value, list):
        return [filled(v, refs) for v in value]
    return value


async def chunked(count: int) -> AsyncIterator[bytes]:
    yield b'{"query": "{ rails { code } }", "variables": {"pad": "'
    for _ in range(count):
        yield b"x" * 65_536
    yield b'"}}'


async def send(
    http: httpx.AsyncClient, row: Row, refs: dict[str, str]
) -> tuple[str, httpx.Response]:
    """Send ``row``; the text that was sent (for the leak check), and the response."""
    request = row.request
    if isinstance(request, Gql):
        sent = json.dumps({"query": request.query, "variables": filled(request.variables, refs)})
        headers = {
            "content-type": "application/json",
            "authorization": f"Api-Key {KEYS[request.key]}",
        }
        return sent, await http.post("/graphql", content=sent.encode(), headers=headers)
    headers = {"authorization": f"Api-Key {DEMO_OPS_KEY}"}
    if request.content_type is not None:
        headers["content-type"] = request.content_type
    body = request.body() if callable(request.body) else request.body
    content: bytes | AsyncIterator[bytes] = chunked(request.chunks) if request.chunks else body
    response = await http.request(
        request.method, "/graphql", content=content, params=request.params, headers=headers
    )
    return body.decode(errors="replace") + json.dumps(request.params), response


def judge(row: Row, sent: str, response: httpx.Response) -> None:
    assert response.status_code == row.status, (
        f"status {response.status_code}: {response.text[:300]}"
    )
    assert response.headers["content-type"].startswith("application/json"), response.text[:300]
    body = response.json()
    errors = body.get("errors") or []
    for error in errors:
        assert error.get("message"), f"an error without a message: {error}"
        assert error.get("extensions", {}).get("code"), f"an error without a code: {error}"
    codes = {error["extensions"]["code"] for error in errors} | user_error_codes(body.get("data"))
    assert "INTERNAL" not in codes, f"a crash: {response.text[:300]}"
    if row.code is None:
        assert not errors, errors
        answer = body["data"][row.target]
        assert answer is None or answer.get("edges") == [], f"not nothing: {str(answer)[:300]}"
    else:
        assert row.code in codes, f"{row.code} not in {sorted(codes)}: {response.text[:300]}"
    for leak in LEAKS:
        found = leak.search(response.text)
        assert found is None or leak.search(sent), f"the answer holds {found.group(0)!r}"


def user_error_codes(data: Any) -> set[str]:
    if isinstance(data, dict):
        found = {e["code"] for e in data.get("userErrors") or []}
        return found.union(*(user_error_codes(v) for k, v in data.items() if k != "userErrors"))
    if isinstance(data, list):
        return set().union(*(user_error_codes(v) for v in data))
    return set()


async def refused_and_unchanged(
    http: httpx.AsyncClient, rows: list[Row], refs: dict[str, str], container: Container
) -> list[str]:
    """Send every row; what went wrong, one line per row (empty when all is well)."""
    failures = []
    before = await snapshot(container)
    for row in rows:
        try:
            sent, response = await send(http, row, refs)
            judge(row, sent, response)
        except Exception as exc:  # one row's failure, reported with the others
            failures.append(f"{row.id}: {type(exc).__name__}: {str(exc).splitlines()[0]}")
        after = await snapshot(container)
        changed = sorted(table for table in after if after[table] != before.get(table))
        if changed:
            failures.append(f"{row.id}: changed the table(s) {', '.join(changed)}")
            before = after  # the next rows are judged on their own
    return failures


# --- the database each group of rows is sent to -------------------------------------------


async def payee(container: Container, reference: str) -> tuple[str, str | None]:
    async with container.sessions() as session:
        payee_id, account_id = (
            await session.execute(
                select(Payee.id, BankAccount.id)
                .outerjoin(BankAccount, BankAccount.payee_id == Payee.id)
                .where(Payee.reference == reference)
            )
        ).first()
    return str(payee_id), None if account_id is None else str(account_id)


async def common_refs(container: Container) -> dict[str, str]:
    from service.demo import investors

    bad_iban = next(p for p in investors() if "IBAN" in p.note).reference
    refs = {}
    refs["tiny"], refs["tiny_account"] = await merchant(container, "MER-TINY")
    refs["acme"], refs["acme_account"] = await merchant(container, "MER-ACME")
    refs["bad_iban_payee"], refs["bad_iban_account"] = await payee(container, bad_iban)
    for i in (1, 2, 3):
        refs[f"investor_{i}"], _ = await payee(container, f"INV-{i:04d}")
    return refs


async def merchant_payout(gql: GraphQLClient, key: str, refs: dict[str, str], idem: str) -> str:
    owner = {"tiny": ("tiny", "tiny_account"), "acme": ("acme", "acme_account")}[key]
    data = await gql.as_key(KEYS[key]).data(
        CREATE_PAYOUT,
        input={
            "payeeId": refs[owner[0]],
            "amount": "10.00",
            "currency": "INR",
            "bankAccountId": refs[owner[1]],
            "idempotencyKey": idem,
        },
    )
    assert data["createPayout"]["userErrors"] == [], data
    return data["createPayout"]["payout"]["id"]


async def for_create_payout(container: Container, gql: GraphQLClient, refs: dict[str, str]) -> None:
    await merchant_payout(gql, "tiny", refs, "hostile-used-key")  # 90.00 INR left
    details = {"aba_routing": "123456789", "account_number": "12345678", "account_type": "checking"}
    async with container.sessions.begin() as session:
        refs["tiny_bad_aba_account"] = str(
            await session.scalar(
                insert(BankAccount)
                .values(
                    payee_id=int(refs["tiny"]),
                    holder_name="Tiny Studio",
                    country="US",
                    currency="USD",
                    details=details,
                    is_default=False,
                    created_at=container.clock.now(),
                )
                .returning(BankAccount.id)
            )
        )


async def for_cancel_payout(container: Container, gql: GraphQLClient, refs: dict[str, str]) -> None:
    refs["cancelled_payout"] = await merchant_payout(gql, "tiny", refs, "hostile-cancelled")
    await gql.as_key(KEYS["tiny"]).data(CANCEL_PAYOUT, input={"payoutId": refs["cancelled_payout"]})
    refs["acme_payout"] = await merchant_payout(gql, "acme", refs, "hostile-acme-pending")


async def for_resolve_break(container: Container, gql: GraphQLClient, refs: dict[str, str]) -> None:
    """Two amount mismatches found by a reconciliation; one of them already resolved."""
    await container.runner.run("LIQ-2024-001", "hostile-breaks")
    bank = container.banks[ProviderKind.ACH]
    for order_id in list(bank.orders)[:2]:
        bank.override_amount(order_id, Money.parse("1.00", "USD"))
    await gql.data(RUN_RECONCILIATION, input={"businessDate": "2026-03-01"})
    found = await gql.data(
        "{ reconciliationBreaks(filter: {status: OPEN}) { edges { node { id } } } }"
    )
    refs["open_break"], refs["resolved_break"] = (
        e["node"]["id"] for e in found["reconciliationBreaks"]["edges"]
    )
    resolved = await gql.data(
        RESOLVE_BREAK, input={"breakId": refs["resolved_break"], "note": "ok"}
    )
    assert resolved["resolveBreak"]["userErrors"] == []


Prepare = Callable[[Container, GraphQLClient, dict[str, str]], Awaitable[None]]
PREPARE: dict[str, Prepare] = {
    "createPayout": for_create_payout,
    "cancelPayout": for_cancel_payout,
    "resolveBreak": for_resolve_break,
}


def group(row: Row) -> str:
    """Rows are sent in groups, one seeded database each: a group per mutation, the
    queries and documents, the HTTP rows, and the rows served by uvicorn."""
    if row.served:
        return "uvicorn"
    return row.target if row.target in (*MUTATIONS, HTTP) else "queries"


GROUPS = sorted({group(row) for row in HOSTILE_INPUTS} - {"uvicorn"})


# --- the tests ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", GROUPS)
async def test_hostile_input_is_refused_with_a_code_and_changes_nothing(
    name: str, gql: GraphQLClient, seeded: Container
) -> None:
    refs = await common_refs(seeded)
    if name in PREPARE:
        await PREPARE[name](seeded, gql, refs)
    rows = [row for row in HOSTILE_INPUTS if group(row) == name]
    failures = await refused_and_unchanged(gql.http, rows, refs, seeded)
    assert not failures, f"{len(failures)} of {len(rows)} rows:\n" + "\n".join(failures)


async def test_hostile_requests_through_uvicorn(seeded: Container) -> None:
    rows = [row for row in HOSTILE_INPUTS if row.served]
    app = build_app(seeded, migrate=False, recover=False, scheduler=False)
    async with serving(app) as base, httpx.AsyncClient(base_url=base) as http:
        failures = await refused_and_unchanged(http, rows, {}, seeded)
        after = await http.post(
            "/graphql",
            json={"query": "{ rails { code } }"},
            headers={"authorization": f"Api-Key {DEMO_OPS_KEY}"},
        )
    assert not failures, "\n".join(failures)
    assert after.status_code == 200 and after.json()["data"]["rails"]  # still serving


async def test_hostile_subscriptions_get_coded_errors(seeded: Container) -> None:
    feed = PayoutFeed(seeded.sessions, interval_s=0.01)
    before = await snapshot(seeded)
    answered = {}
    async with (
        serving(create_app(seeded.app_deps(), feed=feed)) as base,
        connected("ws" + base.removeprefix("http") + "/graphql") as socket,
    ):
        for n, (name, (document, variables, _)) in enumerate(SOCKET_INPUTS.items()):
            await socket.subscribe(str(n), document, **variables)
            message = await socket.receive()
            errors = message["payload"] if message["type"] == "error" else []
            if message["type"] == "next":
                errors = message["payload"]["errors"]
                assert (await socket.receive())["type"] == "complete"
            answered[name] = {error["extensions"]["code"] for error in errors}
    await feed.aclose()
    assert answered == {name: {code} for name, (_, _, code) in SOCKET_INPUTS.items()}
    assert await snapshot(seeded) == before


def test_the_table_covers_every_operation_and_category() -> None:
    targets = {row.target for row in HOSTILE_INPUTS}
    assert set(MUTATIONS) | set(QUERIES) | {HTTP} <= targets
    assert {row.category for row in HOSTILE_INPUTS} == set(CATEGORIES)
    assert len({row.id for row in HOSTILE_INPUTS}) == len(HOSTILE_INPUTS), "ids are unique"


async def test_an_error_quotes_only_the_beginning_of_a_huge_value(
    gql: GraphQLClient, seeded: Container
) -> None:
    refs = await common_refs(seeded)
    failures = []
    for row in HUGE_VALUES:
        sent, response = await send(gql.http, row, refs)
        try:
            judge(row, sent, response)
            assert len(response.content) < 2_000, f"{len(response.content):,} bytes"
        except AssertionError as exc:
            failures.append(f"{row.id}: {str(exc).splitlines()[0][:300]}")
    assert not failures, "\n".join(failures)


async def test_sql_looking_text_is_stored_as_text(gql: GraphQLClient, seeded: Container) -> None:
    name = "Robert'); DROP TABLE payees; --"
    refs = await common_refs(seeded)
    created = await gql.data(
        CREATE_EVENT, input=filled(event_input(code="LIQ-BOBBY", name=name), refs)
    )
    assert created["createLiquidationEvent"]["userErrors"] == []
    events = await gql.data("{ events { code name } }")
    assert {"code": "LIQ-BOBBY", "name": name} in events["events"]
    assert (await gql.data("{ payees(first: 1) { edges { cursor } } }"))["payees"]["edges"]


if __name__ == "__main__":
    print(f"{len(HOSTILE_INPUTS)} hostile inputs over HTTP, {len(SOCKET_INPUTS)} over the socket")
    for title, key in (("by category", "category"), ("by operation", "target")):
        print(f"\n{title}:")
        for value, count in Counter(getattr(row, key) for row in HOSTILE_INPUTS).most_common():
            print(f"  {count:4}  {value}")


async def test_a_socket_message_over_the_body_limit_closes_the_socket(seeded: Container) -> None:
    """uvicorn as ``serve`` configures it: a WebSocket message larger than the body limit
    closes that socket (1009, message too big); the server serves on, nothing changed."""
    settings = seeded.settings.model_copy(update={"max_request_bytes": 64 * 1024})
    feed = PayoutFeed(seeded.sessions, interval_s=0.01)
    app = create_app(seeded.app_deps(), feed=feed, max_request_bytes=settings.max_request_bytes)
    before = await snapshot(seeded)
    async with serving(app, **server_limits(settings)) as base:
        url = "ws" + base.removeprefix("http") + "/graphql"
        async with connected(url) as socket:
            await socket.subscribe("1", "subscription { payoutUpdated { id } }" + " " * 70_000)
            assert await socket.closed_with() == 1009
        async with connected(url) as socket:  # still serving sockets
            await socket.send(type="ping")
            assert (await socket.receive())["type"] == "pong"
    await feed.aclose()
    assert await snapshot(seeded) == before
