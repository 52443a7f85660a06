"""The Subscription entity on declined renewals and a replaced card (hard vs soft, see domain/declines.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from kinobill.domain import schedule
from kinobill.domain.declines import HARD_REASONS, SOFT_REASONS
from kinobill.domain.errors import InvalidTransition
from kinobill.domain.statuses import EndedReason, SubscriptionStatus

from .test_subscription_scheduling import DAY, END, active

FIRST = END - DAY  # the first renewal attempt with the default policy


@pytest.mark.parametrize("reason", sorted(HARD_REASONS))
def test_a_hard_decline_stops_charging_the_card_at_once(reason: str) -> None:
    sub = active()
    sub.request_renewal_charge(FIRST, FIRST + timedelta(hours=1))
    assert sub.renewal_failed(period_index=1, attempt=0, now=FIRST, reason=reason) == "card_declined"
    assert sub.card_declined_reason == reason
    assert not sub.renews
    # access lasts for the grace period; nothing is charged meanwhile, and then it ends
    grace_end = schedule.access_until(END)
    assert sub.next_attempt_at == grace_end
    for moment in (END + DAY, END + 2 * DAY, grace_end - timedelta(seconds=1)):
        assert sub.due_action(moment) == "none"
        assert sub.has_access(moment)
    assert sub.due_action(grace_end) == "end"
    assert sub.expire(grace_end) == "ended"
    assert sub.ended_reason == EndedReason.PAYMENT_FAILED


@pytest.mark.parametrize("reason", sorted(SOFT_REASONS))
def test_a_soft_decline_follows_the_dunning_schedule(reason: str) -> None:
    sub = active()
    sub.request_renewal_charge(FIRST, FIRST + timedelta(hours=1))
    assert sub.renewal_failed(period_index=1, attempt=0, now=FIRST, reason=reason) == "retry_scheduled"
    assert sub.card_declined_reason is None
    assert sub.next_attempt_at == END + DAY
    assert sub.due_action(END + DAY) == "charge"


def test_a_repeated_hard_decline_result_changes_nothing() -> None:
    sub = active()
    sub.renewal_failed(period_index=1, attempt=0, now=FIRST, reason="card_expired")
    sub.changed.clear()
    assert sub.renewal_failed(period_index=1, attempt=0, now=FIRST, reason="card_expired") == "duplicate"
    assert not sub.changed


def test_a_new_card_after_a_hard_decline_is_charged_at_once_once() -> None:
    sub = active()
    sub.renewal_failed(period_index=1, attempt=0, now=FIRST, reason="permission_revoked")
    now = END + DAY
    assert sub.replace_payment_method("pm-2", now) == "card_changed_retry"
    assert sub.payment_method_id == "pm-2" and sub.card_declined_reason is None
    assert sub.due_action(now) == "charge"
    assert sub.request_renewal_charge(now, now + timedelta(hours=1)) == (1, 1)  # a new attempt, a new key
    assert sub.due_action(now + timedelta(minutes=1)) == "none"  # once
    assert sub.replace_payment_method("pm-2", now) == "duplicate"


def test_a_new_card_during_soft_dunning_moves_the_retry_to_now() -> None:
    sub = active()
    sub.renewal_failed(period_index=1, attempt=0, now=FIRST, reason="insufficient_funds")
    assert sub.replace_payment_method("pm-2", FIRST + timedelta(hours=2)) == "card_changed_retry"
    assert sub.next_attempt_at == FIRST + timedelta(hours=2)


def test_a_new_card_outside_dunning_only_replaces_the_method() -> None:
    sub = active()
    before = sub.next_attempt_at
    assert sub.replace_payment_method("pm-2", END - 10 * DAY) == "card_changed"
    assert sub.payment_method_id == "pm-2" and sub.next_attempt_at == before


def test_a_card_without_which_the_subscription_would_end_makes_it_renew() -> None:
    sub = active(method=None)
    assert sub.next_attempt_at == END  # would end at the period end
    assert sub.replace_payment_method("pm-2", END - 10 * DAY) == "card_changed"
    assert sub.renews and sub.next_attempt_at == FIRST


def test_an_ended_subscription_takes_no_card() -> None:
    sub = active()
    sub.refunded(END)
    with pytest.raises(InvalidTransition):
        sub.replace_payment_method("pm-2", END)
    assert sub.status == SubscriptionStatus.ENDED


def test_a_payment_clears_the_decline() -> None:
    sub = active()
    sub.renewal_failed(period_index=1, attempt=0, now=FIRST, reason="card_expired")
    sub.replace_payment_method("pm-2", END)
    sub.record_payment(period_index=1, paid_at=END, payment_method_id="pm-2")
    assert sub.card_declined_reason is None and sub.failed_attempts == 0 and sub.renews
