"""Operator tests: the kopf handlers against a real Postgres, and kopf itself against kmock.

The handlers run scheduler passes, and a pass takes *every* due subscription of its database. The session's
shared database (``migrated_database``) also has the full suite's background worker running its own
scheduler, and other tests' subscriptions; so these tests use a private database on the same server,
created and migrated here, where the only due subscriptions are the ones the tests insert.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from kinobill.subscriptions import tables as st

REPO = Path(__file__).resolve().parents[2]
CRD_PATH = REPO / "charts" / "kinobill" / "crds" / "renewalschedules.kinobill.io.yaml"


@pytest.fixture(scope="session")
def operator_database(migrated_database: str) -> Iterator[str]:
    from kinobill import migrations

    name = f"kb_operator_{uuid.uuid4().hex[:10]}"
    server = sa.create_engine(migrated_database, isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.make_url(migrated_database).set(database=name).render_as_string(hide_password=False)
    migrations.upgrade(url)
    yield url
    with server.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    server.dispose()


@pytest.fixture(scope="session")
def operator_engine(operator_database: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(operator_database)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def crd() -> dict[str, Any]:
    return dict(yaml.safe_load(CRD_PATH.read_text()))


def insert_due_subscription(engine: sa.Engine, now: datetime) -> uuid.UUID:
    """An active, auto-renewing monthly subscription with a saved card whose renewal attempt is due now."""
    plan_id, sub_id = uuid.uuid4(), uuid.uuid4()
    start = now - timedelta(days=30)
    with engine.begin() as conn:
        conn.execute(
            st.plans.insert().values(
                id=plan_id,
                code=f"op-{plan_id.hex[:12]}",
                name="Operator test plan",
                price_month=29900,
                price_year=299000,
                sale_start=start - timedelta(days=1),
            )
        )
        conn.execute(
            st.subscriptions.insert().values(
                id=sub_id,
                user_id=uuid.uuid4(),
                user_email="operator-test@example.com",
                plan_id=plan_id,
                period="month",
                status="active",
                auto_renew=True,
                anchor_at=start,
                period_index=0,
                current_period_start=start,
                current_period_end=now + timedelta(hours=12),
                price=29900,
                payment_method_id=f"pm-{sub_id.hex[:8]}",
                failed_attempts=0,
                next_attempt_at=now - timedelta(minutes=1),
                reminded_period=0,
            )
        )
    return sub_id


def charge_commands_for(engine: sa.Engine, subscription_id: uuid.UUID) -> list[dict[str, Any]]:
    from kinobill.events import CHARGE_COMMANDS

    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(st.outbox.c.payload)
            .where(
                st.outbox.c.stream == CHARGE_COMMANDS,
                st.outbox.c.payload["subscription_id"].astext == str(subscription_id),
            )
            .order_by(st.outbox.c.id)
        ).all()
    return [dict(r.payload) for r in rows]


def utcnow() -> datetime:
    return datetime.now(UTC)
