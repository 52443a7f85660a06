"""Refunds end to end over HTTP: Subscriptions → Billing → YooKassa sandbox, with the test clock.

The amount that reaches YooKassa is `refund_amount(...)` at the instant Billing computed it (the refund's
`created_at`, test-clock time); the subscription ends; Auth's view of the user's access loses it.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta

import httpx
import redis

from kinobill.domain.money import format_rub, parse_rub
from kinobill.domain.refunds import refund_amount
from kinobill.events import SUBSCRIPTION_CHANGES
from kinobill.i18n.formatting import money
from shop import mail_to, provider_refund, provider_refunds
from support import wait_until


def active_plans(stack, tokens, user_id) -> list[str]:
    response = httpx.get(
        f"{stack.subscriptions_url}/internal/v1/users/{user_id}/subscriptions/active",
        headers=tokens.service_headers("auth"),
    )
    assert response.status_code == 200, response.text
    return [item["subscription_id"] for item in response.json()["items"]]


def change_events(redis_url: str, subscription_id: str) -> list[str]:
    client = redis.Redis.from_url(redis_url)
    entries = client.xrange(SUBSCRIPTION_CHANGES)
    return [
        json.loads(fields[b"payload"])["event"]
        for _, fields in entries
        if json.loads(fields[b"payload"])["subscription_id"] == subscription_id
    ]


def test_prorated_refund_on_day_20_reaches_yookassa_by_the_rule(stack, tokens, plan, buyer, clock, redis_url):
    sub = buyer.subscribe(stack, plan)
    assert sub["id"] in active_plans(stack, tokens, buyer.user_id)
    clock.advance(timedelta(days=20))

    response = buyer.refund(sub["id"])
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "succeeded"
    assert body["subscription_id"] == sub["id"] and body["payment_id"] == sub["payment"]["id"]
    assert body["status_url"] == f"{stack.billing_url}/api/v1/refunds/{body['id']}"

    expected = refund_amount(
        paid=29900,
        already_refunded=0,
        period_start=datetime.fromisoformat(sub["current_period_start"]),
        period_end=datetime.fromisoformat(sub["current_period_end"]),
        now=datetime.fromisoformat(body["created_at"]),
    )
    assert parse_rub(body["amount"]) == expected
    assert 9000 < expected < 11000  # about a third of 299.00 is left after 20 of ~30 days
    created = provider_refunds(stack, body["id"])
    assert len(created) == 1
    at_yookassa = provider_refund(stack, created[0]["object_id"])
    assert at_yookassa["amount"]["value"] == format_rub(expected)
    assert at_yookassa["payment_id"] == sub["payment"]["provider_payment_id"]
    assert at_yookassa["status"] == "succeeded"

    ended = buyer.subscription(sub["id"])
    assert (ended["status"], ended["ended_reason"]) == ("ended", "refunded")
    assert sub["id"] not in active_plans(stack, tokens, buyer.user_id)
    wait_until(lambda: "refunded" in change_events(redis_url, sub["id"]), message="the change event for Auth")

    followed = buyer.billing.get(f"/api/v1/refunds/{body['id']}")
    assert followed.status_code == 200
    assert followed.json()["status"] == "succeeded" and followed.json()["succeeded_at"]
    assert followed.json()["amount"] == format_rub(expected)
    payment = buyer.billing.get(f"/api/v1/payments/{sub['payment']['id']}").json()
    assert payment["status"] == "succeeded"
    subjects = wait_until(
        lambda: {m["subject"] for m in mail_to(stack, buyer.email) if "озврат" in m["subject"]} or None,
        message="refund e-mails",
    )
    wait_until(
        lambda: (
            {
                f"Начат возврат {money(expected, 'ru')}",
                f"Возврат {money(expected, 'ru')} выполнен",
            }
            <= {m["subject"] for m in mail_to(stack, buyer.email)}
        ),
        message=f"started and completed e-mails (have {subjects})",
    )


def test_within_the_first_week_the_refund_is_full(stack, plan, buyer, clock):
    sub = buyer.subscribe(stack, plan)
    clock.advance(timedelta(days=6, hours=23))
    response = buyer.refund(sub["id"])
    assert response.status_code == 202, response.text
    assert response.json()["amount"] == "299.00"
    assert buyer.subscription(sub["id"])["ended_reason"] == "refunded"


def test_someone_elses_refund_status_is_not_found(stack, tokens, plan, buyer):
    sub = buyer.subscribe(stack, plan)
    body = buyer.refund(sub["id"]).json()
    stranger = tokens.user_headers(uuid.uuid4(), "x@example.com")
    assert httpx.get(f"{stack.billing_url}/api/v1/refunds/{body['id']}", headers=stranger).status_code == 404
    mine = buyer.billing.get("/api/v1/refunds").json()["items"]
    assert [r["id"] for r in mine] == [body["id"]]


def test_operator_refund_through_the_internal_api_replays_the_same_refund(stack, tokens, plan, buyer):
    sub = buyer.subscribe(stack, plan)
    url = f"{stack.subscriptions_url}/internal/v1/subscriptions/{sub['id']}/refund"
    headers = {**tokens.service_headers("admin"), "Idempotency-Key": f"admin-refund-{uuid.uuid4()}"}
    first = httpx.post(url, headers=headers)
    again = httpx.post(url, headers=headers)
    assert first.status_code == again.status_code == 202, first.text
    assert first.json()["id"] == again.json()["id"]
    assert first.json()["amount"] == "299.00"
    assert len(provider_refunds(stack, first.json()["id"])) == 1


def test_cancel_turns_auto_renew_off_and_twice_is_harmless(stack, tokens, plan, buyer):
    sub = buyer.subscribe(stack, plan)
    first = buyer.subscriptions.post(f"/api/v1/subscriptions/{sub['id']}/cancel")
    second = buyer.subscriptions.post(f"/api/v1/subscriptions/{sub['id']}/cancel")
    assert first.status_code == second.status_code == 200, first.text
    assert first.json() == second.json()
    assert (first.json()["status"], first.json()["auto_renew"]) == ("active", False)
    assert first.json()["current_period_end"] == sub["current_period_end"]  # access stays until then
    mails = wait_until(
        lambda: [m for m in mail_to(stack, buyer.email) if "отменена" in m["subject"]] or None,
        message="the cancellation e-mail",
    )
    assert len(mails) == 1
    other = httpx.post(
        f"{stack.subscriptions_url}/api/v1/subscriptions/{sub['id']}/cancel",
        headers=tokens.user_headers(uuid.uuid4(), "y@example.com"),
    )
    assert other.status_code == 404
    operator = httpx.post(
        f"{stack.subscriptions_url}/internal/v1/subscriptions/{sub['id']}/cancel",
        headers=tokens.service_headers("admin"),
    )
    assert operator.status_code == 200 and operator.json()["auto_renew"] is False
