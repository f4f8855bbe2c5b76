"""api_keys.owner and api_keys.last_used_at: who holds a key, and when it was last used

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 10:00:00

Keys issued before this revision get their name as owner (or "unknown" if it is blank).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("owner", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE api_keys SET owner = CASE WHEN TRIM(name) = '' THEN 'unknown' ELSE name END")
    with op.batch_alter_table("api_keys") as batch:
        batch.alter_column("owner", existing_type=sa.String(length=200), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("last_used_at")
        batch.drop_column("owner")
