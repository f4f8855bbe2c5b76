"""Who is calling: API keys, roles, and what each role may see.

Keys are 32 random bytes, so a plain SHA-256 of the key is a safe stored form (a slow
password hash protects low-entropy secrets; these are not). Only the hash and a short
display prefix are kept.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from domain.errors import ErrorCode, Problem

SCHEME = "Api-Key"
# A key's last use is written when the stored one is older than this: at most one write a
# minute per key, not one per request.
LAST_USED_EVERY = timedelta(seconds=60)
MAX_NAME = 100
MAX_OWNER = 200


class Role(StrEnum):
    OPS = "ops"  # operates everything
    APPROVER = "approver"  # reads everything; will decide approvals (four eyes)
    AUDITOR = "auditor"  # reads everything, changes nothing
    PAYEE = "payee"  # its own payee, balances and payouts, and createPayout


READERS = frozenset({Role.OPS, Role.APPROVER, Role.AUDITOR})


@dataclass(frozen=True, slots=True)
class Caller:
    key_id: int
    role: Role
    name: str
    payee_id: int | None = None
    owner: str = ""
    prefix: str = ""
    last_used_at: datetime | None = None

    @property
    def reads_everything(self) -> bool:
        """Every payee's data, runs, the ledger, reconciliation, jobs and keys."""
        return self.role in READERS

    @property
    def operates(self) -> bool:
        """May change anything: only ops keys."""
        return self.role is Role.OPS

    @property
    def writes(self) -> bool:
        """May change something: ops, or a payee key its own payouts."""
        return self.operates or self.role is Role.PAYEE

    def may_change_payee(self, payee_id: int) -> bool:
        return self.operates or (self.role is Role.PAYEE and self.payee_id == payee_id)

    def last_use_is_stale(self, now: datetime) -> bool:
        return self.last_used_at is None or now - self.last_used_at >= LAST_USED_EVERY

    @property
    def scope(self) -> str:
        """Idempotency keys belong to this scope: a payee's, or one ops key's."""
        return f"payee:{self.payee_id}" if self.role is Role.PAYEE else f"ops:{self.key_id}"

    def may_see_payee(self, payee_id: int) -> bool:
        return self.reads_everything or self.payee_id == payee_id


def new_key(role: Role) -> str:
    return f"pe_{role.value}_{secrets.token_urlsafe(32)}"


def _text_problem(field: str, value: str, maximum: int) -> Problem | None:
    if not value.strip():
        return Problem(field, ErrorCode.INVALID_INPUT, f"{field} must not be empty")
    if len(value) > maximum:
        return Problem(field, ErrorCode.INVALID_INPUT, f"{field} is longer than {maximum}")
    if any(not char.isprintable() for char in value):
        return Problem(field, ErrorCode.INVALID_INPUT, f"{field} holds control characters")
    return None


def key_problems(name: str, owner: str, role: Role, has_payee: bool) -> list[Problem]:
    """What is wrong with a request for a new key: every problem at once."""
    problems = [
        problem
        for problem in (
            _text_problem("name", name, MAX_NAME),
            _text_problem("owner", owner, MAX_OWNER),
        )
        if problem is not None
    ]
    if role is Role.PAYEE and not has_payee:
        problems.append(Problem("payee_id", ErrorCode.INVALID_INPUT, "a payee key names its payee"))
    if role is not Role.PAYEE and has_payee:
        message = f"an {role.value} key belongs to no payee"
        problems.append(Problem("payee_id", ErrorCode.INVALID_INPUT, message))
    return problems


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def parse_authorization(header: str | None) -> str | None:
    """The key from ``Authorization: Api-Key <key>``, or None."""
    if not header:
        return None
    scheme, _, key = header.strip().partition(" ")
    key = key.strip()
    if scheme != SCHEME or not key or len(key) > 200:
        return None
    return key


# The caller of a request that carries no data (the GraphiQL page): sees nothing.
NOBODY = Caller(key_id=0, role=Role.PAYEE, name="nobody", payee_id=None)
