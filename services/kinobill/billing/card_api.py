"""HTTP adapter of Billing for card changes (Subscriptions asks; the user confirms at YooKassa).

* `POST /internal/v1/card-changes` (Subscriptions' service token, Idempotency-Key) → 201 `{id,
  subscription_id, status, confirmation_url, payment_method_id, card, created_at, activated_at}`: a YooKassa
  payment method with a redirect confirmation. The key is the request's: a repeat returns the same change
  and link.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import Field, StrictStr

from kinobill.billing.bootstrap import card_change_service
from kinobill.billing.card_changes import NewCardChange
from kinobill.billing.rendering import card_change_json
from kinobill.callers import SubscriptionsCaller
from kinobill.web import IdempotencyKey, StrictModel

internal_router = APIRouter(prefix="/internal/v1", tags=["internal"])


class CardChangeCreate(StrictModel):
    subscription_id: uuid.UUID
    user_id: uuid.UUID
    user_email: Annotated[StrictStr, Field(max_length=320)] | None = None
    return_url: Annotated[StrictStr, Field(max_length=2048)] | None = None


@internal_router.post("/card-changes", status_code=201)
def create_card_change(
    body: CardChangeCreate, service: SubscriptionsCaller, key: IdempotencyKey
) -> JSONResponse:
    """Start replacing a subscription's saved card: the link where the user enters the new one."""
    change = card_change_service().start(
        NewCardChange(
            subscription_id=body.subscription_id,
            user_id=body.user_id,
            user_email=body.user_email,
            request_key=f"{service.name}:{key}",
            return_url=body.return_url,
        )
    )
    return JSONResponse(card_change_json(change), status_code=201)
