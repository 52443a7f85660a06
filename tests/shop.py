"""A buyer and a shop for the end-to-end tests: plans on sale, purchases paid in the YooKassa sandbox,
refunds and what YooKassa made of them, and the mail that reached the capture inbox. Shared by every
suite that needs a real subscription."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from support import wait_until

SUCCESS_CARD = "5555555555554444"
DECLINED_CARD = "5555555555554600"  # insufficient_funds


@dataclass
class Buyer:
    user_id: uuid.UUID
    email: str
    subscriptions: httpx.Client
    billing: httpx.Client

    def buy(self, plan_id: str, key: str | None = None, period: str = "month") -> httpx.Response:
        return self.subscriptions.post(
            "/api/v1/subscriptions",
            json={"plan_id": plan_id, "period": period},
            headers={"Idempotency-Key": key or uuid.uuid4().hex},
        )

    def subscription(self, subscription_id: str) -> dict:
        response = self.subscriptions.get(f"/api/v1/subscriptions/{subscription_id}")
        assert response.status_code == 200, response.text
        return response.json()

    def payments(self) -> list[dict]:
        return self.billing.get("/api/v1/payments").json()["items"]

    def pay(self, stack: Any, purchase: dict, card: str = SUCCESS_CARD) -> dict:
        """Pay a purchase's link with `card` and wait until the result is applied (active or ended)."""
        stack.sandbox.confirm(purchase["payment"]["provider_payment_id"], card)
        return wait_until(
            lambda: (s := self.subscription(purchase["id"]))["status"] != "awaiting_payment" and s,
            message="the payment result to be applied",
        )

    def refund(self, subscription_id: str, key: str | None = None) -> httpx.Response:
        """Ask for the latest paid period's money back (202 with the refund, or the refusal)."""
        return self.subscriptions.post(
            f"/api/v1/subscriptions/{subscription_id}/refund",
            headers={"Idempotency-Key": key or uuid.uuid4().hex},
        )

    def subscribe(self, stack: Any, plan: dict, period: str = "month") -> dict:
        """Buy and pay with a good card: the active subscription, with the payment that bought it."""
        response = self.buy(plan["id"], period=period)
        assert response.status_code == 201, response.text
        purchase = response.json()
        active = self.pay(stack, purchase)
        assert active["status"] == "active", active
        return {**active, "payment": purchase["payment"]}


def create_plan(stack: Any, tokens: Any, **overrides: Any) -> dict:
    body = {
        "code": f"p{uuid.uuid4().hex[:10]}",
        "name": "Test Plan",
        "description": "",
        "price_month": "299.00",
        "price_year": "2990.00",
        **overrides,
    }
    response = httpx.post(
        f"{stack.subscriptions_url}/internal/v1/plans", headers=tokens.service_headers(), json=body
    )
    assert response.status_code == 201, response.text
    return response.json()


def mail_to(stack: Any, address: str) -> list[dict]:
    return httpx.get(f"{stack.mailbox_url}/api/messages", params={"to": address}).json()["items"]


def provider_refunds(stack: Any, refund_id: str | None = None) -> list[dict]:
    """Refunds really created at YooKassa (not replays), optionally for one of ours (its Idempotence-Key)."""
    filters: dict[str, Any] = {"operation": "refunds.create", "replayed": False, "http_status": 200}
    if refund_id:
        filters["idempotence_key"] = refund_id
    return list(stack.sandbox.journal(**filters))


def provider_refund(stack: Any, provider_refund_id: str) -> dict:
    """A refund as YooKassa's API answers it."""
    response = stack.sandbox.client.get(
        f"/v3/refunds/{provider_refund_id}", auth=(stack.sandbox.shop_id, stack.sandbox.secret_key)
    )
    assert response.status_code == 200, response.text
    return dict(response.json())
