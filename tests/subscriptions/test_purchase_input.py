"""No purchase stuck by bad input: what Billing could never accept is refused before the subscription row
exists (a purchase whose payment Billing refuses for good: tests/service)."""

from __future__ import annotations

import uuid

import pytest

from shop import SUCCESS_CARD, create_plan
from support import wait_until


@pytest.mark.parametrize(
    "return_url",
    [
        "https://shop.example/\u0000done",
        "https://shop.example/a b",
        "javascript:alert(1)",
        "https://x\r\nSet-Cookie: a=b",
    ],
)
def test_a_return_url_billing_could_not_use_is_refused_before_the_purchase_exists(
    stack, plan, buyer, return_url
):
    refused = buyer.subscriptions.post(
        "/api/v1/subscriptions",
        json={"plan_id": plan["id"], "period": "month", "return_url": return_url},
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["code"] == "invalid_request"
    assert buyer.subscriptions.get("/api/v1/subscriptions").json()["items"] == []
    bought = buyer.buy(plan["id"])  # the plan can be bought: nothing was left open
    assert bought.status_code == 201, bought.text


def test_a_plan_name_longer_than_the_providers_description_is_still_bought(stack, tokens, buyer):
    plan = create_plan(stack, tokens, name="Очень длинное название тарифа " * 6)
    bought = buyer.buy(plan["id"])
    assert bought.status_code == 201, bought.text
    stack.sandbox.confirm(bought.json()["payment"]["provider_payment_id"], SUCCESS_CARD)
    wait_until(lambda: buyer.subscription(bought.json()["id"])["status"] == "active", message="activation")
