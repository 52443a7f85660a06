"""Subscriptions' service layer in-process: Purchases, RenewalScheduler and Cancellations on a real
Postgres, with Billing's client and the clock faked at their ports."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from kinobill import keys
from kinobill.domain.errors import PlanNotOnSale
from kinobill.domain.periods import BillingPeriod
from kinobill.errors import Conflict, InvalidRequest, NotFound
from kinobill.events import CHARGE_COMMANDS, SUBSCRIPTION_CHANGES
from kinobill.messages import PaymentSettled, RenewalChargeRequested, SubscriptionChanged
from kinobill.subscriptions import tables as t
from kinobill.subscriptions.cancellations import Cancellations
from kinobill.subscriptions.plans import PlanCatalogue
from kinobill.subscriptions.purchases import Purchases
from kinobill.subscriptions.renewals import RenewalScheduler
from kinobill.subscriptions.results import PlanView, Purchase
from kinobill.web import status_of


@pytest.fixture()
def purchases(uow: Any, billing: Any, now: Any, policy: Any) -> Purchases:
    return Purchases(
        uow, billing, now, policy=policy, return_url_for=lambda sid: f"https://kb.test/return/{sid}"
    )


def buy(purchases: Purchases, plan: PlanView, user_id: uuid.UUID | None = None, key: str = "k1") -> Purchase:
    user_id = user_id or uuid.uuid4()
    return purchases.buy(
        user_id=user_id,
        email=f"{user_id.hex[:8]}@example.com",
        plan_id=plan.id,
        period=BillingPeriod.MONTH,
        return_url=None,
        key=key,
    )


def result(
    purchase: Purchase, *, succeeded: bool = True, period_index: int = 0, attempt: int = 0, **kw: Any
) -> PaymentSettled:
    return PaymentSettled(
        type="payment.succeeded" if succeeded else "payment.canceled",
        payment_id=kw.get("payment_id", uuid.uuid4()),
        subscription_id=str(purchase.subscription.id),
        user_id=str(purchase.subscription.user_id),
        period_index=period_index,
        kind="initial" if period_index == 0 else "renewal",
        attempt=attempt,
        amount=29_900,
        paid_at=kw.get("paid_at"),
        payment_method_id="pm-saved" if succeeded else None,
        reason=None if succeeded else "insufficient_funds",
    )


def outbox(engine: sa.Engine, stream: str, subscription_id: str) -> list[dict]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(t.outbox.c.payload).where(t.outbox.c.stream == stream).order_by(t.outbox.c.id)
        )
        return [p for (p,) in rows if p["subscription_id"] == subscription_id]


def emails(engine: sa.Engine, address: str) -> list[str]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(t.emails.c.kind).where(t.emails.c.to_address == address).order_by(t.emails.c.created_at)
        )
        return [kind for (kind,) in rows]


def test_a_purchase_asks_billing_for_one_payment_in_kopecks_under_the_initial_key(purchases, plan, billing):
    user = uuid.uuid4()
    first = buy(purchases, plan, user, key="same")
    again = buy(purchases, plan, user, key="same")
    assert (
        str(again.subscription.id) == str(first.subscription.id)
        and first.subscription.status == "awaiting_payment"
    )
    assert again.payment["id"] == first.payment["id"]
    assert [k for k, _ in billing.payment_calls] == [keys.initial_charge(str(first.subscription.id))] * 2
    body = billing.payment_calls[0][1]
    assert body["amount"] == 29_900 and body["kind"] == "initial" and body["period_index"] == 0
    assert body["return_url"] == f"https://kb.test/return/{first.subscription.id}"


def test_a_purchase_whose_payment_billing_refuses_for_good_ends_at_once(purchases, plan, billing):
    billing.refusal = InvalidRequest("invalid_request", "description: at most 128 characters")
    user = uuid.uuid4()
    with pytest.raises(InvalidRequest) as first:
        buy(purchases, plan, user, key="first")
    assert (status_of(first.value), first.value.code) == (422, "payment_not_possible")
    ended = purchases.get(user, uuid.UUID(first.value.details["subscription_id"]))
    assert (ended.status, ended.ended_reason) == ("ended", "payment_failed")
    with pytest.raises(InvalidRequest) as again:  # not 409 subscription_exists: the plan can be bought again
        buy(purchases, plan, user, key="again")
    assert again.value.code == "payment_not_possible" and len(billing.payment_calls) == 2


def test_a_second_open_purchase_of_the_same_plan_is_a_conflict(purchases, plan):
    user = uuid.uuid4()
    first = buy(purchases, plan, user, key="one")
    with pytest.raises(Conflict) as refused:
        buy(purchases, plan, user, key="two")
    assert refused.value.code == "subscription_exists"
    assert refused.value.details == {
        "subscription_id": str(first.subscription.id),
        "status": "awaiting_payment",
    }


def test_a_plan_off_sale_cannot_be_bought_but_a_purchase_begun_on_sale_resumes(purchases, plan, uow, now):
    user = uuid.uuid4()
    begun = buy(purchases, plan, user, key="begun")
    PlanCatalogue(uow, now).end_sale(plan.id)
    now.advance(timedelta(seconds=1))
    assert buy(purchases, plan, user, key="begun").subscription.id == begun.subscription.id
    with pytest.raises(PlanNotOnSale):
        buy(purchases, plan, key="new buyer")


def test_a_settled_first_payment_activates_once_tells_auth_and_the_user(purchases, plan, service_engine, now):
    purchase = buy(purchases, plan)
    paid = result(purchase, paid_at=now())
    assert purchases.apply_payment_result(paid) == "activated"
    assert purchases.apply_payment_result(paid) == "duplicate"
    sub = purchases.get(purchase.subscription.user_id, purchase.subscription.id)
    assert sub.status == "active" and sub.current_period_start == now()
    changes = [
        SubscriptionChanged.from_json(p)
        for p in outbox(service_engine, SUBSCRIPTION_CHANGES, str(purchase.subscription.id))
    ]
    assert [c.event for c in changes] == ["activated"]
    assert emails(service_engine, f"{purchase.subscription.user_id.hex[:8]}@example.com") == [
        "subscription_activated"
    ]


def test_a_declined_first_payment_ends_the_purchase_and_a_late_success_goes_back_whole(
    purchases, plan, billing
):
    purchase = buy(purchases, plan)
    assert purchases.apply_payment_result(result(purchase, succeeded=False)) == "ended"
    late = result(purchase)
    assert purchases.apply_payment_result(late) == "late_payment"
    assert billing.refund_calls == [
        (
            keys.late_payment_refund(late.payment_id),
            {
                "subscription_id": str(purchase.subscription.id),
                "user_id": str(purchase.subscription.user_id),
                "period_index": 0,
                "requested_by": "system",
                "full": True,
                "payment_id": str(late.payment_id),
            },
        )
    ]


def test_a_due_renewal_is_commanded_once_per_attempt_and_a_decline_follows_the_dunning_schedule(
    purchases, plan, uow, now, policy, service_engine
):
    purchase = buy(purchases, plan)
    purchases.apply_payment_result(result(purchase, paid_at=now()))
    sub = purchases.get(purchase.subscription.user_id, purchase.subscription.id)
    scheduler = RenewalScheduler(uow, now, policy)
    now.moment = sub.current_period_end - policy.renewal_lead
    scheduler.run_pass()
    scheduler.run_pass()  # nothing new: the attempt is requested, its payment pending
    commands = [
        RenewalChargeRequested.from_json(p)
        for p in outbox(service_engine, CHARGE_COMMANDS, str(purchase.subscription.id))
    ]
    assert [(c.charge_key, c.amount, c.period_index, c.attempt) for c in commands] == [
        (keys.renewal_charge(str(purchase.subscription.id), 1, 0), 29_900, 1, 0)
    ]
    assert commands[0].payment_method_id == "pm-saved"
    declined = result(purchase, succeeded=False, period_index=1, attempt=0)
    assert purchases.apply_payment_result(declined) == "retry_scheduled"
    assert purchases.get(purchase.subscription.user_id, purchase.subscription.id).status == "active"


def test_cancelling_keeps_access_until_the_period_end_and_twice_changes_nothing(
    purchases, plan, uow, billing, now
):
    purchase = buy(purchases, plan)
    purchases.apply_payment_result(result(purchase, paid_at=now()))
    cancellations = Cancellations(uow, billing, now)
    user, sid = purchase.subscription.user_id, purchase.subscription.id
    first = cancellations.cancel(sid, user)
    assert first.status == "active" and first.auto_renew is False
    assert cancellations.cancel(sid, user) == first
    with pytest.raises(NotFound):
        cancellations.cancel(sid, uuid.uuid4())  # not the caller's


def test_a_refund_that_succeeds_at_once_ends_the_subscription(purchases, plan, uow, billing, now):
    purchase = buy(purchases, plan)
    purchases.apply_payment_result(result(purchase, paid_at=now()))
    cancellations = Cancellations(uow, billing, now)
    user, sid = purchase.subscription.user_id, purchase.subscription.id
    now.advance(timedelta(days=2))
    cancellations.refund(sid, user_id=user, scope=f"user:{user}", key="r1", requested_by="user")
    ((key, body),) = billing.refund_calls
    assert key == keys.requested_refund(f"user:{user}", sid, "r1")  # one Billing refund per request
    assert body["period_index"] == 0 and body["requested_by"] == "user"
    assert purchases.get(user, sid).ended_reason == "refunded"
    with pytest.raises(Conflict) as again:
        cancellations.refund(sid, user_id=user, scope=f"user:{user}", key="r2", requested_by="user")
    assert again.value.code == "already_refunded"
