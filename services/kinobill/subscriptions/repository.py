"""Repositories of the Subscriptions service: rows in, rows out, no rules."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from kinobill.subscriptions import tables as t
from kinobill.uow import UnitOfWork


class PlanRepository:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def get(self, plan_id: uuid.UUID, *, for_update: bool = False) -> sa.Row | None:
        query = sa.select(t.plans).where(t.plans.c.id == plan_id)
        if for_update:
            query = query.with_for_update()
        return self.conn.execute(query).first()

    def by_code(self, code: str) -> sa.Row | None:
        return self.conn.execute(sa.select(t.plans).where(t.plans.c.code == code)).first()

    def add(self, values: dict[str, Any]) -> sa.Row:
        return self.conn.execute(t.plans.insert().values(**values).returning(t.plans)).one()

    def update(self, plan_id: uuid.UUID, values: dict[str, Any]) -> sa.Row:
        return self.conn.execute(
            t.plans.update().where(t.plans.c.id == plan_id).values(**values).returning(t.plans)
        ).one()

    def delete(self, plan_id: uuid.UUID) -> None:
        self.conn.execute(t.plans.delete().where(t.plans.c.id == plan_id))

    def has_subscriptions(self, plan_id: uuid.UUID) -> bool:
        query = sa.select(sa.exists().where(t.subscriptions.c.plan_id == plan_id))
        return bool(self.conn.execute(query).scalar())

    def list(
        self,
        *,
        on_sale_at: datetime | None = None,
        after: tuple[datetime, uuid.UUID] | None = None,
        limit: int = 100,
    ) -> Sequence[sa.Row]:
        p = t.plans
        query = sa.select(p).order_by(p.c.created_at, p.c.id).limit(limit)
        if on_sale_at is not None:
            query = query.where(
                p.c.sale_start <= on_sale_at, sa.or_(p.c.sale_end.is_(None), p.c.sale_end > on_sale_at)
            )
        if after is not None:
            query = query.where(sa.tuple_(p.c.created_at, p.c.id) > sa.tuple_(*after))
        return self.conn.execute(query).all()

    def count(self) -> int:
        return int(self.conn.execute(sa.select(sa.func.count()).select_from(t.plans)).scalar_one())


class SubscriptionsUnitOfWork(UnitOfWork):
    plans: PlanRepository

    def _attach(self, conn: sa.Connection) -> None:
        self.plans = PlanRepository(conn)
