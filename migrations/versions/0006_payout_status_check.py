"""payouts.status CHECK: a payout can only be in a status the lifecycle knows

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 04:16:03

Autogenerate does not see CHECK constraints, so this one is written by hand. The list
is spelled out, not read from the code, so that this revision stays what it was when a
later one changes the lifecycle.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUSES = (
    "'skipped', 'pending', 'submitting', 'submitted', 'completed', 'failed', 'returned', "
    "'cancelled'"
)


def upgrade() -> None:
    with op.batch_alter_table("payouts") as batch:
        batch.create_check_constraint("payout_status", f"status IN ({STATUSES})")


def downgrade() -> None:
    with op.batch_alter_table("payouts") as batch:
        batch.drop_constraint("payout_status", type_="check")
