"""What Billing's use cases answer: values, not JSON.

`PaymentService`, `RefundService` and `CardChangeService` return these; the routers render them
(`billing/rendering.py`) and the charge consumer reads them, so the service layer never shapes an HTTP
body. Money is integer kopecks here; the rendering writes it as YooKassa's RUB strings.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kinobill.domain.statuses import PaymentStatus
from kinobill.views import view_of


@dataclass(frozen=True)
class PaymentView:
    id: uuid.UUID
    subscription_id: uuid.UUID
    user_id: uuid.UUID
    period_index: int
    kind: str
    amount: int
    currency: str
    status: str
    confirmation_url: str | None  # where the buyer pays, while the payment is pending
    provider_payment_id: str | None
    payment_method_id: str | None  # the method it saved, or the one it charged
    cancellation_reason: str | None
    receipt_registration: str | None
    created_at: datetime
    paid_at: datetime | None

    @classmethod
    def of(cls, row: Any) -> PaymentView:
        return view_of(
            cls,
            row,
            confirmation_url=row.confirmation_url if row.status == PaymentStatus.PENDING else None,
            payment_method_id=row.saved_payment_method_id or row.payment_method_id,
        )


@dataclass(frozen=True)
class RefundView:
    id: uuid.UUID
    payment_id: uuid.UUID
    subscription_id: uuid.UUID
    user_id: uuid.UUID
    amount: int
    currency: str
    status: str
    status_url: str  # where the user follows it
    provider_refund_id: str | None
    cancellation_reason: str | None
    created_at: datetime
    updated_at: datetime
    succeeded_at: datetime | None

    @classmethod
    def of(cls, row: Any, public_url: str) -> RefundView:
        return view_of(cls, row, status_url=f"{public_url.rstrip('/')}/api/v1/refunds/{row.id}")


@dataclass(frozen=True)
class CardChangeView:
    id: uuid.UUID
    subscription_id: uuid.UUID
    status: str
    confirmation_url: str | None  # where the user enters the new card, while pending
    payment_method_id: str | None  # the new saved method, once active
    card: str | None
    created_at: datetime
    activated_at: datetime | None

    @classmethod
    def of(cls, row: Any) -> CardChangeView:
        return view_of(
            cls,
            row,
            confirmation_url=row.confirmation_url if row.status == "pending" else None,
            payment_method_id=row.provider_method_id if row.status == "active" else None,
            card=row.card_title,
        )


@dataclass(frozen=True)
class OperatorTaskView:
    id: int
    kind: str
    object_type: str  # payment | refund
    object_id: str
    detail: str
    created_at: datetime
    resolved_at: datetime | None
    resolved_by: str | None
    resolution_note: str | None

    @classmethod
    def of(cls, row: Any) -> OperatorTaskView:
        return view_of(cls, row)
