"""Helpers shared by the list views: cheap paging (no COUNT over big tables) and query strings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest

PAGE_SIZE = 50


@dataclass
class Page:
    rows: list[Any]
    number: int
    has_next: bool
    query_prev: str
    query_next: str

    @property
    def has_previous(self) -> bool:
        return self.number > 1


def paginate(request: HttpRequest, queryset: QuerySet, size: int = PAGE_SIZE) -> Page:
    try:
        number = max(1, int(request.GET.get("page", "1")))
    except ValueError:
        number = 1
    offset = (number - 1) * size
    rows = list(queryset[offset : offset + size + 1])
    params = request.GET.copy()
    params["page"] = str(number - 1)
    prev_query = params.urlencode()
    params["page"] = str(number + 1)
    return Page(rows[:size], number, len(rows) > size, prev_query, params.urlencode())


def filter_query(request: HttpRequest) -> str:
    params = request.GET.copy()
    params.pop("page", None)
    return params.urlencode()
