"""Service layer of Subscriptions for buying and for applying payment results.

Buying: a subscription *awaiting payment* is committed first (tagged with the buyer's Idempotency-Key,
so a retried purchase resumes it), then Billing is asked for the one initial payment of that
subscription (charge key `initial:<subscription id>`: asking again returns the same payment and link).

Applying a payment result is idempotent: a paid period is recorded once per payment and per period
(primary key and unique constraint), and only the first application changes the subscription.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError

from kinobill import keys
from kinobill.domain import schedule
from kinobill.domain.periods import BillingPeriod
from kinobill.domain.plans import ensure_on_sale, is_on_sale, price_for
from kinobill.domain.statuses import SubscriptionStatus
from kinobill.domain.subscription import Subscription
from kinobill.errors import ApplicationError, Conflict, InvalidRequest, NotFound, Unavailable
from kinobill.events import SUBSCRIPTION_CHANGES
from kinobill.i18n.readers import reader_of
from kinobill.messages import PaymentSettled, SubscriptionChanged
from kinobill.subscriptions import notifications as n
from kinobill.subscriptions.billing_client import BillingClient
from kinobill.subscriptions.notices import queue_renewal_notice
from kinobill.subscriptions.repository import SubscriptionsUnitOfWork
from kinobill.subscriptions.results import Purchase, SubscriptionView

log = logging.getLogger(__name__)


def change_event(row: Any, event: str, at: datetime) -> dict[str, Any]:
    return SubscriptionChanged(user_id=row.user_id, subscription_id=row.id, event=event, at=at).to_json()


def end_unpaid_purchase(
    uow_factory: Callable[[], SubscriptionsUnitOfWork], subscription_id: uuid.UUID, now: datetime
) -> bool:
    """End a purchase still awaiting payment (`payment_failed`) with its change event; False when it is
    not awaiting payment any more (paid meanwhile, or already ended)."""
    with uow_factory() as uow:
        sub = uow.subscriptions.get_entity(subscription_id, for_update=True)
        if sub is None or sub.first_payment_failed(now) != "ended":
            return False
        saved = uow.subscriptions.save(sub, now)
        uow.add_event(SUBSCRIPTION_CHANGES, change_event(saved, "ended", now))
        uow.commit()
    return True


class Purchases:
    def __init__(
        self,
        uow: Callable[[], SubscriptionsUnitOfWork],
        billing: BillingClient,
        now: Callable[[], datetime],
        policy: schedule.RenewalPolicy = schedule.DEFAULT_POLICY,
        crash_point: Callable[[str], None] = lambda _: None,
        return_url_for: Callable[[uuid.UUID], str] = lambda subscription_id: f"/return/{subscription_id}",
    ) -> None:
        """`return_url_for`: where YooKassa sends the buyer back after paying for a subscription, when
        the client names no return URL (the return page of this service)."""
        self.uow, self.billing, self.now, self.policy = uow, billing, now, policy
        self.return_url_for = return_url_for
        self.crash_point = crash_point

    # --- buy ----------------------------------------------------------------------------------

    def buy(
        self,
        *,
        user_id: uuid.UUID,
        email: str | None,
        plan_id: uuid.UUID,
        period: BillingPeriod,
        return_url: str | None,
        key: str,
        locale: str | None = None,
        zoneinfo: str | None = None,
    ) -> Purchase:
        now = self.now()
        with self.uow() as uow:
            plan = uow.plans.get(plan_id)
            if plan is None:
                raise NotFound("plan_not_found", "no such plan")
            if not is_on_sale(plan.sale_start, plan.sale_end, now):
                # Off sale now; a retry of a purchase begun while it was on sale still resumes.
                sub = uow.subscriptions.by_purchase_key(user_id, key)
                if sub is None:
                    ensure_on_sale(plan.sale_start, plan.sale_end, now)
            else:
                # The fast path is one INSERT: the unique indexes on (user, purchase key) and on the
                # user's open subscription of a plan decide whether this is a retry or a conflict.
                try:
                    sub = uow.subscriptions.add(
                        {
                            "id": uuid.uuid4(),
                            "user_id": user_id,
                            "user_email": email,
                            "locale": locale,
                            "zoneinfo": zoneinfo,
                            "plan_id": plan_id,
                            "period": str(period),
                            "status": SubscriptionStatus.AWAITING_PAYMENT,
                            "auto_renew": True,
                            "purchase_key": key,
                            "price": price_for(plan.price_month, plan.price_year, period),
                            "created_at": now,
                            "updated_at": now,
                        }
                    )
                    uow.commit()
                except IntegrityError:
                    uow.rollback()
                    sub = uow.subscriptions.by_purchase_key(user_id, key)
                    if sub is None:
                        existing = uow.subscriptions.open_for(user_id, plan_id)
                        if existing is None:
                            raise
                        raise self._already_holds(existing) from None
            plan_name = plan.name
        self.crash_point("subscriptions.before_payment_request")
        payment = self._initial_payment(sub, plan_name, return_url)
        return Purchase(SubscriptionView.of(sub), payment)

    def _unpayable(self, sub: Any, exc: ApplicationError) -> InvalidRequest:
        """Billing refused to create the payment for good (a refusal, not `Unavailable`: retrying cannot
        help): the purchase ends now, so the buyer is not left with a purchase that blocks buying the plan
        again."""
        end_unpaid_purchase(self.uow, sub.id, self.now())
        return InvalidRequest(
            "payment_not_possible",
            f"the payment could not be created ({exc.message or exc.code}); the purchase has ended",
            {"subscription_id": str(sub.id), "cause": exc.code},
        )

    @staticmethod
    def _already_holds(existing: Any) -> Conflict:
        what = "a purchase in progress" if existing.status == SubscriptionStatus.AWAITING_PAYMENT else "it"
        return Conflict(
            "subscription_exists",
            f"you already hold {what} for this plan",
            {"subscription_id": str(existing.id), "status": existing.status},
        )

    def _initial_payment(self, sub: Any, plan_name: str, return_url: str | None) -> dict[str, Any]:
        try:
            return self._ask_billing(sub, plan_name, return_url)
        except ApplicationError as exc:
            if not isinstance(exc, Unavailable):
                raise self._unpayable(sub, exc) from exc
            raise

    def _ask_billing(self, sub: Any, plan_name: str, return_url: str | None) -> dict[str, Any]:
        return self.billing.create_payment(
            keys.initial_charge(sub.id),
            {
                "subscription_id": str(sub.id),
                "user_id": str(sub.user_id),
                "user_email": sub.user_email,
                "locale": sub.locale,
                "zoneinfo": sub.zoneinfo,
                "period_index": 0,
                "kind": "initial",
                "amount": sub.price,  # kopecks
                "description": n.payment_description(plan_name, sub.period, False, reader_of(sub)),
                "return_url": return_url or self.return_url_for(sub.id),
            },
        )

    def pay(self, *, user_id: uuid.UUID, subscription_id: uuid.UUID, return_url: str | None) -> Purchase:
        """The payment link again for a subscription awaiting payment (the same payment: never two)."""
        with self.uow() as uow:
            sub = uow.subscriptions.get_owned(subscription_id, user_id)
            if sub.status != SubscriptionStatus.AWAITING_PAYMENT:
                raise Conflict(
                    "not_awaiting_payment",
                    f"the subscription is {sub.status}",
                    {"status": sub.status, "ended_reason": sub.ended_reason},
                )
            plan_name = uow.plans.get(sub.plan_id).name  # type: ignore[union-attr]
        return Purchase(SubscriptionView.of(sub), self._initial_payment(sub, plan_name, return_url))

    # --- read ---------------------------------------------------------------------------------

    def get(self, user_id: uuid.UUID, subscription_id: uuid.UUID) -> SubscriptionView:
        with self.uow() as uow:
            return SubscriptionView.of(uow.subscriptions.get_owned(subscription_id, user_id))

    def list(
        self, user_id: uuid.UUID, *, before: tuple[datetime, uuid.UUID] | None, limit: int
    ) -> list[SubscriptionView]:
        """The user's subscriptions, newest first (with their plan's code)."""
        with self.uow() as uow:
            rows = uow.subscriptions.list_for_user(user_id, before=before, limit=limit)
            return [SubscriptionView.of(row) for row in rows]

    # --- payment results ----------------------------------------------------------------------

    def apply_payment_result(self, event: PaymentSettled) -> str:
        """Apply Billing's `payment.succeeded` / `payment.canceled`. Returns what happened."""
        now = self.now()
        with self.uow() as uow:
            sub = uow.subscriptions.get_entity(event.subscription_id, for_update=True)
            outcome = self._apply_result(uow, sub, event, now, {})
            if outcome in ("unknown_subscription", "duplicate"):
                return outcome  # nothing to write
            uow.commit()
        if outcome == "late_payment":
            self._refund_late_payment(event)
        return outcome

    def apply_payment_results(self, events: Sequence[PaymentSettled]) -> Sequence[str]:
        """`apply_payment_result` for a batch read from the stream, in ONE transaction: the subscriptions
        are locked FOR UPDATE in id order (one statement; concurrent batches cannot deadlock), each event
        goes through the entity in stream order by the same rules; refunds of late payments after the
        commit. Raises on any failure (the consumer then applies the events one by one)."""
        now = self.now()
        ids = sorted({event.subscription_id for event in events})
        outcomes: list[str] = []
        plans: dict[uuid.UUID, Any] = {}
        with self.uow() as uow:
            uow.defer_writes()  # the batch's events and e-mails: multi-row INSERTs at the commit
            subs = uow.subscriptions.get_entities(ids, for_update=True)
            for event in events:
                subscription_id = event.subscription_id
                outcome = self._apply_result(uow, subs.get(subscription_id), event, now, plans)
                if outcome == "duplicate":  # nothing written; forget what it changed in memory
                    subs[subscription_id] = uow.subscriptions.get_entity(subscription_id)  # type: ignore[assignment]
                outcomes.append(outcome)
            uow.commit()
        for event, outcome in zip(events, outcomes, strict=True):
            if outcome == "late_payment":
                self._refund_late_payment(event)
        return outcomes

    def _apply_result(
        self,
        uow: SubscriptionsUnitOfWork,
        sub: Subscription | None,
        event: PaymentSettled,
        now: datetime,
        plans: dict[uuid.UUID, Any],
    ) -> str:
        """The rules of applying one payment result to its subscription, locked in `uow`'s transaction."""
        if sub is None:
            log.error("payment result for unknown subscription %s", event.subscription_id)
            return "unknown_subscription"
        index = event.period_index
        if event.succeeded:
            outcome = sub.record_payment(
                period_index=index,
                paid_at=event.paid_at or now,
                payment_method_id=event.payment_method_id,
                policy=self.policy,
            )
            if outcome in ("activated", "renewed"):
                recorded = uow.subscriptions.add_period(
                    {
                        "subscription_id": sub.id,
                        "period_index": index,
                        "starts_at": sub.current_period_start,
                        "ends_at": sub.current_period_end,
                        "payment_id": event.payment_id,
                        "amount": event.amount,
                    }
                )
                if not recorded:  # the same payment or period was already applied
                    return "duplicate"
        elif index == 0:
            outcome = sub.first_payment_failed(now)
        else:
            outcome = sub.renewal_failed(
                period_index=index,
                attempt=event.attempt,
                now=now,
                policy=self.policy,
                reason=event.reason,
            )
        if outcome == "late_payment":
            # Paid after the purchase was given up or ended: money without a subscription. Never
            # activate late; the payment goes back in full (after the commit).
            log.error("payment %s arrived for %s subscription %s", event.payment_id, sub.status, sub.id)
        if sub.changed:
            saved = uow.subscriptions.save(sub, now)
            self._tell(uow, saved, outcome, now, plans)
        return outcome

    def _refund_late_payment(self, event: PaymentSettled) -> None:
        """Ask Billing to return a late payment whole. The key is the payment's, so a redelivered event
        (this raises when Billing cannot answer, and the stream retries) lands on the same refund."""
        refund = self.billing.create_refund(
            keys.late_payment_refund(event.payment_id),
            {
                "subscription_id": str(event.subscription_id),
                "user_id": str(event.user_id),
                "period_index": event.period_index,
                "requested_by": "system",
                "full": True,
                "payment_id": str(event.payment_id),
            },
        )
        log.info("late payment %s: refund %s (%s)", event.payment_id, refund["id"], refund["status"])

    def _tell(
        self,
        uow: SubscriptionsUnitOfWork,
        row: Any,
        outcome: str,
        now: datetime,
        plans: dict[uuid.UUID, Any] | None = None,
    ) -> None:
        """The change event for Auth's cache, and the user's e-mail, in the same transaction (`plans`:
        plan rows already read in this transaction, by id)."""
        uow.add_event(SUBSCRIPTION_CHANGES, change_event(row, outcome, now))
        if outcome not in ("activated", "renewed"):
            queue_renewal_notice(uow, row, outcome, self.policy)  # dunning and endings (notices.py)
            return
        plans = {} if plans is None else plans
        if row.plan_id not in plans:
            plans[row.plan_id] = uow.plans.get(row.plan_id)
        plan = plans[row.plan_id]
        plan_name = plan.name if plan is not None else "Kinobill"
        told = n.SubscriptionActivated if outcome == "activated" else n.SubscriptionRenewed
        uow.queue_email(
            **n.letter(
                f"subscription-{outcome}:{row.id}:{row.period_index}",
                row,
                told(plan=plan_name, paid_until=row.current_period_end),
            ),
        )
