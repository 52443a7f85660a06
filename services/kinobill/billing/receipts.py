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

from prometheus_client import Counter

from kinobill.billing.provider import OutcomeUnknown, ProviderRejected, YooKassaGateway
from kinobill.billing.repository import BillingUnitOfWork, ReceiptRepository
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
    receipts: ReceiptRepository, kind: str, row: Any, values: dict[str, Any], provider: dict[str, Any]
) -> None:
    """After `values` (from `registration_values`) were written for `row` in this transaction: a
    canceled receipt of an operation that took money (`provider` succeeded) opens its operator task
    (once) and counts. A declined payment's receipt is canceled too, and rightly: nothing was sold."""
    registration = values.get("receipt_registration")
    if registration == ReceiptRegistration.SUCCEEDED:
        RECEIPTS_REGISTERED.labels(kind).inc()
    if registration != ReceiptRegistration.CANCELED or provider.get("status") != "succeeded":
        return
    opened = receipts.open_task(
        RECEIPT_TASK,
        kind,
        str(row.id),
        f"YooKassa could not register the receipt of {kind} {row.id} "
        f"({row.amount / 100:.2f} {row.currency}): issue it another way",
    )
    if opened is not None:
        RECEIPTS_CANCELED.labels(kind).inc()
        log.error("receipt of %s %s canceled by YooKassa: operator task %s", kind, row.id, opened)


class ReceiptFollower:
    """Asks YooKassa about receipts still ``pending`` once their check is due (the reconciler's loop)."""

    def __init__(
        self, uow: Callable[[], BillingUnitOfWork], gateway: YooKassaGateway, now: Callable[[], datetime]
    ) -> None:
        self.uow, self.gateway, self.now = uow, gateway, now

    def follow_once(self, limit: int = 100) -> int:
        """One pass over payments and refunds; returns how many receipts reached a final state."""
        done = 0
        for kind, fetch in (("payment", self.gateway.get_payment), ("refund", self.gateway.get_refund)):
            with self.uow() as uow:
                due = uow.receipts.due(kind, self.now(), limit)
            for row_id, object_id in due:
                try:
                    done += self._follow(kind, row_id, dict(fetch(object_id)))
                except (OutcomeUnknown, ProviderRejected) as exc:
                    log.warning("receipt of %s %s: YooKassa did not answer (%s)", kind, row_id, exc)
                    self._later(kind, row_id)
        return done

    def _follow(self, kind: str, row_id: uuid.UUID, provider: dict[str, Any]) -> int:
        now = self.now()
        with self.uow() as uow:
            row = uow.receipts.lock(kind, row_id)
            if row.receipt_registration != ReceiptRegistration.PENDING:
                return 0
            values = registration_values(row, provider, now) or {
                "receipt_check_at": recheck_at(row.created_at, now)
            }
            uow.receipts.update(kind, row_id, values)
            announce_registration(uow.receipts, kind, row, values, provider)
            uow.commit()
        return 1 if values.get("receipt_registration") in ("succeeded", "canceled") else 0

    def _later(self, kind: str, row_id: uuid.UUID) -> None:
        with self.uow() as uow:
            uow.receipts.update(kind, row_id, {"receipt_check_at": self.now() + FIRST_RECHECK * 5})
            uow.commit()
