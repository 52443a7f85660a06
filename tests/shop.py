"""A buyer and a shop for the end-to-end tests: plans on sale, purchases paid in the YooKassa sandbox,
refunds and what YooKassa made of them, and the mail that reached the capture inbox. Shared by every
suite that needs a real subscription.

The last part arranges rows directly with SQL (plans, paid subscriptions, refunds, notifications) for
tests that need many of them or a past they cannot buy, such as the admin's: the services and the admin
never write these tables that way."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa

from kinobill.billing import tables as billing
from kinobill.subscriptions import tables as subs
from support import wait_until

SUCCESS_CARD = "5555555555554444"
DECLINED_CARD = "5555555555554600"  # insufficient_funds


@dataclass
class Buyer:
    user_id: uuid.UUID
    email: str
    subscriptions: httpx.Client
    billing: httpx.Client

    def buy(self, plan_id: str, key: str | None = None, period: str = "month") -> httpx.Response:
        return self.subscriptions.post(
            "/api/v1/subscriptions",
            json={"plan_id": plan_id, "period": period},
            headers={"Idempotency-Key": key or uuid.uuid4().hex},
        )

    def subscription(self, subscription_id: str) -> dict:
        response = self.subscriptions.get(f"/api/v1/subscriptions/{subscription_id}")
        assert response.status_code == 200, response.text
        return response.json()

    def payments(self) -> list[dict]:
        return self.billing.get("/api/v1/payments").json()["items"]

    def pay(self, stack: Any, purchase: dict, card: str = SUCCESS_CARD) -> dict:
        """Pay a purchase's link with `card` and wait until the result is applied (active or ended)."""
        stack.sandbox.confirm(purchase["payment"]["provider_payment_id"], card)
        return wait_until(
            lambda: (s := self.subscription(purchase["id"]))["status"] != "awaiting_payment" and s,
            message="the payment result to be applied",
        )

    def refund(self, subscription_id: str, key: str | None = None) -> httpx.Response:
        """Ask for the latest paid period's money back (202 with the refund, or the refusal)."""
        return self.subscriptions.post(
            f"/api/v1/subscriptions/{subscription_id}/refund",
            headers={"Idempotency-Key": key or uuid.uuid4().hex},
        )

    def subscribe(self, stack: Any, plan: dict, period: str = "month") -> dict:
        """Buy and pay with a good card: the active subscription, with the payment that bought it."""
        response = self.buy(plan["id"], period=period)
        assert response.status_code == 201, response.text
        purchase = response.json()
        active = self.pay(stack, purchase)
        assert active["status"] == "active", active
        return {**active, "payment": purchase["payment"]}


def create_plan(stack: Any, tokens: Any, **overrides: Any) -> dict:
    body = {
        "code": f"p{uuid.uuid4().hex[:10]}",
        "name": "Test Plan",
        "description": "",
        "price_month": "299.00",
        "price_year": "2990.00",
        **overrides,
    }
    response = httpx.post(
        f"{stack.subscriptions_url}/internal/v1/plans", headers=tokens.service_headers(), json=body
    )
    assert response.status_code == 201, response.text
    return response.json()


def mail_to(stack: Any, address: str) -> list[dict]:
    return httpx.get(f"{stack.mailbox_url}/api/messages", params={"to": address}).json()["items"]


def provider_refunds(stack: Any, refund_id: str | None = None) -> list[dict]:
    """Refunds really created at YooKassa (not replays), optionally for one of ours (its Idempotence-Key)."""
    filters: dict[str, Any] = {"operation": "refunds.create", "replayed": False, "http_status": 200}
    if refund_id:
        filters["idempotence_key"] = refund_id
    return list(stack.sandbox.journal(**filters))


def provider_refund(stack: Any, provider_refund_id: str) -> dict:
    """A refund as YooKassa's API answers it."""
    response = stack.sandbox.client.get(
        f"/v3/refunds/{provider_refund_id}", auth=(stack.sandbox.shop_id, stack.sandbox.secret_key)
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


# --- rows arranged directly with SQL ---------------------------------------------------------


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
