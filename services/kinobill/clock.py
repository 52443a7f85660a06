"""Where "now" comes from.

Production reads the system clock. Outside production a shared *test clock* can be switched on
(KINOBILL_TEST_CLOCK=1): every process then adds an offset kept in Redis to the real time, so
`kinobill clock --advance 29d` moves renewals, dunning and refunds forward for all of them at once.
Time keeps flowing; only the offset jumps (like Stripe's test clocks, minus the freezing).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol

import redis

from kinobill.domain import schedule
from kinobill.domain.errors import InvalidRenewalPolicy

TEST_CLOCK_KEY = "kinobill:test-clock:offset-us"


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class TestClock:
    """Real time plus a shared offset; the offset is re-read at most every ``refresh`` seconds."""

    __test__ = False  # not a pytest class

    def __init__(self, client: redis.Redis, refresh: float = 0.05) -> None:
        self._redis = client
        self._refresh = refresh
        self._offset = timedelta(0)
        self._read_at = -1.0

    def offset(self) -> timedelta:
        t = time.monotonic()
        if t - self._read_at >= self._refresh:
            try:
                raw = self._redis.get(TEST_CLOCK_KEY)
            except redis.RedisError:  # Redis unreachable: time goes on with the offset last read
                self._read_at = t
                return self._offset
            self._offset = timedelta(microseconds=int(raw)) if raw else timedelta(0)
            self._read_at = t
        return self._offset

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset()

    def set(self, moment: datetime) -> datetime:
        if moment.tzinfo is None:
            raise ValueError("the test clock needs a time with an offset, e.g. 2027-01-31T10:00:00+00:00")
        self._write(moment - datetime.now(UTC))
        return self.now()

    def advance(self, delta: timedelta) -> datetime:
        self._write(self.offset() + delta)
        return self.now()

    def reset(self) -> None:
        self._redis.delete(TEST_CLOCK_KEY)
        self._read_at = -1.0

    def _write(self, offset: timedelta) -> None:
        self._redis.set(TEST_CLOCK_KEY, int(offset / timedelta(microseconds=1)))
        self._read_at = -1.0


def parse_duration(text: str) -> timedelta:
    """'29d', '36h', '1d12h', '2w', plain seconds, or any of them negative (the test clock may go back):
    the renewal policy's duration syntax (`domain.schedule.parse_duration`) plus a sign and weeks."""
    body = text.replace(" ", "").lower()
    negative = body.startswith("-")
    body = body.removeprefix("-")
    if body.endswith("w") and body[:-1].isdigit():
        body = f"{int(body[:-1]) * 7}d"
    try:
        magnitude = schedule.parse_duration(body)
    except InvalidRenewalPolicy as exc:
        raise ValueError(f"not a duration: {text!r} (use e.g. 29d, 36h, 90m, 30s)") from exc
    return -magnitude if negative else magnitude
