"""indexes for the admin's change lists, filters, searches and dashboard at production size

Every change list is ordered newest first and filtered by status, plan, kind or a date; every search is an
exact lookup (ids, provider ids, e-mail in any case); the dashboard reads 30 days of succeeded payments and
refunds, failed renewals and pending rows. Extended statistics on (status, plan_id) let the planner
estimate active subscriptions per plan without counting them. Built CONCURRENTLY: no write is blocked on
a live database.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# (name, schema, table, columns or expressions, partial WHERE, INCLUDE)
INDEXES: list[tuple[str, str, str, list[str], str | None, list[str]]] = [
    ("ix_subscriptions_created", "subscriptions", "subscriptions", ["created_at", "id"], None, []),
    (
        "ix_subscriptions_status_created",
        "subscriptions",
        "subscriptions",
        ["status", "created_at", "id"],
        None,
        [],
    ),
    (
        "ix_subscriptions_plan_created",
        "subscriptions",
        "subscriptions",
        ["plan_id", "created_at", "id"],
        None,
        [],
    ),
    (
        "ix_subscriptions_ended_reason",
        "subscriptions",
        "subscriptions",
        ["ended_reason", "created_at", "id"],
        "status = 'ended'",
        [],
    ),
    ("ix_subscriptions_period_end", "subscriptions", "subscriptions", ["current_period_end"], None, []),
    ("ix_subscriptions_email", "subscriptions", "subscriptions", ["upper(user_email)"], None, []),
    (
        "ix_subscriptions_dunning",
        "subscriptions",
        "subscriptions",
        ["plan_id"],
        "status = 'active' AND failed_attempts > 0",
        [],
    ),
    ("ix_payments_created", "billing", "payments", ["created_at", "id"], None, []),
    ("ix_payments_status_created", "billing", "payments", ["status", "created_at", "id"], None, []),
    ("ix_payments_kind_created", "billing", "payments", ["kind", "created_at", "id"], None, []),
    ("ix_payments_paid", "billing", "payments", ["paid_at"], "status = 'succeeded'", ["amount"]),
    (
        "ix_payments_failed_renewals",
        "billing",
        "payments",
        ["updated_at"],
        "kind = 'renewal' AND status = 'canceled'",
        [],
    ),
    ("ix_payments_pending_created", "billing", "payments", ["created_at"], "status = 'pending'", []),
    ("ix_payments_email", "billing", "payments", ["upper(user_email)"], None, []),
    ("ix_refunds_created", "billing", "refunds", ["created_at", "id"], None, []),
    ("ix_refunds_status_created", "billing", "refunds", ["status", "created_at", "id"], None, []),
    ("ix_refunds_subscription", "billing", "refunds", ["subscription_id"], None, []),
    ("ix_refunds_succeeded", "billing", "refunds", ["succeeded_at"], "status = 'succeeded'", ["amount"]),
    ("ix_refunds_pending_created", "billing", "refunds", ["created_at"], "status = 'pending'", []),
    (
        "ix_provider_notifications_received",
        "billing",
        "provider_notifications",
        ["received_at", "id"],
        None,
        [],
    ),
    ("ix_billing_emails_user", "billing", "emails", ["user_id", "created_at"], None, []),
    ("ix_subscriptions_emails_user", "subscriptions", "emails", ["user_id", "created_at"], None, []),
]


def upgrade() -> None:
    with op.get_context().autocommit_block():
        for name, schema, table, columns, where, include in INDEXES:
            on = f'"{schema}"."{table}" ({", ".join(columns)})'
            sql = f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {on}"
            if include:
                sql += f" INCLUDE ({', '.join(include)})"
            if where:
                sql += f" WHERE {where}"
            op.execute(sa.text(sql))
    op.execute(
        sa.text(
            "CREATE STATISTICS IF NOT EXISTS subscriptions.st_subscriptions_status_plan (mcv) "
            "ON status, plan_id FROM subscriptions.subscriptions"
        )
    )


def downgrade() -> None:
    op.execute(sa.text("DROP STATISTICS IF EXISTS subscriptions.st_subscriptions_status_plan"))
    for name, schema, _table, _columns, _where, _include in INDEXES:
        op.execute(sa.text(f'DROP INDEX IF EXISTS "{schema}".{name}'))
