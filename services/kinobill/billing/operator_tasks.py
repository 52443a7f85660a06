"""Service layer of Billing for operator tasks: work left to a person (``billing.operator_tasks``, e.g.
``receipt_canceled`` from ``receipts.py``), marked resolved by the operator who did it.

Resolving records when, who and a note, once: a second resolve answers the task as it is (the first
operator's record stays), so a retried or double-clicked action changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from kinobill.billing.repository import BillingUnitOfWork
from kinobill.billing.results import OperatorTaskView
from kinobill.errors import NotFound


class OperatorTaskService:
    def __init__(self, uow: Callable[[], BillingUnitOfWork], now: Callable[[], datetime]) -> None:
        self.uow, self.now = uow, now

    def resolve(self, task_id: int, resolved_by: str, note: str) -> OperatorTaskView:
        """Mark the task resolved by `resolved_by` with `note`; an already resolved task is left as it is."""
        with self.uow() as uow:
            row = uow.operator_tasks.get(task_id, for_update=True)
            if row is None:
                raise NotFound("operator_task_not_found", "no such operator task", {"task_id": task_id})
            if row.resolved_at is None:
                row = uow.operator_tasks.resolve(task_id, self.now(), resolved_by, note)
                uow.commit()
            return OperatorTaskView.of(row)
