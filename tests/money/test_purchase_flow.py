"""Buy, pay, activate over real HTTP: Subscriptions → Billing → YooKassa sandbox → webhook → stream."""

from __future__ import annotations

import uuid

import httpx
import pytest

from shop import DECLINED_CARD, SUCCESS_CARD, mail_to
from support import wait_until


def test_purchase_confirmed_with_a_test_card_activates_once(stack, plan, buyer):
    response = buyer.buy(plan["id"])
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "awaiting_payment"
    payment = body["payment"]
    assert payment["status"] == "pending"
    assert payment["confirmation_url"].startswith(stack.sandbox.base_url)
    assert payment["amount"] == "299.00"

    provider = httpx.get(
        f"{stack.sandbox.api_url}/payments/{payment['provider_payment_id']}",
        auth=(stack.sandbox.shop_id, stack.sandbox.secret_key),
    ).json()
    return_url = provider["confirmation"]["return_url"]
    assert return_url == f"{stack.subscriptions_url}/return/{body['id']}"  # no return_url given: ours
    assert "Подтверждаем оплату" in httpx.get(return_url).text  # Russian by default
    assert "being confirmed" in httpx.get(return_url, headers={"Accept-Language": "en"}).text

    stack.sandbox.confirm(payment["provider_payment_id"], SUCCESS_CARD)

    active = wait_until(
        lambda: (s := buyer.subscription(body["id"]))["status"] == "active" and s, message="activation"
    )
    assert active["current_period_start"] and active["current_period_end"]
    subjects = wait_until(
        lambda: len(mails := mail_to(stack, buyer.email)) >= 2 and sorted(m["subject"] for m in mails),
        message="two e-mails",
    )
    assert any(s.startswith("Подписка «Money Plan» активна") for s in subjects)  # Russian by default
    assert any(s == "Платёж на 299,00\u00a0₽ получен" for s in subjects)
    assert "Подписка активна" in httpx.get(return_url).text
    history = buyer.payments()
    assert [p["status"] for p in history] == ["succeeded"]
    assert history[0]["paid_at"]
    creates = stack.sandbox.journal(method="POST", path="/v3/payments")
    assert len([c for c in creates if c.get("idempotence_key") == payment["id"]]) == 1


def test_declined_card_ends_the_purchase_and_buying_again_works(stack, plan, buyer):
    first = buyer.buy(plan["id"]).json()
    stack.sandbox.confirm(first["payment"]["provider_payment_id"], DECLINED_CARD)
    ended = wait_until(
        lambda: (s := buyer.subscription(first["id"]))["status"] == "ended" and s,
        message="the purchase to end",
    )
    assert ended["ended_reason"] == "payment_failed"
    wait_until(
        lambda: any("не прошёл" in m["subject"] for m in mail_to(stack, buyer.email)),
        message="the failure e-mail",
    )

    second = buyer.buy(plan["id"])
    assert second.status_code == 201, second.text
    assert second.json()["id"] != first["id"]
    stack.sandbox.confirm(second.json()["payment"]["provider_payment_id"], SUCCESS_CARD)
    wait_until(lambda: buyer.subscription(second.json()["id"])["status"] == "active", message="activation")


def test_buying_a_plan_already_held_is_a_conflict_pointing_to_it(plan, buyer):
    first = buyer.buy(plan["id"]).json()
    again = buyer.buy(plan["id"])
    assert again.status_code == 409
    error = again.json()["error"]
    assert error["code"] == "subscription_exists"
    assert error["details"]["subscription_id"] == first["id"]


def test_the_same_key_replays_and_another_body_is_422(plan, buyer):
    key = uuid.uuid4().hex
    first = buyer.buy(plan["id"], key=key)
    replay = buyer.buy(plan["id"], key=key)
    assert replay.status_code == first.status_code == 201
    assert replay.json() == first.json()
    other = buyer.buy(plan["id"], key=key, period="year")
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"


def test_pay_gives_the_same_payment_link_while_it_is_open(plan, buyer):
    first = buyer.buy(plan["id"]).json()
    again = buyer.subscriptions.post(
        f"/api/v1/subscriptions/{first['id']}/pay", headers={"Idempotency-Key": uuid.uuid4().hex}
    )
    assert again.status_code == 200, again.text
    assert again.json()["payment"]["id"] == first["payment"]["id"]
    assert again.json()["payment"]["confirmation_url"] == first["payment"]["confirmation_url"]


@pytest.mark.parametrize(
    "body",
    [
        {"plan_id": "not-a-uuid", "period": "month"},
        {"plan_id": str(uuid.uuid4()), "period": "week"},
        {"period": "month"},
    ],
)
def test_bad_purchase_input_is_422(buyer, body):
    response = buyer.subscriptions.post(
        "/api/v1/subscriptions", json=body, headers={"Idempotency-Key": uuid.uuid4().hex}
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_request"


def test_purchase_needs_an_idempotency_key(plan, buyer):
    response = buyer.subscriptions.post(
        "/api/v1/subscriptions", json={"plan_id": plan["id"], "period": "month"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "idempotency_key_required"


def test_a_plan_off_sale_cannot_be_bought(stack, tokens, plan, buyer):

    httpx.post(
        f"{stack.subscriptions_url}/internal/v1/plans/{plan['id']}/end-sale", headers=tokens.service_headers()
    ).raise_for_status()
    response = buyer.buy(plan["id"])
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "plan_not_on_sale"
