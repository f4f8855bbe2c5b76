"""bank_accounts.retired_at: accounts are immutable, a replaced one is retired

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-08 10:00:00

Payees already carry email and kind (0001). An account is never edited or deleted,
since a payout names the exact account it was sent to; adding a new account retires
the one in use, and retireBankAccount retires one explicitly.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("bank_accounts") as batch:
        batch.add_column(sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("bank_accounts") as batch:
        batch.drop_column("retired_at")
