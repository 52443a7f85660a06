"""What time it is as the services see it: the system clock, or the shared test clock outside production.

With ``KINOBILL_TEST_CLOCK=1`` every service adds an offset kept in Redis to the real time (see
``kinobill.clock``); the console reads the same offset, so the dashboard's day windows, "stuck" ages, a
plan's "on sale" and the refund estimate agree with what the services do after `kinobill clock --advance`.
``kinobill.clock`` only needs ``redis``, so importing it costs nothing here; ``kinobill.runtime`` is not
used because it would read the services' whole settings (keys, YooKassa, pools) into the console.
Production never enables it (settings refuse it), so the pod still needs no Redis.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache

from django.conf import settings

from kinobill.clock import Clock, SystemClock, TestClock


@lru_cache(maxsize=1)
def _clock() -> Clock:
    if settings.KINOBILL_TEST_CLOCK:
        import redis

        return TestClock(redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2))
    return SystemClock()


def now() -> datetime:
    return _clock().now()


def uses_test_clock() -> bool:
    return bool(settings.KINOBILL_TEST_CLOCK)
