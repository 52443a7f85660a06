"""54-FZ receipts on payments and refunds, hard declines on subscriptions, card changes, operator tasks

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

NOW = sa.text("now()")


def _ts(name: str, **kw: object) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), **kw)  # type: ignore[arg-type]


def upgrade() -> None:
    op.add_column("subscriptions", sa.Column("card_declined_reason", sa.Text), schema="subscriptions")
    for table in ("payments", "refunds"):
        op.add_column(table, sa.Column("receipt", postgresql.JSONB), schema="billing")
        op.add_column(table, sa.Column("receipt_registration", sa.Text), schema="billing")
        op.add_column(table, _ts("receipt_check_at"), schema="billing")
        op.create_index(
            f"ix_{table}_receipt_pending",
            table,
            ["receipt_check_at"],
            schema="billing",
            postgresql_where=sa.text("receipt_registration = 'pending'"),
        )
    op.create_table(
        "operator_tasks",
        sa.Column("id", sa.BigInteger, sa.Identity(), nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("object_type", sa.Text, nullable=False),
        sa.Column("object_id", sa.Text, nullable=False),
        sa.Column("detail", sa.Text, nullable=False, server_default=""),
        _ts("created_at", nullable=False, server_default=NOW),
        _ts("resolved_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operator_tasks")),
        sa.UniqueConstraint("kind", "object_id", name=op.f("uq_operator_tasks_kind")),
        schema="billing",
    )
    op.create_table(
        "card_changes",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("subscription_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("user_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("user_email", sa.Text),
        sa.Column("request_key", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("provider_method_id", sa.Text),
        sa.Column("confirmation_url", sa.Text),
        sa.Column("return_url", sa.Text),
        sa.Column("card_title", sa.Text),
        sa.Column("last_error", sa.Text),
        _ts("created_at", nullable=False, server_default=NOW),
        _ts("updated_at", nullable=False, server_default=NOW),
        _ts("activated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_card_changes")),
        sa.UniqueConstraint("request_key", name=op.f("uq_card_changes_request_key")),
        sa.UniqueConstraint("provider_method_id", name=op.f("uq_card_changes_provider_method_id")),
        sa.CheckConstraint(
            "status IN ('pending', 'active', 'canceled')", name=op.f("ck_card_changes_status")
        ),
        schema="billing",
    )
    op.create_index(
        "ix_card_changes_subscription", "card_changes", ["subscription_id", "created_at"], schema="billing"
    )


def downgrade() -> None:
    op.drop_table("card_changes", schema="billing")
    op.drop_table("operator_tasks", schema="billing")
    for table in ("payments", "refunds"):
        op.drop_index(f"ix_{table}_receipt_pending", table_name=table, schema="billing")
        for column in ("receipt_check_at", "receipt_registration", "receipt"):
            op.drop_column(table, column, schema="billing")
    op.drop_column("subscriptions", "card_declined_reason", schema="subscriptions")
