"""A refund's phases and the one step YooKassa's view makes (domain/refund.py)."""

from __future__ import annotations

import pytest

from kinobill.domain.payment import Phase
from kinobill.domain.refund import Refund
from kinobill.domain.statuses import RefundStatus


def refund(status: str = "pending", provider_refund_id: str | None = "rf-1") -> Refund:
    return Refund(
        status=status, amount=14_950, provider_refund_id=provider_refund_id, provider_payment_id="yk-1"
    )


def view(
    status: str, *, value: str = "149.50", refund_id: str = "rf-1", payment_id: str = "yk-1", **extra: object
) -> dict:
    amount = {"value": value, "currency": "RUB"}
    return {"id": refund_id, "payment_id": payment_id, "status": status, "amount": amount, **extra}


def test_the_phases_are_the_recovery_points() -> None:
    assert refund(provider_refund_id=None).phase == Phase.RECORDED  # ask YooKassa again, same key and body
    assert refund().phase == Phase.AT_PROVIDER  # re-read it
    assert refund("succeeded").phase == refund("canceled", None).phase == Phase.SETTLED


@pytest.mark.parametrize(
    ("provider_status", "action", "status", "reason"),
    [
        ("pending", "record", RefundStatus.PENDING, None),
        ("succeeded", "settle", RefundStatus.SUCCEEDED, None),
        ("canceled", "settle", RefundStatus.CANCELED, "canceled"),
    ],
)
def test_a_view_of_our_refund_records_or_settles_it(
    provider_status: str, action: str, status: str, reason: str | None
) -> None:
    step = refund(provider_refund_id=None).advance(view(provider_status))
    assert (step.action, step.status, step.reason) == (action, status, reason)


def test_yookassas_reason_for_a_canceled_refund_is_kept() -> None:
    step = refund().advance(view("canceled", cancellation_details={"reason": "insufficient_funds"}))
    assert (step.status, step.reason) == (RefundStatus.CANCELED, "insufficient_funds")


@pytest.mark.parametrize("status", ["succeeded", "canceled"])
def test_a_final_refund_never_changes(status: str) -> None:
    step = refund(status).advance(view("pending" if status == "succeeded" else "succeeded"))
    assert (step.action, step.why) == ("ignore", "final")
    assert refund(status).advance(None, rejected=True).action == "ignore"


@pytest.mark.parametrize(
    ("other", "why"),
    [
        (view("succeeded", refund_id="rf-2"), "another provider refund"),
        (view("succeeded", payment_id="yk-2"), "another payment or amount"),
        (view("succeeded", value="149.51"), "another payment or amount"),
    ],
)
def test_a_view_of_another_refund_payment_or_amount_is_not_applied(other: dict, why: str) -> None:
    step = refund().advance(other)
    assert (step.action, step.why) == ("ignore", why)


def test_a_refusal_cancels_the_refund_on_the_merchants_side() -> None:
    step = refund(provider_refund_id=None).advance(None, rejected=True)
    assert (step.action, step.status, step.reason) == (
        "settle",
        RefundStatus.CANCELED,
        "rejected_by_provider",
    )
