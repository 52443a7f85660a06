"""billing: a second success for a paid period is recorded as a duplicate (and refunded), not refused

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "payments", sa.Column("duplicate_of", postgresql.UUID(as_uuid=True), nullable=True), schema="billing"
    )
    op.drop_index("uq_payments_one_success_per_period", table_name="payments", schema="billing")
    op.create_index(
        "uq_payments_one_success_per_period",
        "payments",
        ["subscription_id", "period_index"],
        unique=True,
        schema="billing",
        postgresql_where=sa.text("status = 'succeeded' AND duplicate_of IS NULL"),
    )
    op.create_index(
        "ix_payments_duplicates_to_refund",
        "payments",
        ["created_at"],
        unique=False,
        schema="billing",
        postgresql_where=sa.text("duplicate_of IS NOT NULL AND refunded_amount < amount"),
    )


def downgrade() -> None:
    op.drop_index("ix_payments_duplicates_to_refund", table_name="payments", schema="billing")
    op.drop_index("uq_payments_one_success_per_period", table_name="payments", schema="billing")
    op.create_index(
        "uq_payments_one_success_per_period",
        "payments",
        ["subscription_id", "period_index"],
        unique=True,
        schema="billing",
        postgresql_where=sa.text("status = 'succeeded'"),
    )
    op.drop_column("payments", "duplicate_of", schema="billing")
