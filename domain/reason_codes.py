"""What a provider's failure or return code means: its category, whether paying again
can work, and whether it says the bank account itself is unusable.

ACH return codes (NACHA R-codes) come from the ACH rail; ISO 20022 status reason
codes (pacs.002 / pacs.004) from SEPA and the other local rails and wires. A code
missing from the table (a provider's own error name, a code added later) explains
itself as ``OTHER``: not retryable as far as we know, and it does not flag the
account, so an unknown code never blocks a payee on a guess.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class ReasonCategory(StrEnum):
    ACCOUNT_CLOSED_OR_INVALID = "account_closed_or_invalid"
    ACCOUNT_BLOCKED = "account_blocked"
    BENEFICIARY_DECEASED = "beneficiary_deceased"
    AUTHORIZATION_REVOKED = "authorization_revoked"
    INSUFFICIENT_FUNDS_OR_LIMIT = "insufficient_funds_or_limit"
    REGULATORY = "regulatory"
    BENEFICIARY_REFUSED = "beneficiary_refused"
    INVALID_REQUEST = "invalid_request"
    TECHNICAL_RETRYABLE = "technical_retryable"
    OTHER = "other"


class Scheme(StrEnum):
    ACH = "ach"  # NACHA return codes
    ISO20022 = "iso20022"  # ExternalStatusReason1Code / ExternalReturnReason1Code
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class ReasonCode:
    code: str
    scheme: Scheme
    category: ReasonCategory
    retryable: bool  # paying again (same account, later) can work
    flags_account: bool  # the account is unusable: later runs skip it until a new one
    description: str


_C = ReasonCategory
_ACCOUNT = (_C.ACCOUNT_CLOSED_OR_INVALID, _C.ACCOUNT_BLOCKED, _C.BENEFICIARY_DECEASED)


def _code(code: str, category: ReasonCategory, description: str, *, retry: bool) -> ReasonCode:
    scheme = Scheme.ACH if code[0] == "R" and code[1:].isdigit() else Scheme.ISO20022
    return ReasonCode(code, scheme, category, retry, category in _ACCOUNT, description)


# fmt: off
_TABLE: tuple[ReasonCode, ...] = (
    _code("R01", _C.INSUFFICIENT_FUNDS_OR_LIMIT, "Insufficient funds", retry=True),
    _code("R02", _C.ACCOUNT_CLOSED_OR_INVALID, "Account closed", retry=False),
    _code("R03", _C.ACCOUNT_CLOSED_OR_INVALID, "No account or unable to locate it", retry=False),
    _code("R04", _C.ACCOUNT_CLOSED_OR_INVALID, "Invalid account number structure", retry=False),
    _code("R06", _C.OTHER, "Returned per originating bank's request", retry=False),
    _code("R07", _C.AUTHORIZATION_REVOKED, "Authorization revoked by customer", retry=False),
    _code("R08", _C.BENEFICIARY_REFUSED, "Payment stopped", retry=False),
    _code("R09", _C.INSUFFICIENT_FUNDS_OR_LIMIT, "Uncollected funds", retry=True),
    _code("R10", _C.AUTHORIZATION_REVOKED, "Customer advises not authorized", retry=False),
    _code("R14", _C.BENEFICIARY_DECEASED, "Representative payee deceased", retry=False),
    _code("R15", _C.BENEFICIARY_DECEASED, "Beneficiary or account holder deceased", retry=False),
    _code("R16", _C.ACCOUNT_BLOCKED, "Account frozen / entry returned per OFAC", retry=False),
    _code("R17", _C.INVALID_REQUEST, "File record edit criteria", retry=False),
    _code("R20", _C.ACCOUNT_BLOCKED, "Non-transaction account", retry=False),
    _code("R23", _C.BENEFICIARY_REFUSED, "Credit entry refused by receiver", retry=False),
    _code("R24", _C.OTHER, "Duplicate entry", retry=False),
    _code("R29", _C.AUTHORIZATION_REVOKED, "Corporate customer: not authorized", retry=False),
    _code("AC01", _C.ACCOUNT_CLOSED_OR_INVALID, "Incorrect account number", retry=False),
    _code("AC04", _C.ACCOUNT_CLOSED_OR_INVALID, "Closed account number", retry=False),
    _code("AC06", _C.ACCOUNT_BLOCKED, "Blocked account", retry=False),
    _code("AG01", _C.REGULATORY, "Transaction forbidden on this type of account", retry=False),
    _code("AG02", _C.INVALID_REQUEST, "Invalid bank operation code", retry=False),
    _code("AM04", _C.INSUFFICIENT_FUNDS_OR_LIMIT, "Insufficient funds", retry=True),
    _code("AM05", _C.OTHER, "Duplication", retry=False),
    _code("BE04", _C.INVALID_REQUEST, "Missing creditor address", retry=False),
    _code("MD07", _C.BENEFICIARY_DECEASED, "End customer deceased", retry=False),
    _code("MS02", _C.BENEFICIARY_REFUSED, "Not specified reason, customer generated", retry=False),
    _code("MS03", _C.OTHER, "Not specified reason, agent generated", retry=True),
    _code("RC01", _C.INVALID_REQUEST, "Bank identifier incorrect", retry=False),
    _code("RR04", _C.REGULATORY, "Regulatory reason", retry=False),
    _code("FF01", _C.TECHNICAL_RETRYABLE, "Invalid file format", retry=True),
    _code("CNOR", _C.INVALID_REQUEST, "Creditor bank is not registered", retry=False),
    _code("DNOR", _C.INVALID_REQUEST, "Debtor bank is not registered", retry=False),
    _code("TECH", _C.TECHNICAL_RETRYABLE, "Technical problem at the receiving bank", retry=True),
    _code("TM01", _C.TECHNICAL_RETRYABLE, "Received after the cut-off time", retry=True),
)
# fmt: on
REASON_CODES: Mapping[str, ReasonCode] = {reason.code: reason for reason in _TABLE}


def explain(code: str | None) -> ReasonCode | None:
    """The meaning of ``code`` (case and spaces ignored); None when there is no code."""
    if code is None or not code.strip():
        return None
    key = code.strip().upper()
    known = REASON_CODES.get(key)
    if known is not None:
        return known
    return ReasonCode(code, Scheme.UNKNOWN, _C.OTHER, False, False, "Code not in the table")


def flags_account(code: str | None) -> bool:
    reason = explain(code)
    return reason is not None and reason.flags_account
