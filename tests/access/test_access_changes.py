"""A refund or an expiry changes the access answer on the very next read (within one event).

Real refund (Billing → YooKassa sandbox) and a real scheduler pass (`kinobill tick`) under the test clock.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from access.conftest import PATH, changes_consumed, purchase
from renewals.conftest import tick
from support import wait_until


def test_a_refund_removes_the_subscription_on_the_next_read(stack, auth, plan, buyer, redis_client):
    sub = purchase(stack, buyer, plan["id"])
    # the purchase's change events reach the access-cache worker asynchronously and may drop a fill
    wait_until(
        lambda: changes_consumed(redis_client, sub["id"], "activated"), message="the access-cache worker"
    )
    before = auth.get(PATH.format(user_id=buyer.user_id))
    assert [i["subscription_id"] for i in before.json()["items"]] == [sub["id"]]
    assert auth.get(PATH.format(user_id=buyer.user_id)).headers["x-cache"] == "hit"

    response = buyer.refund(sub["id"])
    assert response.status_code in (200, 201, 202), response.text
    ended = wait_until(
        lambda: (s := buyer.subscription(sub["id"]))["status"] == "ended" and s,
        message="the refund to end it",
    )
    assert ended["ended_reason"] == "refunded"
    after = auth.get(PATH.format(user_id=buyer.user_id))
    assert after.json()["items"] == [] and after.headers["etag"] != before.headers["etag"]
    assert after.headers["x-cache"] == "miss"  # invalidated by the change, not merely filtered


def test_an_expiry_removes_the_subscription_on_the_next_read(stack, auth, plan, buyer, clock):
    sub = purchase(stack, buyer, plan["id"])
    cancelled = buyer.subscriptions.post(f"/api/v1/subscriptions/{sub['id']}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert len(auth.get(PATH.format(user_id=buyer.user_id)).json()["items"]) == 1  # cached now

    clock.set(datetime.fromisoformat(sub["current_period_end"]) + timedelta(minutes=1))
    wait_until(
        lambda: tick(stack) and buyer.subscription(sub["id"])["status"] == "ended",
        timeout=60,
        message="a scheduler pass to end the cancelled subscription",
    )
    after = auth.get(PATH.format(user_id=buyer.user_id))
    assert after.json()["items"] == []
    assert after.headers["x-cache"] == "miss"  # the ending invalidated the entry
