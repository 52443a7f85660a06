"""Service layer of Subscriptions for leaving: cancel (auto-renew off) and refund (through Billing).

Refund: Subscriptions checks what it owns (whose subscription, its status, the bounds of the latest paid
period) and asks Billing, which owns the money, to refund that period by the rule; Billing answers the
refund (202). The Billing key is derived from the caller's scope, the subscription and the caller's
Idempotency-Key, so a retry of the same request always lands on the same refund.

When does the subscription end? When the money is certainly going back: the refund *succeeded*. YooKassa
answers most refunds `succeeded` at once, and then the subscription ends in the same request ("a refund
ends the subscription at once"). A refund YooKassa answers `pending` leaves the subscription as it is
until `refund.succeeded` comes back (webhook or reconciler → Billing's REFUND_RESULTS stream → here); a
`canceled` refund never touched it, so it stays exactly as it was (and `ended` stays final, as the status
table says). Whichever path comes first ends it; the other one is a no-op.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from kinobill import keys
from kinobill.domain.statuses import EndedReason, SubscriptionStatus
from kinobill.errors import Conflict
from kinobill.events import SUBSCRIPTION_CHANGES
from kinobill.messages import RefundSettled
from kinobill.subscriptions import notifications as n
from kinobill.subscriptions.billing_client import REQUEST_REFUSED, BillingClient
from kinobill.subscriptions.purchases import change_event
from kinobill.subscriptions.repository import SubscriptionsUnitOfWork
from kinobill.subscriptions.results import RefundStarted, SubscriptionView

log = logging.getLogger(__name__)

REFUND = "refund"  # the kind of an awaited result (tables.awaited_results)
FINAL_REFUND_STATUSES = ("succeeded", "canceled")


class Cancellations:
    def __init__(
        self,
        uow: Callable[[], SubscriptionsUnitOfWork],
        billing: BillingClient,
        now: Callable[[], datetime],
    ) -> None:
        self.uow, self.billing, self.now = uow, billing, now

    # --- cancel -------------------------------------------------------------------------------

    def cancel(self, subscription_id: uuid.UUID, user_id: uuid.UUID | None) -> SubscriptionView:
        """Auto-renew off; access stays until the period end. Cancelling twice changes nothing."""
        now = self.now()
        with self.uow() as uow:
            sub = uow.subscriptions.get_owned(subscription_id, user_id, for_update=True)
            outcome = sub.cancel(now)
            if not sub.changed:
                return SubscriptionView.of(sub)
            row = uow.subscriptions.save(sub, now)
            uow.add_event(SUBSCRIPTION_CHANGES, change_event(row, outcome, now))
            plan = uow.plans.get(row.plan_id)
            plan_name = plan.name if plan is not None else "Kinobill"
            access_until = row.current_period_end if outcome == "cancelled" else None
            uow.queue_email(
                **n.letter(
                    f"subscription-cancelled:{row.id}",
                    row,
                    n.SubscriptionCancelled(plan=plan_name, access_until=access_until),
                ),
            )
            uow.commit()
            return SubscriptionView.of(row)

    # --- refund -------------------------------------------------------------------------------

    def refund(
        self,
        subscription_id: uuid.UUID,
        *,
        user_id: uuid.UUID | None,
        scope: str,
        key: str,
        requested_by: str,
    ) -> RefundStarted:
        """Ask Billing to refund the latest paid period; end the subscription if it succeeded at once."""
        now = self.now()
        with self.uow() as uow:
            sub = uow.subscriptions.get_owned(subscription_id, user_id)
            self._check_refundable(sub, now)
        assert sub.period_index is not None and sub.current_period_start and sub.current_period_end
        billing_key = keys.requested_refund(scope, sub.id, key)
        body = {
            "subscription_id": str(sub.id),
            "user_id": str(sub.user_id),
            "period_index": sub.period_index,
            "period_start": sub.current_period_start.isoformat(),
            "period_end": sub.current_period_end.isoformat(),
            "requested_by": requested_by,
        }
        with self.uow() as uow:  # written first: if Redis loses the result, the backstop asks again
            uow.awaited.expect(REFUND, billing_key, sub.id, body, now)
            uow.commit()
        refund, row = self._ask_for_refund(billing_key, body, sub.id)
        return RefundStarted(refund, SubscriptionView.of(row))

    def settle_awaited_refund(self, billing_key: str, body: dict[str, Any]) -> str | None:
        """The backstop: ask Billing again for a refund whose result has not come (same key: the same
        refund, answered as it is now) and apply the answer. The outcome, or None while it is pending."""
        refund, row = self._ask_for_refund(billing_key, body, uuid.UUID(body["subscription_id"]))
        if refund["status"] not in FINAL_REFUND_STATUSES:
            return None
        return "ended" if row.ended_reason == EndedReason.REFUNDED else str(refund["status"])

    def _ask_for_refund(
        self, billing_key: str, body: dict[str, Any], subscription_id: uuid.UUID
    ) -> tuple[dict[str, Any], Any]:
        try:
            refund = self.billing.create_refund(billing_key, body)
        except REQUEST_REFUSED:  # Billing refused it: nothing will come
            with self.uow() as uow:
                uow.awaited.resolve(REFUND, billing_key, "refused", self.now())
                uow.commit()
            raise
        return refund, self._end_if_refunded(subscription_id, refund["status"], billing_key)

    @staticmethod
    def _check_refundable(sub: Any, now: datetime) -> None:
        """Refusals Subscriptions can tell by itself (Billing checks the money side again)."""
        if sub.status == SubscriptionStatus.AWAITING_PAYMENT or (
            sub.status == SubscriptionStatus.ENDED and sub.anchor_at is None
        ):
            raise Conflict("nothing_paid", "nothing was paid for this subscription yet")
        if sub.status == SubscriptionStatus.ENDED:
            if sub.ended_reason == EndedReason.REFUNDED:
                raise Conflict("already_refunded", "this subscription was already refunded")
            raise Conflict(
                "subscription_ended",
                f"the subscription has ended ({sub.ended_reason})",
                {"status": "ended"},
            )
        if sub.current_period_end is None or now >= sub.current_period_end:
            raise Conflict("refund_period_over", "the paid period is over; it can no longer be refunded")

    def _end_if_refunded(
        self, subscription_id: uuid.UUID, refund_status: str, billing_key: str | None = None
    ) -> Any:
        """End the subscription if the refund succeeded (once); a final refund's awaited record is
        resolved in the same transaction."""
        now = self.now()
        with self.uow() as uow:
            sub = uow.subscriptions.get_entity(subscription_id, for_update=True)
            assert sub is not None
            if billing_key is not None and refund_status in FINAL_REFUND_STATUSES:
                uow.awaited.resolve(REFUND, billing_key, refund_status, now)
            row: Any
            if refund_status == "succeeded" and sub.refunded(now) == "ended":
                row = uow.subscriptions.save(sub, now)
                uow.add_event(SUBSCRIPTION_CHANGES, change_event(row, "refunded", now))
            else:
                row = uow.subscriptions.get(subscription_id)
            uow.commit()
            return row

    # --- refund results from Billing ----------------------------------------------------------

    def apply_refund_result(self, event: RefundSettled) -> str:
        """`refund.succeeded` ends the subscription (once); `refund.canceled` leaves it as it was."""
        subscription_id = event.subscription_id
        if not event.succeeded:
            log.info("refund %s of %s was canceled: %s", event.refund_id, subscription_id, event.reason)
            return "unchanged"
        if not event.ends_subscription:
            return "unchanged"  # a duplicate payment returned: the paid period stands
        with self.uow() as uow:
            if uow.subscriptions.get(subscription_id) is None:
                log.error("refund result for unknown subscription %s", subscription_id)
                return "unknown_subscription"
        row = self._end_if_refunded(subscription_id, "succeeded")
        return "ended" if row.ended_reason == EndedReason.REFUNDED else "unchanged"
