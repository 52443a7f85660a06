"""Subscriptions bought through the real purchase flow: Subscriptions → Billing → YooKassa sandbox →
webhook → activation, as tests/money/test_purchase_flow.py does it."""

from __future__ import annotations

from typing import Any

from shop import SUCCESS_CARD
from support import wait_until


def bought(
    stack: Any, plan: dict[str, Any], buyer: Any, *, confirm: bool = True, drop_webhook: bool = False
) -> dict[str, Any]:
    """A subscription through the real purchase flow: buy, pay in the sandbox, wait until it is active.

    drop_webhook: YooKassa's notification is lost, so our side still has the payment pending.
    """
    purchase = buyer.buy(plan["id"])
    assert purchase.status_code == 201, purchase.text
    body = purchase.json()
    if confirm:
        if drop_webhook:
            stack.sandbox.add_fault("webhook_drop", endpoint="*", count=1)
        stack.sandbox.confirm(body["payment"]["provider_payment_id"], SUCCESS_CARD)
        if not drop_webhook:
            wait_until(lambda: buyer.subscription(body["id"])["status"] == "active", message="activation")
    return {
        "id": body["id"],
        "email": buyer.email,
        "user_id": str(buyer.user_id),
        "payment_id": body["payment"]["id"],
        "provider_payment_id": body["payment"]["provider_payment_id"],
        "amount": body["payment"]["amount"],
    }
