"""What the user is told about renewals: reminder, failed attempt, and the end of a subscription.

Each e-mail is queued in the caller's transaction with a dedupe key naming the event, so a result
applied twice (or a scheduler pass repeated) never sends it twice:

* ``reminder:<sub>:<period>``                   "payment scheduled in N days", once per period;
* ``renewal-failed:<sub>:<period>:<attempt>``   one per declined attempt, with the next try and access;
* ``subscription-ended:<sub>``                  the end (payment_failed, cancelled, expired).

"Subscription renewed" is written by ``Purchases._tell``; "payment succeeded/failed" by Billing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kinobill.domain import schedule
from kinobill.domain.money import format_rub
from kinobill.domain.statuses import EndedReason
from kinobill.subscriptions.repository import SubscriptionsUnitOfWork


def _day(moment: datetime) -> str:
    return moment.strftime("%d %B %Y, %H:%M UTC")


def _plan_name(uow: SubscriptionsUnitOfWork, plan_id: Any) -> str:
    plan = uow.plans.get(plan_id)
    return plan.name if plan is not None else "Kinobill"


def queue_reminder(
    uow: SubscriptionsUnitOfWork, row: Any, *, amount: int, charge_at: datetime, now: datetime
) -> bool:
    """The "payment scheduled in N days" e-mail for the current period (at most once per period)."""
    days = max(1, round((charge_at - now).total_seconds() / 86_400))
    plan = _plan_name(uow, row.plan_id)
    subject = f"Your {plan} subscription renews in {days} day{'s' if days != 1 else ''}"
    return uow.queue_email(
        dedupe_key=f"reminder:{row.id}:{row.period_index}",
        to=row.user_email,
        user_id=row.user_id,
        kind="renewal_reminder",
        subject=subject,
        body=(
            f"Payment of {format_rub(amount)} RUB is scheduled in {days} day{'s' if days != 1 else ''}: "
            f"we will charge your saved card on {_day(charge_at)}. To stop renewing, cancel before then."
        ),
    )


def queue_renewal_notice(
    uow: SubscriptionsUnitOfWork, row: Any, outcome: str, policy: schedule.RenewalPolicy
) -> bool:
    """The e-mail for a renewal outcome applied to `row` (the saved subscription); False if none is due."""
    if outcome == "retry_scheduled":
        period, attempt = row.period_index + 1, row.failed_attempts - 1
        plan = _plan_name(uow, row.plan_id)
        access = schedule.access_until(row.current_period_end, policy)
        return uow.queue_email(
            dedupe_key=f"renewal-failed:{row.id}:{period}:{attempt}",
            to=row.user_email,
            user_id=row.user_id,
            kind="renewal_failed",
            subject=f"We could not renew your {plan} subscription",
            body=(
                f"The renewal payment for your {plan} subscription was declined. We will try again on "
                f"{_day(row.next_attempt_at)}; please make sure your card can pay. Your access continues "
                f"until {_day(access)}."
            ),
        )
    if outcome == "ended" and row.anchor_at is not None:  # had been active (not a failed purchase)
        texts = {
            EndedReason.PAYMENT_FAILED: "has ended: we could not charge your card for the renewal",
            EndedReason.CANCELLED: "has ended, as you cancelled it",
            EndedReason.EXPIRED: "has ended: it could not be renewed without a saved card",
        }
        text = texts.get(EndedReason(row.ended_reason)) if row.ended_reason else None
        if text is None:
            return False
        plan = _plan_name(uow, row.plan_id)
        return uow.queue_email(
            dedupe_key=f"subscription-ended:{row.id}",
            to=row.user_email,
            user_id=row.user_id,
            kind=f"subscription_ended_{row.ended_reason}",
            subject=f"Your {plan} subscription {text.split(':')[0].split(',')[0]}",
            body=f"Your {plan} subscription {text}. You can subscribe again at any time.",
        )
    return False
