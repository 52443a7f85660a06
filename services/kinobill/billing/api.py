"""HTTP adapter of Billing: internal payment creation, the user's payment history, YooKassa webhooks."""

from __future__ import annotations

import uuid
from functools import lru_cache
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import Field, StrictStr

from kinobill import keys
from kinobill.billing.bootstrap import notification_handler, payment_service
from kinobill.billing.payments import NewPayment
from kinobill.billing.rendering import payment_json
from kinobill.billing.webhooks import SourceFilter, parse_networks
from kinobill.callers import SubscriptionsCaller
from kinobill.config import Environment
from kinobill.domain.addresses import RETURN_URL_PATTERN
from kinobill.domain.statuses import PaymentKind
from kinobill.errors import InvalidRequest, NotFound
from kinobill.fields import Int4, Kopecks, ProviderId, loads_storable
from kinobill.i18n.locales import supported_locale, valid_zone
from kinobill.pagination import keyset_page
from kinobill.runtime import get_runtime
from kinobill.web import CurrentUser, IdempotencyKey, StrictModel, error_response


@lru_cache(maxsize=1)
def source_filter() -> SourceFilter:
    s = get_runtime().settings
    allowed = parse_networks(s.yookassa_webhook_networks)
    if s.kinobill_env != Environment.PRODUCTION:
        allowed += parse_networks("127.0.0.0/8,::1/128")  # the local sandbox
    return SourceFilter(allowed, parse_networks(s.trusted_proxies))


internal_router = APIRouter(prefix="/internal/v1", tags=["internal"])
user_router = APIRouter(prefix="/api/v1", tags=["user"])
webhook_router = APIRouter(tags=["provider"])


class PaymentCreate(StrictModel):
    subscription_id: uuid.UUID
    user_id: uuid.UUID
    user_email: Annotated[StrictStr, Field(max_length=320)] | None = None
    period_index: Int4
    kind: Literal["initial", "renewal"]
    attempt: Int4 = 0
    amount: Kopecks  # integer kopecks, as every internal boundary carries money
    description: Annotated[StrictStr, Field(max_length=128)] = ""
    return_url: Annotated[StrictStr, Field(max_length=2048, pattern=RETURN_URL_PATTERN)] | None = None
    payment_method_id: ProviderId | None = None
    # The user's language and time zone for Billing's e-mails (docs/i18n.md); unsupported values are
    # ignored (the deployment's defaults apply), as with the Auth token's claims they come from.
    locale: Annotated[StrictStr, Field(max_length=64, examples=["ru"])] | None = None
    zoneinfo: Annotated[StrictStr, Field(max_length=64, examples=["Europe/Moscow"])] | None = None


@internal_router.post("/payments", status_code=201)
def create_payment(body: PaymentCreate, service: SubscriptionsCaller, key: IdempotencyKey) -> JSONResponse:
    """Create a payment (row first, then YooKassa). The Idempotency-Key is also the charge key."""
    if body.kind == "renewal" and not body.payment_method_id:
        raise InvalidRequest("payment_method_required", "a renewal charges a saved payment method")
    amount = body.amount
    if amount <= 0:
        raise InvalidRequest("invalid_amount", "amount must be positive")
    request = NewPayment(
        subscription_id=body.subscription_id,
        user_id=body.user_id,
        user_email=body.user_email,
        locale=supported_locale(body.locale),
        zoneinfo=valid_zone(body.zoneinfo),
        period_index=body.period_index,
        kind=PaymentKind(body.kind),
        attempt=body.attempt,
        charge_key=keys.of_caller(service.name, key),
        amount=amount,
        description=body.description,
        return_url=body.return_url,
        payment_method_id=body.payment_method_id,
    )
    # The charge key makes this naturally idempotent (insert-or-get, then the same Idempotence-Key at
    # YooKassa), so a crash anywhere leaves nothing a retry cannot finish: no separate key lock needed.
    return JSONResponse(payment_json(payment_service().create(request)), status_code=201)


@internal_router.get("/payments")
def list_payments_of_subscription(subscription_id: uuid.UUID, _: SubscriptionsCaller) -> dict:
    """Every payment of one subscription, newest first (what Subscriptions' reconciler asks)."""
    payments = payment_service().list_for_subscription(subscription_id)
    return {"items": [payment_json(p) for p in payments], "next_cursor": None}


@internal_router.get("/payment-results")
def payment_results_of_subscription(subscription_id: uuid.UUID, _: SubscriptionsCaller) -> dict:
    """The result events of a subscription's final payments, as the stream carries them (Subscriptions'
    backstop asks when an event may have been lost with Redis' data)."""
    return {"items": payment_service().results_of(subscription_id)}


@internal_router.get("/payments/{payment_id}")
def get_payment_internal(payment_id: uuid.UUID, _: SubscriptionsCaller) -> dict:
    payment = payment_service().get(payment_id)
    if payment is None:
        raise NotFound("payment_not_found", "no such payment")
    return payment_json(payment)


@user_router.get("/payments")
def list_my_payments(
    user: CurrentUser, cursor: str | None = None, limit: Annotated[int, Query(ge=1, le=100)] = 20
) -> dict:
    """The caller's payment history, newest first."""
    service = payment_service()
    return keyset_page(
        cursor,
        limit,
        lambda before, count: service.list_for_user(user.user_id, before=before, limit=count),
        payment_json,
    )


@user_router.get("/payments/{payment_id}")
def get_my_payment(payment_id: uuid.UUID, user: CurrentUser) -> dict:
    payment = payment_service().get(payment_id)
    if payment is None or payment.user_id != user.user_id:
        raise NotFound("payment_not_found", "no such payment")
    return payment_json(payment)


@webhook_router.post("/webhooks/yookassa", include_in_schema=False)
async def yookassa_notification(request: Request) -> JSONResponse:
    filt = source_filter()
    peer = request.client.host if request.client else ""
    address = filt.client_address(peer, request.headers.get("x-forwarded-for"))
    if not filt.allows(address):
        return error_response(403, "forbidden", "notifications are accepted only from YooKassa's networks")
    try:
        body = loads_storable(await request.body())
    except ValueError as exc:
        return error_response(400, "invalid_json", f"the body is not acceptable JSON: {exc}")
    from starlette.concurrency import run_in_threadpool

    status, outcome = await run_in_threadpool(notification_handler().handle, body, address)
    return JSONResponse({"outcome": outcome}, status_code=status)
