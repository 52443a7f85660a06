"""Fakes at the ports of the services (and only there): the clock, Billing's client, YooKassa's gateway.

Each records what it was asked, so a test can check what crossed the port (keys, amounts in kopecks)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from kinobill.billing.provider import OutcomeUnknown
from kinobill.domain.money import format_rub


class FakeClock:
    def __init__(self, start: datetime) -> None:
        self.moment = start

    def __call__(self) -> datetime:
        return self.moment

    def advance(self, delta: timedelta) -> None:
        self.moment += delta


@dataclass
class FakeBilling:
    """Billing's internal API as Subscriptions sees it: a payment per Idempotency-Key, refunds answered
    with `refund_status`."""

    refund_status: str = "succeeded"
    refusal: Exception | None = None  # raised by every create_payment: a definite refusal (a 4xx)
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)
    payment_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    refund_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def create_payment(self, idempotency_key: str, body: dict[str, Any]) -> dict[str, Any]:
        self.payment_calls.append((idempotency_key, body))
        if self.refusal is not None:
            raise self.refusal
        if idempotency_key not in self.payments:
            self.payments[idempotency_key] = {
                "id": str(uuid.uuid4()),
                "subscription_id": body["subscription_id"],
                "amount": format_rub(body["amount"]),
                "currency": "RUB",
                "status": "pending",
                "confirmation_url": f"https://yookassa.test/checkout/{uuid.uuid4()}",
            }
        return self.payments[idempotency_key]

    def create_refund(self, idempotency_key: str, body: dict[str, Any]) -> dict[str, Any]:
        self.refund_calls.append((idempotency_key, body))
        return {"id": str(uuid.uuid4()), "status": self.refund_status, "amount": "0.00"}

    def payments_of(self, subscription_id: str) -> list[dict[str, Any]]:
        return [p for p in self.payments.values() if p["subscription_id"] == subscription_id]

    def payment_results_of(self, subscription_id: str) -> list[Any]:
        return []


@dataclass
class FakeGateway:
    """YooKassa as the SDK answers: a payment is `pending` with a confirmation (first payments) or
    `succeeded` with its method saved (a saved method charged); `unknown` makes the next create call's
    outcome unknown (a timeout). Repeating a call with the same Idempotence-Key replays its answer."""

    unknown: int = 0
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)  # by provider id
    by_key: dict[str, str] = field(default_factory=dict)
    create_calls: list[str] = field(default_factory=list)
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)

    def create_payment(self, params: dict[str, Any], idempotence_key: str) -> dict[str, Any]:
        self.create_calls.append(idempotence_key)
        if self.unknown:
            self.unknown -= 1
            raise OutcomeUnknown("timed out")
        if idempotence_key not in self.by_key:
            provider_id = f"yk-{uuid.uuid4().hex[:12]}"
            saved = "payment_method_id" in params
            self.payments[provider_id] = {
                "id": provider_id,
                "status": "succeeded" if saved else "pending",
                "amount": dict(params["amount"]),
                "metadata": dict(params.get("metadata") or {}),
                "payment_method": {
                    "id": params.get("payment_method_id") or f"pm-{provider_id}",
                    "saved": True,
                },
                "confirmation": {} if saved else {"confirmation_url": f"https://yookassa.test/{provider_id}"},
            }
            self.by_key[idempotence_key] = provider_id
        return dict(self.payments[self.by_key[idempotence_key]])

    def complete(self, provider_id: str, status: str = "succeeded") -> dict[str, Any]:
        """The buyer paid (or gave up) on YooKassa's page."""
        self.payments[provider_id]["status"] = status
        if status == "canceled":
            self.payments[provider_id]["cancellation_details"] = {"reason": "expired_on_confirmation"}
        return dict(self.payments[provider_id])

    def get_payment(self, provider_payment_id: str) -> dict[str, Any]:
        return dict(self.payments[provider_payment_id])

    def create_refund(self, params: dict[str, Any], idempotence_key: str) -> dict[str, Any]:
        refund = self.refunds.setdefault(
            idempotence_key,
            {
                "id": f"rf-{uuid.uuid4().hex[:12]}",
                "status": "succeeded",
                "amount": dict(params["amount"]),
                "payment_id": params["payment_id"],
                "metadata": dict(params.get("metadata") or {}),
            },
        )
        return dict(refund)

    def get_refund(self, provider_refund_id: str) -> dict[str, Any]:
        return next(dict(r) for r in self.refunds.values() if r["id"] == provider_refund_id)
