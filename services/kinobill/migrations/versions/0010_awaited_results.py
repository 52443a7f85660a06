"""Requests to Billing whose result comes later (a pending refund, a card change): the backstop's record

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def _ts(name: str, **kw: object) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), **kw)  # type: ignore[arg-type]


def upgrade() -> None:
    op.create_table(
        "awaited_results",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("billing_key", sa.Text, nullable=False),
        sa.Column("subscription_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("request", postgresql.JSONB, nullable=False),
        _ts("created_at", nullable=False, server_default=sa.text("now()")),
        _ts("checked_at", nullable=False),
        _ts("resolved_at"),
        sa.Column("outcome", sa.Text),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_awaited_results")),
        sa.CheckConstraint("kind IN ('refund', 'card_change')", name=op.f("ck_awaited_results_kind")),
        sa.UniqueConstraint("kind", "billing_key", name=op.f("uq_awaited_results_key")),
        schema="subscriptions",
    )
    op.create_index(
        "ix_awaited_results_due",
        "awaited_results",
        ["checked_at"],
        schema="subscriptions",
        postgresql_where=sa.text("resolved_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_table("awaited_results", schema="subscriptions")
