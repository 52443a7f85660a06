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
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError

from kinobill.domain import schedule
from kinobill.domain.money import format_rub
from kinobill.domain.periods import BillingPeriod, period_bounds
from kinobill.domain.plans import ensure_on_sale, price_for
from kinobill.domain.statuses import EndedReason, SubscriptionStatus
from kinobill.events import SUBSCRIPTION_CHANGES
from kinobill.subscriptions.billing_client import BillingClient
from kinobill.subscriptions.repository import SubscriptionsUnitOfWork
from kinobill.web import ApiError

log = logging.getLogger(__name__)


def subscription_json(row: Any, plan_code: str | None = None) -> dict[str, Any]:
    body = {
        "id": str(row.id),
        "user_id": str(row.user_id),
        "plan_id": str(row.plan_id),
        "period": row.period,
        "status": row.status,
        "ended_reason": row.ended_reason,
        "auto_renew": row.auto_renew,
        "current_period_start": row.current_period_start.isoformat() if row.current_period_start else None,
        "current_period_end": row.current_period_end.isoformat() if row.current_period_end else None,
        "created_at": row.created_at.isoformat(),
    }
    code = plan_code or getattr(row, "plan_code", None)
    if code:
        body["plan_code"] = code
    return body


def change_event(row: Any, event: str, at: datetime) -> dict[str, Any]:
    return {"user_id": str(row.user_id), "subscription_id": str(row.id), "event": event, "at": at.isoformat()}


class Purchases:
    def __init__(
        self,
        uow: Callable[[], SubscriptionsUnitOfWork],
        billing: BillingClient,
        now: Callable[[], datetime],
        policy: schedule.RenewalPolicy = schedule.DEFAULT_POLICY,
    ) -> None:
        self.uow, self.billing, self.now, self.policy = uow, billing, now, policy

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
    ) -> dict[str, Any]:
        now = self.now()
        with self.uow() as uow:
            resumed = uow.subscriptions.by_purchase_key(user_id, key)
            if resumed is not None:
                sub = resumed
            else:
                plan = uow.plans.get(plan_id)
                if plan is None:
                    raise ApiError(404, "plan_not_found", "no such plan")
                existing = uow.subscriptions.open_for(user_id, plan_id)
                if existing is not None:
                    raise self._already_holds(existing)
                ensure_on_sale(plan.sale_start, plan.sale_end, now)
                try:
                    sub = uow.subscriptions.add(
                        {
                            "id": uuid.uuid4(),
                            "user_id": user_id,
                            "user_email": email,
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
                    existing = uow.subscriptions.open_for(user_id, plan_id)
                    if existing is None:
                        raise
                    raise self._already_holds(existing) from None
            plan_name = uow.plans.get(sub.plan_id).name  # type: ignore[union-attr]
        payment = self._initial_payment(sub, plan_name, return_url)
        return {**subscription_json(sub), "payment": payment}

    @staticmethod
    def _already_holds(existing: Any) -> ApiError:
        what = "a purchase in progress" if existing.status == SubscriptionStatus.AWAITING_PAYMENT else "it"
        return ApiError(
            409,
            "subscription_exists",
            f"you already hold {what} for this plan",
            {"subscription_id": str(existing.id), "status": existing.status},
        )

    def _initial_payment(self, sub: Any, plan_name: str, return_url: str | None) -> dict[str, Any]:
        return self.billing.create_payment(
            f"initial:{sub.id}",
            {
                "subscription_id": str(sub.id),
                "user_id": str(sub.user_id),
                "user_email": sub.user_email,
                "period_index": 0,
                "kind": "initial",
                "amount": format_rub(sub.price),
                "description": f"Kinobill {plan_name}, 1 {sub.period}",
                "return_url": return_url,
            },
        )

    def pay(
        self, *, user_id: uuid.UUID, subscription_id: uuid.UUID, return_url: str | None
    ) -> dict[str, Any]:
        """The payment link again for a subscription awaiting payment (the same payment: never two)."""
        with self.uow() as uow:
            sub = uow.subscriptions.get(subscription_id)
            if sub is None or sub.user_id != user_id:
                raise ApiError(404, "subscription_not_found", "no such subscription")
            if sub.status != SubscriptionStatus.AWAITING_PAYMENT:
                raise ApiError(
                    409,
                    "not_awaiting_payment",
                    f"the subscription is {sub.status}",
                    {"status": sub.status, "ended_reason": sub.ended_reason},
                )
            plan_name = uow.plans.get(sub.plan_id).name  # type: ignore[union-attr]
        return {**subscription_json(sub), "payment": self._initial_payment(sub, plan_name, return_url)}

    # --- read ---------------------------------------------------------------------------------

    def get(self, user_id: uuid.UUID, subscription_id: uuid.UUID) -> dict[str, Any]:
        with self.uow() as uow:
            sub = uow.subscriptions.get(subscription_id)
            if sub is None or sub.user_id != user_id:
                raise ApiError(404, "subscription_not_found", "no such subscription")
            return subscription_json(sub)

    def list(self, user_id: uuid.UUID, *, before: tuple[datetime, uuid.UUID] | None, limit: int) -> list[Any]:
        with self.uow() as uow:
            return list(uow.subscriptions.list_for_user(user_id, before=before, limit=limit))

    # --- payment results ----------------------------------------------------------------------

    def apply_payment_result(self, event: dict[str, Any]) -> str:
        """Apply Billing's `payment.succeeded` / `payment.canceled`. Returns what happened."""
        subscription_id = uuid.UUID(str(event["subscription_id"]))
        now = self.now()
        with self.uow() as uow:
            sub = uow.subscriptions.get(subscription_id, for_update=True)
            if sub is None:
                log.error("payment result for unknown subscription %s", subscription_id)
                return "unknown_subscription"
            if event["type"] == "payment.succeeded":
                outcome = self._paid(uow, sub, event, now)
            else:
                outcome = self._payment_failed(uow, sub, event, now)
            uow.commit()
            return outcome

    def _paid(self, uow: SubscriptionsUnitOfWork, sub: Any, event: dict[str, Any], now: datetime) -> str:
        index = int(event["period_index"])
        period = BillingPeriod(sub.period)
        if index == 0:
            if sub.status != SubscriptionStatus.AWAITING_PAYMENT:
                if sub.anchor_at is None:
                    # Paid after the purchase was given up: money without a subscription. Billing's
                    # reconciler refunds such payments (see the note on issue 6); never activate late.
                    log.error(
                        "initial payment %s arrived for %s subscription %s",
                        event["payment_id"],
                        sub.status,
                        sub.id,
                    )
                    return "late_payment"
                return "duplicate"
            anchor = datetime.fromisoformat(event["paid_at"]) if event.get("paid_at") else now
        else:
            anchor = sub.anchor_at
        start, end = period_bounds(anchor, period, index)
        recorded = uow.subscriptions.add_period(
            {
                "subscription_id": sub.id,
                "period_index": index,
                "starts_at": start,
                "ends_at": end,
                "payment_id": uuid.UUID(str(event["payment_id"])),
                "amount": int(event["amount"]),
            }
        )
        if not recorded:
            return "duplicate"
        method = event.get("payment_method_id") or sub.payment_method_id
        next_attempt = schedule.first_attempt_at(end, self.policy) if sub.auto_renew and method else None
        updated = uow.subscriptions.update(
            sub.id,
            {
                "status": SubscriptionStatus.ACTIVE,
                "anchor_at": anchor,
                "period_index": index,
                "current_period_start": start,
                "current_period_end": end,
                "payment_method_id": method,
                "failed_attempts": 0,
                "next_attempt_at": next_attempt,
                "updated_at": now,
            },
        )
        kind = "activated" if index == 0 else "renewed"
        uow.add_event(SUBSCRIPTION_CHANGES, change_event(updated, kind, now))
        plan = uow.plans.get(sub.plan_id)
        plan_name = plan.name if plan is not None else "Kinobill"
        until = end.strftime("%d %B %Y")
        subject = f"Your {plan_name} subscription {'is active' if index == 0 else 'is renewed'}"
        uow.queue_email(
            dedupe_key=f"subscription-{kind}:{sub.id}:{index}",
            to=sub.user_email,
            user_id=sub.user_id,
            kind=f"subscription_{kind}",
            subject=subject,
            body=f"{subject}. Enjoy watching! Paid until {until}.",
        )
        return kind

    def _payment_failed(
        self, uow: SubscriptionsUnitOfWork, sub: Any, event: dict[str, Any], now: datetime
    ) -> str:
        if int(event["period_index"]) == 0:
            if sub.status != SubscriptionStatus.AWAITING_PAYMENT:
                return "duplicate"
            updated = uow.subscriptions.update(
                sub.id,
                {
                    "status": SubscriptionStatus.ENDED,
                    "ended_reason": EndedReason.PAYMENT_FAILED,
                    "ended_at": now,
                    "updated_at": now,
                    "next_attempt_at": None,
                },
            )
            uow.add_event(SUBSCRIPTION_CHANGES, change_event(updated, "ended", now))
            return "purchase_failed"
        return "renewal_failed"  # dunning: the renewal scheduler decides (issue 5)
