"""payouts.attempt/retry_of_payout_id, payout_retries: paying an allocation again

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 20:40:00

A failed or returned payout can be paid again by a new attempt: a new payout row of
the same (event, payee) with the next attempt number, linked to the one it retries.
(event, payee) is no longer unique; (event, payee, attempt) is, and a partial unique
index keeps at most one attempt per allocation that is not failed, returned or
cancelled. ``payout_retries`` records each retry request: the subject of its approval.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE = sa.text("status NOT IN ('failed', 'returned', 'cancelled')")
_FK = "fk_payouts_retry_of_payout_id_payouts"


def upgrade() -> None:
    with op.batch_alter_table("payouts") as batch:
        batch.add_column(sa.Column("attempt", sa.Integer(), server_default="1", nullable=False))
        batch.add_column(sa.Column("retry_of_payout_id", sa.BigInteger(), nullable=True))
        batch.create_foreign_key(_FK, "payouts", ["retry_of_payout_id"], ["id"])
        batch.drop_constraint("uq_payouts_event_id_payee_id", type_="unique")
        batch.create_unique_constraint(
            "uq_payouts_event_id_payee_id_attempt", ["event_id", "payee_id", "attempt"]
        )
    op.create_index("ix_payouts_retry_of_payout_id", "payouts", ["retry_of_payout_id"])
    op.create_index(
        "uq_payouts_live_attempt",
        "payouts",
        ["event_id", "payee_id"],
        unique=True,
        sqlite_where=LIVE,
        postgresql_where=LIVE,
    )
    op.create_table(
        "payout_retries",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("requested_by_key_id", sa.Integer(), nullable=True),
        sa.Column("requested_by_owner", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payout_retries")),
    )


def downgrade() -> None:
    op.drop_table("payout_retries")
    op.drop_index("uq_payouts_live_attempt", table_name="payouts")
    op.drop_index("ix_payouts_retry_of_payout_id", table_name="payouts")
    with op.batch_alter_table("payouts") as batch:
        batch.drop_constraint("uq_payouts_event_id_payee_id_attempt", type_="unique")
        batch.create_unique_constraint("uq_payouts_event_id_payee_id", ["event_id", "payee_id"])
        batch.drop_constraint(_FK, type_="foreignkey")
        batch.drop_column("retry_of_payout_id")
        batch.drop_column("attempt")
