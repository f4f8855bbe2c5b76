"""The ``verification`` of a bank account as the API shows it."""

from __future__ import annotations

from datetime import datetime

import strawberry

from domain.verification import VerificationStatus
from persistence import tables
from persistence.verification_store import hold_of, state_of

strawberry.enum(
    VerificationStatus,
    name="VerificationStatus",
    description="The bank's answer to whether the holder name matches the account "
    "(Confirmation / Verification of Payee); PENDING until it answers.",
)


@strawberry.type(
    description="Verification of payee. A run skips the account with "
    "bank_account_unverified while it is NO_MATCH or replaced an already-paid account, "
    "until an operator clears it (verifyBankAccount); CLOSE_MATCH, PENDING and "
    "UNAVAILABLE do not hold payouts."
)
class BankAccountVerification:
    status: VerificationStatus
    bank_held_name: str | None = strawberry.field(
        description="The name the bank holds, on a CLOSE_MATCH."
    )
    checked_at: datetime | None = strawberry.field(description="When the bank answered.")
    replaces_paid_account: bool = strawberry.field(
        description="Added after the payee had a completed payout (account takeover path)."
    )
    held: bool = strawberry.field(description="Whether runs skip it until it is cleared.")
    hold_reason: str | None
    cleared_at: datetime | None
    cleared_by: str | None
    note: str | None = strawberry.field(description="Why the operator cleared it.")

    @classmethod
    def of(cls, row: tables.BankAccount) -> BankAccountVerification:
        hold = hold_of(row)
        return cls(
            status=state_of(row).status,
            bank_held_name=row.bank_held_name,
            checked_at=row.verified_at,
            replaces_paid_account=row.replaces_paid,
            held=hold is not None,
            hold_reason=hold,
            cleared_at=row.cleared_at,
            cleared_by=row.cleared_by,
            note=row.clear_note,
        )
