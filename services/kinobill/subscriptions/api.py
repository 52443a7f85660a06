"""HTTP adapter of the Subscriptions service: user API (JWT) and internal API (service token)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import AwareDatetime, Field, StrictStr, field_validator

from kinobill.domain.errors import DomainError
from kinobill.domain.money import parse_rub
from kinobill.runtime import get_runtime
from kinobill.subscriptions.plans import PlanCatalogue, PlanInput
from kinobill.subscriptions.repository import SubscriptionsUnitOfWork
from kinobill.web import CurrentService, CurrentUser, StrictModel

Limit = Annotated[int, Query(ge=1, le=100)]


def catalogue() -> PlanCatalogue:
    runtime = get_runtime()
    return PlanCatalogue(lambda: SubscriptionsUnitOfWork(runtime.engine), runtime.clock.now)


Money = Annotated[StrictStr, Field(examples=["299.00"], description="RUB with at most two decimals")]


class PlanCreate(StrictModel):
    code: Annotated[StrictStr, Field(min_length=2, max_length=32)]
    name: Annotated[StrictStr, Field(min_length=1, max_length=200)]
    description: Annotated[StrictStr, Field(max_length=5000)] = ""
    price_month: Money
    price_year: Money
    currency: StrictStr = "RUB"
    sale_start: AwareDatetime | None = None
    sale_end: AwareDatetime | None = None

    @field_validator("currency")
    @classmethod
    def _rub_only(cls, value: str) -> str:
        if value != "RUB":
            raise ValueError("only RUB is supported")
        return value

    @field_validator("price_month", "price_year")
    @classmethod
    def _money(cls, value: str) -> str:
        try:
            parse_rub(value)
        except DomainError as exc:  # reported by pydantic with the field's name
            raise ValueError(str(exc)) from exc
        return value


class PlanUpdate(StrictModel):
    code: Annotated[StrictStr, Field(min_length=2, max_length=32)] | None = None
    name: Annotated[StrictStr, Field(min_length=1, max_length=200)] | None = None
    description: Annotated[StrictStr, Field(max_length=5000)] | None = None
    price_month: Money | None = None
    price_year: Money | None = None
    sale_start: AwareDatetime | None = None
    sale_end: AwareDatetime | None = None

    _money = field_validator("price_month", "price_year")(PlanCreate._money.__func__)  # type: ignore[attr-defined]


user_router = APIRouter(prefix="/api/v1", tags=["user"])
internal_router = APIRouter(prefix="/internal/v1", tags=["internal"])


@user_router.get("/plans")
def list_plans_on_sale(_: CurrentUser, cursor: str | None = None, limit: Limit = 50) -> dict:
    """Plans purchasable now (inside their sale window)."""
    return catalogue().list(on_sale_only=True, cursor=cursor, limit=limit)


@internal_router.get("/plans")
def list_all_plans(_: CurrentService, cursor: str | None = None, limit: Limit = 50) -> dict:
    return catalogue().list(on_sale_only=False, cursor=cursor, limit=limit)


@internal_router.post("/plans", status_code=201)
def create_plan(body: PlanCreate, _: CurrentService) -> dict:
    start: datetime = body.sale_start or get_runtime().clock.now()
    return catalogue().create(
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


@internal_router.get("/plans/{plan_id}")
def get_plan(plan_id: uuid.UUID, _: CurrentService) -> dict:
    return catalogue().get(plan_id)


@internal_router.patch("/plans/{plan_id}")
def update_plan(plan_id: uuid.UUID, body: PlanUpdate, _: CurrentService) -> dict:
    changes = body.model_dump(exclude_unset=True)
    for required in ("code", "name", "description", "price_month", "price_year", "sale_start"):
        if required in changes and changes[required] is None:
            changes.pop(required)
    for price in ("price_month", "price_year"):
        if price in changes:
            changes[price] = parse_rub(changes[price])
    return catalogue().update(plan_id, changes)


@internal_router.post("/plans/{plan_id}/end-sale")
def end_plan_sale(plan_id: uuid.UUID, _: CurrentService) -> dict:
    """Take the plan off sale now. Existing subscriptions are not touched."""
    return catalogue().end_sale(plan_id)


@internal_router.delete("/plans/{plan_id}", status_code=204)
def delete_plan(plan_id: uuid.UUID, _: CurrentService) -> Response:
    catalogue().delete(plan_id)
    return Response(status_code=204)
