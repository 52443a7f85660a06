"""Billing periods: calendar months or years counted from an anchor, anchor-preserving.

Rule (docs/design.md "Periods"): period ``k`` (0-based) runs from boundary ``k`` to boundary ``k + 1``,
where boundary ``k`` is ``anchor + k months`` (``k * 12`` months for yearly plans) computed *from the
anchor* — never from the previous boundary — with the day clamped to the target month's length.
So a 31 Jan anchor gives 28/29 Feb, 31 Mar, 30 Apr, 31 May, ... (the 31st comes back), and a
29 Feb 2028 yearly anchor gives 28 Feb 2029, 2030, 2031 and 29 Feb 2032. Consecutive periods are
contiguous by construction: ``period_start(k + 1) == period_end(k)``.

The time of day and the ``tzinfo`` of the anchor are kept. The calendar used for "the same day next
month" is the anchor's own time zone: an anchor of 31 Jan 01:00 MSK lands on 28 Feb 01:00 MSK, while the
same instant written in UTC (30 Jan 22:00 UTC) lands on 28 Feb 22:00 UTC, one day later. Pick the
zone deliberately when storing anchors. Naive datetimes are rejected with ``ValueError``.

Comparisons with ``moment`` in :func:`period_index_at` are made between instants (UTC), so a moment
given in another zone is placed correctly.
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta
from enum import StrEnum


class BillingPeriod(StrEnum):
    MONTH = "month"
    YEAR = "year"

    @property
    def months(self) -> int:
        """Calendar months in one period of this kind."""
        return 1 if self is BillingPeriod.MONTH else 12


def require_aware(value: datetime, name: str = "datetime") -> datetime:
    """Return ``value`` if it is a timezone-aware datetime, else raise ``ValueError``."""
    if not isinstance(value, datetime):
        raise ValueError(f"{name} must be a datetime, not {type(value).__name__}")
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value.isoformat()}")
    return value


def add_months(value: datetime, months: int) -> datetime:
    """``value`` shifted by ``months`` calendar months, the day clamped to the target month's length.

    Time of day and ``tzinfo`` are kept. ``months`` may be negative.
    """
    total = value.year * 12 + (value.month - 1) + months
    year, month0 = divmod(total, 12)
    month = month0 + 1
    if not 1 <= year <= 9999:
        raise ValueError(f"{value.isoformat()} + {months} months is outside the supported years")
    day = min(value.day, calendar.monthrange(year, month)[1])
    return value.replace(year=year, month=month, day=day)


def _check_index(index: int) -> int:
    if isinstance(index, bool) or not isinstance(index, int):
        raise ValueError(f"period index must be an int, not {type(index).__name__}")
    if index < 0:
        raise ValueError(f"period index must not be negative, got {index}")
    return index


def _boundary(anchor: datetime, period: BillingPeriod, k: int) -> datetime:
    return add_months(anchor, k * BillingPeriod(period).months)


def period_end(anchor: datetime, period: BillingPeriod, index: int) -> datetime:
    """End (exclusive) of period ``index`` (0-based): ``anchor + (index + 1)`` months or years."""
    require_aware(anchor, "anchor")
    return _boundary(anchor, period, _check_index(index) + 1)


def period_start(anchor: datetime, period: BillingPeriod, index: int) -> datetime:
    """Start (inclusive) of period ``index``: the anchor for 0, else the end of period ``index - 1``."""
    require_aware(anchor, "anchor")
    return _boundary(anchor, period, _check_index(index))


def period_bounds(anchor: datetime, period: BillingPeriod, index: int) -> tuple[datetime, datetime]:
    """``(start, end)`` of period ``index``; the period is the half-open interval ``[start, end)``."""
    return period_start(anchor, period, index), period_end(anchor, period, index)


def period_length(anchor: datetime, period: BillingPeriod, index: int) -> timedelta:
    """Real elapsed time of period ``index`` (measured between UTC instants)."""
    start, end = period_bounds(anchor, period, index)
    return end.astimezone(UTC) - start.astimezone(UTC)


def period_index_at(anchor: datetime, period: BillingPeriod, moment: datetime) -> int:
    """Index of the period containing ``moment`` (``start <= moment < end``).

    Raises ``ValueError`` when ``moment`` is before the anchor (no period contains it).
    """
    require_aware(anchor, "anchor")
    require_aware(moment, "moment")
    instant = moment.astimezone(UTC)
    if instant < anchor.astimezone(UTC):
        raise ValueError(f"moment {moment.isoformat()} is before the anchor {anchor.isoformat()}")
    local = moment.astimezone(anchor.tzinfo)
    months = (local.year - anchor.year) * 12 + (local.month - anchor.month)
    index = max(0, months // BillingPeriod(period).months - 1)
    while _boundary(anchor, period, index + 1).astimezone(UTC) <= instant:
        index += 1
    while index > 0 and _boundary(anchor, period, index).astimezone(UTC) > instant:
        index -= 1
    return index


__all__ = [
    "BillingPeriod",
    "add_months",
    "period_bounds",
    "period_end",
    "period_index_at",
    "period_length",
    "period_start",
    "require_aware",
]
