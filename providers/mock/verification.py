"""A mock bank's Confirmation / Verification of Payee answers, fixed by seed and account.

``POST /v1/account-verifications`` with ``{"rail", "holder_name", "country", "account"}``
answers ``{"status": "match" | "close_match" | "no_match" | "unavailable",
"bank_held_name"}``. Tests (and demos) ask for an outcome by ending the holder name
with a marker: ``(no match)``, ``(close match)`` or ``(unavailable)``. Otherwise the
answer is drawn from the seed and the account's identity with the config's rates
(all zero by default: every account matches). An account that is to be ``unavailable``
is so for its first ``verification_unavailable_asks`` asks, then answered by its name.
A close match answers the name the bank holds: the given names as initials
("Jane Mary Doe" -> "J M Doe"), or a one-word name with " Ltd".
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from providers.mock.config import MockBankConfig
from providers.mock.errors import BankError
from providers.mock.seeded import digest, unit_interval

MATCH, CLOSE_MATCH, NO_MATCH, UNAVAILABLE = "match", "close_match", "no_match", "unavailable"
_MARKER = re.compile(r"\s*\((no match|close match|unavailable)\)\s*$", re.IGNORECASE)
_MARKED = {"no match": NO_MATCH, "close match": CLOSE_MATCH, "unavailable": UNAVAILABLE}


@dataclass(frozen=True, slots=True)
class VerificationBody:
    rail: str
    holder_name: str
    country: str | None
    account: tuple[tuple[str, str], ...]

    def identity(self) -> str:
        return digest(self.rail, *(f"{k}={v}" for k, v in self.account))


def parse_verification_body(data: dict[str, Any]) -> VerificationBody:
    rail, name, country = data.get("rail"), data.get("holder_name"), data.get("country")
    account = data.get("account")
    if not isinstance(rail, str) or not rail:
        raise BankError(400, "invalid_request", "rail is required")
    if not isinstance(name, str) or not name.strip():
        raise BankError(400, "invalid_request", "holder_name is required")
    if country is not None and not isinstance(country, str):
        raise BankError(400, "invalid_request", "country is a string or null")
    if not isinstance(account, dict) or not account:
        raise BankError(400, "invalid_request", "account must be a non-empty JSON object")
    if not all(isinstance(v, str) for v in account.values()):
        raise BankError(400, "invalid_request", "account values are strings")
    return VerificationBody(rail, name.strip(), country, tuple(sorted(account.items())))


class Verifier:
    """The answers of one bank; remembers how often each account was asked about."""

    def __init__(self, config: MockBankConfig) -> None:
        self._config = config
        self.asks: Counter[str] = Counter()

    def answer(self, body: VerificationBody) -> dict[str, str | None]:
        identity = body.identity()
        self.asks[identity] += 1
        marked = _MARKER.search(body.holder_name)
        name = _MARKER.sub("", body.holder_name) if marked else body.holder_name
        wanted = _MARKED[marked.group(1).lower()] if marked else None
        if self._unavailable(identity, wanted):
            return {"status": UNAVAILABLE, "bank_held_name": None}
        status = wanted if wanted in (NO_MATCH, CLOSE_MATCH) else self._drawn(identity)
        held = bank_held_name(name) if status == CLOSE_MATCH else None
        return {"status": status, "bank_held_name": held}

    def _unavailable(self, identity: str, wanted: str | None) -> bool:
        c = self._config
        drawn = c.verification_unavailable_rate > 0 and (
            unit_interval(c.seed, "verify-unavailable", identity) < c.verification_unavailable_rate
        )
        return (wanted == UNAVAILABLE or drawn) and (
            self.asks[identity] <= c.verification_unavailable_asks
        )

    def _drawn(self, identity: str) -> str:
        c = self._config
        draw = unit_interval(c.seed, "verify", identity)
        if draw < c.verification_no_match_rate:
            return NO_MATCH
        if draw < c.verification_no_match_rate + c.verification_close_match_rate:
            return CLOSE_MATCH
        return MATCH


def bank_held_name(name: str) -> str:
    words = name.split()
    if len(words) == 1:
        return f"{words[0]} Ltd"
    return " ".join([*(word[0] for word in words[:-1]), words[-1]])
