"""Fixtures for the money path: a plan on sale, a buyer, and clients for each service."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import httpx
import pytest


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


@pytest.fixture()
def plan(stack, tokens) -> dict:
    response = httpx.post(
        f"{stack.subscriptions_url}/internal/v1/plans",
        headers=tokens.service_headers(),
        json={
            "code": f"m{uuid.uuid4().hex[:10]}",
            "name": "Money Plan",
            "description": "",
            "price_month": "299.00",
            "price_year": "2990.00",
        },
    )
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture()
def buyer(stack, tokens):
    user_id = uuid.uuid4()
    email = f"{user_id.hex[:12]}@example.com"
    headers = tokens.user_headers(user_id, email)
    with (
        httpx.Client(base_url=stack.subscriptions_url, headers=headers, timeout=30) as subs,
        httpx.Client(base_url=stack.billing_url, headers=headers, timeout=30) as billing,
    ):
        yield Buyer(user_id, email, subs, billing)


def mail_to(stack, address: str) -> list[dict]:
    return httpx.get(f"{stack.mailbox_url}/api/messages", params={"to": address}).json()["items"]
