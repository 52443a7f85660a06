"""HTTP adapter of Billing for refunds: the internal create (service token + Idempotency-Key), the
user's view of a refund (its `status_url`), and the notification hook for `refund.*` events.

Contract of `POST /internal/v1/refunds` (202, the refund):

    {"subscription_id", "user_id", "period_index", "period_start", "period_end",
     "requested_by": "user" | "operator" | "system", "full": false, "payment_id": null}

Billing refunds the succeeded payment of `period_index`, which must be the subscription's latest paid
period (else 409 `period_mismatch`), by the rule over `[period_start, period_end)` at the test-clock-aware
now. `full: true` (with `payment_id`, `requested_by: system`) returns a payment whole: for late payments.
Refusals are 4xx before any provider call: 404 `payment_not_found` (not the user's), 409 `nothing_paid`,
`payment_not_succeeded`, `nothing_to_refund` (already refunded in full), `refund_period_over`.
"""

from __future__ import annotations

import uuid
from typing import Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import StrictBool, model_validator
from pydantic_core import PydanticCustomError

from kinobill import keys
from kinobill.billing.bootstrap import refund_service
from kinobill.billing.refunds import RefundRequest
from kinobill.billing.rendering import refund_json
from kinobill.callers import SubscriptionsCaller
from kinobill.errors import InvalidRequest, NotFound
from kinobill.fields import Instant, Int4
from kinobill.web import CurrentUser, IdempotencyKey, StrictModel

internal_router = APIRouter(prefix="/internal/v1", tags=["internal"])
user_router = APIRouter(prefix="/api/v1", tags=["user"])


class RefundCreate(StrictModel):
    subscription_id: uuid.UUID
    user_id: uuid.UUID
    period_index: Int4
    period_start: Instant | None = None
    period_end: Instant | None = None
    requested_by: Literal["user", "operator", "system"] = "user"
    full: StrictBool = False
    payment_id: uuid.UUID | None = None

    @model_validator(mode="after")
    def _period_in_order(self) -> RefundCreate:
        if self.period_start and self.period_end and self.period_end <= self.period_start:
            # Its own error type: a rule between two fields, which the JSON Schema of the body cannot state.
            raise PydanticCustomError("period_order", "period_end must be after period_start")
        return self


@internal_router.post("/refunds", status_code=202)
def create_refund(body: RefundCreate, service: SubscriptionsCaller, key: IdempotencyKey) -> JSONResponse:
    """Refund the latest paid period by the rule (row first, then YooKassa). The key is the refund key."""
    if body.full:
        if body.requested_by != "system" or body.payment_id is None:
            raise InvalidRequest(
                "full_refund_not_allowed", "a full refund is for system requests naming a payment"
            )
    elif body.period_start is None or body.period_end is None:
        raise InvalidRequest("period_required", "period_start and period_end are required")
    request = RefundRequest(
        subscription_id=body.subscription_id,
        user_id=body.user_id,
        refund_key=keys.of_caller(service.name, key),
        period_index=body.period_index,
        period_start=body.period_start,
        period_end=body.period_end,
        requested_by=body.requested_by,
        full=body.full,
        payment_id=body.payment_id,
    )

    # The refund key makes this naturally idempotent: insert-or-get under the payment lock, then the same
    # Idempotence-Key at YooKassa. A retry (same key) answers the refund as it is now, and finishes it if
    # a crash left it unsent; the same key for another subscription is 422 `refund_key_reused`.
    return JSONResponse(refund_json(refund_service().create(request)), status_code=202)


@internal_router.get("/refunds/{refund_id}")
def get_refund_internal(refund_id: uuid.UUID, _: SubscriptionsCaller) -> dict:
    refund = refund_service().get(refund_id)
    if refund is None:
        raise NotFound("refund_not_found", "no such refund")
    return refund_json(refund)


@user_router.get("/refunds")
def list_my_refunds(user: CurrentUser) -> dict:
    return {
        "items": [refund_json(r) for r in refund_service().list_for_user(user.user_id)],
        "next_cursor": None,
    }


@user_router.get("/refunds/{refund_id}")
def get_my_refund(refund_id: uuid.UUID, user: CurrentUser) -> dict:
    """Where the user follows a refund: amount, status and times."""
    refund = refund_service().get(refund_id)
    if refund is None or refund.user_id != user.user_id:
        raise NotFound("refund_not_found", "no such refund")
    return refund_json(refund)
