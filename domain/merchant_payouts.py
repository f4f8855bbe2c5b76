"""Ad-hoc payouts a payee requests against its ledger balance, with an idempotency key.

Input is validated here, all problems at once; the request's fingerprint is what an
idempotency key is bound to (same key + different fingerprint = key reused).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import timedelta

from domain.errors import PayoutEngineError, quoted
from domain.events import Problem
from domain.money import Money

IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{8,128}$")
KEY_LIFETIME = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class PayoutRequest:
    payee_id: int
    amount: Money
    bank_account_id: int
    idempotency_key: str

    def fingerprint(self) -> str:
        """What the key stands for; the key itself is not part of it."""
        body = {
            "payee_id": self.payee_id,
            "amount": self.amount.to_decimal_string(),
            "currency": self.amount.currency,
            "bank_account_id": self.bank_account_id,
        }
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def parse_request(
    payee_id: str, amount: str, currency: str, bank_account_id: str, idempotency_key: str
) -> PayoutRequest | list[Problem]:
    problems: list[Problem] = []
    if not IDEMPOTENCY_KEY.match(idempotency_key or ""):
        problems.append(
            Problem(
                "idempotency_key",
                "INVALID_INPUT",
                "idempotencyKey is 8-128 printable ASCII characters",
            )
        )
    ids = {}
    for name, value in (("payee_id", payee_id), ("bank_account_id", bank_account_id)):
        if not value or not value.isascii() or not value.isdigit() or len(value) > 18:
            problems.append(Problem(name, "NOT_FOUND", f"{quoted(value)} is not an id"))
        else:
            ids[name] = int(value)
    money = None
    try:
        money = Money.parse(amount, currency)
    except PayoutEngineError as exc:
        problems.append(Problem(exc.field or "amount", exc.code, exc.message))
    if money is not None and money.minor <= 0:
        problems.append(Problem("amount", "INVALID_AMOUNT", "amount must be greater than zero"))
    if problems or money is None:
        return problems
    return PayoutRequest(ids["payee_id"], money, ids["bank_account_id"], idempotency_key)
