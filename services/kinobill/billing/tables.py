"""Schema `billing`: payments, refunds, provider notifications, e-mails, outbox, idempotency keys."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from kinobill.db import NOW, emails_table, idempotency_keys_table, metadata, outbox_table, timestamp

SCHEMA = "billing"

payments = sa.Table(
    "payments",
    metadata,
    # Our id is also the Idempotence-Key sent to YooKassa: a retried create can never charge twice.
    sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("user_id", pg.UUID(as_uuid=True), nullable=False),
    sa.Column("user_email", sa.Text),
    sa.Column("locale", sa.Text),  # the user's language and zone for Billing's e-mails (null: the defaults)
    sa.Column("zoneinfo", sa.Text),
    sa.Column("subscription_id", pg.UUID(as_uuid=True), nullable=False),
    sa.Column("period_index", sa.Integer, nullable=False),  # the period this payment pays for
    sa.Column("kind", sa.Text, nullable=False),  # initial | renewal
    sa.Column("attempt", sa.Integer, nullable=False, server_default="0"),
    # Deterministic business key: the same request or renewal attempt always maps to one payment.
    sa.Column("charge_key", sa.Text, nullable=False, unique=True),
    sa.Column("amount", sa.BigInteger, nullable=False),  # kopecks
    sa.Column("currency", sa.String(3), nullable=False, server_default="RUB"),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("status", sa.Text, nullable=False),  # pending | succeeded | canceled
    sa.Column("provider_status", sa.Text),  # YooKassa's own status, e.g. waiting_for_capture
    sa.Column("provider_payment_id", sa.Text, unique=True),
    sa.Column("confirmation_url", sa.Text),
    sa.Column("return_url", sa.Text),
    sa.Column("payment_method_id", sa.Text),  # the saved method charged (renewals)
    sa.Column("saved_payment_method_id", sa.Text),  # the method this payment saved
    sa.Column("cancellation_party", sa.Text),
    sa.Column("cancellation_reason", sa.Text),
    sa.Column("provider_attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text),
    sa.Column("refunded_amount", sa.BigInteger, nullable=False, server_default="0"),
    # Set when YooKassa reports a second success for a period already paid (e.g. a payer who paid two
    # open links): the money is real, so it is recorded, kept out of the one-success index and refunded.
    sa.Column("duplicate_of", pg.UUID(as_uuid=True)),
    sa.Column("provider_object", pg.JSONB),  # the last object read from YooKassa
    # 54-FZ: the receipt sent with it (kept, so a repeated call sends the same body) and YooKassa's
    # receipt_registration (pending | succeeded | canceled), followed until final (receipt_check_at).
    sa.Column("receipt", pg.JSONB),
    sa.Column("receipt_registration", sa.Text),
    timestamp("receipt_check_at"),
    timestamp("created_at", nullable=False, server_default=NOW),
    timestamp("updated_at", nullable=False, server_default=NOW),
    timestamp("paid_at"),
    timestamp("next_check_at"),  # when the reconciler should ask YooKassa about it
    sa.CheckConstraint("amount > 0", name="positive_amount"),
    sa.CheckConstraint("refunded_amount >= 0 AND refunded_amount <= amount", name="refund_bound"),
    sa.CheckConstraint("status IN ('pending', 'succeeded', 'canceled')", name="status"),
    # At most one successful charge per (subscription, period): the invariant, enforced by Postgres.
    # A provider-side duplicate is the one exception, recorded as such and returned in full.
    sa.Index(
        "uq_payments_one_success_per_period",
        "subscription_id",
        "period_index",
        unique=True,
        postgresql_where=sa.text("status = 'succeeded' AND duplicate_of IS NULL"),
    ),
    sa.Index(
        "ix_payments_duplicates_to_refund",
        "created_at",
        postgresql_where=sa.text("duplicate_of IS NOT NULL AND refunded_amount < amount"),
    ),
    sa.Index("ix_payments_user", "user_id", "created_at"),
    sa.Index("ix_payments_subscription", "subscription_id", "period_index"),
    sa.Index("ix_payments_unsettled", "next_check_at", postgresql_where=sa.text("status = 'pending'")),
    sa.Index(
        "ix_payments_receipt_pending",
        "receipt_check_at",
        postgresql_where=sa.text("receipt_registration = 'pending'"),
    ),
    schema=SCHEMA,
)

refunds = sa.Table(
    "refunds",
    metadata,
    sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),  # also YooKassa's Idempotence-Key
    sa.Column("payment_id", pg.UUID(as_uuid=True), sa.ForeignKey(f"{SCHEMA}.payments.id"), nullable=False),
    sa.Column("subscription_id", pg.UUID(as_uuid=True), nullable=False),
    sa.Column("user_id", pg.UUID(as_uuid=True), nullable=False),
    sa.Column("refund_key", sa.Text, nullable=False, unique=True),
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False, server_default="RUB"),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("provider_refund_id", sa.Text, unique=True),
    sa.Column("cancellation_reason", sa.Text),
    sa.Column("provider_attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text),
    sa.Column("provider_object", pg.JSONB),
    # 54-FZ: the receipt sent with it (kept, so a repeated call sends the same body) and YooKassa's
    # receipt_registration (pending | succeeded | canceled), followed until final (receipt_check_at).
    sa.Column("receipt", pg.JSONB),
    sa.Column("receipt_registration", sa.Text),
    timestamp("receipt_check_at"),
    timestamp("created_at", nullable=False, server_default=NOW),
    timestamp("updated_at", nullable=False, server_default=NOW),
    timestamp("succeeded_at"),
    timestamp("next_check_at"),
    sa.CheckConstraint("amount > 0", name="positive_amount"),
    sa.CheckConstraint("status IN ('pending', 'succeeded', 'canceled')", name="status"),
    sa.Index("ix_refunds_payment", "payment_id"),
    sa.Index("ix_refunds_user", "user_id", "created_at"),
    sa.Index("ix_refunds_unsettled", "next_check_at", postgresql_where=sa.text("status = 'pending'")),
    sa.Index(
        "ix_refunds_receipt_pending",
        "receipt_check_at",
        postgresql_where=sa.text("receipt_registration = 'pending'"),
    ),
    schema=SCHEMA,
)

provider_notifications = sa.Table(
    "provider_notifications",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("event", sa.Text, nullable=False),
    sa.Column("object_id", sa.Text),
    sa.Column("remote_addr", sa.Text),
    sa.Column("body", pg.JSONB, nullable=False),
    sa.Column("outcome", sa.Text, nullable=False),  # applied | duplicate | unknown | rejected | mismatch
    timestamp("received_at", nullable=False, server_default=NOW),
    sa.Index("ix_provider_notifications_object", "object_id"),
    schema=SCHEMA,
)

# What operators must do by hand, one row per (kind, object): e.g. a receipt YooKassa could not register
# (``receipt_canceled``) must be issued another way. Resolved in the admin.
operator_tasks = sa.Table(
    "operator_tasks",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("object_type", sa.Text, nullable=False),  # payment | refund
    sa.Column("object_id", sa.Text, nullable=False),
    sa.Column("detail", sa.Text, nullable=False, server_default=""),
    timestamp("created_at", nullable=False, server_default=NOW),
    timestamp("resolved_at"),
    sa.Column("resolved_by", sa.Text),  # the staff user who marked it resolved
    sa.Column("resolution_note", sa.Text),  # what they did, e.g. how the receipt was issued
    sa.UniqueConstraint("kind", "object_id"),
    schema=SCHEMA,
)

# A user's request to replace a subscription's saved card: a YooKassa payment method (POST
# /payment_methods, redirect confirmation); once it is ``active`` the subscription charges it.
card_changes = sa.Table(
    "card_changes",
    metadata,
    sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),  # also YooKassa's Idempotence-Key
    sa.Column("subscription_id", pg.UUID(as_uuid=True), nullable=False),
    sa.Column("user_id", pg.UUID(as_uuid=True), nullable=False),
    sa.Column("user_email", sa.Text),
    sa.Column("request_key", sa.Text, nullable=False, unique=True),
    sa.Column("status", sa.Text, nullable=False),  # pending | active | canceled
    sa.Column("provider_method_id", sa.Text, unique=True),
    sa.Column("confirmation_url", sa.Text),
    sa.Column("return_url", sa.Text),
    sa.Column("card_title", sa.Text),
    sa.Column("last_error", sa.Text),
    timestamp("created_at", nullable=False, server_default=NOW),
    timestamp("updated_at", nullable=False, server_default=NOW),
    timestamp("activated_at"),
    sa.CheckConstraint("status IN ('pending', 'active', 'canceled')", name="status"),
    sa.Index("ix_card_changes_subscription", "subscription_id", "created_at"),
    schema=SCHEMA,
)

outbox = outbox_table(SCHEMA)
idempotency_keys = idempotency_keys_table(SCHEMA)
emails = emails_table(SCHEMA)

# The admin's change lists, searches and dashboard at production size (migration 0007).
sa.Index("ix_payments_created", payments.c.created_at, payments.c.id)
sa.Index("ix_payments_status_created", payments.c.status, payments.c.created_at, payments.c.id)
sa.Index("ix_payments_kind_created", payments.c.kind, payments.c.created_at, payments.c.id)
sa.Index(
    "ix_payments_paid",
    payments.c.paid_at,
    postgresql_where=sa.text("status = 'succeeded'"),
    postgresql_include=["amount"],
)
sa.Index(
    "ix_payments_failed_renewals",
    payments.c.updated_at,
    postgresql_where=sa.text("kind = 'renewal' AND status = 'canceled'"),
)
sa.Index("ix_payments_pending_created", payments.c.created_at, postgresql_where=sa.text("status = 'pending'"))
sa.Index("ix_payments_email", sa.func.upper(payments.c.user_email))
sa.Index("ix_refunds_created", refunds.c.created_at, refunds.c.id)
sa.Index("ix_refunds_status_created", refunds.c.status, refunds.c.created_at, refunds.c.id)
sa.Index("ix_refunds_subscription", refunds.c.subscription_id)
sa.Index(
    "ix_refunds_succeeded",
    refunds.c.succeeded_at,
    postgresql_where=sa.text("status = 'succeeded'"),
    postgresql_include=["amount"],
)
sa.Index("ix_refunds_pending_created", refunds.c.created_at, postgresql_where=sa.text("status = 'pending'"))
sa.Index(
    "ix_provider_notifications_received", provider_notifications.c.received_at, provider_notifications.c.id
)
sa.Index("ix_billing_emails_user", emails.c.user_id, emails.c.created_at)
# The admin's notification and e-mail lists (migration 0009).
sa.Index(
    "ix_provider_notifications_event",
    provider_notifications.c.event,
    provider_notifications.c.received_at,
    provider_notifications.c.id,
)
sa.Index("ix_billing_emails_created", emails.c.created_at, emails.c.id)
sa.Index("ix_billing_emails_sent", emails.c.sent_at)
sa.Index("ix_billing_emails_address", sa.func.upper(emails.c.to_address))
