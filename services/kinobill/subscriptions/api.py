"""HTTP adapter of the Subscriptions service: user API (JWT) and internal API (service token)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse
from pydantic import Field, StrictStr, field_validator

from kinobill.callers import AdminCaller, BillingCaller
from kinobill.domain.addresses import RETURN_URL_PATTERN
from kinobill.domain.errors import DomainError
from kinobill.domain.money import parse_rub
from kinobill.domain.periods import BillingPeriod
from kinobill.domain.plans import PLAN_CODE_PATTERN, PLAN_PRICE_PATTERN
from kinobill.fields import Instant, Int4, Kopecks, ProviderId, ShortText
from kinobill.idempotency import request_fingerprint
from kinobill.messages import PaymentSettled
from kinobill.pagination import keyset_page
from kinobill.runtime import get_runtime
from kinobill.security import UserPrincipal
from kinobill.subscriptions.bootstrap import billing_client, catalogue, idempotency_store, purchases
from kinobill.subscriptions.confirmed_results import PaymentResultNotConfirmed, confirmed_result
from kinobill.subscriptions.plans import PlanInput
from kinobill.subscriptions.rendering import plan_json, plans_page, purchase_json, subscription_json
from kinobill.web import ApiError, CurrentUser, IdempotencyKey, StrictModel, idempotent_response

Limit = Annotated[int, Query(ge=1, le=100)]


Money = Annotated[
    StrictStr,
    Field(
        max_length=32,
        pattern=PLAN_PRICE_PATTERN,
        examples=["299.00"],
        description="RUB, 1.00 to 9999999.99, at most two decimals",
    ),
]
PlanCode = Annotated[StrictStr, Field(min_length=2, max_length=32, pattern=PLAN_CODE_PATTERN)]


class PlanCreate(StrictModel):
    code: PlanCode
    name: Annotated[StrictStr, Field(min_length=1, max_length=200)]
    description: Annotated[StrictStr, Field(max_length=5000)] = ""
    price_month: Money
    price_year: Money
    currency: Literal["RUB"] = "RUB"  # only RUB is supported
    sale_start: Instant | None = None
    sale_end: Instant | None = None

    @field_validator("price_month", "price_year")
    @classmethod
    def _money(cls, value: str | None) -> str | None:
        if value is None:  # a PATCH may send null: "leave it"
            return value
        try:
            parse_rub(value)
        except DomainError as exc:  # reported by pydantic with the field's name
            raise ValueError(str(exc)) from exc
        return value


class PlanUpdate(StrictModel):
    code: PlanCode | None = None
    name: Annotated[StrictStr, Field(min_length=1, max_length=200)] | None = None
    description: Annotated[StrictStr, Field(max_length=5000)] | None = None
    price_month: Money | None = None
    price_year: Money | None = None
    sale_start: Instant | None = None
    sale_end: Instant | None = None

    _money = field_validator("price_month", "price_year")(PlanCreate._money.__func__)  # type: ignore[attr-defined]


user_router = APIRouter(prefix="/api/v1", tags=["user"])
internal_router = APIRouter(prefix="/internal/v1", tags=["internal"])


@user_router.get("/plans")
def list_plans_on_sale(_: CurrentUser, cursor: str | None = None, limit: Limit = 50) -> dict:
    """Plans purchasable now (inside their sale window)."""
    plans = catalogue()
    return plans_page(
        cursor, limit, lambda after, count: plans.list(on_sale_only=True, after=after, limit=count)
    )


@internal_router.get("/plans")
def list_all_plans(_: AdminCaller, cursor: str | None = None, limit: Limit = 50) -> dict:
    plans = catalogue()
    return plans_page(
        cursor, limit, lambda after, count: plans.list(on_sale_only=False, after=after, limit=count)
    )


@internal_router.post("/plans", status_code=201)
def create_plan(body: PlanCreate, _: AdminCaller) -> dict:
    start: datetime = body.sale_start or get_runtime().clock.now()
    return plan_json(
        catalogue().create(
            PlanInput(
                code=body.code,
                name=body.name,
                description=body.description,
                price_month=parse_rub(body.price_month),
                price_year=parse_rub(body.price_year),
                sale_start=start,
                sale_end=body.sale_end,
            )
        )
    )


@internal_router.get("/plans/{plan_id}")
def get_plan(plan_id: uuid.UUID, _: AdminCaller) -> dict:
    return plan_json(catalogue().get(plan_id))


@internal_router.patch("/plans/{plan_id}")
def update_plan(plan_id: uuid.UUID, body: PlanUpdate, _: AdminCaller) -> dict:
    changes = body.model_dump(exclude_unset=True)
    for required in ("code", "name", "description", "price_month", "price_year", "sale_start"):
        if required in changes and changes[required] is None:
            changes.pop(required)
    for price in ("price_month", "price_year"):
        if price in changes:
            changes[price] = parse_rub(changes[price])
    return plan_json(catalogue().update(plan_id, changes))


@internal_router.post("/plans/{plan_id}/end-sale")
def end_plan_sale(plan_id: uuid.UUID, _: AdminCaller) -> dict:
    """Take the plan off sale now. Existing subscriptions are not touched."""
    return plan_json(catalogue().end_sale(plan_id))


@internal_router.delete("/plans/{plan_id}", status_code=204)
def delete_plan(plan_id: uuid.UUID, _: AdminCaller) -> Response:
    catalogue().delete(plan_id)
    return Response(status_code=204)


# --- subscriptions ----------------------------------------------------------------------------


ReturnUrl = Annotated[StrictStr, Field(max_length=2048, pattern=RETURN_URL_PATTERN)]


class SubscriptionCreate(StrictModel):
    plan_id: uuid.UUID
    period: Literal["month", "year"]
    return_url: ReturnUrl | None = None


class PayRequest(StrictModel):
    return_url: ReturnUrl | None = None


def _idempotent(
    user: UserPrincipal, key: str, path: str, body: Any, operation: Callable[[], tuple[int, Any]]
) -> JSONResponse:
    return idempotent_response(
        idempotency_store(), f"user:{user.user_id}", key, request_fingerprint("POST", path, body), operation
    )


@user_router.post("/subscriptions", status_code=201)
def buy_subscription(body: SubscriptionCreate, user: CurrentUser, key: IdempotencyKey) -> JSONResponse:
    """Buy: a subscription awaiting payment and the link to pay for it."""
    return _idempotent(
        user,
        key,
        "/api/v1/subscriptions",
        body.model_dump(mode="json"),
        lambda: (
            201,
            purchase_json(
                purchases().buy(
                    user_id=user.user_id,
                    email=user.email,
                    locale=user.locale,
                    zoneinfo=user.zoneinfo,
                    plan_id=body.plan_id,
                    period=BillingPeriod(body.period),
                    return_url=body.return_url,
                    key=key,
                )
            ),
        ),
    )


@user_router.get("/subscriptions")
def list_my_subscriptions(user: CurrentUser, cursor: str | None = None, limit: Limit = 50) -> dict:
    service = purchases()
    return keyset_page(
        cursor,
        limit,
        lambda before, count: service.list(user.user_id, before=before, limit=count),
        subscription_json,
    )


@user_router.get("/subscriptions/{subscription_id}")
def get_my_subscription(subscription_id: uuid.UUID, user: CurrentUser) -> dict:
    return subscription_json(purchases().get(user.user_id, subscription_id))


@user_router.post("/subscriptions/{subscription_id}/pay")
def pay_for_subscription(
    subscription_id: uuid.UUID, user: CurrentUser, key: IdempotencyKey, body: PayRequest | None = None
) -> JSONResponse:
    """The payment link for a subscription awaiting payment."""
    return_url = body.return_url if body else None
    return _idempotent(
        user,
        key,
        f"/api/v1/subscriptions/{subscription_id}/pay",
        {"return_url": return_url},
        lambda: (
            200,
            purchase_json(
                purchases().pay(user_id=user.user_id, subscription_id=subscription_id, return_url=return_url)
            ),
        ),
    )


class PaymentResult(StrictModel):
    type: Literal["payment.succeeded", "payment.canceled"]
    payment_id: uuid.UUID
    subscription_id: uuid.UUID
    user_id: uuid.UUID
    user_email: Annotated[StrictStr, Field(max_length=320)] | None = None
    period_index: Int4
    kind: Literal["initial", "renewal"]
    attempt: Int4 = 0
    amount: Kopecks
    paid_at: Instant | None = None
    payment_method_id: ProviderId | None = None
    reason: ShortText | None = None


@internal_router.post("/payment-results")
def apply_payment_result(body: PaymentResult, _: BillingCaller) -> dict:
    """The result the stream carries (`messages.PaymentSettled`, with bounded fields here), applied as
    Billing confirms it; applying it twice changes nothing."""
    result = body.model_dump(mode="json")
    try:
        confirmed = confirmed_result(result, billing_client().payment(result["payment_id"]))
    except PaymentResultNotConfirmed as exc:
        raise ApiError(409, exc.code, str(exc)) from exc
    return {"outcome": purchases().apply_payment_result(PaymentSettled.from_json(confirmed))}
