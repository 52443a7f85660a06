"""The reconcilers' common pass: every pending row whose check is due, oldest first, one at a time."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime

import sqlalchemy as sa

log = logging.getLogger(__name__)


def reconcile_due(
    engine: sa.Engine,
    table: sa.Table,
    now: datetime,
    reconcile_one: Callable[[uuid.UUID], bool],
    on_settled: Callable[[], None],
    limit: int = 100,
) -> int:
    """Run `reconcile_one` on each row of `table` still `pending` after its `next_check_at`; one failing
    row never stops the pass. Returns how many reached a final state."""
    with engine.connect() as conn:
        due = (
            conn.execute(
                sa.select(table.c.id)
                .where(table.c.status == "pending", table.c.next_check_at <= now)
                .order_by(table.c.next_check_at)
                .limit(limit)
            )
            .scalars()
            .all()
        )
    settled = 0
    for row_id in due:
        try:
            if reconcile_one(row_id):
                settled += 1
                on_settled()
        except Exception:
            log.exception("reconciling %s %s failed", table.name, row_id)
    return settled
