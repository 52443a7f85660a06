"""Refunds through the SDK: only for succeeded payments, never more than the payment, refunded_amount."""

from __future__ import annotations

import uuid

import pytest
from yookassa import Payment, Refund
from yookassa.domain.exceptions import BadRequestError, NotFoundError

from yookassa_sandbox.testing import SandboxHandle, wait_until

from .conftest import Receiver
from .helpers import create, get_json, paid
from .schema import validate


def refund(payment_id: str, amount: str, key: str | None = None) -> object:
    return Refund.create(
        {"payment_id": payment_id, "amount": {"value": amount, "currency": "RUB"}, "description": "Refund"},
        key or str(uuid.uuid4()),
    )


def test_partial_refunds_up_to_the_payment_amount(sandbox: SandboxHandle, receiver: Receiver) -> None:
    payment = paid(sandbox)  # 499.00
    first = refund(payment.id, "200.00")
    assert first.status == "succeeded" and first.payment_id == payment.id
    body = get_json(sandbox, f"/refunds/{first.id}")
    validate(body, "Refund")
    assert get_json(sandbox, f"/payments/{payment.id}")["refunded_amount"]["value"] == "200.00"
    with pytest.raises(BadRequestError) as exc:
        refund(payment.id, "299.01")
    assert exc.value.content["parameter"] == "amount.value"
    refund(payment.id, "299.00")
    after = get_json(sandbox, f"/payments/{payment.id}")
    validate(after, "Payment")
    assert after["refunded_amount"]["value"] == "499.00" and after["refundable"] is False
    with pytest.raises(BadRequestError):
        refund(payment.id, "0.01")
    note = wait_until(lambda: receiver.accepted("refund.succeeded", first.id))[0]
    validate(note["object"], "Refund")


@pytest.mark.parametrize("state", ["pending", "waiting_for_capture", "canceled"])
def test_only_succeeded_payments_are_refundable(sandbox: SandboxHandle, state: str) -> None:
    if state == "pending":
        payment_id = create().id
    elif state == "waiting_for_capture":
        payment_id = paid(sandbox, capture=False).id
    else:
        payment_id = paid(sandbox, card="5555555555554527").id
    with pytest.raises(BadRequestError) as exc:
        refund(payment_id, "1.00")
    assert exc.value.content["code"] == "invalid_request"
    assert Refund.list({"payment_id": payment_id}).items == []


def test_refund_of_unknown_payment_is_400(sandbox: SandboxHandle) -> None:
    with pytest.raises(BadRequestError) as exc:
        refund(str(uuid.uuid4()), "1.00")
    assert exc.value.content["parameter"] == "payment_id"


def test_get_and_list_refunds(sandbox: SandboxHandle) -> None:
    a, b = paid(sandbox), paid(sandbox)
    r1, r2, r3 = refund(a.id, "1.00"), refund(a.id, "2.00"), refund(b.id, "3.00")
    assert Refund.find_one(r2.id).amount.value == 2
    assert [r.id for r in Refund.list({"payment_id": a.id}).items] == [r2.id, r1.id]
    page = Refund.list({"limit": 2})
    assert [r.id for r in page.items] == [r3.id, r2.id] and page.next_cursor
    assert [r.id for r in Refund.list({"limit": 2, "cursor": page.next_cursor}).items] == [r1.id]
    validate(get_json(sandbox, "/refunds", limit=10), "RefundList")
    with pytest.raises(NotFoundError):
        Refund.find_one(str(uuid.uuid4()))


def test_pending_refund_reserves_the_amount_until_completed(sandbox: SandboxHandle) -> None:
    payment = paid(sandbox)
    sandbox.set_refund_behaviour("pending", payment.id)
    pending = refund(payment.id, "400.00")
    assert pending.status == "pending"
    assert "refunded_amount" not in get_json(sandbox, f"/payments/{payment.id}") or (
        get_json(sandbox, f"/payments/{payment.id}")["refunded_amount"]["value"] == "0.00"
    )
    with pytest.raises(BadRequestError):
        refund(payment.id, "100.00")  # 400 reserved of 499
    done = sandbox.complete_refund(pending.id, "succeeded")
    assert done["status"] == "succeeded"
    assert Payment.find_one(payment.id).refunded_amount.value == 400


def test_canceled_refund_releases_the_amount(sandbox: SandboxHandle) -> None:
    payment = paid(sandbox)
    sandbox.set_refund_behaviour("general_decline")
    canceled = refund(payment.id, "499.00")
    assert canceled.status == "canceled"
    assert canceled.cancellation_details.reason == "general_decline"
    validate(get_json(sandbox, f"/refunds/{canceled.id}"), "Refund")
    sandbox.set_refund_behaviour("succeeded")
    assert refund(payment.id, "499.00").status == "succeeded"


def test_refund_replay_with_same_key(sandbox: SandboxHandle) -> None:
    payment = paid(sandbox)
    key = str(uuid.uuid4())
    assert refund(payment.id, "10.00", key).id == refund(payment.id, "10.00", key).id
    assert Payment.find_one(payment.id).refunded_amount.value == 10
