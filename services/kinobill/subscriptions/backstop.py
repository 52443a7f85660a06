"""The backstop that does not need Redis: what waits on a payment result is settled from Billing's record.

Redis is the transport and may lose what it carried (FLUSHALL, a restart without its volume, a failover
to an empty replica, a trim) after the outbox marked an event published. Nothing then tells Subscriptions
that a purchase was paid or that a renewal charge went through. Each pass of this backstop takes

* purchases still awaiting payment created more than ``after`` ago, and
* renewal attempts requested (the scheduler sent the charge command) more than ``after`` ago and still
  unresolved,

asks Billing over HTTP for the result events of the subscription's final payments (``GET
/internal/v1/payment-results``) and applies the ones that concern what is waiting through the SAME
idempotent handler the stream consumer uses (``Purchases.apply_payment_result``): an event that did
arrive is a no-op the second time.

Recovery bound: a lost result is applied at most ``after`` + one pass interval after the attempt was made
(defaults 600 s + 60 s: within 15 minutes; ``KINOBILL_BACKSTOP_AFTER_SECONDS``,
``KINOBILL_BACKSTOP_INTERVAL_SECONDS``).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from prometheus_client import Counter

from kinobill.domain import schedule
from kinobill.domain.statuses import SubscriptionStatus
from kinobill.errors import ApplicationError, Unavailable
from kinobill.subscriptions import tables as t
from kinobill.subscriptions.billing_client import REQUEST_REFUSED, BillingClient
from kinobill.subscriptions.cancellations import REFUND, Cancellations
from kinobill.subscriptions.card_changes import CARD_CHANGE, CardChanges
from kinobill.subscriptions.purchases import Purchases
from kinobill.subscriptions.repository import SubscriptionsUnitOfWork

log = logging.getLogger(__name__)

BACKSTOP_APPLIED = Counter(
    "kinobill_backstop_applied_total",
    "Payment, refund and card-change results the stream did not deliver, applied from Billing's record",
    ["kind", "outcome"],
)
AFTER = timedelta(minutes=10)
INTERVAL = timedelta(seconds=60)
CARD_CHANGE_GIVE_UP = timedelta(days=1)


def renewal_requested_at(row: Any, policy: schedule.RenewalPolicy) -> datetime | None:
    """When the current renewal attempt of an active subscription was due, if the scheduler has requested
    it (it moves ``next_attempt_at`` past that moment while the charge is pending); else None."""
    if (
        row.status != SubscriptionStatus.ACTIVE
        or row.current_period_end is None
        or row.next_attempt_at is None
    ):
        return None
    due = schedule.next_attempt_at(row.current_period_end, row.failed_attempts, policy)
    if due is None or row.next_attempt_at <= due:
        return None
    return due


class PaymentBackstop:
    def __init__(
        self,
        uow: Callable[[], SubscriptionsUnitOfWork],
        billing: BillingClient,
        purchases: Purchases,
        now: Callable[[], datetime],
        policy: schedule.RenewalPolicy = schedule.DEFAULT_POLICY,
        after: timedelta = AFTER,
        batch: int = 500,
    ) -> None:
        self.uow, self.billing, self.purchases, self.now = uow, billing, purchases, now
        self.policy, self.after, self.batch = policy, after, batch

    def waiting(self) -> list[tuple[uuid.UUID, int, str]]:
        """(subscription, period index awaited, kind) of what has waited longer than ``after``."""
        now = self.now()
        cutoff = now - self.after
        s = t.subscriptions
        with self.uow() as uow:
            purchases = uow.conn.execute(
                sa.select(s.c.id)
                .where(s.c.status == SubscriptionStatus.AWAITING_PAYMENT, s.c.created_at < cutoff)
                .order_by(s.c.created_at)
                .limit(self.batch)
            ).all()
            # Renewing subscriptions past their first attempt whose next step was pushed into the future.
            renewing = uow.conn.execute(
                sa.select(s)
                .where(
                    s.c.status == SubscriptionStatus.ACTIVE,
                    s.c.current_period_end <= now + self.policy.renewal_lead,
                    s.c.next_attempt_at > now,
                )
                .order_by(s.c.current_period_end)
                .limit(self.batch)
            ).all()
        found = [(row.id, 0, "initial") for row in purchases]
        for row in renewing:
            requested = renewal_requested_at(row, self.policy)
            if requested is not None and requested < cutoff:
                found.append((row.id, int(row.period_index) + 1, "renewal"))
        return found

    def run_pass(self) -> int:
        """Apply every final result Billing holds for what waits too long. Returns how many changed
        something (each one a result the stream lost)."""
        applied = 0
        for subscription_id, period_index, kind in self.waiting():
            try:
                results = self.billing.payment_results_of(str(subscription_id))
            except Exception:
                log.warning("backstop: billing did not answer for %s", subscription_id, exc_info=True)
                continue
            for event in results:
                if event.period_index != period_index:
                    continue
                outcome = self.purchases.apply_payment_result(event)
                if outcome not in ("duplicate", "unknown_subscription"):
                    applied += 1
                    BACKSTOP_APPLIED.labels(kind, outcome).inc()
                    log.warning(
                        "backstop applied a lost %s for %s (period %s): %s",
                        event.type,
                        subscription_id,
                        period_index,
                        outcome,
                    )
        return applied


class AwaitedResultsBackstop:
    """The same backstop for requests whose result comes later: a refund Billing answered ``pending``, a
    card change the user finishes on YooKassa's page. Each is recorded before Billing is asked
    (``awaited_results``); one still unresolved ``after`` its last check is asked again with the same
    key (Billing answers the same refund or card change as it is now) and a final answer is applied
    through the service's own step, which resolves the record in the same transaction. A card change
    still pending a day after it was asked is given up (Billing stops following it then; the user has
    gone). Refunds are never given up: Billing's reconciler drives each one to a final state."""

    def __init__(
        self,
        uow: Callable[[], SubscriptionsUnitOfWork],
        cancellations: Cancellations,
        card_changes: CardChanges,
        now: Callable[[], datetime],
        after: timedelta = AFTER,
        batch: int = 500,
    ) -> None:
        self.uow, self.cancellations, self.card_changes, self.now = uow, cancellations, card_changes, now
        self.after, self.batch = after, batch

    def run_pass(self) -> int:
        """Ask again about everything waiting too long. Returns how many reached their final result."""
        now = self.now()
        with self.uow() as uow:
            waiting = uow.awaited.unresolved(now - self.after, self.batch)
        settled = 0
        for row in waiting:
            try:
                outcome = self._ask_again(row, now)
            except Unavailable:
                log.warning("backstop: billing did not answer about %s %s", row.kind, row.billing_key)
                continue
            except REQUEST_REFUSED as exc:
                log.error("backstop: billing refused %s %s: %s", row.kind, row.billing_key, exc)
                outcome = "refused"  # resolved by the service as it raised
            except ApplicationError as exc:  # our credentials or identity: asked again next pass
                log.error(
                    "backstop: billing did not accept the call for %s %s: %s", row.kind, row.billing_key, exc
                )
                continue
            if outcome is None:
                with self.uow() as uow:
                    uow.awaited.checked(row.id, now)
                    uow.commit()
                continue
            settled += 1
            BACKSTOP_APPLIED.labels(row.kind, outcome).inc()
            log.warning(
                "backstop: %s %s settled from Billing's record: %s", row.kind, row.billing_key, outcome
            )
        return settled

    def _ask_again(self, row: Any, now: datetime) -> str | None:
        if row.kind == REFUND:
            return self.cancellations.settle_awaited_refund(row.billing_key, dict(row.request))
        outcome = self.card_changes.settle_awaited(row.billing_key, dict(row.request))
        if outcome is None and row.created_at < now - CARD_CHANGE_GIVE_UP:
            with self.uow() as uow:
                uow.awaited.resolve(CARD_CHANGE, row.billing_key, "gave_up", now)
                uow.commit()
            return "gave_up"
        return outcome
