"""Models: the audit log (managed, schema `admin`) and read-only maps of the service tables.

The service tables belong to Alembic (schemas `subscriptions` and `billing`): the models below are
unmanaged, never migrated, and the console never saves them; every change goes through an internal API.
`db_table = 'schema"."table'` makes Django quote it as "schema"."table".
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from kinobill.domain.money import format_rub


class AuditEntry(models.Model):
    """Who did what, when, to which object, and how it ended: one row per staff action attempt."""

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    actor_name = models.CharField(max_length=150)  # kept if the user is deleted later
    action = models.CharField(max_length=64, db_index=True)
    target_type = models.CharField(max_length=32, blank=True)
    target_id = models.CharField(max_length=64, blank=True, db_index=True)
    details = models.JSONField(default=dict, blank=True)
    outcome = models.CharField(max_length=16)  # ok | error
    message = models.TextField(blank=True)
    remote_addr = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit log")
        permissions = [("export_auditentry", "Can export the audit log as CSV")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_name} {self.action} {self.target_type} {self.target_id}"


class ReadOnlyModel(models.Model):
    class Meta:
        abstract = True
        managed = False

    def save(self, *args: object, **kwargs: object) -> None:
        raise NotImplementedError("service tables are read-only here; use the internal APIs")

    def delete(self, *args: object, **kwargs: object) -> tuple[int, dict[str, int]]:
        raise NotImplementedError("service tables are read-only here; use the internal APIs")


class MoneyMixin:
    amount: int

    @property
    def amount_rub(self) -> str:
        return format_rub(self.amount)


class Plan(ReadOnlyModel):
    id = models.UUIDField(primary_key=True)
    code = models.TextField(unique=True)
    name = models.TextField()
    description = models.TextField()
    price_month = models.BigIntegerField()
    price_year = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    sale_start = models.DateTimeField()
    sale_end = models.DateTimeField(null=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta(ReadOnlyModel.Meta):
        db_table = 'subscriptions"."plans'
        ordering = ["-created_at"]
        verbose_name = _("plan")
        verbose_name_plural = _("plans")

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    @property
    def price_month_rub(self) -> str:
        return format_rub(self.price_month)

    @property
    def price_year_rub(self) -> str:
        return format_rub(self.price_year)

    def on_sale_at(self, moment) -> bool:
        return self.sale_start <= moment and (self.sale_end is None or moment < self.sale_end)


class Subscription(ReadOnlyModel):
    id = models.UUIDField(primary_key=True)
    user_id = models.UUIDField()
    user_email = models.TextField(null=True)
    locale = models.TextField(null=True)
    zoneinfo = models.TextField(null=True)
    plan = models.ForeignKey(Plan, on_delete=models.DO_NOTHING, db_constraint=False)
    period = models.TextField()
    status = models.TextField()
    ended_reason = models.TextField(null=True)
    auto_renew = models.BooleanField()
    anchor_at = models.DateTimeField(null=True)
    period_index = models.IntegerField(null=True)
    current_period_start = models.DateTimeField(null=True)
    current_period_end = models.DateTimeField(null=True)
    purchase_key = models.TextField(null=True)  # the buyer's Idempotency-Key (migration 0002)
    price = models.BigIntegerField()  # kopecks charged for the first period (migration 0002)
    payment_method_id = models.TextField(null=True)
    failed_attempts = models.IntegerField()
    card_declined_reason = models.TextField(null=True)  # a hard decline stopped renewals (migration 0008)
    next_attempt_at = models.DateTimeField(null=True)
    reminded_period = models.IntegerField(null=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True)
    version = models.IntegerField()

    class Meta(ReadOnlyModel.Meta):
        db_table = 'subscriptions"."subscriptions'
        ordering = ["-created_at", "-id"]
        verbose_name = _("subscription")
        verbose_name_plural = _("subscriptions")
        permissions = [
            ("cancel_subscription", "Can cancel a subscription (auto-renew off)"),
            ("refund_subscription", "Can refund a subscription"),
            ("reconcile_subscription", "Can re-run reconciliation with YooKassa"),
        ]

    def __str__(self) -> str:
        return f"{self.user_email or self.user_id} · {self.status} · {str(self.id)[:8]}"

    @property
    def price_rub(self) -> str:
        return format_rub(self.price)


class SubscriptionPeriod(ReadOnlyModel, MoneyMixin):
    # Composite key (subscription_id, period_index) in Postgres; Django needs one column as "pk".
    payment_id = models.UUIDField(primary_key=True)
    subscription = models.ForeignKey(
        Subscription, on_delete=models.DO_NOTHING, db_constraint=False, related_name="periods"
    )
    period_index = models.IntegerField()
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    amount = models.BigIntegerField()
    created_at = models.DateTimeField()

    class Meta(ReadOnlyModel.Meta):
        db_table = 'subscriptions"."subscription_periods'
        ordering = ["-period_index"]
        verbose_name = _("paid period")
        verbose_name_plural = _("paid periods")

    def __str__(self) -> str:
        return f"#{self.period_index}"


class EmailBase(ReadOnlyModel):
    id = models.UUIDField(primary_key=True)
    dedupe_key = models.TextField()
    user_id = models.UUIDField(null=True)
    to_address = models.TextField()
    kind = models.TextField()
    subject = models.TextField()
    body = models.TextField()
    html_body = models.TextField(null=True)
    locale = models.TextField(null=True)
    zoneinfo = models.TextField(null=True)
    attempts = models.IntegerField()
    created_at = models.DateTimeField()
    claimed_until = models.DateTimeField(null=True)
    sent_at = models.DateTimeField(null=True)
    sending_at = models.DateTimeField(null=True)
    dead_at = models.DateTimeField(null=True)
    last_error = models.TextField(null=True)

    class Meta(ReadOnlyModel.Meta):
        abstract = True
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.kind} → {self.to_address}"


class SubscriptionEmail(EmailBase):
    class Meta(EmailBase.Meta):
        db_table = 'subscriptions"."emails'
        verbose_name = _("e-mail (Subscriptions)")
        verbose_name_plural = _("e-mails (Subscriptions)")


class BillingEmail(EmailBase):
    class Meta(EmailBase.Meta):
        db_table = 'billing"."emails'
        verbose_name = _("e-mail (Billing)")
        verbose_name_plural = _("e-mails (Billing)")


class Payment(ReadOnlyModel, MoneyMixin):
    id = models.UUIDField(primary_key=True)
    user_id = models.UUIDField()
    user_email = models.TextField(null=True)
    locale = models.TextField(null=True)
    zoneinfo = models.TextField(null=True)
    subscription = models.ForeignKey(
        Subscription, on_delete=models.DO_NOTHING, db_constraint=False, related_name="payments"
    )
    period_index = models.IntegerField()
    kind = models.TextField()
    attempt = models.IntegerField()
    charge_key = models.TextField()
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    description = models.TextField()
    status = models.TextField()
    provider_status = models.TextField(null=True)
    provider_payment_id = models.TextField(null=True)
    confirmation_url = models.TextField(null=True)
    return_url = models.TextField(null=True)
    payment_method_id = models.TextField(null=True)
    saved_payment_method_id = models.TextField(null=True)
    cancellation_party = models.TextField(null=True)
    cancellation_reason = models.TextField(null=True)
    provider_attempts = models.IntegerField()
    last_error = models.TextField(null=True)
    refunded_amount = models.BigIntegerField()
    duplicate_of = models.UUIDField(null=True)  # a second success for a paid period, returned in full
    provider_object = models.JSONField(null=True)
    receipt = models.JSONField(null=True)  # the 54-FZ receipt sent (migration 0008)
    receipt_registration = models.TextField(null=True)  # pending | succeeded | canceled
    receipt_check_at = models.DateTimeField(null=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    paid_at = models.DateTimeField(null=True)
    next_check_at = models.DateTimeField(null=True)

    class Meta(ReadOnlyModel.Meta):
        db_table = 'billing"."payments'
        ordering = ["-created_at", "-id"]
        verbose_name = _("payment")
        verbose_name_plural = _("payments")
        permissions = [("export_payment", "Can export payments as CSV")]

    def __str__(self) -> str:
        return f"{format_rub(self.amount)} ₽ · {self.status} · {str(self.id)[:8]}"

    @property
    def refunded_rub(self) -> str:
        return format_rub(self.refunded_amount)


class Refund(ReadOnlyModel, MoneyMixin):
    id = models.UUIDField(primary_key=True)
    payment = models.ForeignKey(Payment, on_delete=models.DO_NOTHING, db_constraint=False)
    subscription = models.ForeignKey(
        Subscription, on_delete=models.DO_NOTHING, db_constraint=False, related_name="refunds"
    )
    user_id = models.UUIDField()
    refund_key = models.TextField()
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    status = models.TextField()
    provider_refund_id = models.TextField(null=True)
    cancellation_reason = models.TextField(null=True)
    provider_attempts = models.IntegerField()
    last_error = models.TextField(null=True)
    provider_object = models.JSONField(null=True)
    receipt = models.JSONField(null=True)  # the 54-FZ receipt sent (migration 0008)
    receipt_registration = models.TextField(null=True)  # pending | succeeded | canceled
    receipt_check_at = models.DateTimeField(null=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    succeeded_at = models.DateTimeField(null=True)
    next_check_at = models.DateTimeField(null=True)

    class Meta(ReadOnlyModel.Meta):
        db_table = 'billing"."refunds'
        ordering = ["-created_at", "-id"]
        verbose_name = _("refund")
        verbose_name_plural = _("refunds")
        permissions = [("export_refund", "Can export refunds as CSV")]

    def __str__(self) -> str:
        return f"{format_rub(self.amount)} ₽ · {self.status} · {str(self.id)[:8]}"


class ProviderNotification(ReadOnlyModel):
    id = models.BigIntegerField(primary_key=True)
    event = models.TextField()
    object_id = models.TextField(null=True)
    remote_addr = models.TextField(null=True)
    body = models.JSONField()
    outcome = models.TextField()
    received_at = models.DateTimeField()

    class Meta(ReadOnlyModel.Meta):
        db_table = 'billing"."provider_notifications'
        ordering = ["-received_at", "-id"]
        verbose_name = _("provider notification")
        verbose_name_plural = _("provider notifications")

    def __str__(self) -> str:
        return f"{self.event} {self.object_id or ''}"


class OutboxBase(ReadOnlyModel):
    id = models.BigIntegerField(primary_key=True)
    stream = models.TextField()
    payload = models.JSONField()
    created_at = models.DateTimeField()
    published_at = models.DateTimeField(null=True)

    class Meta(ReadOnlyModel.Meta):
        abstract = True


class SubscriptionsOutbox(OutboxBase):
    class Meta(OutboxBase.Meta):
        db_table = 'subscriptions"."outbox'


class BillingOutbox(OutboxBase):
    class Meta(OutboxBase.Meta):
        db_table = 'billing"."outbox'


class OperatorTask(ReadOnlyModel):
    """Work operators do by hand (migration 0008), e.g. ``receipt_canceled``: issue that receipt otherwise."""

    id = models.BigIntegerField(primary_key=True)
    kind = models.TextField()
    object_type = models.TextField()
    object_id = models.TextField()
    detail = models.TextField()
    created_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True)

    class Meta(ReadOnlyModel.Meta):
        db_table = 'billing"."operator_tasks'
        ordering = ["-created_at", "-id"]


class CardChange(ReadOnlyModel):
    """A user's replacement of a subscription's saved card (migration 0008)."""

    id = models.UUIDField(primary_key=True)
    subscription_id = models.UUIDField()
    user_id = models.UUIDField()
    user_email = models.TextField(null=True)
    request_key = models.TextField()
    status = models.TextField()
    provider_method_id = models.TextField(null=True)
    confirmation_url = models.TextField(null=True)
    return_url = models.TextField(null=True)
    card_title = models.TextField(null=True)
    last_error = models.TextField(null=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    activated_at = models.DateTimeField(null=True)

    class Meta(ReadOnlyModel.Meta):
        db_table = 'billing"."card_changes'
        ordering = ["-created_at", "-id"]
