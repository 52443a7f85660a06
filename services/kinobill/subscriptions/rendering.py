"""JSON bodies of the Subscriptions API, rendered from what the use cases return (`results.py`).

Only the routers call these: the service layer returns values and never shapes an HTTP body.
"""

from __future__ import annotations

from typing import Any

from kinobill.subscriptions.results import CardChangeStarted, Purchase, RefundStarted, SubscriptionView


def subscription_json(view: SubscriptionView) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": str(view.id),
        "user_id": str(view.user_id),
        "plan_id": str(view.plan_id),
        "period": view.period,
        "status": view.status,
        "ended_reason": view.ended_reason,
        "auto_renew": view.auto_renew,
        "current_period_start": view.current_period_start.isoformat() if view.current_period_start else None,
        "current_period_end": view.current_period_end.isoformat() if view.current_period_end else None,
        "created_at": view.created_at.isoformat(),
    }
    if view.plan_code:
        body["plan_code"] = view.plan_code
    return body


def purchase_json(purchase: Purchase) -> dict[str, Any]:
    """The subscription with its payment (`payment.confirmation_url` is where the buyer pays)."""
    return {**subscription_json(purchase.subscription), "payment": purchase.payment}


def refund_json(started: RefundStarted) -> dict[str, Any]:
    """Billing's refund with the subscription as it is now."""
    return {**started.refund, "subscription": subscription_json(started.subscription)}


def card_change_json(started: CardChangeStarted) -> dict[str, Any]:
    return {**started.change, "subscription": subscription_json(started.subscription)}
