"""Who is calling: API keys, roles, and what each role may see.

Keys are 32 random bytes, so a plain SHA-256 of the key is a safe stored form (a slow
password hash protects low-entropy secrets; these are not). Only the hash and a short
display prefix are kept.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from enum import StrEnum

SCHEME = "Api-Key"


class Role(StrEnum):
    OPS = "ops"  # everything
    PAYEE = "payee"  # its own payee, balances and payouts, and createPayout


@dataclass(frozen=True, slots=True)
class Caller:
    key_id: int
    role: Role
    name: str
    payee_id: int | None = None

    @property
    def is_ops(self) -> bool:
        return self.role is Role.OPS

    @property
    def scope(self) -> str:
        """Idempotency keys belong to this scope: a payee's, or one ops key's."""
        return f"payee:{self.payee_id}" if self.role is Role.PAYEE else f"ops:{self.key_id}"

    def may_see_payee(self, payee_id: int) -> bool:
        return self.is_ops or self.payee_id == payee_id


def new_key(role: Role) -> str:
    return f"pe_{role.value}_{secrets.token_urlsafe(32)}"


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
