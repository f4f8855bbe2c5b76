"""bank_accounts.details_verdict: the rails whose field checks an account passed

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 01:40:00

An account's details never change (a new account is a new row), so the format checks
of its IBAN, routing number or BIC are made once, when it is added, and their verdict
stored (``domain.bank_details.details_verdict``): a run does not check them again for
each payout. Rows from before this revision have none and are checked as before.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("bank_accounts") as batch:
        batch.add_column(sa.Column("details_verdict", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("bank_accounts") as batch:
        batch.drop_column("details_verdict")
