"""payout runs in the background, behind an approval: approvals, run leases, previews

Revision ID: 0013
Revises: 0011
Create Date: 2026-12-06 19:45:00

startRun now only records the run (status awaiting_approval or queued, with its
preview); a job runner claims queued runs under a lease (claimed_by, lease_until) and
executes them. approvals holds four-eyes requests of every kind (RUN, BANK_ACCOUNT),
with at most one PENDING request per (kind, subject): a partial unique index, which
both SQLite and PostgreSQL support.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
PENDING = sa.text("status = 'PENDING'")


def upgrade() -> None:
    with op.batch_alter_table("payout_runs") as batch:
        batch.alter_column(
            "status", existing_type=sa.String(16), type_=sa.String(32), existing_nullable=False
        )
        batch.add_column(sa.Column("preview", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("requested_by_key_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("requested_by_owner", sa.String(200), nullable=True))
        batch.add_column(sa.Column("claimed_by", sa.String(96), nullable=True))
        batch.add_column(sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(
            sa.Column("cancel_requested", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(
            sa.Column("progress_total", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(
            sa.Column("progress_evaluated", sa.Integer(), nullable=False, server_default="0")
        )
    op.create_table(
        "approvals",
        sa.Column("id", Id, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("subject_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("requested_by_key_id", sa.Integer(), nullable=True),
        sa.Column("requested_by_owner", sa.String(200), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by_key_id", sa.Integer(), nullable=True),
        sa.Column("decided_by_owner", sa.String(200), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approvals")),
    )
    op.create_index(
        "uq_approvals_pending_subject",
        "approvals",
        ["kind", "subject_id"],
        unique=True,
        sqlite_where=PENDING,
        postgresql_where=PENDING,
    )
    op.create_index("ix_approvals_status_id", "approvals", ["status", "id"])


def downgrade() -> None:
    op.drop_index("ix_approvals_status_id", table_name="approvals")
    op.drop_index("uq_approvals_pending_subject", table_name="approvals")
    op.drop_table("approvals")
    with op.batch_alter_table("payout_runs") as batch:
        for column in (
            "progress_evaluated",
            "progress_total",
            "cancel_requested",
            "lease_until",
            "claimed_by",
            "requested_by_owner",
            "requested_by_key_id",
            "preview",
        ):
            batch.drop_column(column)
        batch.alter_column(
            "status", existing_type=sa.String(32), type_=sa.String(16), existing_nullable=False
        )
