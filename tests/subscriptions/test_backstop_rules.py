"""Which renewals the backstop asks Billing about: an attempt the scheduler requested (it pushed
`next_attempt_at` past the attempt's moment) and not one merely scheduled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from kinobill.domain import schedule
from kinobill.subscriptions.backstop import renewal_requested_at

END = datetime(2027, 3, 1, tzinfo=UTC)
POLICY = schedule.DEFAULT_POLICY


def row(**kw: object) -> SimpleNamespace:
    base = {"status": "active", "current_period_end": END, "failed_attempts": 0}
    return SimpleNamespace(**{**base, **kw})


def test_a_scheduled_first_attempt_is_not_requested() -> None:
    assert renewal_requested_at(row(next_attempt_at=schedule.first_attempt_at(END, POLICY)), POLICY) is None


def test_a_requested_first_attempt_is_due_at_its_moment() -> None:
    first = schedule.first_attempt_at(END, POLICY)
    assert renewal_requested_at(row(next_attempt_at=first + timedelta(hours=1)), POLICY) == first


def test_a_requested_dunning_attempt_is_due_at_its_moment() -> None:
    second = schedule.next_attempt_at(END, 1, POLICY)
    assert second is not None
    requested = row(failed_attempts=1, next_attempt_at=second + timedelta(hours=1))
    assert renewal_requested_at(requested, POLICY) == second


def test_nothing_is_requested_for_subscriptions_not_active() -> None:
    first = schedule.first_attempt_at(END, POLICY)
    assert (
        renewal_requested_at(row(status="ended", next_attempt_at=first + timedelta(hours=1)), POLICY) is None
    )
    assert renewal_requested_at(row(next_attempt_at=None), POLICY) is None
