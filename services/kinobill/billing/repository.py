"""Repositories and the unit of work of the Billing service: rows in, rows out, no rules.

The service layer (payments.py, refunds.py, card_changes.py) opens a :class:`BillingUnitOfWork` for each
transaction it needs and says what to write; every statement on Billing's tables is spelled here.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from kinobill.billing import tables as t
from kinobill.domain.statuses import PaymentStatus, RefundStatus
from kinobill.uow import UnitOfWork

OPEN_REFUNDS = (RefundStatus.PENDING, RefundStatus.SUCCEEDED)  # both count as already refunded


def _due_for_check(conn: sa.Connection, table: sa.Table, now: datetime, limit: int) -> list[uuid.UUID]:
    """Ids of `table`'s rows still `pending` after their `next_check_at`, oldest check first."""
    query = (
        sa.select(table.c.id)
        .where(table.c.status == "pending", table.c.next_check_at <= now)
        .order_by(table.c.next_check_at)
        .limit(limit)
    )
    return list(conn.execute(query).scalars().all())


def _get(conn: sa.Connection, table: sa.Table, row_id: uuid.UUID | int, for_update: bool) -> Any:
    query = sa.select(table).where(table.c.id == row_id)
    return conn.execute(query.with_for_update() if for_update else query).first()


def _add_or_get(conn: sa.Connection, table: sa.Table, values: dict[str, Any], key: str) -> Any:
    """Insert the row, or read the one whose unique `key` column already holds this value (a repeat)."""
    statement = insert(table).values(**values).on_conflict_do_nothing(index_elements=[key]).returning(table)
    row = conn.execute(statement).first()
    if row is None:
        row = conn.execute(sa.select(table).where(table.c[key] == values[key])).one()
    return row


def _pending_of(conn: sa.Connection, table: sa.Table, subscription_id: uuid.UUID) -> list[uuid.UUID]:
    query = sa.select(table.c.id).where(
        table.c.subscription_id == subscription_id, table.c.status == "pending"
    )
    return list(conn.execute(query).scalars().all())


class PaymentRepository:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def get(self, payment_id: uuid.UUID, *, for_update: bool = False) -> Any:
        return _get(self.conn, t.payments, payment_id, for_update)

    def by_provider_id(self, provider_payment_id: str) -> Any:
        p = t.payments
        return self.conn.execute(sa.select(p).where(p.c.provider_payment_id == provider_payment_id)).first()

    def add_or_get(self, values: dict[str, Any]) -> Any:
        """Insert the payment, or read the one its charge key already names (a repeat of the request)."""
        return _add_or_get(self.conn, t.payments, values, "charge_key")

    def add_many(self, values: Sequence[dict[str, Any]]) -> list[Any]:
        """Insert payments in one statement; those whose charge key exists are left out of the answer."""
        if not values:
            return []
        statement = (
            insert(t.payments)
            .values(list(values))
            .on_conflict_do_nothing(index_elements=["charge_key"])
            .returning(t.payments)
        )
        return list(self.conn.execute(statement).all())

    def by_charge_keys(self, charge_keys: Sequence[str]) -> list[Any]:
        query = sa.select(t.payments).where(t.payments.c.charge_key.in_(list(charge_keys)))
        return list(self.conn.execute(query).all())

    def lock_many(self, payment_ids: Sequence[uuid.UUID]) -> list[Any]:
        """Several payments locked FOR UPDATE in id order (one lock order for every batch)."""
        p = t.payments
        query = sa.select(p).where(p.c.id.in_(sorted(payment_ids))).order_by(p.c.id).with_for_update()
        return list(self.conn.execute(query).all())

    def update(self, payment_id: uuid.UUID, values: dict[str, Any], *, attempted: bool = False) -> Any:
        """Write `values` (and count a create call at YooKassa when `attempted`); the row as it is now."""
        if attempted:
            values = {**values, "provider_attempts": t.payments.c.provider_attempts + 1}
        return self.conn.execute(
            t.payments.update().where(t.payments.c.id == payment_id).values(**values).returning(t.payments)
        ).one()

    def note_unknown(self, payment_id: uuid.UUID, error: str, check_at: datetime) -> None:
        """A create call whose outcome is unknown: count it, keep the error, look again at `check_at`."""
        self.conn.execute(
            t.payments.update()
            .where(t.payments.c.id == payment_id)
            .values(
                last_error=error[:500],
                next_check_at=check_at,
                provider_attempts=t.payments.c.provider_attempts + 1,
            )
        )

    def add_refunded(self, payment_id: uuid.UUID, amount: int, now: datetime) -> Any:
        return self.conn.execute(
            t.payments.update()
            .where(t.payments.c.id == payment_id)
            .values(refunded_amount=t.payments.c.refunded_amount + amount, updated_at=now)
            .returning(t.payments)
        ).one()

    def success_of_period(self, row: Any) -> uuid.UUID | None:
        """The other payment that already paid `row`'s period, locked (two settling at once serialise)."""
        p = t.payments
        return self.conn.execute(
            sa.select(p.c.id)
            .where(
                p.c.subscription_id == row.subscription_id,
                p.c.period_index == row.period_index,
                p.c.status == PaymentStatus.SUCCEEDED,
                p.c.duplicate_of.is_(None),
                p.c.id != row.id,
            )
            .with_for_update()
        ).scalar()

    def latest_paid(self, subscription_id: uuid.UUID) -> uuid.UUID | None:
        """The succeeded payment of the subscription's highest period (duplicates aside: the system
        returns those whole)."""
        p = t.payments
        return self.conn.execute(
            sa.select(p.c.id)
            .where(
                p.c.subscription_id == subscription_id,
                p.c.status == PaymentStatus.SUCCEEDED,
                p.c.duplicate_of.is_(None),
                p.c.kind.in_(("initial", "renewal")),
            )
            .order_by(p.c.period_index.desc())
            .limit(1)
        ).scalar()

    def has_pending(self, subscription_id: uuid.UUID) -> bool:
        p = t.payments
        query = sa.select(p.c.id).where(
            p.c.subscription_id == subscription_id, p.c.status == PaymentStatus.PENDING
        )
        return self.conn.execute(query).first() is not None

    def method_saved_for(self, payment_method_id: str, user_id: uuid.UUID) -> bool:
        """Whose saved method is whose: a method is charged only for the user whose succeeded payment
        saved it (ix_payments_user), or who bound it by changing a subscription's card (active)."""
        saved = sa.select(sa.literal(1)).where(
            t.payments.c.user_id == user_id,
            t.payments.c.saved_payment_method_id == payment_method_id,
            t.payments.c.status == "succeeded",
        )
        bound = sa.select(sa.literal(1)).where(
            t.card_changes.c.provider_method_id == payment_method_id,
            t.card_changes.c.user_id == user_id,
            t.card_changes.c.status == "active",
        )
        return (
            self.conn.execute(saved.limit(1)).first() is not None
            or self.conn.execute(bound).first() is not None
        )

    def duplicates_to_refund(self, limit: int) -> list[Any]:
        p = t.payments
        query = (
            sa.select(p)
            .where(p.c.duplicate_of.is_not(None), p.c.refunded_amount < p.c.amount)
            .order_by(p.c.created_at)
            .limit(limit)
        )
        return list(self.conn.execute(query).all())

    def due_for_check(self, now: datetime, limit: int) -> list[uuid.UUID]:
        return _due_for_check(self.conn, t.payments, now, limit)

    def pending_of(self, subscription_id: uuid.UUID) -> list[uuid.UUID]:
        return _pending_of(self.conn, t.payments, subscription_id)

    def list_for_user(
        self, user_id: uuid.UUID, *, before: tuple[datetime, uuid.UUID] | None, limit: int
    ) -> list[Any]:
        p = t.payments
        query = sa.select(p).where(p.c.user_id == user_id).order_by(p.c.created_at.desc(), p.c.id.desc())
        if before is not None:
            query = query.where(sa.tuple_(p.c.created_at, p.c.id) < sa.tuple_(*before))
        return list(self.conn.execute(query.limit(limit)).all())

    def list_for_subscription(self, subscription_id: uuid.UUID) -> list[Any]:
        p = t.payments
        query = sa.select(p).where(p.c.subscription_id == subscription_id).order_by(p.c.created_at.desc())
        return list(self.conn.execute(query).all())


class RefundRepository:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def get(self, refund_id: uuid.UUID, *, for_update: bool = False) -> Any:
        return _get(self.conn, t.refunds, refund_id, for_update)

    def by_key(self, refund_key: str) -> Any:
        return self.conn.execute(sa.select(t.refunds).where(t.refunds.c.refund_key == refund_key)).first()

    def by_provider_id(self, provider_refund_id: str) -> Any:
        r = t.refunds
        return self.conn.execute(sa.select(r).where(r.c.provider_refund_id == provider_refund_id)).first()

    def payment_of(self, refund_id: uuid.UUID) -> uuid.UUID:
        query = sa.select(t.refunds.c.payment_id).where(t.refunds.c.id == refund_id)
        return self.conn.execute(query).scalar_one()

    def open_sum(self, payment_id: uuid.UUID) -> int:
        """What the payment's pending and succeeded refunds add up to (kopecks)."""
        r = t.refunds
        query = sa.select(sa.func.coalesce(sa.func.sum(r.c.amount), 0)).where(
            r.c.payment_id == payment_id, r.c.status.in_(OPEN_REFUNDS)
        )
        return int(self.conn.execute(query).scalar_one())

    def others_open(self, payment_id: uuid.UUID, refund_id: uuid.UUID) -> int:
        """How many other refunds of the payment are still pending or succeeded."""
        r = t.refunds
        query = sa.select(sa.func.count()).where(
            r.c.payment_id == payment_id, r.c.id != refund_id, r.c.status.in_(OPEN_REFUNDS)
        )
        return int(self.conn.execute(query).scalar_one())

    def add(self, values: dict[str, Any]) -> Any:
        return self.conn.execute(t.refunds.insert().values(**values).returning(t.refunds)).one()

    def update(self, refund_id: uuid.UUID, values: dict[str, Any]) -> Any:
        return self.conn.execute(
            t.refunds.update().where(t.refunds.c.id == refund_id).values(**values).returning(t.refunds)
        ).one()

    def count_attempt(self, refund_id: uuid.UUID) -> None:
        self.conn.execute(
            t.refunds.update()
            .where(t.refunds.c.id == refund_id)
            .values(provider_attempts=t.refunds.c.provider_attempts + 1)
        )

    def due_for_check(self, now: datetime, limit: int) -> list[uuid.UUID]:
        return _due_for_check(self.conn, t.refunds, now, limit)

    def pending_of(self, subscription_id: uuid.UUID) -> list[uuid.UUID]:
        return _pending_of(self.conn, t.refunds, subscription_id)

    def list_for_user(self, user_id: uuid.UUID, limit: int) -> list[Any]:
        r = t.refunds
        query = sa.select(r).where(r.c.user_id == user_id).order_by(r.c.created_at.desc()).limit(limit)
        return list(self.conn.execute(query).all())


class CardChangeRepository:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def get(self, change_id: uuid.UUID, *, for_update: bool = False) -> Any:
        return _get(self.conn, t.card_changes, change_id, for_update)

    def by_provider_method_id(self, provider_method_id: str) -> Any:
        c = t.card_changes
        return self.conn.execute(sa.select(c).where(c.c.provider_method_id == provider_method_id)).first()

    def add_or_get(self, values: dict[str, Any]) -> Any:
        """Insert the card change, or read the one its request key already names (a repeat)."""
        return _add_or_get(self.conn, t.card_changes, values, "request_key")

    def update(self, change_id: uuid.UUID, values: dict[str, Any]) -> None:
        self.conn.execute(t.card_changes.update().where(t.card_changes.c.id == change_id).values(**values))

    def update_pending(self, change_id: uuid.UUID, values: dict[str, Any]) -> Any:
        """Write `values` if the change is still pending; the row as it is now either way."""
        c = t.card_changes
        updated = self.conn.execute(
            c.update().where(c.c.id == change_id, c.c.status == "pending").values(**values).returning(c)
        ).first()
        return updated or self.get(change_id)

    def claim_due(self, now: datetime, recheck: timedelta, give_up_after: timedelta, limit: int) -> list[str]:
        """Pending changes started less than `give_up_after` ago and untouched for `recheck`, stamped
        now (SKIP LOCKED: two reconcilers share them out); their YooKassa method ids."""
        c = t.card_changes.c
        due = (
            sa.select(c.id)
            .where(
                c.status == "pending",
                c.provider_method_id.is_not(None),
                c.created_at > now - give_up_after,
                c.updated_at <= now - recheck,
            )
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        statement = (
            t.card_changes.update()
            .where(c.id.in_(due))
            .values(updated_at=now)
            .returning(c.provider_method_id)
        )
        return list(self.conn.execute(statement).scalars().all())


class ReceiptRepository:
    """The 54-FZ receipt columns of payments and refunds (`kind`: "payment" or "refund"), and the
    operator tasks a receipt YooKassa could not register opens."""

    TABLES = {
        "payment": (t.payments, t.payments.c.provider_payment_id),
        "refund": (t.refunds, t.refunds.c.provider_refund_id),
    }

    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def due(self, kind: str, now: datetime, limit: int) -> list[tuple[uuid.UUID, str]]:
        """(row id, YooKassa id) of the rows whose pending receipt is due for a look, oldest first."""
        table, provider_id = self.TABLES[kind]
        query = (
            sa.select(table.c.id, provider_id)
            .where(
                table.c.receipt_registration == "pending",
                table.c.receipt_check_at <= now,
                provider_id.is_not(None),
            )
            .order_by(table.c.receipt_check_at)
            .limit(limit)
        )
        return [(row_id, object_id) for row_id, object_id in self.conn.execute(query)]

    def lock(self, kind: str, row_id: uuid.UUID) -> Any:
        table, _ = self.TABLES[kind]
        return self.conn.execute(sa.select(table).where(table.c.id == row_id).with_for_update()).one()

    def update(self, kind: str, row_id: uuid.UUID, values: dict[str, Any]) -> None:
        table, _ = self.TABLES[kind]
        self.conn.execute(table.update().where(table.c.id == row_id).values(**values))

    def open_task(self, task: str, kind: str, object_id: str, detail: str) -> int | None:
        """Open the operator task `task` for one payment or refund; None when it is open already."""
        return self.conn.execute(
            insert(t.operator_tasks)
            .values(kind=task, object_type=kind, object_id=object_id, detail=detail)
            .on_conflict_do_nothing(index_elements=["kind", "object_id"])
            .returning(t.operator_tasks.c.id)
        ).scalar()


class OperatorTaskRepository:
    """Work left to an operator (``billing.operator_tasks``), read and marked resolved."""

    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def get(self, task_id: int, *, for_update: bool = False) -> Any:
        return _get(self.conn, t.operator_tasks, task_id, for_update)

    def resolve(self, task_id: int, resolved_at: datetime, resolved_by: str, note: str) -> Any:
        statement = (
            t.operator_tasks.update()
            .where(t.operator_tasks.c.id == task_id)
            .values(resolved_at=resolved_at, resolved_by=resolved_by, resolution_note=note)
            .returning(t.operator_tasks)
        )
        return self.conn.execute(statement).one()


class ProviderNotificationRepository:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def add(self, values: dict[str, Any]) -> None:
        """Keep a notification YooKassa sent and what came of it (the admin lists them)."""
        self.conn.execute(t.provider_notifications.insert().values(**values))


class BillingUnitOfWork(UnitOfWork):
    """One transaction of Billing: its payments, refunds and card changes, with the events and e-mails
    they cause (written in the same transaction: `add_event`, `queue_email`)."""

    outbox_table = t.outbox
    emails_table = t.emails
    payments: PaymentRepository
    refunds: RefundRepository
    card_changes: CardChangeRepository
    receipts: ReceiptRepository
    operator_tasks: OperatorTaskRepository
    provider_notifications: ProviderNotificationRepository

    def _attach(self, conn: sa.Connection) -> None:
        self.payments = PaymentRepository(conn)
        self.refunds = RefundRepository(conn)
        self.card_changes = CardChangeRepository(conn)
        self.receipts = ReceiptRepository(conn)
        self.operator_tasks = OperatorTaskRepository(conn)
        self.provider_notifications = ProviderNotificationRepository(conn)
