"""What the server logs about failed operations: a client's mistake in one line, without
a traceback; a crash with its traceback, for whoever has to fix it."""

from __future__ import annotations

import logging

import pytest

from persistence import queries
from service.demo import DEMO_MERCHANT_KEYS
from tests.conftest import GraphQLClient

# What a client can get wrong, each answered with an error (as whose key, the document).
CLIENT_MISTAKES = {
    "a payee asking for what only ops may see (FORBIDDEN)": ("tiny", "{ events { code } }"),
    "a page too large (PAGE_SIZE)": ("ops", "{ payouts(first: 1000) { edges { cursor } } }"),
    "a field that does not exist": ("ops", "{ nosuchfield }"),
    "a document that does not parse": ("ops", "{ payouts(first: "),
}


def logged(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """The server's records; not the test client's own ("HTTP Request: POST ..."), nor
    the access log's line that every request gets."""
    return [
        record
        for record in caplog.records
        if not record.name.startswith(("httpx", "payout_engine.access"))
    ]


@pytest.mark.parametrize("mistake", list(CLIENT_MISTAKES))
async def test_a_client_mistake_is_logged_in_one_line_without_a_traceback(
    mistake: str, gql: GraphQLClient, caplog: pytest.LogCaptureFixture
) -> None:
    key, document = CLIENT_MISTAKES[mistake]
    client = gql.as_key(DEMO_MERCHANT_KEYS["MER-TINY"]) if key == "tiny" else gql
    caplog.set_level(logging.INFO)
    body = await client(document)
    assert body["errors"]
    records = logged(caplog)
    assert "Traceback" not in caplog.text
    assert [record for record in records if record.exc_info] == []
    assert [record for record in records if record.levelno >= logging.ERROR] == []
    assert len(records) == 1, [record.getMessage() for record in records]
    assert len(records[0].getMessage().splitlines()) == 1, records[0].getMessage()


async def test_a_crash_is_logged_with_its_traceback(
    gql: GraphQLClient, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def crash(*_: object) -> None:
        raise RuntimeError("a bug in the events query")

    monkeypatch.setattr(queries, "events", crash)
    caplog.set_level(logging.INFO)
    body = await gql("{ events { code } }")
    assert body["errors"][0]["extensions"]["code"] == "INTERNAL"
    [record] = [record for record in logged(caplog) if record.exc_info]
    assert record.levelno == logging.ERROR
    assert "a bug in the events query" in caplog.text
    assert "Traceback" in caplog.text
