"""HTTP adapter of Subscriptions for cancel and refund: the user's endpoints (JWT) and the internal
ones the admin uses (service token).

* `POST /api/v1/subscriptions/{id}/refund` (JWT, Idempotency-Key) → 202 the refund
  `{id, payment_id, subscription_id, amount, status, status_url, created_at, ..., subscription}`;
  `status_url` is Billing's `GET /api/v1/refunds/{id}`. Refusals (no provider call): 404
  `subscription_not_found` (not the caller's), 409 `nothing_paid`, `already_refunded`,
  `subscription_ended`, `refund_period_over`, and Billing's own 409s (`nothing_to_refund`,
  `payment_not_succeeded`, `period_mismatch`).
* `POST /api/v1/subscriptions/{id}/cancel` (JWT) → 200 the subscription, auto-renew off; twice is harmless.
* `POST /internal/v1/subscriptions/{id}/refund` (service token, Idempotency-Key) and
  `POST /internal/v1/subscriptions/{id}/cancel` (service token): the same for operators.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from kinobill.callers import AdminCaller
from kinobill.idempotency import request_fingerprint
from kinobill.subscriptions.bootstrap import cancellations, idempotency_store
from kinobill.subscriptions.rendering import refund_json, subscription_json
from kinobill.web import CurrentUser, IdempotencyKey, idempotent_response

user_router = APIRouter(prefix="/api/v1", tags=["user"])
internal_router = APIRouter(prefix="/internal/v1", tags=["internal"])


def _idempotent(scope: str, key: str, path: str, operation: Callable[[], tuple[int, Any]]) -> JSONResponse:
    return idempotent_response(
        idempotency_store(), scope, key, request_fingerprint("POST", path, {}), operation
    )


@user_router.post("/subscriptions/{subscription_id}/refund", status_code=202)
def refund_my_subscription(
    subscription_id: uuid.UUID, user: CurrentUser, key: IdempotencyKey
) -> JSONResponse:
    """Money back for the latest paid period: full in its first 7 days, prorated after."""
    scope = f"user:{user.user_id}"
    return _idempotent(
        scope,
        key,
        f"/api/v1/subscriptions/{subscription_id}/refund",
        lambda: (
            202,
            refund_json(
                cancellations().refund(
                    subscription_id, user_id=user.user_id, scope=scope, key=key, requested_by="user"
                )
            ),
        ),
    )


@user_router.post("/subscriptions/{subscription_id}/cancel")
def cancel_my_subscription(subscription_id: uuid.UUID, user: CurrentUser) -> dict:
    """Auto-renew off: access stays until the period ends."""
    return subscription_json(cancellations().cancel(subscription_id, user.user_id))


@internal_router.post("/subscriptions/{subscription_id}/refund", status_code=202)
def refund_subscription(
    subscription_id: uuid.UUID, service: AdminCaller, key: IdempotencyKey
) -> JSONResponse:
    scope = f"service:{service.name}"
    return _idempotent(
        scope,
        key,
        f"/internal/v1/subscriptions/{subscription_id}/refund",
        lambda: (
            202,
            refund_json(
                cancellations().refund(
                    subscription_id, user_id=None, scope=scope, key=key, requested_by="operator"
                )
            ),
        ),
    )


@internal_router.post("/subscriptions/{subscription_id}/cancel")
def cancel_subscription(subscription_id: uuid.UUID, _: AdminCaller) -> dict:
    return subscription_json(cancellations().cancel(subscription_id, None))
