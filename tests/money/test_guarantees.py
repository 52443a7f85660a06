"""The money path's invariants under concurrency, duplicate and forged callbacks, crashes and provider faults.

Every test ends by checking the same three things: one YooKassa payment for the purchase, one
activation (one paid period), one e-mail of each kind, and nothing left unsettled.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext

import httpx
import pytest
import sqlalchemy as sa

from kinobill.domain.money import parse_rub
from shop import SUCCESS_CARD, mail_to
from support import wait_until


def provider_payments(stack, payment_id: str) -> set[str]:
    """YooKassa payments that exist for our payment (its id is the Idempotence-Key)."""
    entries = stack.sandbox.journal(operation="payments.create", idempotence_key=payment_id)
    return {e["object_id"] for e in entries if e.get("object_id")}


def assert_single_outcome(stack, db, buyer, subscription_id: str) -> None:
    """One provider payment, one paid period, one e-mail per kind, nothing stuck."""
    with db.connect() as conn:
        payments = conn.execute(
            sa.text(
                "SELECT id, status, provider_payment_id FROM billing.payments WHERE subscription_id = :s"
            ),
            {"s": subscription_id},
        ).all()
        periods = conn.execute(
            sa.text("SELECT count(*) FROM subscriptions.subscription_periods WHERE subscription_id = :s"),
            {"s": subscription_id},
        ).scalar_one()
    assert len(payments) == 1, payments
    assert payments[0].status == "succeeded"
    assert len(provider_payments(stack, str(payments[0].id))) == 1
    assert periods == 1
    kinds = wait_until(
        lambda: (m := mail_to(stack, buyer.email)) and len(m) >= 2 and m, timeout=60, message="e-mails"
    )
    by_kind: dict[str, set[str]] = {}
    for message in kinds:
        by_kind.setdefault(message["headers"].get("X-Kinobill-Kind", ""), set()).add(message["message_id"])
    assert by_kind.keys() == {"subscription_activated", "payment_succeeded"}, by_kind
    assert all(len(ids) == 1 for ids in by_kind.values()), by_kind

    def settled() -> bool:
        with db.connect() as conn:
            unpublished = conn.execute(
                sa.text(
                    "SELECT (SELECT count(*) FROM billing.outbox WHERE published_at IS NULL)"
                    " + (SELECT count(*) FROM subscriptions.outbox WHERE published_at IS NULL)"
                )
            ).scalar_one()
            unsent = conn.execute(
                sa.text(
                    "SELECT (SELECT count(*) FROM billing.emails WHERE sent_at IS NULL AND to_address = :a)"
                    " + (SELECT count(*) FROM subscriptions.emails WHERE sent_at IS NULL AND to_address = :a)"
                ),
                {"a": buyer.email},
            ).scalar_one()
        return unpublished == 0 and unsent == 0

    wait_until(settled, message="outbox and e-mails to drain")


def activate(stack, buyer, purchase: dict) -> dict:
    active = buyer.pay(stack, purchase)
    assert active["status"] == "active", active
    return active


# --- concurrency and callbacks -----------------------------------------------------------------


def test_twenty_concurrent_purchases_with_one_key_make_one_subscription_and_one_payment(
    stack, db, plan, buyer, tokens
):
    key = uuid.uuid4().hex
    headers = {**tokens.user_headers(buyer.user_id, buyer.email), "Idempotency-Key": key}

    def purchase(_: int) -> httpx.Response:
        return httpx.post(
            f"{stack.subscriptions_url}/api/v1/subscriptions",
            headers=headers,
            timeout=30,
            json={"plan_id": plan["id"], "period": "month"},
        )

    with ThreadPoolExecutor(20) as pool:
        responses = list(pool.map(purchase, range(20)))
    statuses = sorted({r.status_code for r in responses})
    assert set(statuses) <= {201, 409}, [r.text for r in responses if r.status_code not in (201, 409)]
    created = [r.json() for r in responses if r.status_code == 201]
    assert created, "at least the first request completes"
    assert all(c["id"] == created[0]["id"] for c in created)
    assert all(r.json()["error"]["code"] == "request_in_progress" for r in responses if r.status_code == 409)
    final = wait_until(lambda: (r := purchase(0)).status_code == 201 and r.json(), message="a replay")
    assert final == created[0]
    with db.connect() as conn:
        assert (
            conn.execute(
                sa.text("SELECT count(*) FROM subscriptions.subscriptions WHERE purchase_key = :k"),
                {"k": key},
            ).scalar_one()
            == 1
        )
    activate(stack, buyer, created[0])
    assert_single_outcome(stack, db, buyer, created[0]["id"])


def _notification(stack, provider_payment_id: str) -> dict:
    obj = httpx.get(
        f"{stack.sandbox.api_url}/payments/{provider_payment_id}",
        auth=(stack.sandbox.shop_id, stack.sandbox.secret_key),
    ).json()
    return {"type": "notification", "event": f"payment.{obj['status']}", "object": obj}


def test_the_same_webhook_ten_times_concurrently_activates_once(stack, db, plan, buyer):
    purchase = buyer.buy(plan["id"]).json()
    provider_id = purchase["payment"]["provider_payment_id"]
    stack.sandbox.add_fault("webhook_drop", endpoint="*", count=1)  # we deliver it ourselves, ten times
    stack.sandbox.confirm(provider_id, SUCCESS_CARD)
    body = _notification(stack, provider_id)
    assert body["event"] == "payment.succeeded"

    def deliver(_: int) -> int:
        return httpx.post(f"{stack.billing_url}/webhooks/yookassa", json=body, timeout=30).status_code

    with ThreadPoolExecutor(10) as pool:
        codes = list(pool.map(deliver, range(10)))
    assert codes == [200] * 10
    wait_until(lambda: buyer.subscription(purchase["id"])["status"] == "active", message="activation")
    assert deliver(0) == 200  # and once more, later: still 200, never a 5xx on a duplicate
    assert_single_outcome(stack, db, buyer, purchase["id"])


def test_a_forged_webhook_for_a_pending_payment_changes_nothing(stack, db, plan, buyer):
    purchase = buyer.buy(plan["id"]).json()
    forged = _notification(stack, purchase["payment"]["provider_payment_id"])
    forged["event"] = "payment.succeeded"
    forged["object"].update(status="succeeded", paid=True)
    response = httpx.post(f"{stack.billing_url}/webhooks/yookassa", json=forged)
    assert response.status_code == 200
    assert response.json()["outcome"] == "still_pending"
    unknown = {**forged, "object": {**forged["object"], "id": "2f000000-000f-5000-9000-000000000000"}}
    assert httpx.post(f"{stack.billing_url}/webhooks/yookassa", json=unknown).json()["outcome"] == "unknown"
    assert httpx.post(f"{stack.billing_url}/webhooks/yookassa", content=b"{not json").status_code == 400
    assert buyer.subscription(purchase["id"])["status"] == "awaiting_payment"
    assert [p["status"] for p in buyer.payments()] == ["pending"]
    with db.connect() as conn:
        periods = conn.execute(
            sa.text("SELECT count(*) FROM subscriptions.subscription_periods WHERE subscription_id = :s"),
            {"s": purchase["id"]},
        ).scalar_one()
    assert periods == 0


def test_webhooks_from_outside_yookassas_networks_are_refused(stack, plan, buyer):
    billing = stack.start("billing", {"TRUSTED_PROXIES": "127.0.0.1/32"})
    try:
        purchase = buyer.buy(plan["id"]).json()
        body = _notification(stack, purchase["payment"]["provider_payment_id"])
        url = f"{stack.billing_url}/webhooks/yookassa"
        outside = httpx.post(url, json=body, headers={"X-Forwarded-For": "203.0.113.7"})
        assert outside.status_code == 403
        assert outside.json()["error"]["code"] == "forbidden"
        spoofed = httpx.post(url, json=body, headers={"X-Forwarded-For": "185.71.76.5, 203.0.113.7"})
        assert spoofed.status_code == 403  # only the hop our proxy saw counts
        inside = httpx.post(url, json=body, headers={"X-Forwarded-For": "185.71.76.5"})
        assert inside.status_code == 200
    finally:
        assert billing.process is not None
        stack.start("billing")


# --- crash points ------------------------------------------------------------------------------

CRASHES = [
    # (process, crash point, what the buyer sees while it is down)
    ("subscriptions", "subscriptions.before_payment_request", "purchase"),
    ("billing", "billing.after_provider_create", "purchase"),
    ("worker", "relay.billing.after_publish", "activation"),
    ("worker", "consumer.subscriptions.before_ack", "activation"),
    ("worker", "relay.subscriptions.after_publish", "activation"),
    ("worker", "mail.after_send", "activation"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("process", "point", "phase"), CRASHES, ids=[c[1] for c in CRASHES])
def test_a_crash_at_each_point_still_ends_with_one_charge_one_activation_one_email(
    stack, db, plan, buyer, process, point, phase
):
    crashing = stack.start(process, {"KINOBILL_CRASH_POINTS": point})
    try:
        key = uuid.uuid4().hex
        if phase == "purchase":
            with pytest.raises(httpx.HTTPError) if process == "subscriptions" else nullcontext():
                first = buyer.buy(plan["id"], key=key)
                assert first.status_code == 503, first.text
            assert crashing.wait_exit(30) == 97
            stack.start(process)
            purchase = wait_until(
                lambda: (r := buyer.buy(plan["id"], key=key)).status_code == 201 and r.json(),
                message="the retried purchase",
            )
            activate(stack, buyer, purchase)
        else:
            purchase = buyer.buy(plan["id"], key=key).json()
            stack.sandbox.confirm(purchase["payment"]["provider_payment_id"], SUCCESS_CARD)
            assert crashing.wait_exit(30) == 97
            stack.start(process)
            wait_until(lambda: buyer.subscription(purchase["id"])["status"] == "active", message="activation")
        assert_single_outcome(stack, db, buyer, purchase["id"])
    finally:
        if stack.processes[process].process.poll() is not None or crashing is stack.processes[process]:
            stack.start(process)


# --- provider faults ---------------------------------------------------------------------------

FAULTS = [
    {"kind": "error_before_commit"},
    {"kind": "error_after_commit"},
    {"kind": "drop_before_commit"},
    {"kind": "drop_after_commit"},
    {"kind": "hang"},
    {"kind": "hang", "commit": True},
    {"kind": "too_many_requests", "retry_after": 1},
    {"kind": "processing", "retry_after": 1},
]


@pytest.mark.slow
@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f["kind"] + ("+commit" if f.get("commit") else ""))
def test_provider_faults_end_final_and_single(stack, db, plan, buyer, fault):
    stack.sandbox.add_fault(endpoint="payments.create", count=1, **fault)
    key = uuid.uuid4().hex
    first = buyer.buy(plan["id"], key=key)
    assert first.status_code == 503, first.text
    assert first.json()["error"]["code"] in ("provider_unavailable", "billing_unavailable")
    retried = wait_until(
        lambda: (r := buyer.buy(plan["id"], key=key)).status_code == 201 and r.json(),
        message="the retried purchase",
    )
    activate(stack, buyer, retried)
    assert_single_outcome(stack, db, buyer, retried["id"])


def test_the_reconciler_finishes_a_payment_whose_create_outcome_was_unknown(stack, db, plan, buyer):
    """Nobody retries: the reconciler repeats the create call with the same key, the user pays via /pay."""
    stack.sandbox.add_fault("error_after_commit", endpoint="payments.create", count=1)
    first = buyer.buy(plan["id"])
    assert first.status_code == 503
    with db.connect() as conn:
        sub_id, payment_id = conn.execute(
            sa.text(
                "SELECT s.id, p.id FROM subscriptions.subscriptions s JOIN billing.payments p"
                " ON p.subscription_id = s.id WHERE s.user_id = :u"
            ),
            {"u": buyer.user_id},
        ).one()
    wait_until(
        lambda: buyer.billing.get(f"/api/v1/payments/{payment_id}").json()["provider_payment_id"],
        timeout=30,
        message="the reconciler to learn the provider payment",
    )
    again = buyer.subscriptions.post(
        f"/api/v1/subscriptions/{sub_id}/pay", headers={"Idempotency-Key": uuid.uuid4().hex}
    )
    assert again.status_code == 200, again.text
    assert again.json()["payment"]["id"] == str(payment_id)
    activate(stack, buyer, {**again.json(), "id": str(sub_id)})
    assert_single_outcome(stack, db, buyer, str(sub_id))


def test_a_purchase_whose_payment_was_never_created_ends_after_the_payment_term(
    stack, db, plan, buyer, redis_url
):
    """Subscriptions dies between committing the purchase and asking Billing, and nobody retries."""
    from datetime import timedelta

    import redis

    from kinobill.clock import TestClock

    crashing = stack.start("subscriptions", {"KINOBILL_CRASH_POINTS": "subscriptions.before_payment_request"})
    with pytest.raises(httpx.HTTPError):
        buyer.buy(plan["id"])
    assert crashing.wait_exit(30) == 97
    stack.start("subscriptions")
    with db.connect() as conn:
        sub_id = conn.execute(
            sa.text("SELECT id FROM subscriptions.subscriptions WHERE user_id = :u"), {"u": buyer.user_id}
        ).scalar_one()
    assert buyer.subscription(str(sub_id))["status"] == "awaiting_payment"
    clock = TestClock(redis.Redis.from_url(redis_url))
    try:
        clock.advance(timedelta(hours=3))
        ended = wait_until(
            lambda: (s := buyer.subscription(str(sub_id)))["status"] == "ended" and s,
            timeout=30,
            message="the abandoned purchase to end",
        )
        assert ended["ended_reason"] == "payment_failed"
        again = buyer.buy(plan["id"])
        assert again.status_code == 201, again.text
    finally:
        clock.reset()


def test_a_lost_webhook_is_recovered_by_reconciliation_on_demand(stack, db, plan, buyer, tokens):
    purchase = buyer.buy(plan["id"]).json()
    stack.sandbox.add_fault("webhook_drop", endpoint="*", count=1)
    stack.sandbox.confirm(purchase["payment"]["provider_payment_id"], SUCCESS_CARD)
    assert buyer.subscription(purchase["id"])["status"] == "awaiting_payment"
    response = httpx.post(
        f"{stack.billing_url}/internal/v1/reconcile",
        headers=tokens.service_headers(),
        json={"subscription_id": purchase["id"]},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert response.json()["settled_payments"] == 1
    wait_until(lambda: buyer.subscription(purchase["id"])["status"] == "active", message="activation")
    assert_single_outcome(stack, db, buyer, purchase["id"])
    again = httpx.post(
        f"{stack.billing_url}/internal/v1/reconcile",
        headers=tokens.service_headers(),
        json={"subscription_id": purchase["id"]},
        timeout=30,
    ).json()
    assert again["pending_payments"] == 0


def test_a_period_paid_twice_at_yookassa_is_recorded_once_and_the_second_payment_returned(
    stack, db, plan, buyer, tokens
):
    """The one double charge we cannot prevent happens outside us (two payments completed for one period):
    it is recorded as a duplicate, never activates anything twice, and goes back in full by itself."""
    purchase = buyer.buy(plan["id"]).json()
    first = purchase["payment"]
    second = httpx.post(
        f"{stack.billing_url}/internal/v1/payments",
        headers={**tokens.service_headers("subscriptions"), "Idempotency-Key": uuid.uuid4().hex},
        json={
            "subscription_id": purchase["id"],
            "user_id": str(buyer.user_id),
            "user_email": buyer.email,
            "period_index": 0,
            "kind": "initial",
            "amount": parse_rub(first["amount"]),
            "description": "second link",
        },
        timeout=30,
    ).json()
    assert second["id"] != first["id"]
    stack.sandbox.confirm(first["provider_payment_id"], SUCCESS_CARD)
    wait_until(lambda: buyer.subscription(purchase["id"])["status"] == "active", message="activation")
    stack.sandbox.confirm(second["provider_payment_id"], SUCCESS_CARD)

    def returned() -> bool:
        with db.connect() as conn:
            row = conn.execute(
                sa.text(
                    "SELECT status, duplicate_of, refunded_amount, amount FROM billing.payments WHERE id = :p"
                ),
                {"p": second["id"]},
            ).one()
        return (
            row.status == "succeeded"
            and str(row.duplicate_of) == first["id"]
            and row.refunded_amount == row.amount
        )

    wait_until(returned, timeout=30, message="the duplicate to be refunded in full")
    at_yookassa = httpx.get(
        f"{stack.sandbox.api_url}/payments/{second['provider_payment_id']}",
        auth=(stack.sandbox.shop_id, stack.sandbox.secret_key),
    ).json()
    assert at_yookassa["refunded_amount"]["value"] == second["amount"]  # the money went back, once
    kept = httpx.get(
        f"{stack.sandbox.api_url}/payments/{first['provider_payment_id']}",
        auth=(stack.sandbox.shop_id, stack.sandbox.secret_key),
    ).json()
    assert kept.get("refunded_amount", {"value": "0.00"})["value"] == "0.00"
    with db.connect() as conn:
        periods = conn.execute(
            sa.text("SELECT count(*) FROM subscriptions.subscription_periods WHERE subscription_id = :s"),
            {"s": purchase["id"]},
        ).scalar_one()
        duplicate_refunds = conn.execute(
            sa.text("SELECT count(*), sum(amount) FROM billing.refunds WHERE payment_id = :p"),
            {"p": second["id"]},
        ).one()
    assert periods == 1
    assert duplicate_refunds[0] == 1
    assert buyer.subscription(purchase["id"])["status"] == "active"
    wait_until(
        lambda: any(
            m["headers"].get("X-Kinobill-Kind") == "payment_duplicate" for m in mail_to(stack, buyer.email)
        ),
        message="the duplicate e-mail",
    )
