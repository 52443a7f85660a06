"""Property checks with plain seeded loops (no Hypothesis): periods tile time, refunds stay bounded."""

from __future__ import annotations

import calendar
import random
from datetime import UTC, datetime, timedelta, timezone

import pytest

from kinobill.domain.errors import NothingToRefund, RefundPeriodOver
from kinobill.domain.periods import BillingPeriod, period_bounds, period_end, period_index_at, period_start
from kinobill.domain.refunds import FULL_REFUND_WINDOW, quote_refund, refund_amount

ZONES = [UTC, timezone(timedelta(hours=3)), timezone(timedelta(hours=-7, minutes=-30))]


def random_anchor(rng: random.Random) -> datetime:
    year = rng.randint(1990, 2090)
    month = rng.randint(1, 12)
    day = rng.choice([1, 15, 28, 29, 30, 31, rng.randint(1, 31)])
    day = min(day, calendar.monthrange(year, month)[1])
    return datetime(year, month, day, rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59),
                    tzinfo=rng.choice(ZONES))  # fmt: skip


@pytest.mark.parametrize("period", list(BillingPeriod))
@pytest.mark.parametrize("seed", range(4))
def test_periods_are_contiguous_and_anchor_preserving(period: BillingPeriod, seed: int) -> None:
    rng = random.Random(f"periods-{seed}-{period}")
    for _ in range(150):
        anchor = random_anchor(rng)
        for index in range(25 if period is BillingPeriod.MONTH else 6):
            start, end = period_bounds(anchor, period, index)
            assert start < end
            assert period_start(anchor, period, index + 1) == end
            assert (end.time(), end.tzinfo) == (anchor.time(), anchor.tzinfo)
            assert end.day == min(anchor.day, calendar.monthrange(end.year, end.month)[1])
            assert (end.year * 12 + end.month) - (anchor.year * 12 + anchor.month) == (
                index + 1
            ) * period.months
            length = end - start
            if period is BillingPeriod.MONTH:
                assert timedelta(days=28) <= length <= timedelta(days=31)
            else:
                assert timedelta(days=365) <= length <= timedelta(days=366)
            assert period_index_at(anchor, period, start) == index
            assert period_index_at(anchor, period, end - timedelta(microseconds=1)) == index
            middle = start + (end - start) * rng.random()
            assert period_index_at(anchor, period, middle) == index
        assert period_end(anchor, period, 0) == period_start(anchor, period, 1)


@pytest.mark.parametrize("seed", range(4))
def test_refund_never_exceeds_what_is_left(seed: int) -> None:
    rng = random.Random(f"refunds-{seed}")
    for _ in range(2000):
        anchor = random_anchor(rng)
        period = rng.choice(list(BillingPeriod))
        start, end = period_bounds(anchor, period, rng.randint(0, 24))
        paid = rng.choice([100, 29900, 299000, rng.randint(0, 10**9)])
        refunded = rng.choice([0, 0, paid, rng.randint(0, paid)])
        now = start + (end - start + timedelta(days=2)) * rng.random() - timedelta(days=1)
        args = {
            "paid": paid,
            "already_refunded": refunded,
            "period_start": start,
            "period_end": end,
            "now": now,
        }
        if now >= end:
            with pytest.raises(RefundPeriodOver):
                quote_refund(**args)
            continue
        quote = quote_refund(**args)
        assert 0 <= quote.amount <= paid - refunded
        assert quote.full is (now - start <= FULL_REFUND_WINDOW)
        if quote.full:
            assert quote.amount == paid - refunded
        else:
            assert quote.amount == max(0, paid * quote.unused_seconds // quote.length_seconds - refunded)
            # rounded down: what we pay out never exceeds the exact share
            paid_out = quote.amount + refunded
            assert quote.amount == 0 or paid_out * quote.length_seconds <= paid * quote.unused_seconds
        if quote.amount == 0:
            with pytest.raises(NothingToRefund):
                refund_amount(**args)
        else:
            assert refund_amount(**args) == quote.amount
