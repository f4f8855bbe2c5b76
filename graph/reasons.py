"""What providers' failure and return codes mean, as the API shows them."""

from __future__ import annotations

from datetime import datetime

import strawberry

from domain import reason_codes
from domain.reason_codes import explain

strawberry.enum(reason_codes.ReasonCategory, name="FailureCategory")
strawberry.enum(reason_codes.Scheme, name="ReasonCodeScheme")
FailureCategory = reason_codes.ReasonCategory
ReasonCodeScheme = reason_codes.Scheme


@strawberry.type(description="A provider's failure or return code and what the engine makes of it.")
class ReasonCode:
    code: str
    scheme: ReasonCodeScheme
    category: FailureCategory
    retryable: bool = strawberry.field(description="Whether paying again can work.")
    flags_account: bool = strawberry.field(
        description="Whether the code marks the bank account unusable (runs skip it)."
    )
    description: str

    @classmethod
    def of(cls, reason: reason_codes.ReasonCode) -> ReasonCode:
        return cls(
            code=reason.code,
            scheme=reason.scheme,
            category=reason.category,
            retryable=reason.retryable,
            flags_account=reason.flags_account,
            description=reason.description,
        )


@strawberry.type(description="Why runs skip a bank account: a payment to it came back.")
class AccountFlag:
    code: str
    category: FailureCategory
    description: str
    flagged_at: datetime
    payout_id: strawberry.ID | None = strawberry.field(description="The payout that flagged it.")

    @classmethod
    def of(cls, code: str | None, at: datetime | None, payout_id: int | None) -> AccountFlag | None:
        reason = explain(code)
        if reason is None or at is None:
            return None
        return cls(
            code=reason.code,
            category=reason.category,
            description=reason.description,
            flagged_at=at,
            payout_id=strawberry.ID(str(payout_id)) if payout_id is not None else None,
        )


def reason_code_table() -> list[ReasonCode]:
    return [ReasonCode.of(reason) for reason in reason_codes.REASON_CODES.values()]
