"""Periods: calendar-based, anchor-preserving month and year boundaries."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from kinobill.domain.periods import (
    BillingPeriod,
    add_months,
    period_bounds,
    period_end,
    period_index_at,
    period_length,
    period_start,
)

MONTH = BillingPeriod.MONTH
YEAR = BillingPeriod.YEAR
MSK = timezone(timedelta(hours=3))


def _ends(anchor: datetime, period: BillingPeriod, count: int) -> list[date]:
    return [period_end(anchor, period, i).date() for i in range(count)]


@pytest.mark.parametrize(
    ("anchor", "period", "expected"),
    [
        pytest.param(
            datetime(2026, 1, 31, tzinfo=UTC),
            MONTH,
            ["2026-02-28", "2026-03-31", "2026-04-30", "2026-05-31", "2026-06-30", "2026-07-31",
             "2026-08-31", "2026-09-30", "2026-10-31", "2026-11-30", "2026-12-31", "2027-01-31",
             "2027-02-28"],
            id="31-jan-monthly-13-months",
        ),
        pytest.param(
            datetime(2028, 1, 31, tzinfo=UTC),
            MONTH,
            ["2028-02-29", "2028-03-31", "2028-04-30"],
            id="31-jan-monthly-leap-february",
        ),
        pytest.param(
            datetime(2026, 1, 30, tzinfo=UTC),
            MONTH,
            ["2026-02-28", "2026-03-30", "2026-04-30", "2026-05-30"],
            id="30-jan-monthly",
        ),
        pytest.param(
            datetime(2026, 1, 29, tzinfo=UTC),
            MONTH,
            ["2026-02-28", "2026-03-29"],
            id="29-jan-monthly-common-year",
        ),
        pytest.param(
            datetime(2025, 12, 31, tzinfo=UTC),
            MONTH,
            ["2026-01-31", "2026-02-28", "2026-03-31", "2026-04-30"],
            id="31-dec-monthly-crosses-year",
        ),
        pytest.param(
            datetime(2026, 1, 15, tzinfo=UTC),
            MONTH,
            ["2026-02-15", "2026-03-15", "2026-04-15"],
            id="mid-month",
        ),
        pytest.param(
            datetime(2028, 2, 29, tzinfo=UTC),
            YEAR,
            ["2029-02-28", "2030-02-28", "2031-02-28", "2032-02-29", "2033-02-28", "2034-02-28",
             "2035-02-28", "2036-02-29"],
            id="29-feb-yearly-8-years",
        ),
        pytest.param(
            datetime(2025, 12, 31, tzinfo=UTC),
            YEAR,
            ["2026-12-31", "2027-12-31"],
            id="31-dec-yearly",
        ),
        pytest.param(
            datetime(2100, 1, 31, tzinfo=UTC),
            MONTH,
            ["2100-02-28"],
            id="2100-is-not-leap",
        ),
    ],
)  # fmt: skip
def test_period_end_chain(anchor: datetime, period: BillingPeriod, expected: list[str]) -> None:
    assert _ends(anchor, period, len(expected)) == [date.fromisoformat(d) for d in expected]


@pytest.mark.parametrize(
    "anchor",
    [
        pytest.param(datetime(2026, 1, 31, 23, 59, 59, 999999, tzinfo=UTC), id="utc-end-of-day-micro"),
        pytest.param(datetime(2026, 1, 31, 1, 30, tzinfo=MSK), id="fixed-offset-plus-3"),
        pytest.param(datetime(2026, 1, 31, 9, 15, tzinfo=ZoneInfo("Europe/Moscow")), id="zoneinfo-moscow"),
        pytest.param(
            datetime(2026, 1, 31, 18, 0, tzinfo=timezone(timedelta(hours=-5))), id="negative-offset"
        ),
    ],
)
def test_time_of_day_and_tz_are_kept(anchor: datetime) -> None:
    for index in range(14):
        end = period_end(anchor, MONTH, index)
        assert end.time() == anchor.time()
        assert end.tzinfo is anchor.tzinfo


def test_calendar_is_the_anchors_zone() -> None:
    """The same instant written in MSK or UTC clamps in its own calendar: documented, not a bug."""
    msk = datetime(2026, 1, 31, 1, 0, tzinfo=MSK)
    utc = msk.astimezone(UTC)  # 2026-01-30 22:00 UTC
    assert period_end(msk, MONTH, 0) == datetime(2026, 2, 28, 1, 0, tzinfo=MSK)
    assert period_end(utc, MONTH, 0) == datetime(2026, 2, 28, 22, 0, tzinfo=UTC)


def test_dst_zone_keeps_wall_clock_and_length_is_real_time() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    anchor = datetime(2026, 3, 1, tzinfo=berlin)  # CET; 29 Mar 2026 switches to CEST
    assert period_end(anchor, MONTH, 0) == datetime(2026, 4, 1, tzinfo=berlin)
    assert period_length(anchor, MONTH, 0) == timedelta(days=31, hours=-1)


@pytest.mark.parametrize(
    ("anchor", "index", "start", "end"),
    [
        pytest.param("2026-01-31", 0, "2026-01-31", "2026-02-28", id="first"),
        pytest.param("2026-01-31", 1, "2026-02-28", "2026-03-31", id="second-starts-where-first-ended"),
        pytest.param("2026-01-31", 2, "2026-03-31", "2026-04-30", id="third"),
        pytest.param("2026-01-31", 12, "2027-01-31", "2027-02-28", id="thirteenth"),
    ],
)
def test_period_bounds(anchor: str, index: int, start: str, end: str) -> None:
    a = datetime.fromisoformat(anchor).replace(tzinfo=UTC)
    bounds = period_bounds(a, MONTH, index)
    assert bounds == (
        datetime.fromisoformat(start).replace(tzinfo=UTC),
        datetime.fromisoformat(end).replace(tzinfo=UTC),
    )
    assert period_start(a, MONTH, index) == bounds[0]
    assert period_end(a, MONTH, index) == bounds[1]


@pytest.mark.parametrize(
    ("moment", "period", "index"),
    [
        pytest.param("2026-01-31T10:00:00+00:00", MONTH, 0, id="at-anchor"),
        pytest.param("2026-02-28T09:59:59+00:00", MONTH, 0, id="just-before-first-end"),
        pytest.param("2026-02-28T10:00:00+00:00", MONTH, 1, id="at-first-end-is-next"),
        pytest.param("2026-03-31T09:59:59.999999+00:00", MONTH, 1, id="microsecond-before"),
        pytest.param("2026-03-31T10:00:00+00:00", MONTH, 2, id="back-on-31st"),
        pytest.param("2026-03-31T13:00:00+03:00", MONTH, 2, id="same-instant-other-zone"),
        pytest.param("2027-02-28T10:00:00+00:00", MONTH, 13, id="a-year-later"),
        pytest.param("2036-01-01T00:00:00+00:00", MONTH, 119, id="ten-years"),
        pytest.param("2026-12-31T00:00:00+00:00", YEAR, 0, id="yearly-first"),
        pytest.param("2027-01-31T10:00:00+00:00", YEAR, 1, id="yearly-at-boundary"),
    ],
)
def test_period_index_at(moment: str, period: BillingPeriod, index: int) -> None:
    anchor = datetime(2026, 1, 31, 10, tzinfo=UTC)
    m = datetime.fromisoformat(moment)
    assert period_index_at(anchor, period, m) == index
    start, end = period_bounds(anchor, period, index)
    assert start <= m < end


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda: period_end(datetime(2026, 1, 31), MONTH, 0), id="end-naive-anchor"),
        pytest.param(lambda: period_start(datetime(2026, 1, 31), MONTH, 1), id="start-naive-anchor"),
        pytest.param(lambda: period_bounds(datetime(2026, 1, 31), YEAR, 0), id="bounds-naive-anchor"),
        pytest.param(
            lambda: period_index_at(datetime(2026, 1, 31, tzinfo=UTC), MONTH, datetime(2026, 3, 1)),
            id="index-naive-moment",
        ),
        pytest.param(
            lambda: period_index_at(
                datetime(2026, 1, 31, tzinfo=UTC), MONTH, datetime(2026, 1, 30, tzinfo=UTC)
            ),
            id="index-moment-before-anchor",
        ),
        pytest.param(lambda: period_end(datetime(2026, 1, 31, tzinfo=UTC), MONTH, -1), id="negative-index"),
        pytest.param(lambda: period_end(datetime(2026, 1, 31, tzinfo=UTC), MONTH, True), id="bool-index"),
        pytest.param(lambda: period_end(datetime(2026, 1, 31, tzinfo=UTC), "week", 0), id="unknown-period"),
        pytest.param(lambda: add_months(datetime(9999, 12, 1, tzinfo=UTC), 1), id="past-year-9999"),
    ],
)
def test_rejections(call: Callable[[], object]) -> None:
    with pytest.raises(ValueError):
        call()


def test_period_accepts_plain_strings() -> None:
    anchor = datetime(2026, 1, 31, tzinfo=UTC)
    assert period_end(anchor, "year", 0) == datetime(2027, 1, 31, tzinfo=UTC)
    assert BillingPeriod("month") is MONTH
    assert MONTH.months == 1 and YEAR.months == 12
