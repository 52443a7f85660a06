"""Repositories of the Subscriptions service: rows in, rows out, no rules."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import fields
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from kinobill.domain.periods import BillingPeriod
from kinobill.domain.statuses import EndedReason, SubscriptionStatus
from kinobill.domain.subscription import Subscription
from kinobill.errors import NotFound
from kinobill.events import SUBSCRIPTION_CHANGES
from kinobill.i18n.locales import SUPPORTED_LOCALES, LocaleZone
from kinobill.mail import Email
from kinobill.subscriptions import tables as t
from kinobill.uow import UnitOfWork

ENTITY_FIELDS = [f.name for f in fields(Subscription) if f.name != "changed"]


def to_entity(row: sa.Row) -> Subscription:
    data = {name: getattr(row, name) for name in ENTITY_FIELDS}
    data["period"] = BillingPeriod(data["period"])
    data["status"] = SubscriptionStatus(data["status"])
    data["ended_reason"] = EndedReason(data["ended_reason"]) if data["ended_reason"] else None
    return Subscription(**data)


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

    def notify_price_change(
        self,
        plan: sa.Row,
        period: str,
        render: Callable[[LocaleZone], Email],
        default: LocaleZone,
        at: datetime,
    ) -> int:
        """Queue the e-mail `render` writes to every renewing subscriber of this plan and period,
        set-based: one statement per language (the text holds no moment, so the zone is only recorded)."""
        s, e = t.subscriptions, t.emails
        stamp = at.isoformat()
        queued = 0
        for locale in SUPPORTED_LOCALES:
            email = render(LocaleZone(locale, default.zoneinfo))
            subscribers = sa.select(
                sa.func.gen_random_uuid(),
                sa.func.concat(f"price-change:{plan.id}:{period}:{stamp}:", s.c.id),
                s.c.user_id,
                s.c.user_email,
                sa.literal(email.kind),
                sa.literal(email.subject),
                sa.literal(email.body),
                sa.literal(email.html),
                sa.literal(locale),
                sa.func.coalesce(s.c.zoneinfo, default.zoneinfo),
            ).where(
                s.c.plan_id == plan.id,
                s.c.period == period,
                s.c.status == "active",
                s.c.auto_renew.is_(True),
                s.c.user_email.is_not(None),
                sa.func.coalesce(s.c.locale, default.locale) == locale,
            )
            columns = ["id", "dedupe_key", "user_id", "to_address", "kind", "subject", "body", "html_body"]
            result = self.conn.execute(e.insert().from_select([*columns, "locale", "zoneinfo"], subscribers))
            queued += int(result.rowcount)
        return queued

    def count(self) -> int:
        return int(self.conn.execute(sa.select(sa.func.count()).select_from(t.plans)).scalar_one())


class SubscriptionRepository:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def get(self, subscription_id: uuid.UUID, *, for_update: bool = False) -> sa.Row | None:
        query = sa.select(t.subscriptions).where(t.subscriptions.c.id == subscription_id)
        if for_update:
            query = query.with_for_update()
        return self.conn.execute(query).first()

    def get_entity(self, subscription_id: uuid.UUID, *, for_update: bool = False) -> Subscription | None:
        row = self.get(subscription_id, for_update=for_update)
        return to_entity(row) if row is not None else None

    def get_owned(
        self, subscription_id: uuid.UUID, user_id: uuid.UUID | None, *, for_update: bool = False
    ) -> Subscription:
        """The subscription when `user_id` owns it (`None`: an operator, who may reach any); `NotFound`
        otherwise, so another user's subscription reads exactly like one that does not exist."""
        sub = self.get_entity(subscription_id, for_update=for_update)
        if sub is None or (user_id is not None and sub.user_id != user_id):
            raise NotFound("subscription_not_found", "no such subscription")
        return sub

    def get_entities(
        self, subscription_ids: Sequence[uuid.UUID], *, for_update: bool = False
    ) -> dict[uuid.UUID, Subscription]:
        """Several subscriptions by id; locked in id order when `for_update` (no deadlock between batches)."""
        s = t.subscriptions
        query = sa.select(s).where(s.c.id.in_(list(subscription_ids))).order_by(s.c.id)
        if for_update:
            query = query.with_for_update()
        return {row.id: to_entity(row) for row in self.conn.execute(query)}

    def save(self, entity: Subscription, now: datetime) -> sa.Row:
        """Write the entity's changed fields (and bump its version)."""
        values = {name: getattr(entity, name) for name in entity.changed}
        for name in ("status", "ended_reason", "period"):
            if name in values and values[name] is not None:
                values[name] = str(values[name])
        entity.changed.clear()
        return self.update(entity.id, {**values, "updated_at": now})

    def save_many(self, entities: Sequence[Subscription], now: datetime) -> None:
        """`save` for many entities, without reading the rows back: one executemany (pipelined by
        psycopg) per set of changed fields."""
        s = t.subscriptions
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for entity in entities:
            names = tuple(sorted(entity.changed))
            if not names:
                continue
            params: dict[str, Any] = {"v_id": entity.id}
            for name in names:
                value = getattr(entity, name)
                is_text = name in ("status", "ended_reason", "period") and value is not None
                params[f"v_{name}"] = str(value) if is_text else value
            groups.setdefault(names, []).append(params)
            entity.changed.clear()
        for names, rows in groups.items():
            values: dict[str, Any] = {name: sa.bindparam(f"v_{name}") for name in names}
            statement = (
                s.update()
                .where(s.c.id == sa.bindparam("v_id"))
                .values(**values, updated_at=now, version=s.c.version + 1)
            )
            self.conn.execute(statement, rows)

    def open_for(self, user_id: uuid.UUID, plan_id: uuid.UUID) -> sa.Row | None:
        s = t.subscriptions
        return self.conn.execute(
            sa.select(s).where(s.c.user_id == user_id, s.c.plan_id == plan_id, s.c.status != "ended")
        ).first()

    def by_purchase_key(self, user_id: uuid.UUID, key: str) -> sa.Row | None:
        s = t.subscriptions
        return self.conn.execute(sa.select(s).where(s.c.user_id == user_id, s.c.purchase_key == key)).first()

    def add(self, values: dict[str, Any]) -> sa.Row:
        return self.conn.execute(t.subscriptions.insert().values(**values).returning(t.subscriptions)).one()

    def update(self, subscription_id: uuid.UUID, values: dict[str, Any]) -> sa.Row:
        s = t.subscriptions
        return self.conn.execute(
            s.update().where(s.c.id == subscription_id).values(**values, version=s.c.version + 1).returning(s)
        ).one()

    def list_for_user(
        self, user_id: uuid.UUID, *, before: tuple[datetime, uuid.UUID] | None, limit: int
    ) -> Sequence[sa.Row]:
        s = t.subscriptions
        query = (
            sa.select(s, t.plans.c.code.label("plan_code"))
            .join(t.plans, t.plans.c.id == s.c.plan_id)
            .where(s.c.user_id == user_id)
            .order_by(s.c.created_at.desc(), s.c.id.desc())
            .limit(limit)
        )
        if before is not None:
            query = query.where(sa.tuple_(s.c.created_at, s.c.id) < sa.tuple_(*before))
        return self.conn.execute(query).all()

    def add_period(self, values: dict[str, Any]) -> bool:
        """Record a paid period; False when that payment or period was already recorded."""
        result = self.conn.execute(pg_insert(t.periods).values(**values).on_conflict_do_nothing())
        return bool(result.rowcount)

    def due(self, now: datetime, limit: int) -> list[Subscription]:
        """Live subscriptions whose next scheduled step is due, oldest first, locked (SKIP LOCKED).

        Served by the partial index `ix_subscriptions_due` (the WHERE repeats its predicate)."""
        s = t.subscriptions
        query = (
            sa.select(s)
            .where(s.c.status == "active", s.c.next_attempt_at.is_not(None), s.c.next_attempt_at <= now)
            .order_by(s.c.next_attempt_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [to_entity(row) for row in self.conn.execute(query)]

    def reminders_due(self, until: datetime, limit: int) -> list[Subscription]:
        """Auto-renewing subscriptions not yet reminded this period whose next attempt is before `until`.

        Served by the partial index `ix_subscriptions_remind` (the WHERE repeats its predicate)."""
        s = t.subscriptions
        query = (
            sa.select(s)
            .where(
                s.c.status == "active",
                s.c.auto_renew,
                s.c.next_attempt_at.is_not(None),
                s.c.reminded_period.is_distinct_from(s.c.period_index),
                s.c.next_attempt_at <= until,
            )
            .order_by(s.c.next_attempt_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [to_entity(row) for row in self.conn.execute(query)]

    def periods_of(self, subscription_id: uuid.UUID) -> Sequence[sa.Row]:
        p = t.periods
        return self.conn.execute(
            sa.select(p).where(p.c.subscription_id == subscription_id).order_by(p.c.period_index)
        ).all()


class AwaitedResultRepository:
    """Requests to Billing whose result comes later on a stream (see tables.awaited_results)."""

    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def expect(
        self,
        kind: str,
        billing_key: str,
        subscription_id: uuid.UUID,
        request: dict[str, Any],
        now: datetime,
    ) -> None:
        """Record the request before Billing is asked; the same request again changes nothing."""
        a = t.awaited_results
        self.conn.execute(
            pg_insert(a)
            .values(
                id=uuid.uuid4(),
                kind=kind,
                billing_key=billing_key,
                subscription_id=subscription_id,
                request=request,
                created_at=now,
                checked_at=now,
            )
            .on_conflict_do_nothing(constraint="uq_awaited_results_key")
        )

    def unresolved(self, checked_before: datetime, limit: int) -> Sequence[sa.Row]:
        """Unresolved requests Billing was last asked about before `checked_before`, oldest first."""
        a = t.awaited_results
        return self.conn.execute(
            sa.select(a)
            .where(a.c.resolved_at.is_(None), a.c.checked_at < checked_before)
            .order_by(a.c.checked_at)
            .limit(limit)
        ).all()

    def checked(self, row_id: uuid.UUID, at: datetime) -> None:
        a = t.awaited_results
        self.conn.execute(a.update().where(a.c.id == row_id).values(checked_at=at))

    def resolve(self, kind: str, billing_key: str, outcome: str, now: datetime) -> None:
        a = t.awaited_results
        self.conn.execute(
            a.update()
            .where(a.c.kind == kind, a.c.billing_key == billing_key, a.c.resolved_at.is_(None))
            .values(resolved_at=now, outcome=outcome)
        )


class SubscriptionsUnitOfWork(UnitOfWork):
    """`after_commit` is called after each commit with the users whose subscription-change events it
    committed (the composition root drops their cached access answers there; see access.py)."""

    outbox_table = t.outbox
    emails_table = t.emails
    plans: PlanRepository
    subscriptions: SubscriptionRepository
    awaited: AwaitedResultRepository

    def __init__(
        self, engine: sa.Engine, *, after_commit: Callable[[set[str]], None] = lambda user_ids: None
    ) -> None:
        super().__init__(engine)
        self.after_commit = after_commit

    def _attach(self, conn: sa.Connection) -> None:
        self.plans = PlanRepository(conn)
        self.subscriptions = SubscriptionRepository(conn)
        self.awaited = AwaitedResultRepository(conn)
        self._changed_users: set[str] = set()

    def add_event(self, stream: str, payload: dict[str, Any]) -> None:
        super().add_event(stream, payload)
        if stream == SUBSCRIPTION_CHANGES:
            self._changed_users.add(str(payload["user_id"]))

    def commit(self) -> None:
        """Commit; then drop the changed users' cached access answers (after, never before: see access.py)."""
        super().commit()
        users, self._changed_users = self._changed_users, set()
        if users:
            self.after_commit(users)

    def rollback(self) -> None:
        super().rollback()
        self._changed_users = set()
