"""The reconcilers' common pass: every row whose check is due, oldest first, one at a time."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence

log = logging.getLogger(__name__)


def reconcile_due(
    what: str,
    due: Sequence[uuid.UUID],
    reconcile_one: Callable[[uuid.UUID], bool],
    on_settled: Callable[[], None],
) -> int:
    """Run `reconcile_one` on each of the `due` rows (of `what`: payments, refunds); one failing row never
    stops the pass. Returns how many reached a final state."""
    settled = 0
    for row_id in due:
        try:
            if reconcile_one(row_id):
                settled += 1
                on_settled()
        except Exception:
            log.exception("reconciling %s %s failed", what, row_id)
    return settled
