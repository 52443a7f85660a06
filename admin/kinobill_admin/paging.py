"""Change-list paging that never counts millions of rows.

Django's admin asks its paginator for ``count`` on every change list. Here the planner estimates the
rows first (``EXPLAIN``, nothing read); a small estimate is checked with an exact count that stops
after ``EXACT_UP_TO + 1`` rows (``SELECT count(*)`` over the query with a LIMIT), and a large one is shown
as "about N". No change list ever counts millions of rows. Paging is capped at ``MAX_PAGES``: deeper
than that an OFFSET would scan the table, and a narrower filter or a search is the way to the rows.
"""

from __future__ import annotations

import json
from functools import cached_property
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.core.paginator import Paginator
from django.db import connections

EXACT_UP_TO = 1_000
MAX_PAGES = 200


def planner_estimate(queryset: Any) -> int:
    """Rows the planner expects the query to return (``EXPLAIN (FORMAT JSON)``), no execution."""
    try:
        sql, params = queryset.query.sql_with_params()
    except EmptyResultSet:  # e.g. a search that cannot match: no rows, nothing to ask
        return 0
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


def bounded_count(queryset: Any, limit: int) -> int:
    """The exact count when it is at most ``limit``; otherwise ``limit + 1`` (stops reading there)."""
    return queryset.order_by()[: limit + 1].count()


class EstimatedCountPaginator(Paginator):
    """A Paginator whose ``count`` is exact for small results and estimated for large ones."""

    estimated = False

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        estimate = planner_estimate(queryset.order_by())
        if estimate <= EXACT_UP_TO:
            exact = bounded_count(queryset, EXACT_UP_TO)
            if exact <= EXACT_UP_TO:
                return exact
        self.estimated = True
        return max(estimate, EXACT_UP_TO + 1)

    @cached_property
    def num_pages(self) -> int:
        return min(super().num_pages, MAX_PAGES)
