"""What providers' codes mean: worked examples stated from NACHA and ISO 20022 usage."""

from __future__ import annotations

import pytest

from domain.reason_codes import REASON_CODES, ReasonCategory, Scheme, explain, flags_account

C = ReasonCategory
# (code, category, retryable, flags the account): how an operator reads each code.
EXAMPLES = [
    ("R01", C.INSUFFICIENT_FUNDS_OR_LIMIT, True, False),
    ("R02", C.ACCOUNT_CLOSED_OR_INVALID, False, True),
    ("R03", C.ACCOUNT_CLOSED_OR_INVALID, False, True),
    ("R04", C.ACCOUNT_CLOSED_OR_INVALID, False, True),
    ("R10", C.AUTHORIZATION_REVOKED, False, False),
    ("R14", C.BENEFICIARY_DECEASED, False, True),
    ("R15", C.BENEFICIARY_DECEASED, False, True),
    ("R16", C.ACCOUNT_BLOCKED, False, True),
    ("R29", C.AUTHORIZATION_REVOKED, False, False),
    ("AC01", C.ACCOUNT_CLOSED_OR_INVALID, False, True),
    ("AC04", C.ACCOUNT_CLOSED_OR_INVALID, False, True),
    ("AC06", C.ACCOUNT_BLOCKED, False, True),
    ("AG01", C.REGULATORY, False, False),
    ("AM04", C.INSUFFICIENT_FUNDS_OR_LIMIT, True, False),
    ("MD07", C.BENEFICIARY_DECEASED, False, True),
    ("RR04", C.REGULATORY, False, False),
    ("TECH", C.TECHNICAL_RETRYABLE, True, False),
]


@pytest.mark.parametrize(("code", "category", "retryable", "flags"), EXAMPLES)
def test_each_code_means_what_an_operator_expects(
    code: str, category: ReasonCategory, retryable: bool, flags: bool
) -> None:
    reason = explain(code)
    assert reason is not None
    assert (reason.category, reason.retryable, reason.flags_account) == (category, retryable, flags)
    assert flags_account(code) is flags


REQUIRED = [
    "R01",
    "R02",
    "R03",
    "R04",
    "R06",
    "R07",
    "R08",
    "R10",
    "R14",
    "R15",
    "R16",
    "R20",
    "R23",
    "R24",
    "R29",
    "AC01",
    "AC04",
    "AC06",
    "AG01",
    "AG02",
    "AM04",
    "AM05",
    "BE04",
    "MD07",
    "MS02",
    "MS03",
    "RC01",
    "RR04",
    "FF01",
    "CNOR",
    "DNOR",
    "TECH",
]


def test_the_table_covers_the_codes_the_banks_send_each_with_a_description() -> None:
    assert set(REQUIRED) <= set(REASON_CODES)
    assert all(REASON_CODES[code].description for code in REQUIRED)
    assert {REASON_CODES[c].scheme for c in REQUIRED if c.startswith("R") and c[1:].isdigit()} == {
        Scheme.ACH
    }
    assert REASON_CODES["RC01"].scheme is Scheme.ISO20022


def test_a_retryable_code_never_flags_the_account() -> None:
    assert not [r.code for r in REASON_CODES.values() if r.retryable and r.flags_account]


def test_an_unknown_code_is_other_not_retryable_and_flags_nothing() -> None:
    reason = explain("account_closed")
    assert reason is not None
    assert (reason.category, reason.retryable, reason.flags_account) == (C.OTHER, False, False)
    assert reason.scheme is Scheme.UNKNOWN and not flags_account("ZZ99")


def test_no_code_means_no_reason_and_codes_are_read_case_blind() -> None:
    assert explain(None) is None and explain("  ") is None
    assert explain(" r03 ") == explain("R03")
