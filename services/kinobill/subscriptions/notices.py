"""What the user is told about renewals: reminder, failed attempt, and the end of a subscription.

Each e-mail is queued in the caller's transaction with a dedupe key naming the event, so a result
applied twice (or a scheduler pass repeated) never sends it twice:

* ``reminder:<sub>:<period>``                   "payment scheduled in N days", once per period;
* ``renewal-failed:<sub>:<period>:<attempt>``   one per declined attempt, with the next try and access;
* ``card-declined:<sub>:<period>``              a hard decline: no more attempts, update the card;
* ``subscription-ended:<sub>``                  the end (payment_failed, cancelled, expired).

"Subscription renewed" is written by ``Purchases._tell``; "payment succeeded/failed" by Billing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kinobill.domain import schedule
from kinobill.domain.statuses import EndedReason
from kinobill.subscriptions import notifications as n
from kinobill.subscriptions.repository import SubscriptionsUnitOfWork


def _plan_name(uow: SubscriptionsUnitOfWork, plan_id: Any) -> str:
    plan = uow.plans.get(plan_id)
    return plan.name if plan is not None else "Kinobill"


def queue_reminder(
    uow: SubscriptionsUnitOfWork, row: Any, *, amount: int, charge_at: datetime, now: datetime
) -> bool:
    """The "payment scheduled in N days" e-mail for the current period (at most once per period)."""
    days = max(1, round((charge_at - now).total_seconds() / 86_400))
    return uow.queue_email(
        **n.letter(
            f"reminder:{row.id}:{row.period_index}",
            row,
            n.RenewalReminder(
                plan=_plan_name(uow, row.plan_id), amount=amount, days=days, charge_at=charge_at
            ),
        ),
    )


def queue_renewal_notice(
    uow: SubscriptionsUnitOfWork, row: Any, outcome: str, policy: schedule.RenewalPolicy
) -> bool:
    """The e-mail for a renewal outcome applied to `row` (the saved subscription); False if none is due."""
    if outcome == "retry_scheduled":
        period, attempt = row.period_index + 1, row.failed_attempts - 1
        return uow.queue_email(
            **n.letter(
                f"renewal-failed:{row.id}:{period}:{attempt}",
                row,
                n.RenewalFailed(
                    plan=_plan_name(uow, row.plan_id),
                    next_attempt_at=row.next_attempt_at,
                    access_until=schedule.access_until(row.current_period_end, policy),
                ),
            ),
        )
    if outcome == "card_declined":  # a hard decline: no more attempts on this card
        return uow.queue_email(
            **n.letter(
                f"card-declined:{row.id}:{row.period_index + 1}",
                row,
                n.CardUpdateNeeded(
                    plan=_plan_name(uow, row.plan_id),
                    reason=str(row.card_declined_reason),
                    access_until=schedule.access_until(row.current_period_end, policy),
                ),
            ),
        )
    if outcome == "ended" and row.anchor_at is not None:  # had been active (not a failed purchase)
        reason = EndedReason(row.ended_reason) if row.ended_reason else None
        if reason not in n.ENDED_REASONS_TOLD:
            return False
        assert reason is not None
        return uow.queue_email(
            **n.letter(
                f"subscription-ended:{row.id}",
                row,
                n.SubscriptionEnded(plan=_plan_name(uow, row.plan_id), reason=reason),
            ),
        )
    return False
