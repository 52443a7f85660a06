"""Messages between the services: what a producer writes, a consumer reads back the same; a malformed
one is a ValueError (the stream consumer dead-letters it); the key grammars keep their stored shape."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from kinobill import keys
from kinobill.messages import PaymentSettled, RefundSettled, RenewalChargeRequested, SubscriptionChanged

SUB, USER, PAYMENT = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
AT = datetime(2026, 3, 5, 14, 30, tzinfo=UTC)


def test_a_payment_result_reads_back_as_written() -> None:
    sent = PaymentSettled(
        type="payment.succeeded",
        payment_id=PAYMENT,
        subscription_id=SUB,
        user_id=USER,
        period_index=0,
        kind="initial",
        amount=29_900,
        paid_at=AT,
        payment_method_id="pm-1",
    )
    wire = sent.to_json()
    assert wire["amount"] == 29_900 and wire["subscription_id"] == str(SUB)
    received = PaymentSettled.from_json(wire)
    assert received == sent and received.succeeded and received.paid_at == AT


def test_a_reader_ignores_fields_it_does_not_know() -> None:
    wire = SubscriptionChanged(user_id=USER, subscription_id=SUB, event="activated", at=AT).to_json()
    assert SubscriptionChanged.from_json({**wire, "added_later": 1}).user_id == USER


@pytest.mark.parametrize(
    "broken",
    [
        {"amount": "299.00"},  # money is kopecks inside the system
        {"amount": 0},
        {"subscription_id": "nope"},
        {"type": "payment.refunded"},
        {"paid_at": "2026-03-05T14:30:00"},  # a naive moment
    ],
)
def test_a_malformed_payment_result_is_a_value_error(broken: dict) -> None:
    wire = {
        "type": "payment.canceled",
        "payment_id": str(PAYMENT),
        "subscription_id": str(SUB),
        "user_id": str(USER),
        "period_index": 1,
        "kind": "renewal",
        "amount": 29_900,
    }
    with pytest.raises(ValueError):
        PaymentSettled.from_json({**wire, **broken})


def test_a_charge_command_carries_a_renewal_key_only() -> None:
    command = RenewalChargeRequested(
        charge_key=keys.renewal_charge(SUB, 2, 1),
        subscription_id=SUB,
        user_id=USER,
        period_index=2,
        attempt=1,
        amount=29_900,
        payment_method_id="pm-1",
    )
    assert RenewalChargeRequested.from_json(command.to_json()) == command
    with pytest.raises(ValueError, match="not a renewal charge key"):
        RenewalChargeRequested.from_json({**command.to_json(), "charge_key": keys.initial_charge(SUB)})


def test_a_refund_result_of_a_duplicate_payment_does_not_end_the_subscription_by_default_only() -> None:
    wire = {
        "type": "refund.succeeded",
        "refund_id": str(uuid.uuid4()),
        "payment_id": str(PAYMENT),
        "subscription_id": str(SUB),
        "user_id": str(USER),
        "period_index": 0,
        "amount": 15_000,
    }
    assert RefundSettled.from_json(wire).ends_subscription  # older producers did not send the flag
    assert not RefundSettled.from_json({**wire, "ends_subscription": False}).ends_subscription


def test_key_grammars_keep_their_stored_shape() -> None:
    assert keys.initial_charge(SUB) == f"initial:{SUB}"
    assert keys.renewal_charge(SUB, 3, 2) == f"renewal:{SUB}:3:2"
    assert keys.late_payment_refund(PAYMENT) == f"late:{PAYMENT}"
    requested = keys.requested_refund("user:u1", SUB, "k1")
    assert (
        requested
        == keys.requested_refund("user:u1", SUB, "k1")
        != keys.requested_refund("user:u1", SUB, "k2")
    )
    assert requested.startswith("refund-") and len(requested) <= 64
    assert keys.duplicate_refund(PAYMENT) == f"system:duplicate:{PAYMENT}"
    assert keys.of_caller("subscriptions", keys.initial_charge(SUB)) == f"subscriptions:initial:{SUB}"
    assert keys.is_renewal_charge(keys.renewal_charge(SUB, 1, 0))
    assert not keys.is_renewal_charge(keys.of_caller("subscriptions", keys.initial_charge(SUB)))
    assert keys.is_duplicate_refund(keys.duplicate_refund(PAYMENT))
    assert not keys.is_duplicate_refund(keys.of_caller("subscriptions", keys.late_payment_refund(PAYMENT)))
