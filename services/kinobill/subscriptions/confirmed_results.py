"""A payment result that arrives over HTTP is applied only as Billing confirms it.

`POST /internal/v1/payment-results` accepts only the `billing` identity, and even then the result is
re-read from Billing (`GET /internal/v1/payments/{id}`) and applied as Billing's record says: a result
whose payment Billing does not have, or whose status, subscription, user, period, kind or amount differ
from that record, is refused and changes nothing. The time of payment and the saved method are
Billing's, never the caller's.
"""

from __future__ import annotations

from typing import Any

from kinobill.domain.money import parse_rub

STATUS_OF_TYPE = {"payment.succeeded": "succeeded", "payment.canceled": "canceled"}


class PaymentResultNotConfirmed(Exception):
    """Billing has no payment matching this result."""

    code = "payment_result_not_confirmed"


def confirmed_result(result: dict[str, Any], billing_record: dict[str, Any] | None) -> dict[str, Any]:
    """The result to apply, with Billing's facts, or PaymentResultNotConfirmed."""
    if billing_record is None:
        raise PaymentResultNotConfirmed("Billing has no such payment")
    expected = {
        "status": STATUS_OF_TYPE[result["type"]],
        "subscription_id": str(result["subscription_id"]),
        "user_id": str(result["user_id"]),
        "period_index": result["period_index"],
        "kind": result["kind"],
        "amount": result["amount"],
    }
    actual = {**{k: billing_record.get(k) for k in expected}, "amount": parse_rub(billing_record["amount"])}
    differing = sorted(k for k in expected if expected[k] != actual[k])
    if differing:
        raise PaymentResultNotConfirmed(f"Billing's record of the payment differs in {', '.join(differing)}")
    return {
        **result,
        "paid_at": billing_record.get("paid_at"),
        "payment_method_id": billing_record.get("payment_method_id"),
    }
