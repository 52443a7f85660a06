"""JSON bodies of the Subscriptions API, rendered from what the use cases return (`results.py`).

Only the routers call these: the service layer returns values and never shapes an HTTP body.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from kinobill.pagination import Position, keyset_page
from kinobill.subscriptions.results import (
    CardChangeStarted,
    PlanView,
    Purchase,
    RefundStarted,
    SubscriptionView,
)
from kinobill.views import json_of


def subscription_json(view: SubscriptionView) -> dict[str, Any]:
    return json_of(view, omit_none=("plan_code",))


def plan_json(plan: PlanView) -> dict[str, Any]:
    return json_of(plan, money=("price_month", "price_year"))


def plans_page(
    cursor: str | None, limit: int, plans: Callable[[Position | None, int], Sequence[PlanView]]
) -> dict:
    """A page of plans (`pagination.keyset_page`): `plans(after, count)` lists them."""
    return keyset_page(cursor, limit, plans, plan_json)


def purchase_json(purchase: Purchase) -> dict[str, Any]:
    """The subscription with its payment (`payment.confirmation_url` is where the buyer pays)."""
    return {**subscription_json(purchase.subscription), "payment": purchase.payment}


def refund_json(started: RefundStarted) -> dict[str, Any]:
    """Billing's refund with the subscription as it is now."""
    return {**started.refund, "subscription": subscription_json(started.subscription)}


def card_change_json(started: CardChangeStarted) -> dict[str, Any]:
    return {**started.change, "subscription": subscription_json(started.subscription)}
