"""SQLAlchemy 2 tables. Alembic migrations are the only way they are created."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from domain.lifecycle import PayoutStatus

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only autoincrements an INTEGER PRIMARY KEY, not a BIGINT one.
Id = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite hands back naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def result_processor(self, dialect: Dialect, coltype: object) -> Any:
        """On SQLite, the stored text read with ``datetime.fromisoformat`` (in C) rather
        than SQLAlchemy's regular expression: a fifth of the CPU of reading a page of
        payouts went there. Text it cannot read goes the usual way."""
        usual = super().result_processor(dialect, coltype)
        if dialect.name != "sqlite" or usual is None:
            return usual

        def process(value: Any) -> datetime | None:
            if value is None:
                return None
            try:
                parsed = datetime.fromisoformat(value)
            except (TypeError, ValueError):
                return usual(value)
            return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)

        return process


class Base(DeclarativeBase):
    # Every mapped class here is a plain table, so its ``__table__`` is a ``Table``
    # (DeclarativeBase types it as any FromClause); Core statements use it directly.
    __table__: ClassVar[Table]
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UtcDateTime(),
        date: Date(),
        dict[str, Any]: JSON(),
    }


class Payee(Base):
    __tablename__ = "payees"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    reference: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))  # investor | merchant
    country: Mapped[str | None] = mapped_column(String(2))
    payment_method: Mapped[str] = mapped_column(String(32))
    email: Mapped[str | None] = mapped_column(String(254))
    created_at: Mapped[datetime]


class BankAccount(Base):
    __tablename__ = "bank_accounts"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    payee_id: Mapped[int] = mapped_column(ForeignKey("payees.id"), index=True)
    holder_name: Mapped[str] = mapped_column(String(200))
    country: Mapped[str | None] = mapped_column(String(2))
    currency: Mapped[str | None] = mapped_column(String(3))
    details: Mapped[dict[str, Any]]
    # The account in use: a run pays it. At most one per payee; adding one retires the last.
    is_default: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    # Accounts are never changed or deleted (a payout names the one it was sent to):
    # one that is no longer used is retired.
    retired_at: Mapped[datetime | None]
    # Confirmation / Verification of Payee (``domain.verification``): the bank's answer,
    # when it was obtained, and an operator's clearance of a held account.
    verification_status: Mapped[str] = mapped_column(
        String(16), server_default="pending", index=True
    )
    bank_held_name: Mapped[str | None] = mapped_column(String(200))
    verified_at: Mapped[datetime | None]
    verification_asked_at: Mapped[datetime | None]  # the last ask, answered or not
    # Added after the payee had a completed payout: the account-takeover path.
    replaces_paid: Mapped[bool] = mapped_column(Boolean, server_default="0")
    cleared_at: Mapped[datetime | None]
    cleared_by: Mapped[str | None] = mapped_column(String(200))
    clear_note: Mapped[str | None] = mapped_column(String(500))
    # Set when a payout to it failed or came back with a code that says the account is
    # unusable (domain.reason_codes); runs skip it, the payee adds a new account.
    flagged_at: Mapped[datetime | None]
    flag_code: Mapped[str | None] = mapped_column(String(64))
    flagged_by_payout_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("payouts.id", use_alter=True)
    )
    # The rails whose field checks the details passed when the account was added
    # (``domain.bank_details.details_verdict``); runs check them again only if absent.
    details_verdict: Mapped[dict[str, Any] | None]


class LiquidationEvent(Base):
    __tablename__ = "liquidation_events"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    fund_name: Mapped[str] = mapped_column(String(200))
    currency: Mapped[str] = mapped_column(String(3))
    total_minor: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime]


class Allocation(Base):
    __tablename__ = "allocations"
    __table_args__ = (UniqueConstraint("event_id", "payee_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("liquidation_events.id"))
    payee_id: Mapped[int] = mapped_column(ForeignKey("payees.id"), index=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))


class PayoutRun(Base):
    __tablename__ = "payout_runs"
    __table_args__ = (UniqueConstraint("event_id", "idempotency_key"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("liquidation_events.id"), index=True)
    idempotency_key: Mapped[str] = mapped_column(String(128))
    # domain.run_workflow.RunStatus: awaiting_approval | queued | running | completed
    # | cancelled | rejected | expired
    status: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    total: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    in_flight: Mapped[int] = mapped_column(Integer, default=0)
    # The background workflow (migration 0013): what startRun saw, who asked, who runs it.
    preview: Mapped[dict[str, Any] | None]
    requested_by_key_id: Mapped[int | None] = mapped_column(Integer)
    requested_by_owner: Mapped[str | None] = mapped_column(String(200))
    claimed_by: Mapped[str | None] = mapped_column(String(96))  # host:pid executing it
    lease_until: Mapped[datetime | None]  # another process may take it over after this
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    progress_total: Mapped[int] = mapped_column(Integer, default=0)
    progress_evaluated: Mapped[int] = mapped_column(Integer, default=0)


# The CHECK constraint's list: every status the lifecycle knows, and nothing else.
PAYOUT_STATUSES = ", ".join(f"'{s.value}'" for s in PayoutStatus)
# An attempt in any other status still pays (or paid) its allocation.
LIVE_ATTEMPT = "status NOT IN ('failed', 'returned', 'cancelled')"


class Payout(Base):
    __tablename__ = "payouts"
    __table_args__ = (
        # An allocation is paid by attempts 1, 2, ... (``retryPayout``); at most one of
        # them is live (not failed, returned or cancelled) at a time.
        UniqueConstraint("event_id", "payee_id", "attempt"),
        Index(
            "uq_payouts_live_attempt",
            "event_id",
            "payee_id",
            unique=True,
            sqlite_where=text(LIVE_ATTEMPT),
            postgresql_where=text(LIVE_ATTEMPT),
        ),
        CheckConstraint(f"status IN ({PAYOUT_STATUSES})", name="payout_status"),
        Index("ix_payouts_status_id", "status", "id"),
        Index("ix_payouts_event_status", "event_id", "status"),
        Index("ix_payouts_updated_at", "updated_at"),  # the subscription feed reads by it
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("liquidation_events.id"))
    payee_id: Mapped[int] = mapped_column(ForeignKey("payees.id"), index=True)
    allocation_id: Mapped[int | None] = mapped_column(ForeignKey("allocations.id"))
    bank_account_id: Mapped[int | None] = mapped_column(ForeignKey("bank_accounts.id"))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("payout_runs.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    country: Mapped[str | None] = mapped_column(String(2), index=True)
    rail: Mapped[str | None] = mapped_column(String(16), index=True)
    provider: Mapped[str | None] = mapped_column(String(16))
    routing_rule: Mapped[str | None] = mapped_column(String(32))
    target_currency: Mapped[str | None] = mapped_column(String(3))
    target_amount_minor: Mapped[int | None] = mapped_column(BigInteger)
    fx_rate: Mapped[str | None] = mapped_column(String(32))  # exact decimal string, never a float
    expected_settlement_date: Mapped[date | None]
    skip_reason: Mapped[str | None] = mapped_column(String(32))
    skip_detail: Mapped[str | None] = mapped_column(Text)
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    # The exact request sent to the provider, frozen when the payout became
    # submitting, so a retry or recovery never sends a different body.
    order_request: Mapped[dict[str, Any] | None]
    provider_order_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    failure_code: Mapped[str | None] = mapped_column(String(64))
    failure_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    version: Mapped[int] = mapped_column(Integer, default=1)
    # A worker re-asking the provider about a stuck ``submitting`` payout holds it until then.
    claimed_until: Mapped[datetime | None]
    # Which attempt at paying its allocation this is, and the one it pays again (0015).
    attempt: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    retry_of_payout_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("payouts.id"), index=True
    )


class PayoutRunItem(Base):
    """What one run did with one payout: the basis of its summary and skip breakdown."""

    __tablename__ = "payout_run_items"

    run_id: Mapped[int] = mapped_column(ForeignKey("payout_runs.id"), primary_key=True)
    payout_id: Mapped[int] = mapped_column(ForeignKey("payouts.id"), primary_key=True, index=True)
    outcome: Mapped[str] = mapped_column(String(16))  # created | skipped | failed | in_flight
    reason: Mapped[str | None] = mapped_column(String(32))


class AuditEvent(Base):
    """Append-only: triggers (made by the migrations) reject UPDATE and DELETE."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    occurred_at: Mapped[datetime]
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[int] = mapped_column(BigInteger)
    payout_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    run_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    action: Mapped[str] = mapped_column(String(48))
    actor: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]]


class LedgerAccount(Base):
    """An account with cached totals, updated in the same transaction as its entries."""

    __tablename__ = "ledger_accounts"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    code: Mapped[str] = mapped_column(String(96), unique=True)
    type: Mapped[str] = mapped_column(String(16))
    currency: Mapped[str] = mapped_column(String(3))
    owner_payee_id: Mapped[int | None] = mapped_column(ForeignKey("payees.id"), index=True)
    pending_debits: Mapped[int] = mapped_column(BigInteger, server_default="0")
    pending_credits: Mapped[int] = mapped_column(BigInteger, server_default="0")
    posted_debits: Mapped[int] = mapped_column(BigInteger, server_default="0")
    posted_credits: Mapped[int] = mapped_column(BigInteger, server_default="0")
    created_at: Mapped[datetime]


class LedgerTransfer(Base):
    """A journal entry. A post or void names the pending transfer it resolves, once."""

    __tablename__ = "ledger_transfers"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    kind: Mapped[str] = mapped_column(String(24))
    phase: Mapped[str] = mapped_column(String(8))
    payout_id: Mapped[int | None] = mapped_column(ForeignKey("payouts.id"), index=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("liquidation_events.id"))
    resolves_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_transfers.id"), unique=True)
    created_at: Mapped[datetime]


class LedgerEntry(Base):
    """One leg: a positive amount on a debit or credit side. Append-only."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        CheckConstraint("amount_minor > 0", name="positive_amount"),
        CheckConstraint("side IN ('debit', 'credit')", name="side"),
        CheckConstraint("phase IN ('pending', 'posted', 'voided')", name="phase"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    transfer_id: Mapped[int] = mapped_column(ForeignKey("ledger_transfers.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"), index=True)
    side: Mapped[str] = mapped_column(String(6))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    phase: Mapped[str] = mapped_column(String(8))


class IdempotencyKey(Base):
    """An API idempotency key: one caller's key, the request it stood for, and its answer.

    Written in the same transaction as the payout it created, so a racing request with
    the same key waits on the unique index and then replays the stored answer.
    """

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("scope", "key"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    scope: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(128))
    operation: Mapped[str] = mapped_column(String(32))
    request_hash: Mapped[str] = mapped_column(String(64))
    payout_id: Mapped[int | None] = mapped_column(ForeignKey("payouts.id"))
    response: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)


class ApiKey(Base):
    """An API key, stored as its SHA-256 hash; revoked keys are kept for the record."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    role: Mapped[str] = mapped_column(String(16))
    payee_id: Mapped[int | None] = mapped_column(ForeignKey("payees.id"))
    name: Mapped[str] = mapped_column(String(100))
    owner: Mapped[str] = mapped_column(String(200))  # the person or system holding it
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]  # within a minute (domain.auth.LAST_USED_EVERY)
    revoked_at: Mapped[datetime | None]


class JobRun(Base):
    """One execution of a scheduled job (or of its CLI/API twin): when, where, how it ended."""

    __tablename__ = "job_runs"
    __table_args__ = (Index("ix_job_runs_job_started_at", "job", "started_at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    job: Mapped[str] = mapped_column(String(48))
    trigger: Mapped[str] = mapped_column(String(16))  # scheduled | startup | manual
    worker: Mapped[str] = mapped_column(String(96))  # host:pid
    status: Mapped[str] = mapped_column(String(16))  # running | succeeded | failed | skipped
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    counts: Mapped[dict[str, Any]]
    error: Mapped[str | None] = mapped_column(Text)


class JobLease(Base):
    """A singleton job's lease on SQLite (PostgreSQL uses an advisory lock instead)."""

    __tablename__ = "job_leases"

    name: Mapped[str] = mapped_column(String(48), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(96))
    expires_at: Mapped[datetime | None]


class ProviderCursor(Base):
    """Where the status poller is in one provider's "changed since" feed, and who polls it.

    ``changed_since`` is in the provider's own clock: the newest status time it reported.
    A worker claims the row (``FOR UPDATE SKIP LOCKED``, then a lease) so that several
    workers split the providers between them instead of polling each one twice.
    """

    __tablename__ = "provider_cursors"

    provider: Mapped[str] = mapped_column(String(16), primary_key=True)
    changed_since: Mapped[datetime | None]
    holder: Mapped[str | None] = mapped_column(String(96))
    lease_until: Mapped[datetime | None]
    polled_at: Mapped[datetime | None]


class ReconciliationRun(Base):
    """The reconciliation of one business date; a re-run of the date reuses the row."""

    __tablename__ = "reconciliation_runs"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    business_date: Mapped[date] = mapped_column(unique=True)
    status: Mapped[str] = mapped_column(String(16))  # running | completed | failed
    trigger: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    counts: Mapped[dict[str, Any]]
    error: Mapped[str | None] = mapped_column(Text)


class ReconciliationBreak(Base):
    """A discrepancy between payouts, provider records and the ledger.

    (kind, fingerprint) is unique: a break seen again by a later run is the same break
    (``last_seen_at`` moves), so every night does not open a new copy of it.
    """

    __tablename__ = "reconciliation_breaks"
    __table_args__ = (
        UniqueConstraint("kind", "fingerprint"),
        Index("ix_reconciliation_breaks_status_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    fingerprint: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))  # open | resolved | auto_resolved
    first_run_id: Mapped[int] = mapped_column(ForeignKey("reconciliation_runs.id"), index=True)
    last_run_id: Mapped[int] = mapped_column(ForeignKey("reconciliation_runs.id"))
    payout_id: Mapped[int | None] = mapped_column(ForeignKey("payouts.id"), index=True)
    provider: Mapped[str | None] = mapped_column(String(16))
    provider_order_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(Text)
    evidence: Mapped[dict[str, Any]]
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(String(64))
    resolution_note: Mapped[str | None] = mapped_column(Text)


class WebhookEndpoint(Base):
    """Where events are posted. ``secret`` signs them; it must be read back to sign, so it
    is stored as issued (never shown again through the API)."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list[str]] = mapped_column(JSON)  # exact types or wildcards; empty = all
    payee_id: Mapped[int | None] = mapped_column(ForeignKey("payees.id"), index=True)
    secret: Mapped[str] = mapped_column(String(128))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(200))
    failing_since: Mapped[datetime | None]  # the first failure after the last success
    last_success_at: Mapped[datetime | None]
    disabled_at: Mapped[datetime | None]
    disabled_reason: Mapped[str | None] = mapped_column(Text)


class WebhookEvent(Base):
    """The outbox: one row per change, written in the change's own transaction.

    ``subject`` ("payout:12", "run:3", "reconciliation_break:7") is what deliveries keep
    in order. ``fanned_out`` turns true once the delivery job made its deliveries.
    """

    __tablename__ = "webhook_events"
    __table_args__ = (Index("ix_webhook_events_fanned_out_id", "fanned_out", "id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    type: Mapped[str] = mapped_column(String(48))
    subject: Mapped[str] = mapped_column(String(64))
    payee_id: Mapped[int | None] = mapped_column(BigInteger)
    data: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    fanned_out: Mapped[bool] = mapped_column(Boolean, default=False)


class WebhookDelivery(Base):
    """One event to one endpoint: pending until a 2xx answer (succeeded) or until it was
    retried for three days (failed). A worker holds it while sending (``lease_until``)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "endpoint_id"),
        Index("ix_webhook_deliveries_status_next", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_order", "endpoint_id", "subject", "status", "event_id"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("webhook_events.id"))
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id"))
    subject: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # pending | succeeded | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    first_attempt_at: Mapped[datetime | None]
    last_attempt_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    holder: Mapped[str | None] = mapped_column(String(96))
    lease_until: Mapped[datetime | None]


class WebhookAttempt(Base):
    """Every request made for a delivery, and how it ended."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("webhook_deliveries.id"), index=True)
    attempted_at: Mapped[datetime]
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer)
    succeeded: Mapped[bool] = mapped_column(Boolean)


class Approval(Base):
    """A four-eyes request: one kind per thing approved (a run, a bank account), one
    audit trail. At most one PENDING request per (kind, subject), by a partial index."""

    __tablename__ = "approvals"
    __table_args__ = (
        Index(
            "uq_approvals_pending_subject",
            "kind",
            "subject_id",
            unique=True,
            sqlite_where=text("status = 'PENDING'"),
            postgresql_where=text("status = 'PENDING'"),
        ),
        Index("ix_approvals_status_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # domain.approvals.ApprovalKind
    subject_id: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))  # domain.approvals.ApprovalStatus
    requested_by_key_id: Mapped[int | None] = mapped_column(Integer)
    requested_by_owner: Mapped[str] = mapped_column(String(200))
    requested_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    decided_by_key_id: Mapped[int | None] = mapped_column(Integer)
    decided_by_owner: Mapped[str | None] = mapped_column(String(200))
    decided_at: Mapped[datetime | None]
    note: Mapped[str | None] = mapped_column(Text)
    summary: Mapped[dict[str, Any]]


class PayoutRetry(Base):
    """A request to pay failed or returned payouts again (``retryPayout(s)``): the
    subject of its approval; the attempts are created when it is approved."""

    __tablename__ = "payout_retries"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    status: Mapped[str] = mapped_column(String(32))  # domain.retries.RetryStatus
    request: Mapped[dict[str, Any]]  # {"ids": [...], "rates": {...}}: what to pay again
    requested_by_key_id: Mapped[int | None] = mapped_column(Integer)
    requested_by_owner: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
    result: Mapped[dict[str, Any]]  # attempts created, payouts skipped and why
