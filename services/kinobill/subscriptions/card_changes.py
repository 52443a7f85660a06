"""Service layer of Subscriptions for changing a subscription's card.

* ``request``: the owner of an active subscription asks for a link (Billing creates a YooKassa payment
  method with a redirect confirmation; the user enters the new card there). Another user's subscription
  is 404 as everywhere; the Billing key derives from (caller, subscription, Idempotency-Key), so a
  replayed request returns the same change and link.
* ``apply``: Billing's ``payment_method.active`` event (PAYMENT_RESULTS) — the method was re-read from
  YooKassa and is active. The entity replaces the saved method (``Subscription.replace_payment_method``):
  the next renewal charges it; a subscription in dunning (declined, hard or soft) is due again at once
  and the scheduler retries it once with the new card. The same event twice (a redelivery) finds the
  method already in place and changes nothing; the e-mail's dedupe key is the card change's.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from kinobill.domain import schedule
from kinobill.domain.errors import InvalidTransition
from kinobill.domain.statuses import SubscriptionStatus
from kinobill.errors import Conflict
from kinobill.events import SUBSCRIPTION_CHANGES
from kinobill.subscriptions import notifications as n
from kinobill.subscriptions.billing_client import REQUEST_REFUSED, BillingClient
from kinobill.subscriptions.purchases import change_event
from kinobill.subscriptions.repository import SubscriptionsUnitOfWork
from kinobill.subscriptions.results import CardChangeStarted, SubscriptionView

log = logging.getLogger(__name__)

CARD_CHANGED = "payment_method.active"  # the event type Billing puts on PAYMENT_RESULTS
CARD_CHANGE = "card_change"  # the kind of an awaited result (tables.awaited_results)
CARD_CHANGE_KEYS = uuid.UUID("0c3f6a52-8f4e-4d59-9b1a-5e7d2c9a4b60")  # namespace of derived Billing keys


def billing_card_change_key(scope: str, subscription_id: uuid.UUID, key: str) -> str:
    """≤ 64 characters, deterministic: the same request always maps to the same card change."""
    return f"card-{uuid.uuid5(CARD_CHANGE_KEYS, f'{scope}|{subscription_id}|{key}').hex}"


def is_card_change(event: dict[str, Any]) -> bool:
    return event.get("type") == CARD_CHANGED


class CardChanges:
    def __init__(
        self,
        uow: Callable[[], SubscriptionsUnitOfWork],
        billing: BillingClient,
        now: Callable[[], datetime],
        policy: schedule.RenewalPolicy = schedule.DEFAULT_POLICY,
    ) -> None:
        self.uow, self.billing, self.now, self.policy = uow, billing, now, policy

    def request(
        self, subscription_id: uuid.UUID, *, user_id: uuid.UUID, scope: str, key: str, return_url: str | None
    ) -> CardChangeStarted:
        with self.uow() as uow:
            sub = uow.subscriptions.get_owned(subscription_id, user_id)
        if sub.status != SubscriptionStatus.ACTIVE:
            raise Conflict(
                "subscription_not_active",
                f"the card of a subscription that is {sub.status} cannot be changed",
                {"status": sub.status},
            )
        billing_key = billing_card_change_key(scope, sub.id, key)
        body = {
            "subscription_id": str(sub.id),
            "user_id": str(sub.user_id),
            "user_email": sub.user_email,
            "return_url": return_url,
        }
        with self.uow() as uow:  # written first: if Redis loses the result, the backstop asks again
            uow.awaited.expect(CARD_CHANGE, billing_key, sub.id, body, self.now())
            uow.commit()
        change = self._ask_for_card_change(billing_key, body)
        return CardChangeStarted(change, SubscriptionView.of(sub))

    def settle_awaited(self, billing_key: str, body: dict[str, Any]) -> str | None:
        """The backstop: ask Billing again about a card change whose result has not come (same key: the
        same change, as it is now) and apply it. The outcome, or None while the user has not finished."""
        change = self._ask_for_card_change(billing_key, body)
        if change["status"] == "pending":
            return None
        if change["status"] != "active":
            return str(change["status"])
        return self.apply(
            {
                "type": CARD_CHANGED,
                "card_change_id": change["id"],
                "subscription_id": change["subscription_id"],
                "payment_method_id": change["payment_method_id"],
                "card": change["card"],
            },
            billing_key,
        )

    def _ask_for_card_change(self, billing_key: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            change = self.billing.create_card_change(billing_key, body)
        except REQUEST_REFUSED:  # Billing refused it: nothing will come
            self._resolve(billing_key, "refused")
            raise
        if change["status"] not in ("pending", "active"):
            self._resolve(billing_key, str(change["status"]))
        return change

    def _resolve(self, billing_key: str, outcome: str) -> None:
        with self.uow() as uow:
            uow.awaited.resolve(CARD_CHANGE, billing_key, outcome, self.now())
            uow.commit()

    def apply(self, event: dict[str, Any], billing_key: str | None = None) -> str:
        """Billing's ``payment_method.active``: replace the subscription's saved method. Idempotent.
        From the backstop (`billing_key` given), its awaited record is resolved in the same transaction."""
        subscription_id = uuid.UUID(str(event["subscription_id"]))
        now = self.now()
        with self.uow() as uow:
            sub = uow.subscriptions.get_entity(subscription_id, for_update=True)
            if sub is None:
                log.error("card change for unknown subscription %s", subscription_id)
                return "unknown_subscription"
            try:
                outcome = sub.replace_payment_method(str(event["payment_method_id"]), now, self.policy)
            except InvalidTransition as exc:
                # Ended meanwhile: the card is kept at YooKassa but there is nothing to renew.
                log.warning("card change %s for subscription %s: %s", event["card_change_id"], sub.id, exc)
                outcome = "not_active"
            if billing_key is not None:
                uow.awaited.resolve(CARD_CHANGE, billing_key, outcome, now)
            if outcome in ("duplicate", "not_active"):
                uow.commit()
                return outcome
            row = uow.subscriptions.save(sub, now)
            uow.add_event(SUBSCRIPTION_CHANGES, change_event(row, outcome, now))
            plan = uow.plans.get(row.plan_id)
            uow.queue_email(
                **n.letter(
                    f"card-changed:{event['card_change_id']}",
                    row,
                    n.CardChanged(
                        plan=plan.name if plan is not None else "Kinobill",
                        card=str(event.get("card") or "your new card"),
                        retry_now=outcome == "card_changed_retry",
                    ),
                ),
            )
            uow.commit()
        return outcome
