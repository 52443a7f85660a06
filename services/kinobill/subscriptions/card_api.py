"""HTTP adapter of Subscriptions for changing the card of a subscription.

`POST /api/v1/subscriptions/{id}/payment-method` (JWT, Idempotency-Key, optional `{"return_url"}`) →
201 `{id, subscription_id, status: "pending", confirmation_url, ..., subscription}`: the user opens
`confirmation_url` (YooKassa's page) and enters the new card; once YooKassa reports the method active the
subscription renews with it (a declined renewal is retried with it at once). 404 `subscription_not_found`
for another user's subscription, 409 `subscription_not_active`; a replay returns the first answer.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from kinobill.subscriptions.api import PayRequest, _idempotent
from kinobill.subscriptions.bootstrap import card_changes
from kinobill.subscriptions.rendering import card_change_json
from kinobill.web import CurrentUser, IdempotencyKey

user_router = APIRouter(prefix="/api/v1", tags=["user"])


@user_router.post("/subscriptions/{subscription_id}/payment-method", status_code=201)
def change_my_card(
    subscription_id: uuid.UUID, user: CurrentUser, key: IdempotencyKey, body: PayRequest | None = None
) -> JSONResponse:
    """A link where the user enters a new card for this subscription's renewals."""
    return_url = body.return_url if body else None
    return _idempotent(
        user,
        key,
        f"/api/v1/subscriptions/{subscription_id}/payment-method",
        {"return_url": return_url},
        lambda: (
            201,
            card_change_json(
                card_changes().request(
                    subscription_id,
                    user_id=user.user_id,
                    scope=f"user:{user.user_id}",
                    key=key,
                    return_url=return_url,
                )
            ),
        ),
    )
