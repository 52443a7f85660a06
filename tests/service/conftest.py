"""In-process service tests: the real service classes on a real Postgres (a database of their own), with
fakes only at the ports: Billing's client, the YooKassa gateway and the clock."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from service_fakes import FakeBilling, FakeClock, FakeGateway

from kinobill.domain import schedule
from kinobill.subscriptions.plans import PlanCatalogue, PlanInput
from kinobill.subscriptions.repository import SubscriptionsUnitOfWork
from kinobill.subscriptions.results import PlanView
from support import private_database

START = datetime(2027, 1, 31, 10, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def service_engine(migrated_database: str) -> Iterator[sa.Engine]:
    with private_database(migrated_database, "kb_service") as url:
        engine = sa.create_engine(url)
        yield engine
        engine.dispose()


@pytest.fixture()
def now() -> FakeClock:
    return FakeClock(START)


@pytest.fixture()
def billing() -> FakeBilling:
    return FakeBilling()


@pytest.fixture()
def gateway() -> FakeGateway:
    return FakeGateway()


@pytest.fixture()
def uow(service_engine: sa.Engine) -> object:
    return lambda: SubscriptionsUnitOfWork(service_engine)


@pytest.fixture()
def policy() -> schedule.RenewalPolicy:
    return schedule.DEFAULT_POLICY


@pytest.fixture()
def plan(uow: object, now: FakeClock) -> PlanView:
    """A plan on sale since a day before the test's start: 299.00 a month, 2990.00 a year."""
    code = f"p{uuid.uuid4().hex[:10]}"
    return PlanCatalogue(uow, now).create(  # type: ignore[arg-type]
        PlanInput(
            code=code,
            name="Cinema",
            description="",
            price_month=29_900,
            price_year=299_000,
            sale_start=now() - timedelta(days=1),
            sale_end=None,
        )
    )
