"""A payment's phases and the one step YooKassa's view makes (domain/payment.py)."""

from __future__ import annotations

import pytest

from kinobill.domain.payment import Phase, advance, phase_of
from kinobill.domain.statuses import PaymentStatus


def view(status: str, *, value: str = "299.00", provider_id: str = "yk-1", **extra: object) -> dict:
    return {"id": provider_id, "status": status, "amount": {"value": value, "currency": "RUB"}, **extra}


def test_the_phases_are_the_recovery_points() -> None:
    assert phase_of("pending", None) == Phase.RECORDED  # ask YooKassa again, same key
    assert phase_of("pending", "yk-1") == Phase.AT_PROVIDER  # re-read it
    assert phase_of("succeeded", "yk-1") == phase_of("canceled", None) == Phase.SETTLED


@pytest.mark.parametrize(
    ("provider_status", "action", "status"),
    [
        ("pending", "record", PaymentStatus.PENDING),
        ("waiting_for_capture", "record", PaymentStatus.PENDING),
        ("succeeded", "settle", PaymentStatus.SUCCEEDED),
        ("canceled", "settle", PaymentStatus.CANCELED),
    ],
)
def test_a_view_of_our_payment_records_or_settles_it(provider_status: str, action: str, status: str) -> None:
    step = advance(status="pending", amount=29_900, provider_payment_id=None, view=view(provider_status))
    assert (step.action, step.status) == (action, status)


def test_a_cancellation_keeps_yookassas_reason() -> None:
    details = {"reason": "insufficient_funds", "party": "payment_network"}
    step = advance(
        status="pending",
        amount=29_900,
        provider_payment_id="yk-1",
        view=view("canceled", cancellation_details=details),
    )
    assert (step.reason, step.party) == ("insufficient_funds", "payment_network")


def test_a_final_payment_never_changes() -> None:
    for status in ("succeeded", "canceled"):
        step = advance(status=status, amount=29_900, provider_payment_id="yk-1", view=view("canceled"))
        assert (step.action, step.why) == ("ignore", "final")


def test_a_view_of_another_payment_or_amount_is_not_applied() -> None:
    other = advance(
        status="pending",
        amount=29_900,
        provider_payment_id="yk-1",
        view=view("succeeded", provider_id="yk-2"),
    )
    assert (other.action, other.why) == ("ignore", "another provider payment")
    cheaper = advance(
        status="pending", amount=29_900, provider_payment_id="yk-1", view=view("succeeded", value="1.00")
    )
    assert (cheaper.action, cheaper.why) == ("ignore", "another amount")


def test_a_definite_refusal_cancels_on_the_merchants_side() -> None:
    step = advance(status="pending", amount=29_900, provider_payment_id=None, view=None, rejected=True)
    assert (step.action, step.status, step.reason, step.party) == (
        "settle",
        PaymentStatus.CANCELED,
        "rejected_by_provider",
        "merchant",
    )
