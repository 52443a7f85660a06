"""Helpers for the refund tests: a paid subscription, a refund request, what YooKassa recorded."""

from __future__ import annotations

import uuid
from datetime import datetime

import httpx

from shop import Buyer


def pay(stack, buyer: Buyer, plan: dict) -> dict:
    """Buy, pay with a test card, wait until active: the subscription with its payment."""
    return buyer.subscribe(stack, plan)


def refund(buyer: Buyer, subscription_id: str, key: str | None = None) -> httpx.Response:
    return buyer.subscriptions.post(
        f"/api/v1/subscriptions/{subscription_id}/refund",
        headers={"Idempotency-Key": key or uuid.uuid4().hex},
    )


def provider_refunds(stack, refund_id: str | None = None) -> list[dict]:
    """Refunds really created at YooKassa (not replays), optionally for one of ours (its Idempotence-Key)."""
    filters = {"operation": "refunds.create", "replayed": False, "http_status": 200}
    if refund_id:
        filters["idempotence_key"] = refund_id
    return stack.sandbox.journal(**filters)


def provider_refund(stack, provider_refund_id: str) -> dict:
    response = stack.sandbox.client.get(
        f"/v3/refunds/{provider_refund_id}", auth=(stack.sandbox.shop_id, stack.sandbox.secret_key)
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)
