"""subscriptions: a partial index for the renewal reminders still to send

The due index (`ix_subscriptions_due`) holds every live subscription by `next_attempt_at`; the reminder
query also looks `reminder_days` ahead, where most rows were already reminded. This index holds only
the auto-renewing ones whose current period's reminder has not gone out, so each pass reads just the
rows it acts on.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_subscriptions_remind",
        "subscriptions",
        ["next_attempt_at"],
        unique=False,
        schema="subscriptions",
        postgresql_where=sa.text(
            "status = 'active' AND auto_renew AND next_attempt_at IS NOT NULL "
            "AND reminded_period IS DISTINCT FROM period_index"
        ),
    )


def downgrade() -> None:
    op.drop_index("ix_subscriptions_remind", table_name="subscriptions", schema="subscriptions")
