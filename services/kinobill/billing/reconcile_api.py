"""Operators' "re-run reconciliation now" for one subscription: ask YooKassa about everything unsettled."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from kinobill.billing.bootstrap import payment_service, refund_service
from kinobill.callers import AdminCaller
from kinobill.web import StrictModel

internal_router = APIRouter(prefix="/internal/v1", tags=["internal"])


class ReconcileRequest(StrictModel):
    subscription_id: uuid.UUID


@internal_router.post("/reconcile")
def reconcile_subscription(body: ReconcileRequest, _: AdminCaller) -> dict:
    """Drive this subscription's pending payments and refunds to a final state now, if YooKassa knows it."""
    payment_svc, refund_svc = payment_service(), refund_service()
    payments = payment_svc.pending_of(body.subscription_id)
    refunds = refund_svc.pending_of(body.subscription_id)
    settled_payments = sum(1 for p in payments if payment_svc.reconcile_payment(p))
    settled_refunds = sum(1 for r in refunds if refund_svc.reconcile_refund(r))
    return {
        "subscription_id": str(body.subscription_id),
        "pending_payments": len(payments),
        "settled_payments": settled_payments,
        "pending_refunds": len(refunds),
        "settled_refunds": settled_refunds,
    }
