"""What the Subscriptions use cases answer: values, not JSON.

`PlanCatalogue`, `Purchases`, `Cancellations` and `CardChanges` return these; the routers render them
(`subscriptions/rendering.py`), so the service layer neither knows nor shapes the HTTP body. Billing's
answers (a payment, a refund, a card change) come through as the Billing client gives them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kinobill.views import view_of


@dataclass(frozen=True)
class SubscriptionView:
    """A subscription as its owner sees it."""

    id: uuid.UUID
    user_id: uuid.UUID
    plan_id: uuid.UUID
    period: str
    status: str
    ended_reason: str | None
    auto_renew: bool
    current_period_start: datetime | None
    current_period_end: datetime | None
    created_at: datetime
    plan_code: str | None = None

    @classmethod
    def of(cls, record: Any, plan_code: str | None = None) -> SubscriptionView:
        """From a subscription row or entity (`plan_code` when the row has none: a list joins it)."""
        return view_of(
            cls,
            record,
            period=str(record.period),
            status=str(record.status),
            ended_reason=str(record.ended_reason) if record.ended_reason else None,
            plan_code=plan_code or getattr(record, "plan_code", None),
        )


@dataclass(frozen=True)
class PlanView:
    """A plan of the catalogue (prices in kopecks)."""

    id: uuid.UUID
    code: str
    name: str
    description: str
    price_month: int
    price_year: int
    currency: str
    sale_start: datetime
    sale_end: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: Any) -> PlanView:
        return view_of(cls, row)


@dataclass(frozen=True)
class Purchase:
    """A subscription awaiting (or past) payment and its one initial payment at Billing."""

    subscription: SubscriptionView
    payment: dict[str, Any]


@dataclass(frozen=True)
class RefundStarted:
    """Billing's refund of the latest paid period and the subscription as it is after it."""

    refund: dict[str, Any]
    subscription: SubscriptionView


@dataclass(frozen=True)
class CardChangeStarted:
    """Billing's card change (the link where the user enters the new card) for the subscription."""

    change: dict[str, Any]
    subscription: SubscriptionView
