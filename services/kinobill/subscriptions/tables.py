"""Schema `subscriptions`: plans, subscriptions, their periods, e-mails, outbox, idempotency keys."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from kinobill.db import NOW, emails_table, idempotency_keys_table, metadata, outbox_table, timestamp

SCHEMA = "subscriptions"

plans = sa.Table(
    "plans",
    metadata,
    sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("code", sa.Text, nullable=False, unique=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("price_month", sa.BigInteger, nullable=False),  # kopecks
    sa.Column("price_year", sa.BigInteger, nullable=False),  # kopecks
    sa.Column("currency", sa.String(3), nullable=False, server_default="RUB"),
    timestamp("sale_start", nullable=False),
    timestamp("sale_end"),
    timestamp("created_at", nullable=False, server_default=NOW),
    timestamp("updated_at", nullable=False, server_default=NOW),
    sa.CheckConstraint("price_month > 0 AND price_year > 0", name="positive_prices"),
    sa.CheckConstraint("sale_end IS NULL OR sale_end > sale_start", name="sale_window"),
    schema=SCHEMA,
)

subscriptions = sa.Table(
    "subscriptions",
    metadata,
    sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("user_id", pg.UUID(as_uuid=True), nullable=False),
    sa.Column("user_email", sa.Text),
    sa.Column("locale", sa.Text),  # the buyer's language and zone claims (null: the deployment's defaults)
    sa.Column("zoneinfo", sa.Text),
    sa.Column("plan_id", pg.UUID(as_uuid=True), sa.ForeignKey(f"{SCHEMA}.plans.id"), nullable=False),
    sa.Column("period", sa.Text, nullable=False),  # month | year
    sa.Column("status", sa.Text, nullable=False),  # awaiting_payment | active | ended
    sa.Column("ended_reason", sa.Text),  # cancelled | refunded | payment_failed | expired
    sa.Column("auto_renew", sa.Boolean, nullable=False, server_default=sa.true()),
    timestamp("anchor_at"),  # start of the first paid period; periods are counted from it
    sa.Column("period_index", sa.Integer),  # index of the current period, 0 = first
    timestamp("current_period_start"),
    timestamp("current_period_end"),
    sa.Column("purchase_key", sa.Text),  # the buyer's Idempotency-Key: a retried purchase resumes this one
    sa.Column("price", sa.BigInteger, nullable=False),  # kopecks charged for the first period
    sa.Column("payment_method_id", sa.Text),  # YooKassa saved method for renewals
    sa.Column("failed_attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("card_declined_reason", sa.Text),  # a hard decline stopped charging the saved method
    timestamp("next_attempt_at"),  # when the scheduler should charge next (renewal or dunning)
    sa.Column("reminded_period", sa.Integer),  # period index whose reminder went out
    timestamp("created_at", nullable=False, server_default=NOW),
    timestamp("updated_at", nullable=False, server_default=NOW),
    timestamp("ended_at"),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    sa.CheckConstraint("period IN ('month', 'year')", name="period"),
    sa.CheckConstraint("status IN ('awaiting_payment', 'active', 'ended')", name="status"),
    sa.CheckConstraint("(status = 'ended') = (ended_reason IS NOT NULL)", name="ended_reason_iff_ended"),
    # A user may hold several subscriptions, but not two non-ended ones of the same plan.
    sa.Index(
        "uq_subscriptions_user_plan_open",
        "user_id",
        "plan_id",
        unique=True,
        postgresql_where=sa.text("status <> 'ended'"),
    ),
    sa.Index("ix_subscriptions_user", "user_id", "created_at"),
    sa.Index("uq_subscriptions_purchase_key", "user_id", "purchase_key", unique=True),
    sa.Index(
        "ix_subscriptions_awaiting", "created_at", postgresql_where=sa.text("status = 'awaiting_payment'")
    ),
    # The scheduler's due query: only live, auto-renewing subscriptions are indexed.
    sa.Index(
        "ix_subscriptions_due",
        "next_attempt_at",
        postgresql_where=sa.text("status = 'active' AND next_attempt_at IS NOT NULL"),
    ),
    # Renewal reminders still to send for the current period (migration 0003).
    sa.Index(
        "ix_subscriptions_remind",
        "next_attempt_at",
        postgresql_where=sa.text(
            "status = 'active' AND auto_renew AND next_attempt_at IS NOT NULL "
            "AND reminded_period IS DISTINCT FROM period_index"
        ),
    ),
    schema=SCHEMA,
)

periods = sa.Table(
    "subscription_periods",
    metadata,
    sa.Column(
        "subscription_id",
        pg.UUID(as_uuid=True),
        sa.ForeignKey(f"{SCHEMA}.subscriptions.id"),
        primary_key=True,
    ),
    sa.Column("period_index", sa.Integer, primary_key=True),
    timestamp("starts_at", nullable=False),
    timestamp("ends_at", nullable=False),
    # Billing's payment id: a payment activates at most one period (idempotent activation).
    sa.Column("payment_id", pg.UUID(as_uuid=True), nullable=False, unique=True),
    sa.Column("amount", sa.BigInteger, nullable=False),
    timestamp("created_at", nullable=False, server_default=NOW),
    schema=SCHEMA,
)

# Requests to Billing whose result arrives later on a stream (a refund still pending, a card change the
# user completes on YooKassa's page), written before Billing is asked: if Redis loses the result, the
# backstop asks Billing again with the same key until the result is final (migration 0010).
awaited_results = sa.Table(
    "awaited_results",
    metadata,
    sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("kind", sa.Text, nullable=False),  # refund | card_change
    sa.Column("billing_key", sa.Text, nullable=False),  # the Idempotency-Key Billing was asked with
    sa.Column("subscription_id", pg.UUID(as_uuid=True), nullable=False),
    sa.Column("request", pg.JSONB, nullable=False),  # the body Billing was asked with
    timestamp("created_at", nullable=False, server_default=NOW),
    timestamp("checked_at", nullable=False),
    timestamp("resolved_at"),
    sa.Column("outcome", sa.Text),  # what the final result did (ended, card_changed, canceled, gave_up, ...)
    sa.CheckConstraint("kind IN ('refund', 'card_change')", name="kind"),
    sa.UniqueConstraint("kind", "billing_key", name="uq_awaited_results_key"),
    sa.Index("ix_awaited_results_due", "checked_at", postgresql_where=sa.text("resolved_at IS NULL")),
    schema=SCHEMA,
)

outbox = outbox_table(SCHEMA)
idempotency_keys = idempotency_keys_table(SCHEMA)
emails = emails_table(SCHEMA)

# The admin's change lists, searches and dashboard at production size (migration 0007; it also creates
# the extended statistics subscriptions.st_subscriptions_status_plan on (status, plan_id)).
sa.Index("ix_subscriptions_created", subscriptions.c.created_at, subscriptions.c.id)
sa.Index(
    "ix_subscriptions_status_created", subscriptions.c.status, subscriptions.c.created_at, subscriptions.c.id
)
sa.Index(
    "ix_subscriptions_plan_created", subscriptions.c.plan_id, subscriptions.c.created_at, subscriptions.c.id
)
sa.Index(
    "ix_subscriptions_ended_reason",
    subscriptions.c.ended_reason,
    subscriptions.c.created_at,
    subscriptions.c.id,
    postgresql_where=sa.text("status = 'ended'"),
)
sa.Index("ix_subscriptions_period_end", subscriptions.c.current_period_end)
sa.Index("ix_subscriptions_email", sa.func.upper(subscriptions.c.user_email))
sa.Index(
    "ix_subscriptions_dunning",
    subscriptions.c.plan_id,
    postgresql_where=sa.text("status = 'active' AND failed_attempts > 0"),
)
sa.Index("ix_subscriptions_emails_user", emails.c.user_id, emails.c.created_at)
# The admin's e-mail list (migration 0009).
sa.Index("ix_subscriptions_emails_created", emails.c.created_at, emails.c.id)
sa.Index("ix_subscriptions_emails_sent", emails.c.sent_at)
sa.Index("ix_subscriptions_emails_address", sa.func.upper(emails.c.to_address))
