"""The Subscription entity's scheduling rules: what is due, reminders, charge requests, endings."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from kinobill.domain.errors import InvalidTransition
from kinobill.domain.periods import BillingPeriod
from kinobill.domain.schedule import RenewalPolicy
from kinobill.domain.statuses import EndedReason, SubscriptionStatus
from kinobill.domain.subscription import Subscription

DAY = timedelta(days=1)
PAID = datetime(2027, 1, 31, 10, 0, tzinfo=UTC)
END = datetime(2027, 2, 28, 10, 0, tzinfo=UTC)


def active(method: str | None = "pm-1", **kw: object) -> Subscription:
    sub = Subscription(
        id=uuid.uuid4(),
        user_id=uuid.uuid4(),
        plan_id=uuid.uuid4(),
        period=BillingPeriod.MONTH,
        status=SubscriptionStatus.AWAITING_PAYMENT,
        price=29900,
        created_at=PAID,
        **kw,  # type: ignore[arg-type]
    )
    assert sub.record_payment(period_index=0, paid_at=PAID, payment_method_id=method) == "activated"
    return sub


def test_a_renewing_subscription_is_due_for_a_charge_at_its_first_attempt():
    sub = active()
    assert sub.next_attempt_at == END - DAY
    assert sub.due_action(END - DAY - timedelta(seconds=1)) == "none"
    assert sub.due_action(END - DAY) == "charge"
    assert sub.request_renewal_charge(END - DAY, END - DAY + timedelta(hours=1)) == (1, 0)
    assert sub.next_attempt_at == END - DAY + timedelta(hours=1)  # not re-requested while pending
    assert sub.due_action(END - DAY + timedelta(minutes=30)) == "none"
    # still unresolved an hour later: the same attempt again (same charge key)
    assert sub.request_renewal_charge(END, END + timedelta(hours=1)) == (1, 0)


def test_the_attempt_number_follows_the_failures():
    sub = active()
    sub.request_renewal_charge(END - DAY, END)
    assert sub.renewal_failed(period_index=1, attempt=0, now=END - DAY) == "retry_scheduled"
    assert sub.due_action(END + DAY) == "charge"
    assert sub.request_renewal_charge(END + DAY, END + 2 * DAY) == (1, 1)


def test_requesting_a_charge_that_is_not_due_is_refused():
    with pytest.raises(InvalidTransition):
        active().request_renewal_charge(PAID, PAID + DAY)


def test_without_a_saved_method_the_scheduler_ends_it_at_the_period_end_as_expired():
    sub = active(method=None)
    assert sub.next_attempt_at == END
    assert sub.due_action(END) == "end"
    assert sub.expire(END, RenewalPolicy()) == "ended"
    assert (sub.status, sub.ended_reason) == (SubscriptionStatus.ENDED, EndedReason.EXPIRED)


def test_a_cancelled_subscription_ends_cancelled_at_the_period_end_not_before():
    sub = active()
    assert sub.cancel(PAID + DAY) == "cancelled"
    assert sub.due_action(END - DAY) == "none"
    assert sub.due_action(END) == "end"
    assert sub.expire(END, RenewalPolicy()) == "ended"
    assert sub.ended_reason == EndedReason.CANCELLED


def test_expire_while_access_remains_reschedules_to_the_end_of_access():
    sub = active()
    sub.renewal_failed(period_index=1, attempt=0, now=END - DAY)
    sub.auto_renew = False  # e.g. cancelled later: no grace once auto-renew is off
    sub.changed.clear()
    assert sub.expire(END - timedelta(hours=1)) == "duplicate"
    assert sub.next_attempt_at == END and sub.status == SubscriptionStatus.ACTIVE


def test_the_reminder_window_is_reminder_days_before_the_first_attempt_once_per_period():
    sub = active()
    policy = RenewalPolicy()
    first = END - DAY
    assert not sub.reminder_due(first - 3 * DAY - timedelta(seconds=1), policy)
    assert sub.reminder_due(first - 3 * DAY, policy)
    assert not sub.reminder_due(first, policy)  # too late: the charge itself is due
    sub.mark_reminded()
    assert not sub.reminder_due(first - DAY, policy)
    sub.record_payment(period_index=1, paid_at=first, payment_method_id=None)
    assert sub.reminder_due(sub.current_period_end - 4 * DAY, policy)  # type: ignore[operator]


def test_no_reminder_for_a_cancelled_or_failing_subscription():
    cancelled = active()
    cancelled.cancel(PAID)
    assert not cancelled.reminder_due(END - 4 * DAY)
    failing = active()
    failing.renewal_failed(period_index=1, attempt=0, now=END - DAY)
    assert not failing.reminder_due(END - 4 * DAY)


def test_grace_covers_three_days_while_the_last_retry_is_on_day_five():
    sub = active()
    for attempt in range(3):
        assert sub.renewal_failed(period_index=1, attempt=attempt, now=END) == "retry_scheduled"
    assert sub.next_attempt_at == END + 5 * DAY
    assert sub.has_access(END + 3 * DAY - timedelta(seconds=1))
    assert not sub.has_access(END + 3 * DAY)
    assert sub.status == SubscriptionStatus.ACTIVE  # still retried, no access
    assert sub.renewal_failed(period_index=1, attempt=3, now=END + 5 * DAY) == "ended"
    assert sub.ended_reason == EndedReason.PAYMENT_FAILED
