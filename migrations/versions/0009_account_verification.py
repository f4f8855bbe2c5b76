"""bank_accounts: verification of payee (CoP / VoP) and an operator's clearance

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 19:50:00

Each account carries the bank's answer to "does this name hold this account"
(pending until asked), when it was obtained and when it was last asked, whether the
account was added after the payee had a completed payout (the account-takeover
path), and who cleared a held account, when and why. Existing accounts start
``pending``: the scheduled job asks their banks; pending holds no payout.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_AT = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("bank_accounts") as batch:
        batch.add_column(
            sa.Column(
                "verification_status", sa.String(16), server_default="pending", nullable=False
            )
        )
        batch.add_column(sa.Column("bank_held_name", sa.String(200), nullable=True))
        batch.add_column(sa.Column("verified_at", _AT, nullable=True))
        batch.add_column(sa.Column("verification_asked_at", _AT, nullable=True))
        batch.add_column(
            sa.Column("replaces_paid", sa.Boolean(), server_default="0", nullable=False)
        )
        batch.add_column(sa.Column("cleared_at", _AT, nullable=True))
        batch.add_column(sa.Column("cleared_by", sa.String(200), nullable=True))
        batch.add_column(sa.Column("clear_note", sa.String(500), nullable=True))
        # the job looks for pending and unavailable accounts
        batch.create_index(
            batch.f("ix_bank_accounts_verification_status"), ["verification_status"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("bank_accounts") as batch:
        batch.drop_index(batch.f("ix_bank_accounts_verification_status"))
        for column in (
            "clear_note",
            "cleared_by",
            "cleared_at",
            "replaces_paid",
            "verification_asked_at",
            "verified_at",
            "bank_held_name",
            "verification_status",
        ):
            batch.drop_column(column)
