"""Service layer for the plan catalogue: create, change, take off sale, delete, list."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy.exc import IntegrityError

from kinobill.config import get_settings
from kinobill.domain import plans as rules
from kinobill.errors import Conflict, NotFound
from kinobill.pagination import Position
from kinobill.subscriptions import notifications as n
from kinobill.subscriptions.repository import SubscriptionsUnitOfWork
from kinobill.subscriptions.results import PlanView


@dataclass(frozen=True)
class PlanInput:
    code: str
    name: str
    description: str
    price_month: int
    price_year: int
    sale_start: datetime
    sale_end: datetime | None


class PlanCatalogue:
    def __init__(self, uow: Callable[[], SubscriptionsUnitOfWork], now: Callable[[], datetime]) -> None:
        self.uow, self.now = uow, now

    def create(self, data: PlanInput) -> PlanView:
        rules.PlanTerms(data.code, data.price_month, data.price_year, data.sale_start, data.sale_end)
        now = self.now()
        with self.uow() as uow:
            if uow.plans.by_code(data.code):
                raise Conflict("plan_code_taken", f"a plan with code {data.code!r} already exists")
            try:
                row = uow.plans.add(
                    {
                        "id": uuid.uuid4(),
                        **data.__dict__,
                        "currency": "RUB",
                        "created_at": now,
                        "updated_at": now,
                    }
                )
                uow.commit()
            except IntegrityError as exc:
                raise Conflict("plan_code_taken", f"a plan with code {data.code!r} already exists") from exc
            return PlanView.of(row)

    def update(self, plan_id: uuid.UUID, changes: dict[str, Any]) -> PlanView:
        with self.uow() as uow:
            current = uow.plans.get(plan_id, for_update=True)
            if current is None:
                raise NotFound("plan_not_found", "no such plan")
            merged = {**current._asdict(), **changes}
            rules.PlanTerms(
                merged["code"],
                merged["price_month"],
                merged["price_year"],
                merged["sale_start"],
                merged["sale_end"],
            )
            if "code" in changes and changes["code"] != current.code:
                if uow.plans.by_code(changes["code"]):
                    raise Conflict("plan_code_taken", f"a plan with code {changes['code']!r} already exists")
                if uow.plans.has_subscriptions(plan_id):
                    # The code is in users' access tokens and Auth's caches: it names the plan for good.
                    raise Conflict(
                        "plan_code_immutable", "the code of a plan that has subscriptions cannot change"
                    )
            now = self.now()
            row = uow.plans.update(plan_id, {**changes, "updated_at": now})
            for period, column in (("month", "price_month"), ("year", "price_year")):
                if getattr(row, column) != getattr(current, column):
                    change = n.PlanPriceChanged(
                        plan=row.name,
                        period=period,
                        old_amount=getattr(current, column),
                        new_amount=getattr(row, column),
                    )
                    uow.plans.notify_price_change(
                        row, period, partial(n.render, change), get_settings().reader_default, now
                    )
            uow.commit()
            return PlanView.of(row)

    def end_sale(self, plan_id: uuid.UUID) -> PlanView:
        """Take a plan off sale now; existing subscriptions keep renewing."""
        now = self.now()
        with self.uow() as uow:
            current = uow.plans.get(plan_id, for_update=True)
            if current is None:
                raise NotFound("plan_not_found", "no such plan")
            if current.sale_end is not None and current.sale_end <= now:
                return PlanView.of(current)
            # A sale that had not started yet is ended too: its window moves to just before now.
            values = {
                "sale_start": min(current.sale_start, now - timedelta(seconds=1)),
                "sale_end": now,
                "updated_at": now,
            }
            row = uow.plans.update(plan_id, values)
            uow.commit()
            return PlanView.of(row)

    def delete(self, plan_id: uuid.UUID) -> None:
        with self.uow() as uow:
            if uow.plans.get(plan_id, for_update=True) is None:
                raise NotFound("plan_not_found", "no such plan")
            if uow.plans.has_subscriptions(plan_id):
                raise Conflict(
                    "plan_has_subscriptions",
                    "a plan with subscriptions cannot be deleted; take it off sale instead",
                )
            uow.plans.delete(plan_id)
            uow.commit()

    def get(self, plan_id: uuid.UUID) -> PlanView:
        with self.uow() as uow:
            row = uow.plans.get(plan_id)
            if row is None:
                raise NotFound("plan_not_found", "no such plan")
            return PlanView.of(row)

    def list(self, *, on_sale_only: bool, after: Position | None, limit: int) -> Sequence[PlanView]:
        """Plans in creation order after `after` (a page position), only those on sale now if asked."""
        with self.uow() as uow:
            rows = uow.plans.list(on_sale_at=self.now() if on_sale_only else None, after=after, limit=limit)
            return [PlanView.of(row) for row in rows]
