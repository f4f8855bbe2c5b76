"""bank_accounts.flagged_at/flag_code/flagged_by_payout_id: accounts a bank refused

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 19:50:00

A failure or return whose reason code says the account is unusable (closed, invalid,
blocked, holder deceased) flags the account in the same transaction as the payout's
status; runs skip a flagged account (``bank_account_flagged``) until the payee adds
a new one. Payouts already carry failure_code and failure_reason (0001); the category
is read off the code (``domain.reason_codes``), so it is not stored.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FK = "fk_bank_accounts_flagged_by_payout_id_payouts"


def upgrade() -> None:
    with op.batch_alter_table("bank_accounts") as batch:
        batch.add_column(sa.Column("flagged_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("flag_code", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("flagged_by_payout_id", sa.BigInteger(), nullable=True))
        batch.create_foreign_key(_FK, "payouts", ["flagged_by_payout_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("bank_accounts") as batch:
        batch.drop_constraint(_FK, type_="foreignkey")
        batch.drop_column("flagged_by_payout_id")
        batch.drop_column("flag_code")
        batch.drop_column("flagged_at")
