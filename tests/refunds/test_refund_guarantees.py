"""Refund guarantees: one refund per request under concurrency and crashes, never more than was paid,
refusals before any provider call, pending refunds followed to the end, canceled refunds change nothing."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
import pytest
import sqlalchemy as sa

from kinobill.domain.money import parse_rub
from shop import SUCCESS_CARD, mail_to, provider_refunds
from support import wait_until


def refunds_of(db: sa.Engine, subscription_id: str) -> list[sa.Row]:
    with db.connect() as conn:
        return list(
            conn.execute(
                sa.text("SELECT id, amount, status FROM billing.refunds WHERE subscription_id = :s"),
                {"s": subscription_id},
            ).all()
        )


def refunded_amount(db: sa.Engine, payment_id: str) -> int:
    with db.connect() as conn:
        return int(
            conn.execute(
                sa.text("SELECT refunded_amount FROM billing.payments WHERE id = :p"), {"p": payment_id}
            ).scalar_one()
        )


def test_the_same_request_20_times_at_once_makes_one_refund(stack, plan, buyer, db, clock):
    sub = buyer.subscribe(stack, plan)
    clock.advance(timedelta(days=10))
    key = uuid.uuid4().hex
    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda _: buyer.refund(sub["id"], key), range(20)))
    assert {a.status_code for a in answers} <= {202, 409}, [a.text for a in answers]
    conflicts = [a.json()["error"]["code"] for a in answers if a.status_code == 409]
    assert set(conflicts) <= {"request_in_progress"}
    final = wait_until(lambda: (r := buyer.refund(sub["id"], key)).status_code == 202 and r, message="replay")
    ids = {a.json()["id"] for a in answers if a.status_code == 202} | {final.json()["id"]}
    assert len(ids) == 1
    rows = refunds_of(db, sub["id"])
    assert len(rows) == 1 and rows[0].status == "succeeded"
    assert len(provider_refunds(stack, str(rows[0].id))) == 1
    assert refunded_amount(db, sub["payment"]["id"]) == rows[0].amount == parse_rub(final.json()["amount"])


@pytest.mark.parametrize("days", [0, 15], ids=["full", "prorated"])
def test_different_keys_racing_never_refund_more_than_was_paid(stack, plan, buyer, db, clock, days):
    sub = buyer.subscribe(stack, plan)
    clock.advance(timedelta(days=days))
    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(lambda _: buyer.refund(sub["id"]), range(10)))
    accepted = [a for a in answers if a.status_code == 202]
    assert len(accepted) == 1, [a.text for a in answers]
    refused = {a.json()["error"]["code"] for a in answers if a.status_code != 202}
    assert {a.status_code for a in answers if a.status_code != 202} <= {409}
    assert refused <= {"nothing_to_refund", "already_refunded"}
    rows = refunds_of(db, sub["id"])
    assert len(rows) == 1
    assert sum(r.amount for r in rows) <= 29900
    assert refunded_amount(db, sub["payment"]["id"]) == rows[0].amount
    assert (rows[0].amount == 29900) == (days == 0)
    assert len(provider_refunds(stack, str(rows[0].id))) == 1


def test_a_pending_refund_counts_as_refunded_and_the_webhook_completes_it(stack, plan, buyer, db, redis_url):
    sub = buyer.subscribe(stack, plan)
    stack.sandbox.set_refund_behaviour("pending", payment_id=sub["payment"]["provider_payment_id"])
    first = buyer.refund(sub["id"])
    assert first.status_code == 202, first.text
    assert first.json()["status"] == "pending"
    # The subscription ends when the money is certainly going back: not yet.
    assert buyer.subscription(sub["id"])["status"] == "active"
    second = buyer.refund(sub["id"])  # another key while the first is pending: nothing is left
    assert second.status_code == 409 and second.json()["error"]["code"] == "nothing_to_refund"

    provider_id = buyer.billing.get(f"/api/v1/refunds/{first.json()['id']}").json()["provider_refund_id"]
    stack.sandbox.complete_refund(provider_id, "succeeded")  # YooKassa notifies refund.succeeded
    wait_until(
        lambda: buyer.billing.get(f"/api/v1/refunds/{first.json()['id']}").json()["status"] == "succeeded",
        message="the webhook to settle the refund",
    )
    ended = wait_until(
        lambda: (s := buyer.subscription(sub["id"]))["status"] == "ended" and s,
        message="the subscription to end",
    )
    assert ended["ended_reason"] == "refunded"
    assert refunded_amount(db, sub["payment"]["id"]) == 29900
    wait_until(
        lambda: any(m["subject"] == "Возврат 299,00\u00a0₽ выполнен" for m in mail_to(stack, buyer.email)),
        message="the completed e-mail",
    )
    assert len(provider_refunds(stack, first.json()["id"])) == 1


def test_a_canceled_refund_leaves_the_subscription_as_it_was(stack, plan, buyer, db, clock):
    sub = buyer.subscribe(stack, plan)
    provider_payment = sub["payment"]["provider_payment_id"]
    before = buyer.subscription(sub["id"])

    stack.sandbox.set_refund_behaviour("general_decline", payment_id=provider_payment)
    declined = buyer.refund(sub["id"])
    assert declined.status_code == 202, declined.text
    assert declined.json()["status"] == "canceled"
    assert buyer.subscription(sub["id"]) == before
    wait_until(
        lambda: any(m["subject"] == "Возврат 299,00\u00a0₽ не выполнен" for m in mail_to(stack, buyer.email)),
        message="the failure e-mail",
    )

    # Pending at first, canceled later (no webhook for that): the reconciler finds it.
    stack.sandbox.set_refund_behaviour("pending", payment_id=provider_payment)
    pending = buyer.refund(sub["id"])
    assert pending.status_code == 202 and pending.json()["status"] == "pending", pending.text
    provider_id = buyer.billing.get(f"/api/v1/refunds/{pending.json()['id']}").json()["provider_refund_id"]
    stack.sandbox.complete_refund(provider_id, "rejected_by_payee")
    clock.advance(timedelta(minutes=3))  # past the reconciler's first check
    wait_until(
        lambda: buyer.billing.get(f"/api/v1/refunds/{pending.json()['id']}").json()["status"] == "canceled",
        message="the reconciler to settle the canceled refund",
    )
    assert buyer.subscription(sub["id"]) == before
    assert refunded_amount(db, sub["payment"]["id"]) == 0

    # Canceled refunds do not count: asking again works.
    stack.sandbox.set_refund_behaviour("succeeded", payment_id=provider_payment)
    again = buyer.refund(sub["id"])
    assert again.status_code == 202 and again.json()["status"] == "succeeded", again.text
    assert again.json()["amount"] == "299.00"
    assert buyer.subscription(sub["id"])["ended_reason"] == "refunded"
    assert sorted(r.status for r in refunds_of(db, sub["id"])) == ["canceled", "canceled", "succeeded"]


def test_refusals_are_clear_4xx_and_never_reach_yookassa(stack, tokens, plan, buyer, clock):
    paid = buyer.subscribe(stack, plan)
    calls = len(stack.sandbox.journal(operation="refunds.create"))

    def refused(response: httpx.Response, status: int, code: str) -> None:
        assert response.status_code == status, response.text
        assert response.json()["error"]["code"] == code

    # not the caller's subscription
    stranger = tokens.user_headers(uuid.uuid4(), "z@example.com")
    refused(
        httpx.post(
            f"{stack.subscriptions_url}/api/v1/subscriptions/{paid['id']}/refund",
            headers={**stranger, "Idempotency-Key": "k1"},
        ),
        404,
        "subscription_not_found",
    )
    refused(buyer.refund(str(uuid.uuid4())), 404, "subscription_not_found")

    # nothing paid: awaiting payment (and Billing itself: the payment has not succeeded)
    other_plan = httpx.post(
        f"{stack.subscriptions_url}/internal/v1/plans",
        headers=tokens.service_headers(),
        json={
            "code": f"r{uuid.uuid4().hex[:10]}",
            "name": "Other",
            "price_month": "99.00",
            "price_year": "990.00",
        },
    ).json()
    awaiting = buyer.buy(other_plan["id"]).json()
    refused(buyer.refund(awaiting["id"]), 409, "nothing_paid")
    direct = httpx.post(
        f"{stack.billing_url}/internal/v1/refunds",
        headers={**tokens.service_headers("subscriptions"), "Idempotency-Key": uuid.uuid4().hex},
        json={
            "subscription_id": awaiting["id"],
            "user_id": str(buyer.user_id),
            "period_index": 0,
            "period_start": "2030-01-01T00:00:00+00:00",
            "period_end": "2030-02-01T00:00:00+00:00",
        },
    )
    refused(direct, 409, "payment_not_succeeded")
    # Billing checks the user too, whoever asks
    direct_other_user = httpx.post(
        f"{stack.billing_url}/internal/v1/refunds",
        headers={**tokens.service_headers("subscriptions"), "Idempotency-Key": uuid.uuid4().hex},
        json={
            "subscription_id": paid["id"],
            "user_id": str(uuid.uuid4()),
            "period_index": 0,
            "period_start": paid["current_period_start"],
            "period_end": paid["current_period_end"],
        },
    )
    refused(direct_other_user, 404, "payment_not_found")

    # already refunded in full
    assert buyer.refund(paid["id"]).status_code == 202
    calls += 1
    refused(buyer.refund(paid["id"]), 409, "already_refunded")

    # period already over
    stack.sandbox.confirm(awaiting["payment"]["provider_payment_id"], SUCCESS_CARD)
    wait_until(lambda: buyer.subscription(awaiting["id"])["status"] == "active", message="activation")
    # auto-renew off first, so that no renewal starts a new paid period while the clock jumps
    assert buyer.subscriptions.post(f"/api/v1/subscriptions/{awaiting['id']}/cancel").status_code == 200
    clock.advance(timedelta(days=32))
    late = buyer.refund(awaiting["id"])
    assert late.status_code == 409, late.text
    # still active with its period over, or already ended by the scheduler at the period end
    assert late.json()["error"]["code"] in ("refund_period_over", "subscription_ended")

    assert len(stack.sandbox.journal(operation="refunds.create")) == calls


def test_a_crash_between_the_provider_call_and_the_commit_makes_one_refund(stack, plan, buyer, db, clock):
    sub = buyer.subscribe(stack, plan)
    clock.advance(timedelta(days=12))
    key = uuid.uuid4().hex
    billing = stack.start("billing", {"KINOBILL_CRASH_POINTS": "billing.after_provider_refund"})
    try:
        crashed = buyer.refund(sub["id"], key)
        assert crashed.status_code == 503, crashed.text  # Billing died after YooKassa refunded
        assert billing.wait_exit(10) == 97
        rows = refunds_of(db, sub["id"])
        assert len(rows) == 1 and rows[0].status == "pending"  # the row was committed first
        assert len(provider_refunds(stack, str(rows[0].id))) == 1  # and YooKassa did refund
    finally:
        stack.start("billing")
    retried = wait_until(
        lambda: (r := buyer.refund(sub["id"], key)).status_code == 202 and r, message="the retry"
    )
    assert retried.json()["id"] == str(rows[0].id)
    assert retried.json()["status"] == "succeeded"
    assert len(provider_refunds(stack, str(rows[0].id))) == 1  # the retry was a replay at YooKassa
    assert len(stack.sandbox.journal(operation="refunds.create", idempotence_key=str(rows[0].id))) == 2
    assert refunded_amount(db, sub["payment"]["id"]) == rows[0].amount == parse_rub(retried.json()["amount"])
    assert 29900 * 17 // 31 <= rows[0].amount <= 29900 * 19 // 28  # 18-19 days of a 28-31-day month left
    assert buyer.subscription(sub["id"])["ended_reason"] == "refunded"


def test_a_payment_that_arrives_after_the_purchase_ended_goes_back_in_full(stack, plan, buyer, db):
    bought = buyer.buy(plan["id"]).json()
    cancelled = buyer.subscriptions.post(f"/api/v1/subscriptions/{bought['id']}/cancel").json()
    assert (cancelled["status"], cancelled["ended_reason"]) == ("ended", "cancelled")
    stack.sandbox.confirm(bought["payment"]["provider_payment_id"], SUCCESS_CARD)  # the user pays anyway

    rows = wait_until(
        lambda: [r for r in refunds_of(db, bought["id"]) if r.status == "succeeded"] or None,
        message="the late payment's refund",
    )
    assert [r.amount for r in rows] == [29900]
    assert len(provider_refunds(stack, str(rows[0].id))) == 1
    assert refunded_amount(db, bought["payment"]["id"]) == 29900
    after = buyer.subscription(bought["id"])
    assert (after["status"], after["ended_reason"]) == ("ended", "cancelled")  # never activated late
