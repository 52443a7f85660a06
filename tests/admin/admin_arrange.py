"""Arranging service rows directly with SQL (tests only: the admin itself never writes these tables)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from kinobill.billing import tables as billing
from kinobill.subscriptions import tables as subs


def new_plan(engine: sa.Engine, **overrides: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    row = {
        "id": uuid.uuid4(),
        "code": f"t{uuid.uuid4().hex[:10]}",
        "name": "Arranged plan",
        "description": "",
        "price_month": 29900,
        "price_year": 299000,
        "currency": "RUB",
        "sale_start": now - timedelta(days=30),
        "sale_end": None,
        "created_at": now,
        "updated_at": now,
        **overrides,
    }
    with engine.begin() as conn:
        conn.execute(subs.plans.insert().values(**row))
    return row


def paid_subscription(
    engine: sa.Engine,
    plan: dict[str, Any],
    *,
    email: str | None = None,
    started: datetime | None = None,
    amount: int = 29900,
    status: str = "active",
    auto_renew: bool = True,
    provider_object: dict | None = None,
) -> dict[str, Any]:
    """An active monthly subscription with its first period paid by a succeeded payment."""
    start = started or datetime.now(UTC) - timedelta(days=2)
    end = start + timedelta(days=30)
    sub_id, user_id, payment_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    email = email or f"u{uuid.uuid4().hex[:8]}@example.com"
    provider_payment_id = f"pay-{uuid.uuid4().hex[:16]}"
    with engine.begin() as conn:
        conn.execute(
            subs.subscriptions.insert().values(
                id=sub_id,
                user_id=user_id,
                user_email=email,
                plan_id=plan["id"],
                period="month",
                price=amount,
                status=status,
                ended_reason="cancelled" if status == "ended" else None,
                auto_renew=auto_renew,
                anchor_at=start,
                period_index=0,
                current_period_start=start,
                current_period_end=end,
                created_at=start,
                updated_at=start,
            )
        )
        conn.execute(
            subs.periods.insert().values(
                subscription_id=sub_id,
                period_index=0,
                starts_at=start,
                ends_at=end,
                payment_id=payment_id,
                amount=amount,
            )
        )
        conn.execute(
            billing.payments.insert().values(
                id=payment_id,
                user_id=user_id,
                user_email=email,
                subscription_id=sub_id,
                period_index=0,
                kind="initial",
                charge_key=f"initial:{sub_id}",
                amount=amount,
                status="succeeded",
                provider_status="succeeded",
                provider_payment_id=provider_payment_id,
                provider_object=provider_object or {"id": provider_payment_id, "status": "succeeded"},
                created_at=start,
                updated_at=start,
                paid_at=start,
            )
        )
    return {
        "id": sub_id,
        "user_id": user_id,
        "email": email,
        "payment_id": payment_id,
        "provider_payment_id": provider_payment_id,
        "start": start,
        "end": end,
    }


def refund_row(
    engine: sa.Engine,
    sub: dict[str, Any],
    *,
    amount: int,
    status: str = "succeeded",
    created: datetime | None = None,
) -> dict[str, Any]:
    created = created or datetime.now(UTC)
    refund_id = uuid.uuid4()
    provider_refund_id = f"ref-{uuid.uuid4().hex[:16]}"
    with engine.begin() as conn:
        conn.execute(
            billing.refunds.insert().values(
                id=refund_id,
                payment_id=sub["payment_id"],
                subscription_id=sub["id"],
                user_id=sub["user_id"],
                refund_key=f"test:{refund_id}",
                amount=amount,
                status=status,
                provider_refund_id=provider_refund_id,
                provider_object={"id": provider_refund_id, "status": status},
                created_at=created,
                updated_at=created,
                succeeded_at=created if status == "succeeded" else None,
            )
        )
        if status == "succeeded":
            conn.execute(
                billing.payments.update()
                .where(billing.payments.c.id == sub["payment_id"])
                .values(refunded_amount=billing.payments.c.refunded_amount + amount)
            )
    return {"id": refund_id, "provider_refund_id": provider_refund_id, "amount": amount}


def notification(
    engine: sa.Engine, object_id: str, event: str = "payment.succeeded", outcome: str = "applied"
) -> None:
    with engine.begin() as conn:
        conn.execute(
            billing.provider_notifications.insert().values(
                event=event,
                object_id=object_id,
                remote_addr="185.71.76.1",
                body={"type": "notification", "event": event, "object": {"id": object_id}},
                outcome=outcome,
            )
        )
