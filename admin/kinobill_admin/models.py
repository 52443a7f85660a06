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

    at = models.DateTimeField(_("when"), auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, verbose_name=_("staff user"), on_delete=models.SET_NULL
    )
    actor_name = models.CharField(_("who"), max_length=150)  # kept if the user is deleted later
    action = models.CharField(_("action"), max_length=64, db_index=True)
    target_type = models.CharField(_("target type"), max_length=32, blank=True)
    target_id = models.CharField(_("target"), max_length=64, blank=True, db_index=True)
    details = models.JSONField(_("details"), default=dict, blank=True)
    outcome = models.CharField(_("outcome"), max_length=16)  # ok | error
    message = models.TextField(_("message"), blank=True)
    remote_addr = models.CharField(_("from"), max_length=64, blank=True)

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
    id = models.UUIDField(_("ID"), primary_key=True)
    code = models.TextField(_("code"), unique=True)
    name = models.TextField(_("name"))
    description = models.TextField(_("description"))
    price_month = models.BigIntegerField(_("monthly price (kopecks)"))
    price_year = models.BigIntegerField(_("yearly price (kopecks)"))
    currency = models.CharField(_("currency"), max_length=3)
    sale_start = models.DateTimeField(_("sale start"))
    sale_end = models.DateTimeField(_("sale end"), null=True)
    created_at = models.DateTimeField(_("created"))
    updated_at = models.DateTimeField(_("updated"))

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
    id = models.UUIDField(_("ID"), primary_key=True)
    user_id = models.UUIDField(_("user id"))
    user_email = models.TextField(_("user e-mail"), null=True)
    locale = models.TextField(_("language"), null=True)
    zoneinfo = models.TextField(_("time zone"), null=True)
    plan = models.ForeignKey(Plan, verbose_name=_("plan"), on_delete=models.DO_NOTHING, db_constraint=False)
    period = models.TextField(_("period"))
    status = models.TextField(_("status"))
    ended_reason = models.TextField(_("ended reason"), null=True)
    auto_renew = models.BooleanField(_("auto-renew"))
    anchor_at = models.DateTimeField(_("periods counted from"), null=True)
    period_index = models.IntegerField(_("period number"), null=True)
    current_period_start = models.DateTimeField(_("current period start"), null=True)
    current_period_end = models.DateTimeField(_("current period end"), null=True)
    purchase_key = models.TextField(
        _("purchase key"), null=True
    )  # the buyer's Idempotency-Key (migration 0002)
    price = models.BigIntegerField(
        _("price (kopecks)")
    )  # kopecks charged for the first period (migration 0002)
    payment_method_id = models.TextField(_("payment method"), null=True)
    failed_attempts = models.IntegerField(_("failed charges"))
    card_declined_reason = models.TextField(
        _("card declined"), null=True
    )  # a hard decline stopped renewals (migration 0008)
    next_attempt_at = models.DateTimeField(_("next charge"), null=True)
    reminded_period = models.IntegerField(_("reminded of period"), null=True)
    created_at = models.DateTimeField(_("created"))
    updated_at = models.DateTimeField(_("updated"))
    ended_at = models.DateTimeField(_("ended"), null=True)
    version = models.IntegerField(_("version"))

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
    payment_id = models.UUIDField(_("payment id"), primary_key=True)
    subscription = models.ForeignKey(
        Subscription,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="periods",
        verbose_name=_("subscription"),
    )
    period_index = models.IntegerField(_("period number"))
    starts_at = models.DateTimeField(_("starts"))
    ends_at = models.DateTimeField(_("ends"))
    amount = models.BigIntegerField(_("amount (kopecks)"))
    created_at = models.DateTimeField(_("created"))

    class Meta(ReadOnlyModel.Meta):
        db_table = 'subscriptions"."subscription_periods'
        ordering = ["-period_index"]
        verbose_name = _("paid period")
        verbose_name_plural = _("paid periods")

    def __str__(self) -> str:
        return f"#{self.period_index}"


class EmailBase(ReadOnlyModel):
    id = models.UUIDField(_("ID"), primary_key=True)
    dedupe_key = models.TextField(_("deduplication key"))
    user_id = models.UUIDField(_("user id"), null=True)
    to_address = models.TextField(_("to"))
    kind = models.TextField(_("kind"))
    subject = models.TextField(_("subject"))
    body = models.TextField(_("text"))
    html_body = models.TextField(_("HTML text"), null=True)
    locale = models.TextField(_("language"), null=True)
    zoneinfo = models.TextField(_("time zone"), null=True)
    attempts = models.IntegerField(_("attempts"))
    created_at = models.DateTimeField(_("created"))
    claimed_until = models.DateTimeField(_("claimed until"), null=True)
    sent_at = models.DateTimeField(_("sent"), null=True)
    sending_at = models.DateTimeField(_("sending started"), null=True)
    dead_at = models.DateTimeField(_("given up"), null=True)
    last_error = models.TextField(_("last error"), null=True)

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
    id = models.UUIDField(_("ID"), primary_key=True)
    user_id = models.UUIDField(_("user id"))
    user_email = models.TextField(_("user e-mail"), null=True)
    locale = models.TextField(_("language"), null=True)
    zoneinfo = models.TextField(_("time zone"), null=True)
    subscription = models.ForeignKey(
        Subscription,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="payments",
        verbose_name=_("subscription"),
    )
    period_index = models.IntegerField(_("period number"))
    kind = models.TextField(_("kind"))
    attempt = models.IntegerField(_("attempt"))
    charge_key = models.TextField(_("charge key"))
    amount = models.BigIntegerField(_("amount (kopecks)"))
    currency = models.CharField(_("currency"), max_length=3)
    description = models.TextField(_("description"))
    status = models.TextField(_("status"))
    provider_status = models.TextField(_("YooKassa status"), null=True)
    provider_payment_id = models.TextField(_("YooKassa payment id"), null=True)
    confirmation_url = models.TextField(_("confirmation URL"), null=True)
    return_url = models.TextField(_("return URL"), null=True)
    payment_method_id = models.TextField(_("payment method"), null=True)
    saved_payment_method_id = models.TextField(_("saved payment method"), null=True)
    cancellation_party = models.TextField(_("canceled by"), null=True)
    cancellation_reason = models.TextField(_("cancellation reason"), null=True)
    provider_attempts = models.IntegerField(_("calls to YooKassa"))
    last_error = models.TextField(_("last error"), null=True)
    refunded_amount = models.BigIntegerField(_("refunded (kopecks)"))
    duplicate_of = models.UUIDField(
        _("duplicate of"), null=True
    )  # a second success for a paid period, returned in full
    provider_object = models.JSONField(_("YooKassa's object"), null=True)
    receipt = models.JSONField(_("receipt"), null=True)  # the 54-FZ receipt sent (migration 0008)
    receipt_registration = models.TextField(
        _("receipt registration"), null=True
    )  # pending | succeeded | canceled
    receipt_check_at = models.DateTimeField(_("receipt check"), null=True)
    created_at = models.DateTimeField(_("created"))
    updated_at = models.DateTimeField(_("updated"))
    paid_at = models.DateTimeField(_("paid"), null=True)
    next_check_at = models.DateTimeField(_("next check"), null=True)

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
    id = models.UUIDField(_("ID"), primary_key=True)
    payment = models.ForeignKey(
        Payment, verbose_name=_("payment"), on_delete=models.DO_NOTHING, db_constraint=False
    )
    subscription = models.ForeignKey(
        Subscription,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="refunds",
        verbose_name=_("subscription"),
    )
    user_id = models.UUIDField(_("user id"))
    refund_key = models.TextField(_("refund key"))
    amount = models.BigIntegerField(_("amount (kopecks)"))
    currency = models.CharField(_("currency"), max_length=3)
    status = models.TextField(_("status"))
    provider_refund_id = models.TextField(_("YooKassa refund id"), null=True)
    cancellation_reason = models.TextField(_("cancellation reason"), null=True)
    provider_attempts = models.IntegerField(_("calls to YooKassa"))
    last_error = models.TextField(_("last error"), null=True)
    provider_object = models.JSONField(_("YooKassa's object"), null=True)
    receipt = models.JSONField(_("receipt"), null=True)  # the 54-FZ receipt sent (migration 0008)
    receipt_registration = models.TextField(
        _("receipt registration"), null=True
    )  # pending | succeeded | canceled
    receipt_check_at = models.DateTimeField(_("receipt check"), null=True)
    created_at = models.DateTimeField(_("created"))
    updated_at = models.DateTimeField(_("updated"))
    succeeded_at = models.DateTimeField(_("succeeded"), null=True)
    next_check_at = models.DateTimeField(_("next check"), null=True)

    class Meta(ReadOnlyModel.Meta):
        db_table = 'billing"."refunds'
        ordering = ["-created_at", "-id"]
        verbose_name = _("refund")
        verbose_name_plural = _("refunds")
        permissions = [("export_refund", "Can export refunds as CSV")]

    def __str__(self) -> str:
        return f"{format_rub(self.amount)} ₽ · {self.status} · {str(self.id)[:8]}"


class ProviderNotification(ReadOnlyModel):
    id = models.BigIntegerField(_("ID"), primary_key=True)
    event = models.TextField(_("event"))
    object_id = models.TextField(_("object"), null=True)
    remote_addr = models.TextField(_("from"), null=True)
    body = models.JSONField(_("text"))
    outcome = models.TextField(_("outcome"))
    received_at = models.DateTimeField(_("received"))

    class Meta(ReadOnlyModel.Meta):
        db_table = 'billing"."provider_notifications'
        ordering = ["-received_at", "-id"]
        verbose_name = _("provider notification")
        verbose_name_plural = _("provider notifications")

    def __str__(self) -> str:
        return f"{self.event} {self.object_id or ''}"


class OutboxBase(ReadOnlyModel):
    id = models.BigIntegerField(_("ID"), primary_key=True)
    stream = models.TextField(_("stream"))
    payload = models.JSONField(_("payload"))
    created_at = models.DateTimeField(_("created"))
    published_at = models.DateTimeField(_("published"), null=True)

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

    id = models.BigIntegerField(_("ID"), primary_key=True)
    kind = models.TextField(_("kind"))
    object_type = models.TextField(_("object type"))
    object_id = models.TextField(_("object"))
    detail = models.TextField(_("detail"))
    created_at = models.DateTimeField(_("created"))
    resolved_at = models.DateTimeField(_("resolved"), null=True)
    resolved_by = models.TextField(_("resolved by"), null=True)
    resolution_note = models.TextField(_("resolution note"), null=True)

    class Meta(ReadOnlyModel.Meta):
        db_table = 'billing"."operator_tasks'
        ordering = ["-created_at", "-id"]
        verbose_name = _("operator task")
        verbose_name_plural = _("operator tasks")
        permissions = [("resolve_operatortask", "Can mark an operator task resolved")]

    def __str__(self) -> str:
        return f"{self.kind} · {self.object_type} {self.object_id}"


class CardChange(ReadOnlyModel):
    """A user's replacement of a subscription's saved card (migration 0008)."""

    id = models.UUIDField(_("ID"), primary_key=True)
    subscription_id = models.UUIDField(_("subscription id"))
    user_id = models.UUIDField(_("user id"))
    user_email = models.TextField(_("user e-mail"), null=True)
    request_key = models.TextField(_("request key"))
    status = models.TextField(_("status"))
    provider_method_id = models.TextField(_("YooKassa method id"), null=True)
    confirmation_url = models.TextField(_("confirmation URL"), null=True)
    return_url = models.TextField(_("return URL"), null=True)
    card_title = models.TextField(_("card"), null=True)
    last_error = models.TextField(_("last error"), null=True)
    created_at = models.DateTimeField(_("created"))
    updated_at = models.DateTimeField(_("updated"))
    activated_at = models.DateTimeField(_("activated"), null=True)

    class Meta(ReadOnlyModel.Meta):
        db_table = 'billing"."card_changes'
        ordering = ["-created_at", "-id"]
        verbose_name = _("card change")
        verbose_name_plural = _("card changes")
