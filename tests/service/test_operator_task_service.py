"""Billing's operator tasks in-process: OperatorTaskService on a real Postgres with the clock faked."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from kinobill.billing import tables as t
from kinobill.billing.operator_tasks import OperatorTaskService
from kinobill.billing.repository import BillingUnitOfWork
from kinobill.errors import NotFound


@pytest.fixture()
def tasks(service_engine: sa.Engine, now: Any) -> OperatorTaskService:
    return OperatorTaskService(lambda: BillingUnitOfWork(service_engine), now)


def open_task(engine: sa.Engine) -> int:
    """A `receipt_canceled` task as the receipt follower opens it (arrangement)."""
    with engine.begin() as conn:
        return conn.execute(
            t.operator_tasks.insert()
            .values(kind="receipt_canceled", object_type="payment", object_id=str(uuid.uuid4()), detail="…")
            .returning(t.operator_tasks.c.id)
        ).scalar_one()


def test_resolving_records_when_who_and_the_note_once(tasks, service_engine, now):
    task_id = open_task(service_engine)
    resolved = tasks.resolve(task_id, "operator-1", "issued through the OFD")
    assert (resolved.resolved_at, resolved.resolved_by, resolved.resolution_note) == (
        now(),
        "operator-1",
        "issued through the OFD",
    )
    now.advance(timedelta(hours=1))
    assert tasks.resolve(task_id, "operator-2", "again") == resolved  # the first resolution stays
    with service_engine.connect() as conn:
        row = conn.execute(sa.select(t.operator_tasks).where(t.operator_tasks.c.id == task_id)).one()
    assert (row.resolved_at, row.resolved_by) == (resolved.resolved_at, "operator-1")


def test_an_unknown_task_is_not_found(tasks):
    with pytest.raises(NotFound) as refused:
        tasks.resolve(2**62, "operator-1", "")
    assert refused.value.code == "operator_task_not_found"
