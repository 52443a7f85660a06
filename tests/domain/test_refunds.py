"""Refunds: full within 7×24 h of the latest period's start (inclusive), else prorated by the second."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from kinobill.domain.errors import NothingToRefund, RefundPeriodOver
from kinobill.domain.periods import BillingPeriod, period_bounds
from kinobill.domain.refunds import FULL_REFUND_WINDOW, RefundQuote, quote_refund, refund_amount

S = timedelta(seconds=1)
D = timedelta(days=1)
JAN = (datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC))  # 31 days
APR = (datetime(2026, 4, 1, tzinfo=UTC), datetime(2026, 5, 1, tzinfo=UTC))  # 30 days
FEB_LEAP = (datetime(2028, 2, 1, tzinfo=UTC), datetime(2028, 3, 1, tzinfo=UTC))  # 29 days
YEAR_2026 = (datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))  # 365 days
# anchor 31 Jan 2026, renewed twice: the latest period is the third one, 31 Mar → 30 Apr (30 days)
RENEWED = period_bounds(datetime(2026, 1, 31, tzinfo=UTC), BillingPeriod.MONTH, 2)


def quote(paid: int, refunded: int, bounds: tuple[datetime, datetime], after: timedelta) -> RefundQuote:
    start, end = bounds
    return quote_refund(
        paid=paid, already_refunded=refunded, period_start=start, period_end=end, now=start + after
    )


def amount(paid: int, refunded: int, bounds: tuple[datetime, datetime], after: timedelta) -> int:
    start, end = bounds
    return refund_amount(
        paid=paid, already_refunded=refunded, period_start=start, period_end=end, now=start + after
    )


def test_window_is_seven_days() -> None:
    assert FULL_REFUND_WINDOW == timedelta(days=7) == timedelta(seconds=604_800)


def test_renewed_period_bounds() -> None:
    assert (datetime(2026, 3, 31, tzinfo=UTC), datetime(2026, 4, 30, tzinfo=UTC)) == RENEWED


@pytest.mark.parametrize(
    ("paid", "refunded", "bounds", "after", "expected", "full"),
    [
        # the 7-day boundary (31-day month, 299.00)
        pytest.param(29900, 0, JAN, -timedelta(hours=1), 29900, True, id="before-start-is-full"),
        pytest.param(29900, 0, JAN, timedelta(0), 29900, True, id="at-start-full"),
        pytest.param(29900, 0, JAN, 7 * D - S, 29900, True, id="7d-minus-1s-full"),
        pytest.param(29900, 0, JAN, 7 * D, 29900, True, id="exactly-7d-full-inclusive"),
        pytest.param(29900, 0, JAN, 7 * D + S, 23148, False, id="7d-plus-1s-prorated"),
        pytest.param(29900, 0, JAN, 7 * D + S / 2, 23148, False, id="7d-plus-half-second-prorated"),
        # 29900 × 10/30 = 9966.67 → 9966
        pytest.param(29900, 0, APR, 20 * D, 9966, False, id="day-20-of-30-day-month"),
        # 299000 × 165/365 = 135164.38 → 135164
        pytest.param(299000, 0, YEAR_2026, 200 * D, 135164, False, id="day-200-of-365-day-year"),
        # 29900 × 19/29 = 19589.66 → 19589
        pytest.param(29900, 0, FEB_LEAP, 10 * D, 19589, False, id="leap-february-29-day-period"),
        # 29900 × 15/30 = 14950 exactly
        pytest.param(29900, 0, RENEWED, 15 * D, 14950, False, id="after-renewal-prorated-latest-period"),
        pytest.param(29900, 0, RENEWED, 3 * D, 29900, True, id="after-renewal-full-from-new-start"),
        # 29900 × 1802051/2678400 = 20116.98 → 20116 (rounded down, not to nearest)
        pytest.param(29900, 0, JAN, 10 * D + 12349 * S, 20116, False, id="rounding-down-odd-second"),
        # a fraction of an unused second is dropped: unused 1802050 s → 20116.97 → 20116
        pytest.param(29900, 0, JAN, 10 * D + 12349 * S + S / 2, 20116, False, id="sub-second-unused-dropped"),
        pytest.param(29900, 5000, APR, 20 * D, 4966, False, id="after-partial-refund-prorated"),
        pytest.param(29900, 5000, APR, 3 * D, 24900, True, id="after-partial-refund-full"),
        pytest.param(29900, 29899, APR, 3 * D, 1, True, id="one-kopeck-left"),
        pytest.param(100, 0, APR, 29 * D, 3, False, id="minimum-price-last-day"),
        pytest.param(29900, 0, APR, 30 * D - 8670 * S, 100, False, id="exactly-1-rub-left"),
    ],
)
def test_refund_amount(
    paid: int, refunded: int, bounds: tuple[datetime, datetime], after: timedelta, expected: int, full: bool
) -> None:
    q = quote(paid, refunded, bounds, after)
    assert (q.amount, q.full) == (expected, full)
    assert amount(paid, refunded, bounds, after) == expected
    assert 0 < q.amount <= paid - refunded


@pytest.mark.parametrize(
    ("paid", "refunded", "bounds", "after"),
    [
        pytest.param(29900, 29900, APR, 1 * D, id="everything-already-refunded-full-window"),
        pytest.param(29900, 29900, APR, 20 * D, id="everything-already-refunded-prorated"),
        pytest.param(29900, 10000, APR, 20 * D, id="earlier-refund-exceeds-prorated-share"),
        pytest.param(29900, 0, APR, 30 * D - S, id="last-second-rounds-to-zero"),
        pytest.param(0, 0, APR, 1 * D, id="nothing-paid"),
    ],
)
def test_nothing_to_refund(
    paid: int, refunded: int, bounds: tuple[datetime, datetime], after: timedelta
) -> None:
    assert quote(paid, refunded, bounds, after).amount == 0
    with pytest.raises(NothingToRefund) as caught:
        amount(paid, refunded, bounds, after)
    assert caught.value.code == "nothing_to_refund"


@pytest.mark.parametrize(
    ("refunded", "bounds", "after"),
    [
        pytest.param(0, APR, 30 * D, id="at-period-end"),
        pytest.param(0, APR, 30 * D + S, id="after-period-end"),
        pytest.param(29900, APR, 40 * D, id="over-beats-nothing-to-refund"),
        pytest.param(0, JAN, 365 * D, id="long-after"),
    ],
)
def test_period_over(refunded: int, bounds: tuple[datetime, datetime], after: timedelta) -> None:
    with pytest.raises(RefundPeriodOver) as caught:
        quote(29900, refunded, bounds, after)
    assert caught.value.code == "refund_period_over"
    with pytest.raises(RefundPeriodOver):
        amount(29900, refunded, bounds, after)


def test_quote_details() -> None:
    q = quote(29900, 5000, APR, 20 * D)
    assert q == RefundQuote(amount=4966, full=False, unused_seconds=864_000, length_seconds=2_592_000,
                            paid=29900, already_refunded=5000)  # fmt: skip
    assert q.gross == 9966
    assert "49.66" in q.describe()
    full = quote(29900, 0, APR, -D)
    assert (full.unused_seconds, full.length_seconds, full.gross) == (2_592_000, 2_592_000, 29900)
    assert "299.00" in full.describe()


def test_durations_are_real_time_across_dst() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    start, end = datetime(2026, 3, 1, tzinfo=berlin), datetime(2026, 4, 1, tzinfo=berlin)
    q = quote_refund(paid=29900, already_refunded=0, period_start=start, period_end=end,
                     now=datetime(2026, 3, 31, tzinfo=berlin))  # fmt: skip
    assert q.length_seconds == 31 * 86_400 - 3_600
    assert q.unused_seconds == 86_400
    assert q.amount == 29900 * 86_400 // (31 * 86_400 - 3_600)


def test_now_in_another_zone_is_the_same_instant() -> None:
    start, end = APR
    msk_now = (start + 20 * D).astimezone(timezone(timedelta(hours=3)))
    assert (
        refund_amount(paid=29900, already_refunded=0, period_start=start, period_end=end, now=msk_now) == 9966
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"now": datetime(2026, 4, 10)}, id="naive-now"),
        pytest.param({"period_start": datetime(2026, 4, 1)}, id="naive-start"),
        pytest.param({"period_end": APR[0]}, id="end-equals-start"),
        pytest.param({"period_end": APR[0] - D}, id="end-before-start"),
        pytest.param({"paid": -1}, id="negative-paid"),
        pytest.param({"already_refunded": -1}, id="negative-refunded"),
        pytest.param({"already_refunded": 30000}, id="refunded-more-than-paid"),
        pytest.param({"paid": 299.0}, id="float-paid"),
        pytest.param({"paid": True}, id="bool-paid"),
    ],
)
def test_programming_errors(kwargs: dict[str, object]) -> None:
    args: dict[str, object] = {
        "paid": 29900,
        "already_refunded": 0,
        "period_start": APR[0],
        "period_end": APR[1],
        "now": APR[0] + 10 * D,
    }
    args.update(kwargs)
    with pytest.raises(ValueError):
        quote_refund(**args)


def test_prorated_amount_never_increases_with_time() -> None:
    start, end = JAN
    previous = 29900
    now = start
    while now < end:
        current = quote_refund(
            paid=29900, already_refunded=0, period_start=start, period_end=end, now=now
        ).amount
        assert current <= previous
        previous = current
        now += timedelta(hours=1, seconds=7)
