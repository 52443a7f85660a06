"""Service layer of Billing for 54-FZ receipts: what YooKassa says about a receipt, followed to the end.

A payment or refund sent with a receipt (``domain/receipts.py``) comes back with ``receipt_registration``
``pending``; YooKassa sends no notification when the register answers, so the reconciler's loop asks
(``ReceiptFollower.follow_once``: GET the payment or refund) until it is ``succeeded`` or ``canceled``, at a
growing interval (``recheck_at``). A ``canceled`` receipt was never issued: it counts in
``kinobill_receipts_canceled_total`` (alert ``KinobillReceiptCanceled``) and opens an operator task
(``billing.operator_tasks``, kind ``receipt_canceled``, one per payment or refund, listed in the admin) —
an operator issues the receipt another way.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from prometheus_client import Counter
from sqlalchemy.dialects.postgresql import insert

from kinobill.billing import tables as t
from kinobill.billing.provider import OutcomeUnknown, ProviderRejected, YooKassaGateway
from kinobill.domain.receipts import ReceiptRegistration, registration_from_provider

log = logging.getLogger(__name__)

RECEIPTS_CANCELED = Counter(
    "kinobill_receipts_canceled_total",
    "Receipts YooKassa could not register (an operator task each)",
    ["kind"],
)
RECEIPTS_REGISTERED = Counter("kinobill_receipts_registered_total", "Receipts registered", ["kind"])
RECEIPT_TASK = "receipt_canceled"
FIRST_RECHECK = timedelta(seconds=2)
MAX_RECHECK = timedelta(minutes=10)


def recheck_at(created_at: datetime, now: datetime) -> datetime:
    """The next look at a pending receipt: half its age, between 2 s and 10 min."""
    return now + min(max((now - created_at) / 2, FIRST_RECHECK), MAX_RECHECK)


def registration_values(row: Any, provider: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The receipt columns to write for a provider object of `row` (nothing when it has no receipt)."""
    registration = registration_from_provider(provider.get("receipt_registration"))
    if registration is None or registration == row.receipt_registration:
        return {}
    pending = registration == ReceiptRegistration.PENDING
    return {
        "receipt_registration": str(registration),
        "receipt_check_at": recheck_at(row.created_at, now) if pending else None,
    }


def announce_registration(
    conn: sa.Connection, kind: str, row: Any, values: dict[str, Any], provider: dict[str, Any]
) -> None:
    """After `values` (from `registration_values`) were written for `row` in `conn`'s transaction: a
    canceled receipt of an operation that took money (`provider` succeeded) opens its operator task
    (once) and counts. A declined payment's receipt is canceled too, and rightly: nothing was sold."""
    registration = values.get("receipt_registration")
    if registration == ReceiptRegistration.SUCCEEDED:
        RECEIPTS_REGISTERED.labels(kind).inc()
    if registration != ReceiptRegistration.CANCELED or provider.get("status") != "succeeded":
        return
    opened = conn.execute(
        insert(t.operator_tasks)
        .values(
            kind=RECEIPT_TASK,
            object_type=kind,
            object_id=str(row.id),
            detail=(
                f"YooKassa could not register the receipt of {kind} {row.id} "
                f"({row.amount / 100:.2f} {row.currency}): issue it another way"
            ),
        )
        .on_conflict_do_nothing(index_elements=["kind", "object_id"])
        .returning(t.operator_tasks.c.id)
    ).first()
    if opened is not None:
        RECEIPTS_CANCELED.labels(kind).inc()
        log.error("receipt of %s %s canceled by YooKassa: operator task %s", kind, row.id, opened.id)


class ReceiptFollower:
    """Asks YooKassa about receipts still ``pending`` once their check is due (the reconciler's loop)."""

    def __init__(self, engine: sa.Engine, gateway: YooKassaGateway, now: Callable[[], datetime]) -> None:
        self.engine, self.gateway, self.now = engine, gateway, now

    def follow_once(self, limit: int = 100) -> int:
        """One pass over payments and refunds; returns how many receipts reached a final state."""
        done = 0
        for kind, table, provider_id, fetch in (
            ("payment", t.payments, t.payments.c.provider_payment_id, self.gateway.get_payment),
            ("refund", t.refunds, t.refunds.c.provider_refund_id, self.gateway.get_refund),
        ):
            with self.engine.connect() as conn:
                due = conn.execute(
                    sa.select(table.c.id, provider_id)
                    .where(
                        table.c.receipt_registration == ReceiptRegistration.PENDING,
                        table.c.receipt_check_at <= self.now(),
                        provider_id.is_not(None),
                    )
                    .order_by(table.c.receipt_check_at)
                    .limit(limit)
                ).all()
            for row_id, object_id in due:
                try:
                    done += self._follow(kind, table, row_id, dict(fetch(object_id)))
                except (OutcomeUnknown, ProviderRejected) as exc:
                    log.warning("receipt of %s %s: YooKassa did not answer (%s)", kind, row_id, exc)
                    self._later(table, row_id)
        return done

    def _follow(self, kind: str, table: sa.Table, row_id: uuid.UUID, provider: dict[str, Any]) -> int:
        now = self.now()
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(table).where(table.c.id == row_id).with_for_update()).one()
            if row.receipt_registration != ReceiptRegistration.PENDING:
                return 0
            values = registration_values(row, provider, now) or {
                "receipt_check_at": recheck_at(row.created_at, now)
            }
            conn.execute(table.update().where(table.c.id == row_id).values(**values))
            announce_registration(conn, kind, row, values, provider)
        return 1 if values.get("receipt_registration") in ("succeeded", "canceled") else 0

    def _later(self, table: sa.Table, row_id: uuid.UUID) -> None:
        now = self.now()
        with self.engine.begin() as conn:
            conn.execute(
                table.update().where(table.c.id == row_id).values(receipt_check_at=now + FIRST_RECHECK * 5)
            )
