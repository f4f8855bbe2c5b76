"""What a provider is asked to do for one payout, and the key that makes asking safe.

Every payout gets its own provider idempotency key when it is created; whoever sends
it (a run, the dispatcher, recovery after a crash) sends the same frozen request with
that key, so the provider never holds two orders for one payout.
"""

from __future__ import annotations

import uuid

from domain.bank_details import BankAccount
from domain.money import Money
from domain.ports import PaymentOrderRequest
from domain.routing import RailDecision


def new_provider_key() -> str:
    return f"po-{uuid.uuid4().hex}"


def order_for(
    key: str, amount: Money, decision: RailDecision, account: BankAccount, country: str | None
) -> PaymentOrderRequest:
    """The order for paying ``amount`` to ``account`` the way ``decision`` routed it."""
    return PaymentOrderRequest(
        idempotency_key=key,
        amount=amount,
        target_currency=decision.currency,
        rail=decision.rail.code,
        beneficiary_name=account.holder_name,
        beneficiary_country=country,
        account=dict(account.details),
        reference=f"payout {key}",
    )
