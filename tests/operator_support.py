"""Helpers of the operator tests (tests/operator and tests/k8s): due subscriptions and the charge commands
a pass leaves in the outbox."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from kinobill.subscriptions import tables as st

REPO = Path(__file__).resolve().parents[1]
CRD_PATH = REPO / "charts" / "kinobill" / "crds" / "renewalschedules.kinobill.io.yaml"


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
