"""Changing the card over the real stack and the sandbox: POST /payment-method → YooKassa POST
/payment_methods (redirect) → payment_method.active (re-read) → the saved method is replaced; a subscription
in dunning renews once on the new card; replays, other users, duplicate notifications and a crash change
nothing twice."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import httpx
import sqlalchemy as sa

from kinobill.billing import tables as bt
from kinobill.subscriptions import tables as st
from renewals.conftest import tick
from renewals.test_dunning import _emails, _renewal_payments
from support import wait_until

DAY = timedelta(days=1)
MINUTE = timedelta(minutes=1)
NEW_CARD = "4111111111111111"  # Visa, succeeds without 3-D Secure


def change_card(buyer, subscription_id: str, key: str | None = None) -> httpx.Response:
    return buyer.subscriptions.post(
        f"/api/v1/subscriptions/{subscription_id}/payment-method",
        headers={"Idempotency-Key": key or uuid.uuid4().hex},
        json={"return_url": "https://kinobill.example/account"},
    )


def method_of(change: dict) -> str:
    return parse_qs(urlparse(change["confirmation_url"]).query)["methodId"][0]


def bind_new_card(stack, renewals, sid: str) -> str:
    """Ask for the link, enter the card on YooKassa's side, wait until the subscription uses it."""
    response = change_card(renewals.buyer, sid)
    assert response.status_code == 201, response.text
    change = response.json()
    assert change["status"] == "pending" and change["subscription_id"] == sid
    method = method_of(change)
    stack.sandbox.confirm_payment_method(method, NEW_CARD)
    wait_until(lambda: renewals.row(sid).payment_method_id == method, message="the new card saved")
    return method


def test_a_card_change_during_dunning_renews_once_on_the_new_card(stack, renewals, plan):
    sub, old = renewals.activate(plan["id"], datetime(2027, 10, 10, 10, 0, tzinfo=UTC))
    sid = sub["id"]
    end = renewals.row(sid).current_period_end
    stack.sandbox.set_behaviour(old, "card_expired")
    renewals.clock.set(end - DAY + MINUTE)
    tick(stack)
    wait_until(lambda: renewals.row(sid).card_declined_reason == "card_expired", message="hard decline")

    renewals.clock.set(end + MINUTE)
    method = bind_new_card(stack, renewals, sid)
    row = renewals.row(sid)
    assert row.card_declined_reason is None and row.next_attempt_at <= renewals.clock.now()
    tick(stack)
    renewed = renewals.wait_period(sid, 1)
    assert renewed.current_period_start == end and renewed.payment_method_id == method
    tick(stack)
    payments = _renewal_payments(renewals.buyer, sid)
    assert [(p["status"], p["payment_method_id"]) for p in payments] == [
        ("canceled", old),
        ("succeeded", method),
    ]
    assert len(_emails(renewals.db, sid, "card-declined")) == 1
    mails = wait_until(lambda: renewals.mails("картой Bank card *1111"), message="the card-changed e-mail")
    assert len(mails) == 1 and "Сейчас мы спишем" in mails[0]["body"]  # the declined renewal, retried now


def test_the_next_renewal_charges_the_new_card(stack, renewals, plan):
    sub, old = renewals.activate(plan["id"], datetime(2027, 11, 10, 10, 0, tzinfo=UTC))
    sid = sub["id"]
    method = bind_new_card(stack, renewals, sid)
    assert method != old
    renewals.at_first_attempt(sid)
    tick(stack)
    renewals.wait_period(sid, 1)
    (renewal,) = _renewal_payments(renewals.buyer, sid)
    with renewals.db.connect() as conn:
        charged = conn.execute(
            sa.select(bt.payments.c.payment_method_id).where(bt.payments.c.id == uuid.UUID(renewal["id"]))
        ).scalar_one()
    assert charged == method


def test_a_replayed_request_returns_the_same_link_and_another_user_gets_404(stack, renewals, plan, tokens):
    sub, _ = renewals.activate(plan["id"], datetime(2027, 12, 10, 10, 0, tzinfo=UTC))
    sid = sub["id"]
    key = uuid.uuid4().hex
    first, again = change_card(renewals.buyer, sid, key), change_card(renewals.buyer, sid, key)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    creates = stack.sandbox.journal(operation="payment_methods.create", replayed=False, http_status=200)
    assert len([e for e in creates if e["object_id"] == method_of(first.json())]) == 1

    other = uuid.uuid4()
    headers = {**tokens.user_headers(other, f"{other.hex[:12]}@example.com"), "Idempotency-Key": key}
    stranger = httpx.post(
        f"{stack.subscriptions_url}/api/v1/subscriptions/{sid}/payment-method", headers=headers, timeout=30
    )
    assert stranger.status_code == 404 and stranger.json()["error"]["code"] == "subscription_not_found"
    missing = change_card(renewals.buyer, str(uuid.uuid4()))
    assert missing.status_code == 404
    no_key = renewals.buyer.subscriptions.post(f"/api/v1/subscriptions/{sid}/payment-method")
    assert no_key.status_code in (400, 422) and "error" in no_key.json()


def test_duplicate_payment_method_active_changes_nothing_twice(stack, renewals, plan, db):
    sub, _ = renewals.activate(plan["id"], datetime(2028, 1, 10, 10, 0, tzinfo=UTC))
    sid = sub["id"]
    stack.sandbox.add_fault("webhook_duplicate", "payment_method.active", copies=3)
    method = bind_new_card(stack, renewals, sid)
    wait_until(
        lambda: len(stack.sandbox.journal(operation="payment_methods.get", object_id=method)) >= 1,
        message="the method re-read from the API",
    )
    with db.connect() as conn:
        outcomes = wait_until(
            lambda: (
                (
                    rows := conn.execute(
                        sa.select(bt.provider_notifications.c.outcome).where(
                            bt.provider_notifications.c.object_id == method
                        )
                    )
                    .scalars()
                    .all()
                )
                and len(rows) == 3
                and rows
            ),
            message="three deliveries",
        )
        changes = conn.execute(
            sa.select(st.outbox).where(st.outbox.c.payload["subscription_id"].astext == sid)
        ).all()
    assert sorted(outcomes) == ["applied", "duplicate", "duplicate"]
    assert [c.payload["event"] for c in changes].count("card_changed") == 1
    wait_until(lambda: renewals.mails("теперь оплачивается картой"), message="the e-mail")
    assert len(renewals.mails("теперь оплачивается картой")) == 1


def test_a_crash_after_yookassa_created_the_method_is_finished_by_the_retry(stack, renewals, plan):
    sub, _ = renewals.activate(plan["id"], datetime(2028, 2, 10, 10, 0, tzinfo=UTC))
    sid = sub["id"]
    key = uuid.uuid4().hex
    crashing = stack.start("billing", {"KINOBILL_CRASH_POINTS": "billing.after_provider_payment_method"})
    try:
        first = change_card(renewals.buyer, sid, key)
        assert first.status_code == 503, first.text
        assert crashing.wait_exit(30) == 97
    finally:
        stack.start("billing")
    retried = wait_until(
        lambda: (r := change_card(renewals.buyer, sid, key)).status_code == 201 and r.json(),
        message="the retried request",
    )
    method = method_of(retried)
    creates = stack.sandbox.journal(operation="payment_methods.create", object_id=method)
    assert len([e for e in creates if not e["replayed"]]) == 1  # YooKassa created it once; then replayed
    stack.sandbox.confirm_payment_method(method, NEW_CARD)
    wait_until(lambda: renewals.row(sid).payment_method_id == method, message="the new card saved")


def test_a_lost_payment_method_active_is_recovered_by_the_reconciler(stack, renewals, plan):
    sub, _ = renewals.activate(plan["id"], datetime(2028, 3, 10, 10, 0, tzinfo=UTC))
    sid = sub["id"]
    stack.sandbox.add_fault("webhook_drop", "payment_method.active")
    response = change_card(renewals.buyer, sid)
    assert response.status_code == 201, response.text
    method = method_of(response.json())
    stack.sandbox.confirm_payment_method(method, NEW_CARD)
    renewals.clock.advance(2 * MINUTE)  # past the reconciler's recheck
    wait_until(lambda: renewals.row(sid).payment_method_id == method, timeout=60, message="recovered")
    gets = stack.sandbox.journal(operation="payment_methods.get", object_id=method)
    assert gets and all(e["http_status"] == 200 for e in gets)  # read from the API, not from a notification
