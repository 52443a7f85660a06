"""Saved payment methods and charges without the payer (autopayments)."""

from __future__ import annotations

import uuid

import pytest
from yookassa import Payment
from yookassa.domain.exceptions import BadRequestError

from yookassa_sandbox.cards import PAYMENT_CANCEL_REASONS
from yookassa_sandbox.testing import SandboxError, SandboxHandle, wait_until

from .conftest import Receiver
from .helpers import get_json, paid
from .schema import validate


def charge(method_id: str, amount: str = "299.00", capture: bool = True) -> object:
    return Payment.create(
        {
            "amount": {"value": amount, "currency": "RUB"},
            "capture": capture,
            "payment_method_id": method_id,
            "description": "Renewal",
        },
        str(uuid.uuid4()),
    )


def test_save_payment_method_then_charge_without_confirmation(sandbox: SandboxHandle) -> None:
    first = paid(sandbox, save=True)
    assert first.payment_method.saved is True and first.payment_method.status == "active"
    method_id = first.payment_method.id
    assert method_id == first.id  # YooKassa: the saving payment's id is the method id
    renewal = charge(method_id)
    assert renewal.status == "succeeded" and renewal.paid is True
    assert renewal.payment_method.id == method_id and renewal.payment_method.saved is True
    body = get_json(sandbox, f"/payments/{renewal.id}")
    validate(body, "Payment")
    assert "confirmation" not in body


def test_two_stage_charge_on_saved_method(sandbox: SandboxHandle) -> None:
    method_id = paid(sandbox, save=True).payment_method.id
    held = charge(method_id, capture=False)
    assert held.status == "waiting_for_capture"
    assert Payment.capture(held.id, None, str(uuid.uuid4())).status == "succeeded"


def test_without_save_the_method_is_not_usable(sandbox: SandboxHandle) -> None:
    first = paid(sandbox, save=False)
    assert first.payment_method.saved is False
    with pytest.raises(BadRequestError) as exc:
        charge(first.payment_method.id)
    assert exc.value.content["parameter"] == "payment_method_id"


def test_unknown_method_is_400(sandbox: SandboxHandle) -> None:
    with pytest.raises(BadRequestError) as exc:
        charge(str(uuid.uuid4()))
    assert exc.value.content["code"] == "invalid_request"
    assert exc.value.content["parameter"] == "payment_method_id"
    assert Payment.list().items == []


def test_declined_first_payment_saves_nothing(sandbox: SandboxHandle) -> None:
    first = paid(sandbox, save=True, card="5555555555554600")
    assert first.status == "canceled" and first.payment_method.saved is False
    with pytest.raises(BadRequestError):
        charge(first.id)


@pytest.mark.parametrize(
    ("outcome", "party"),
    [("insufficient_funds", "payment_network"), ("permission_revoked", "yoo_money"), ("card_expired", None)],
)
def test_behaviour_decides_how_later_charges_end(
    sandbox: SandboxHandle, receiver: Receiver, outcome: str, party: str | None
) -> None:
    method_id = paid(sandbox, save=True).payment_method.id
    sandbox.set_behaviour(method_id, outcome)
    declined = charge(method_id)
    assert declined.status == "canceled" and declined.cancellation_details.reason == outcome
    if party:
        assert declined.cancellation_details.party == party
    validate(get_json(sandbox, f"/payments/{declined.id}"), "Payment")
    wait_until(lambda: receiver.accepted("payment.canceled", declined.id))
    sandbox.set_behaviour(method_id, "succeeded")
    assert charge(method_id).status == "succeeded"


def test_every_cancellation_reason_is_a_valid_behaviour(sandbox: SandboxHandle) -> None:
    method_id = paid(sandbox, save=True).payment_method.id
    for reason in sorted(PAYMENT_CANCEL_REASONS):
        sandbox.set_behaviour(method_id, reason)
        assert charge(method_id).cancellation_details.reason == reason
    with pytest.raises(SandboxError):
        sandbox.set_behaviour(method_id, "no_such_reason")


def test_charges_are_counted_in_the_journal(sandbox: SandboxHandle) -> None:
    method_id = paid(sandbox, save=True).payment_method.id
    key = str(uuid.uuid4())
    body = {"amount": {"value": "5.00", "currency": "RUB"}, "capture": True, "payment_method_id": method_id}
    for _ in range(3):
        Payment.create(body, key)
    real = sandbox.journal(operation="payments.create", replayed=False, http_status=200)
    assert len(real) == 2  # the first (saving) payment and one renewal despite three calls
