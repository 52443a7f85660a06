"""The refund rule's edge cases as a Markdown table (for issue notes and the CLI).

``main()`` prints one row per case in :data:`EDGE_CASES`, computed with :func:`quote_refund`; the
expected amounts are pinned in ``tests/domain/test_refund_table.py``. Run it with
``python -m kinobill.domain.refund_table``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from kinobill.domain.errors import DomainError
from kinobill.domain.money import Kopecks, format_rub
from kinobill.domain.periods import BillingPeriod, period_bounds
from kinobill.domain.refunds import FULL_REFUND_WINDOW, quote_refund

_JAN_2026 = datetime(2026, 1, 1, tzinfo=UTC)  # a 31-day month
_APR_2026 = datetime(2026, 4, 1, tzinfo=UTC)  # a 30-day month
_FEB_2028 = datetime(2028, 2, 1, tzinfo=UTC)  # a 29-day month (leap year)
_ANCHOR_31_JAN = datetime(2026, 1, 31, tzinfo=UTC)


@dataclass(frozen=True)
class RefundCase:
    name: str
    paid: Kopecks
    already_refunded: Kopecks
    period_start: datetime
    period_end: datetime
    now: datetime


def _month(start: datetime) -> tuple[datetime, datetime]:
    return period_bounds(start, BillingPeriod.MONTH, 0)


def _case(name: str, paid: Kopecks, refunded: Kopecks, bounds: tuple[datetime, datetime], after: timedelta):
    start, end = bounds
    return RefundCase(name, paid, refunded, start, end, start + after)


_RENEWED = period_bounds(_ANCHOR_31_JAN, BillingPeriod.MONTH, 2)  # 31 Mar → 30 Apr 2026, 3rd period

EDGE_CASES: tuple[RefundCase, ...] = (
    _case("asked before the period starts (test clock)", 29900, 0, _month(_JAN_2026), -timedelta(hours=1)),
    _case("at the period start", 29900, 0, _month(_JAN_2026), timedelta(0)),
    _case("7 d − 1 s after start", 29900, 0, _month(_JAN_2026), FULL_REFUND_WINDOW - timedelta(seconds=1)),
    _case("exactly 7 d after start", 29900, 0, _month(_JAN_2026), FULL_REFUND_WINDOW),
    _case("7 d + 1 s after start", 29900, 0, _month(_JAN_2026), FULL_REFUND_WINDOW + timedelta(seconds=1)),
    _case("day 20 of a 30-day month", 29900, 0, _month(_APR_2026), timedelta(days=20)),
    _case(
        "day 200 of a 365-day year",
        299000,
        0,
        period_bounds(_JAN_2026, BillingPeriod.YEAR, 0),
        timedelta(days=200),
    ),
    _case("day 10 of February 2028 (29 days)", 29900, 0, _month(_FEB_2028), timedelta(days=10)),
    _case("after 2 renewals (anchor 31 Jan): day 15", 29900, 0, _RENEWED, timedelta(days=15)),
    _case("after 2 renewals (anchor 31 Jan): day 3", 29900, 0, _RENEWED, timedelta(days=3)),
    _case(
        "rounding down: 31-day month at an odd second",
        29900,
        0,
        _month(_JAN_2026),
        timedelta(days=10, seconds=12349),
    ),
    _case("earlier partial refund 50.00, day 20 of 30", 29900, 5000, _month(_APR_2026), timedelta(days=20)),
    _case("earlier partial refund 50.00, day 3", 29900, 5000, _month(_APR_2026), timedelta(days=3)),
    _case("earlier refund 100.00 > prorated share", 29900, 10000, _month(_APR_2026), timedelta(days=20)),
    _case("everything already refunded", 29900, 29900, _month(_APR_2026), timedelta(days=1)),
    _case("1 s before the period ends", 29900, 0, _month(_APR_2026), timedelta(days=30, seconds=-1)),
    _case("at the period end", 29900, 0, _month(_APR_2026), timedelta(days=30)),
)


def _elapsed(case: RefundCase) -> str:
    delta = case.now - case.period_start
    sign = "−" if delta < timedelta(0) else ""
    seconds = abs(delta) // timedelta(seconds=1)
    days, rest = divmod(seconds, 86_400)
    if not rest:
        return f"{sign}{days} d"
    hours, rest = divmod(rest, 3_600)
    return f"{sign}{days} d {hours:02d}:{rest // 60:02d}:{rest % 60:02d}"


def row(case: RefundCase) -> list[str]:
    """The table cells for one case."""
    cells = [
        case.name,
        f"{case.period_start:%Y-%m-%d} → {case.period_end:%Y-%m-%d}",
        format_rub(case.paid),
        format_rub(case.already_refunded),
        _elapsed(case),
    ]
    try:
        quote = quote_refund(
            paid=case.paid,
            already_refunded=case.already_refunded,
            period_start=case.period_start,
            period_end=case.period_end,
            now=case.now,
        )
    except DomainError as exc:
        return [*cells, "—", "—", f"error `{exc.code}`"]
    kind = "full" if quote.full else "prorated"
    ratio = f"{quote.unused_seconds} / {quote.length_seconds}"
    amount = format_rub(quote.amount) if quote.amount else "0.00 (`nothing_to_refund`)"
    return [*cells, kind, ratio, amount]


HEADER = [
    "case",
    "period (UTC)",
    "paid",
    "already refunded",
    "asked after start",
    "kind",
    "unused / length s",
    "refund",
]


def render(cases: tuple[RefundCase, ...] = EDGE_CASES) -> str:
    """The Markdown table."""
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(row(case)) + " |" for case in cases]
    return "\n".join(lines)


def main() -> None:
    print(render())


if __name__ == "__main__":
    main()
