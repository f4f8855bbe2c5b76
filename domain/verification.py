"""Account verification before money leaves (Confirmation / Verification of Payee).

The bank that will pay an account is asked whether the name matches the account:
``MATCH``, ``CLOSE_MATCH`` (with the name the bank holds), ``NO_MATCH``, or
``UNAVAILABLE`` (it could not check; asked again later). An account is held
(``bank_account_unverified``) while it is ``NO_MATCH``, or while it replaced an
account of the payee that was already paid (the account-takeover path), until an
operator clears it. ``CLOSE_MATCH``, ``PENDING`` and ``UNAVAILABLE`` do not hold:
the issue names only the two cases above, and a slow bank must not stop payouts.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol, runtime_checkable

from domain.errors import ErrorCode, PayoutEngineError, Problem, quoted
from domain.ports import Clock, ProviderKind

log = logging.getLogger(__name__)

MAX_NOTE = 500


class VerificationStatus(StrEnum):
    PENDING = "pending"  # not asked yet, or the bank could not be reached
    MATCH = "match"
    CLOSE_MATCH = "close_match"
    NO_MATCH = "no_match"
    UNAVAILABLE = "unavailable"  # the bank answered that it cannot check now


# What the bank may answer; PENDING is ours alone.
ANSWERS = frozenset(VerificationStatus) - {VerificationStatus.PENDING}
# Asked (again) by the scheduled job.
UNSETTLED = frozenset({VerificationStatus.PENDING, VerificationStatus.UNAVAILABLE})


@dataclass(frozen=True, slots=True)
class VerificationRequest:
    account_id: int
    rail: str
    holder_name: str
    country: str | None
    account: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class VerificationAnswer:
    status: VerificationStatus
    bank_held_name: str | None = None  # CLOSE_MATCH only


@dataclass(frozen=True, slots=True)
class VerificationState:
    """What an account row knows of its verification."""

    status: VerificationStatus
    replaces_paid: bool
    cleared_at: datetime | None


def hold_reason(state: VerificationState) -> str | None:
    """Why payouts to the account wait for an operator, or None when they do not."""
    if state.cleared_at is not None:
        return None
    if state.status is VerificationStatus.NO_MATCH:
        return "the bank says the holder name does not match the account (NO_MATCH)"
    if state.replaces_paid:
        return "the account replaced one already paid; an operator must confirm it"
    return None


def check_note(note: str) -> tuple[str, list[Problem]]:
    text = note.strip()
    if not 1 <= len(text) <= MAX_NOTE:
        message = f"note must be 1 to {MAX_NOTE} characters"
        return text, [Problem("note", ErrorCode.INVALID_INPUT, message)]
    if any(ord(c) < 32 and c not in "\n\t" for c in text):
        return text, [
            Problem("note", ErrorCode.INVALID_INPUT, "note may not hold control characters")
        ]
    return text, []


def not_held(account_id: int, status: VerificationStatus) -> Problem:
    message = (
        f"bank account {account_id} is not held by verification (it is "
        f"{quoted(status.name)}); there is nothing to clear"
    )
    return Problem("id", ErrorCode.CONFLICT, message)


@runtime_checkable
class AccountVerifier(Protocol):
    """A bank that answers Confirmation / Verification of Payee requests."""

    kind: ProviderKind

    async def verify_account(self, request: VerificationRequest) -> VerificationAnswer:
        """The bank's answer; raises ``ProviderUnavailable`` when it cannot be asked."""
        ...


class VerificationStore(Protocol):
    async def claim(
        self,
        now: datetime,
        *,
        account_ids: Sequence[int] | None,
        retry_after: timedelta,
        limit: int,
    ) -> list[tuple[ProviderKind, VerificationRequest]]:
        """Unsettled live accounts (these ids, or any due), marked as being asked now so
        no other worker asks about them for ``retry_after``; with the bank to ask."""
        ...

    async def record(self, account_id: int, answer: VerificationAnswer, now: datetime) -> bool:
        """Store the answer (and its audit row) unless the account is settled already."""
        ...


@dataclass(frozen=True, slots=True)
class VerificationSettings:
    retry_after: timedelta = timedelta(minutes=5)
    batch_size: int = 100
    inline_timeout_s: float = 5.0  # the call right after addBankAccount waits this long


class AccountVerifications:
    """Asks each account's bank, after the account is committed, never inside a transaction."""

    def __init__(
        self,
        store: VerificationStore,
        verifiers: Mapping[ProviderKind, AccountVerifier],
        clock: Clock,
        settings: VerificationSettings | None = None,
    ) -> None:
        self._store = store
        self._verifiers = verifiers
        self._clock = clock
        self.settings = settings or VerificationSettings()

    async def verify_new(self, account_id: int) -> None:
        """Right after the account is added: ask now, but not for longer than the inline
        timeout; whatever is left undone the scheduled job finishes."""
        try:
            async with asyncio.timeout(self.settings.inline_timeout_s):
                await self.verify(account_ids=[account_id])
        except TimeoutError:
            log.warning("verifying bank account %s timed out; the job asks again", account_id)
        except Exception:  # the account is committed either way; the job asks again
            log.exception("verifying bank account %s failed; the job asks again", account_id)

    async def verify(self, account_ids: Sequence[int] | None = None) -> Counter[str]:
        """Ask about these accounts (or every due one, a batch); counts of what happened."""
        s = self.settings
        claimed = await self._store.claim(
            self._clock.now(),
            account_ids=account_ids,
            retry_after=s.retry_after,
            limit=s.batch_size,
        )
        counts: Counter[str] = Counter(claimed=len(claimed))
        for kind, request in claimed:
            counts[await self._ask(kind, request)] += 1
        return counts

    async def _ask(self, kind: ProviderKind, request: VerificationRequest) -> str:
        verifier = self._verifiers.get(kind)
        if verifier is None:
            return "no_verifier"
        try:
            answer = await verifier.verify_account(request)
        except PayoutEngineError as exc:
            log.warning("verifying bank account %s: %s", request.account_id, exc.message)
            return "failed"
        recorded = await self._store.record(request.account_id, answer, self._clock.now())
        return answer.status.value if recorded else "already_settled"


def verifiers_among(
    providers: Mapping[ProviderKind, object],
) -> dict[ProviderKind, AccountVerifier]:
    """The providers that can verify accounts (a fake in a test may not)."""
    return {kind: p for kind, p in providers.items() if isinstance(p, AccountVerifier)}
