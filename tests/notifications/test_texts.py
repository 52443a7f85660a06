"""The e-mail texts of both services: every context renders to its kind, subject and body."""

from __future__ import annotations

import typing
from datetime import UTC, datetime

import pytest

from kinobill.billing import notifications as billing
from kinobill.domain.statuses import EndedReason
from kinobill.mail import Email
from kinobill.subscriptions import notifications as subscriptions

AT = datetime(2026, 3, 5, 14, 30, tzinfo=UTC)
LATER = datetime(2026, 4, 5, 14, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        (
            subscriptions.RenewalReminder(plan="Cinema", amount=29_900, days=3, charge_at=AT),
            Email(
                "renewal_reminder",
                "Your Cinema subscription renews in 3 days",
                "Payment of 299.00 RUB is scheduled in 3 days: we will charge your saved card on "
                "05 March 2026, 14:30 UTC. To stop renewing, cancel before then.",
            ),
        ),
        (
            subscriptions.RenewalReminder(plan="Cinema", amount=100, days=1, charge_at=AT),
            Email(
                "renewal_reminder",
                "Your Cinema subscription renews in 1 day",
                "Payment of 1.00 RUB is scheduled in 1 day: we will charge your saved card on "
                "05 March 2026, 14:30 UTC. To stop renewing, cancel before then.",
            ),
        ),
        (
            subscriptions.RenewalFailed(plan="Cinema", next_attempt_at=AT, access_until=LATER),
            Email(
                "renewal_failed",
                "We could not renew your Cinema subscription",
                "The renewal payment for your Cinema subscription was declined. We will try again on "
                "05 March 2026, 14:30 UTC; please make sure your card can pay. Your access continues "
                "until 05 April 2026, 14:30 UTC.",
            ),
        ),
        (
            subscriptions.SubscriptionEnded(plan="Cinema", reason=EndedReason.PAYMENT_FAILED),
            Email(
                "subscription_ended_payment_failed",
                "Your Cinema subscription has ended",
                "Your Cinema subscription has ended: we could not charge your card for the renewal. "
                "You can subscribe again at any time.",
            ),
        ),
        (
            subscriptions.SubscriptionEnded(plan="Cinema", reason=EndedReason.CANCELLED),
            Email(
                "subscription_ended_cancelled",
                "Your Cinema subscription has ended",
                "Your Cinema subscription has ended, as you cancelled it. "
                "You can subscribe again at any time.",
            ),
        ),
        (
            subscriptions.SubscriptionEnded(plan="Cinema", reason=EndedReason.EXPIRED),
            Email(
                "subscription_ended_expired",
                "Your Cinema subscription has ended",
                "Your Cinema subscription has ended: it could not be renewed without a saved card. "
                "You can subscribe again at any time.",
            ),
        ),
        (
            subscriptions.SubscriptionActivated(plan="Cinema", paid_until=LATER),
            Email(
                "subscription_activated",
                "Your Cinema subscription is active",
                "Your Cinema subscription is active. Enjoy watching! Paid until 05 April 2026.",
            ),
        ),
        (
            subscriptions.SubscriptionRenewed(plan="Cinema", paid_until=LATER),
            Email(
                "subscription_renewed",
                "Your Cinema subscription is renewed",
                "Your Cinema subscription is renewed. Enjoy watching! Paid until 05 April 2026.",
            ),
        ),
        (
            subscriptions.SubscriptionCancelled(plan="Cinema", access_until=LATER),
            Email(
                "subscription_cancelled",
                "Your Cinema subscription is cancelled",
                "Your Cinema subscription is cancelled: it will not renew. "
                "You keep access until 05 April 2026 14:30 UTC.",
            ),
        ),
        (
            subscriptions.SubscriptionCancelled(plan="Cinema", access_until=None),
            Email(
                "subscription_cancelled",
                "Your Cinema subscription is cancelled",
                "Your purchase of Cinema is cancelled; nothing was charged.",
            ),
        ),
        (
            subscriptions.PlanPriceChanged("Cinema", "month", old_amount=29_900, new_amount=34_900),
            Email(
                "plan_price_changed",
                "Cinema: the monthly price changes from your next renewal",
                "The price of Cinema changes from 299.00 to 349.00 RUB a month. It applies from your next "
                "renewal; the period you paid for stays as it is.",
            ),
        ),
        (
            billing.PaymentSucceeded(amount=29_900, description="Cinema, month 1"),
            Email(
                "payment_succeeded",
                "Payment of 299.00 RUB received",
                "We received your payment of 299.00 RUB (Cinema, month 1). Thank you!",
            ),
        ),
        (
            billing.PaymentCanceled(29_900, "Cinema, month 1", reason="insufficient_funds"),
            Email(
                "payment_canceled",
                "Payment of 299.00 RUB failed",
                "Your payment of 299.00 RUB (Cinema, month 1) did not go through: insufficient funds.",
            ),
        ),
        (
            billing.PaymentCanceled(amount=29_900, description="Cinema, month 1", reason=None),
            Email(
                "payment_canceled",
                "Payment of 299.00 RUB failed",
                "Your payment of 299.00 RUB (Cinema, month 1) did not go through: declined.",
            ),
        ),
        (
            billing.PaymentDuplicate(amount=29_900, description="Cinema, month 1"),
            Email(
                "payment_duplicate",
                "A second payment of 299.00 RUB is being returned",
                "This period was already paid, so your second payment of 299.00 RUB (Cinema, month 1) "
                "goes back to you in full.",
            ),
        ),
        (
            billing.RefundStarted(
                amount=15_000, description="Cinema", status_url="https://b/api/v1/refunds/1"
            ),
            Email(
                "refund_started",
                "Refund of 150.00 RUB started",
                "We started a refund of 150.00 RUB for Cinema. Follow it at https://b/api/v1/refunds/1.",
            ),
        ),
        (
            billing.RefundSucceeded(amount=15_000),
            Email(
                "refund_succeeded",
                "Refund of 150.00 RUB completed",
                "Your refund of 150.00 RUB is complete; the money is on its way back to your card.",
            ),
        ),
        (
            billing.RefundCanceled(amount=15_000, reason="rejected_by_payee"),
            Email(
                "refund_canceled",
                "Refund of 150.00 RUB failed",
                "Your refund of 150.00 RUB could not be made: rejected by payee. "
                "Your subscription stays as it was; you may ask again or contact support.",
            ),
        ),
    ],
    ids=lambda value: getattr(value, "kind", None),
)
def test_each_context_renders_its_text(context: object, expected: Email) -> None:
    module = billing if type(context).__module__ == billing.__name__ else subscriptions
    assert module.render(context) == expected  # type: ignore[attr-defined]


@pytest.mark.parametrize("module", [subscriptions, billing], ids=lambda m: m.__name__)
def test_every_context_of_a_service_has_a_text(module: typing.Any) -> None:
    """A context added to the module's `Notification` union without a text is caught here."""
    contexts = typing.get_args(module.Notification)
    assert contexts
    for context in contexts:
        assert context in module.render.registry, f"{context.__name__} has no text"
