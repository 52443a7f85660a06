"""No purchase stuck by bad input: what Billing could never accept is refused before the subscription row
exists, and a purchase whose payment Billing refuses for good ends at once (buying again works)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from kinobill.errors import InvalidRequest
from kinobill.subscriptions.purchases import Purchases
from kinobill.subscriptions.repository import SubscriptionsUnitOfWork
from kinobill.web import status_of
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


class RefusingBilling:
    """Billing's port answering a definite refusal (a 4xx), as for a request it can never accept."""

    def __init__(self) -> None:
        self.asked = 0

    def create_payment(self, idempotency_key: str, body: dict[str, Any]) -> dict[str, Any]:
        self.asked += 1
        raise InvalidRequest("invalid_request", "description: at most 128 characters")


def test_a_purchase_whose_payment_billing_refuses_for_good_ends_at_once(stack, db, plan):
    billing = RefusingBilling()
    purchases = Purchases(lambda: SubscriptionsUnitOfWork(db), billing, lambda: datetime.now(UTC))  # type: ignore[arg-type]
    user_id = uuid.uuid4()

    def buy() -> None:
        purchases.buy(
            user_id=user_id,
            email="buyer@example.com",
            plan_id=uuid.UUID(plan["id"]),
            period="month",  # type: ignore[arg-type]
            return_url=None,
            key=uuid.uuid4().hex,
        )

    with pytest.raises(InvalidRequest) as first:
        buy()
    assert (status_of(first.value), first.value.code) == (422, "payment_not_possible")
    ended = purchases.get(user_id, uuid.UUID(first.value.details["subscription_id"]))
    assert (ended.status, ended.ended_reason) == ("ended", "payment_failed")
    with pytest.raises(InvalidRequest) as again:  # not 409 subscription_exists: the plan can be bought again
        buy()
    assert again.value.code == "payment_not_possible" and billing.asked == 2
