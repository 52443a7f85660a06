"""JSON bodies of Billing's API, rendered from what its use cases return (`results.py`).

Only the routers call these: the service layer returns values and never shapes an HTTP body.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kinobill.billing.results import CardChangeView, PaymentView, RefundView
from kinobill.domain.money import format_rub


def _moment(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def payment_json(payment: PaymentView) -> dict[str, Any]:
    return {
        "id": str(payment.id),
        "subscription_id": str(payment.subscription_id),
        "user_id": str(payment.user_id),
        "period_index": payment.period_index,
        "kind": payment.kind,
        "amount": format_rub(payment.amount),
        "currency": payment.currency,
        "status": payment.status,
        "confirmation_url": payment.confirmation_url,
        "provider_payment_id": payment.provider_payment_id,
        "payment_method_id": payment.payment_method_id,
        "cancellation_reason": payment.cancellation_reason,
        "receipt_registration": payment.receipt_registration,
        "created_at": payment.created_at.isoformat(),
        "paid_at": _moment(payment.paid_at),
    }


def refund_json(refund: RefundView) -> dict[str, Any]:
    return {
        "id": str(refund.id),
        "payment_id": str(refund.payment_id),
        "subscription_id": str(refund.subscription_id),
        "user_id": str(refund.user_id),
        "amount": format_rub(refund.amount),
        "currency": refund.currency,
        "status": refund.status,
        "status_url": refund.status_url,
        "provider_refund_id": refund.provider_refund_id,
        "cancellation_reason": refund.cancellation_reason,
        "created_at": refund.created_at.isoformat(),
        "updated_at": refund.updated_at.isoformat(),
        "succeeded_at": _moment(refund.succeeded_at),
    }


def card_change_json(change: CardChangeView) -> dict[str, Any]:
    return {
        "id": str(change.id),
        "subscription_id": str(change.subscription_id),
        "status": change.status,
        "confirmation_url": change.confirmation_url,
        "payment_method_id": change.payment_method_id,
        "card": change.card,
        "created_at": change.created_at.isoformat(),
        "activated_at": _moment(change.activated_at),
    }
