"""Fixtures for refunds: the shared test clock (reset after each test) and the database; the money path's
`plan` and `buyer`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
import sqlalchemy as sa

from kinobill.clock import TestClock
from money.conftest import buyer, plan  # noqa: F401 - fixtures reused from the money path


@pytest.fixture()
def clock(redis_url: str) -> Iterator[TestClock]:
    test_clock = TestClock(redis.Redis.from_url(redis_url))
    yield test_clock
    test_clock.reset()


@pytest.fixture(scope="module")
def db(migrated_database: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(migrated_database)
    yield engine
    engine.dispose()
