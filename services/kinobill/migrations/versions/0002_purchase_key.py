"""subscriptions: the buyer's idempotency key and the first period's price

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "subscriptions", sa.Column("purchase_key", sa.Text(), nullable=True), schema="subscriptions"
    )
    op.add_column(
        "subscriptions",
        sa.Column("price", sa.BigInteger(), nullable=False, server_default="0"),
        schema="subscriptions",
    )
    op.alter_column("subscriptions", "price", server_default=None, schema="subscriptions")
    op.create_index(
        "uq_subscriptions_purchase_key",
        "subscriptions",
        ["user_id", "purchase_key"],
        unique=True,
        schema="subscriptions",
    )
    op.create_index(
        "ix_subscriptions_awaiting",
        "subscriptions",
        ["created_at"],
        unique=False,
        schema="subscriptions",
        postgresql_where=sa.text("status = 'awaiting_payment'"),
    )


def downgrade() -> None:
    op.drop_index("ix_subscriptions_awaiting", table_name="subscriptions", schema="subscriptions")
    op.drop_index("uq_subscriptions_purchase_key", table_name="subscriptions", schema="subscriptions")
    op.drop_column("subscriptions", "price", schema="subscriptions")
    op.drop_column("subscriptions", "purchase_key", schema="subscriptions")
