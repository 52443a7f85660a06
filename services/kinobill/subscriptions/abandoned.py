"""Purchases nobody finished: a subscription awaiting payment for longer than the provider's payment term.

Billing settles every payment it knows of (its reconciler asks YooKassa, which cancels an unpaid payment
after its term, and the result ends the purchase here). What Billing cannot see is a purchase whose
payment was never created: Subscriptions committed the subscription and died before asking Billing,
and the buyer never retried. This pass ends those as `payment_failed`, so buying again works.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

import sqlalchemy as sa

from kinobill.domain.statuses import SubscriptionStatus
from kinobill.subscriptions import tables as t
from kinobill.subscriptions.billing_client import BillingClient
from kinobill.subscriptions.purchases import end_unpaid_purchase
from kinobill.subscriptions.repository import SubscriptionsUnitOfWork

log = logging.getLogger(__name__)

# YooKassa's payment term for cards is 1 hour; give the provider's own cancellation time to arrive first.
ABANDON_AFTER = timedelta(hours=2)


class AbandonedPurchases:
    def __init__(
        self,
        uow: Callable[[], SubscriptionsUnitOfWork],
        billing: BillingClient,
        now: Callable[[], datetime],
        abandon_after: timedelta = ABANDON_AFTER,
        batch: int = 100,
    ) -> None:
        self.uow, self.billing, self.now = uow, billing, now
        self.abandon_after, self.batch = abandon_after, batch

    def run_pass(self) -> int:
        cutoff = self.now() - self.abandon_after
        s = t.subscriptions
        with self.uow() as uow:
            stale = (
                uow.conn.execute(
                    sa.select(s.c.id)
                    .where(s.c.status == SubscriptionStatus.AWAITING_PAYMENT, s.c.created_at < cutoff)
                    .order_by(s.c.created_at)
                    .limit(self.batch)
                )
                .scalars()
                .all()
            )
        ended = 0
        for subscription_id in stale:
            payments = self.billing.payments_of(str(subscription_id))
            if any(p["status"] != "canceled" for p in payments):
                continue  # Billing is still settling it (or the success is on its way)
            if self._end(subscription_id):
                ended += 1
        return ended

    def _end(self, subscription_id: uuid.UUID) -> bool:
        if not end_unpaid_purchase(self.uow, subscription_id, self.now()):
            return False
        log.info("ended abandoned purchase %s", subscription_id)
        return True
