"""54-FZ receipts with fiscalisation on: a payment or refund without a valid receipt is refused (the official
ReceiptData schema plus the limits of YooKassa's own receipts); receipt_registration goes pending → succeeded,
or canceled under a fault; every object still matches the official schema."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import pytest
from yookassa import Payment, Refund
from yookassa.domain.exceptions import BadRequestError

from support import wait_until
from yookassa_sandbox.config import Settings
from yookassa_sandbox.testing import SandboxHandle

from .helpers import RETURN_URL, SUCCESS_CARD, get_json, raw
from .schema import validate


def receipt(value: str = "299.00", **item: Any) -> dict[str, Any]:
    return {
        "customer": {"email": "viewer@kinobill.example"},
        "items": [
            {
                "description": "Kinobill Premium, 1 month",
                "quantity": 1,
                "amount": {"value": value, "currency": "RUB"},
                "vat_code": 1,
                "payment_subject": "service",
                "payment_mode": "full_payment",
                "measure": "piece",
                **item,
            }
        ],
    }


def params(amount: str = "299.00", **extra: Any) -> dict[str, Any]:
    return {
        "amount": {"value": amount, "currency": "RUB"},
        "capture": True,
        "confirmation": {"type": "redirect", "return_url": RETURN_URL},
        "description": "Kinobill Premium",
        **extra,
    }


@pytest.fixture
def fiscal(sandbox: SandboxHandle) -> SandboxHandle:
    sandbox.update_settings(fiscalization=True)
    return sandbox


def test_fiscalisation_is_on_unless_turned_off() -> None:
    assert Settings.from_env({}).fiscalization is True
    assert Settings.from_env({"YOOKASSA_SANDBOX_FISCALIZATION": "0"}).fiscalization is False


def test_me_tells_whether_receipts_are_on(fiscal: SandboxHandle) -> None:
    me = get_json(fiscal, "/me")
    validate(me, "Me")
    assert me["fiscalization_enabled"] is True and me["fiscalization"]["enabled"] is True
    fiscal.update_settings(fiscalization=False)
    me = get_json(fiscal, "/me")
    validate(me, "Me")
    assert me["fiscalization_enabled"] is False and "fiscalization" not in me


def test_a_payment_without_a_receipt_is_refused(fiscal: SandboxHandle) -> None:
    with pytest.raises(BadRequestError) as caught:
        Payment.create(params(), str(uuid.uuid4()))
    assert caught.value.content["code"] == "invalid_request"
    assert caught.value.content["parameter"] == "receipt"
    assert "Receipt is missing or illegal" in caught.value.content["description"]
    assert fiscal.journal(operation="payments.create")[-1]["http_status"] == 400


INVALID = [
    ("no items", lambda r: r.update(items=[]), "receipt.items"),
    ("81 items", lambda r: r.update(items=r["items"] * 81), "receipt.items"),
    ("no email", lambda r: r.update(customer={"phone": "79000000000"}), "receipt.customer.email"),
    ("bad email", lambda r: r["customer"].update(email="not-an-email"), "receipt.customer.email"),
    ("vat 13", lambda r: r["items"][0].update(vat_code=13), "receipt.items.0.vat_code"),
    ("vat 0", lambda r: r["items"][0].update(vat_code=0), "receipt.items.0.vat_code"),
    ("no vat", lambda r: r["items"][0].pop("vat_code"), "receipt.items.0"),
    (
        "long description",
        lambda r: r["items"][0].update(description="x" * 129),
        "receipt.items.0.description",
    ),
    ("empty description", lambda r: r["items"][0].update(description=""), "receipt.items.0.description"),
    ("4 decimals", lambda r: r["items"][0].update(quantity=1.0001), "receipt.items.0.quantity"),
    ("zero quantity", lambda r: r["items"][0].update(quantity=0), "receipt.items.0.quantity"),
    ("huge quantity", lambda r: r["items"][0].update(quantity=100000), "receipt.items.0.quantity"),
    ("no measure", lambda r: r["items"][0].pop("measure"), "receipt.items.0.measure"),
    ("bad mode", lambda r: r["items"][0].update(payment_mode="gift"), "receipt.items.0.payment_mode"),
    ("tax system 7", lambda r: r.update(tax_system_code=7), "receipt.tax_system_code"),
    ("wrong total", lambda r: r["items"][0]["amount"].update(value="300.00"), "receipt.items"),
    ("other currency", lambda r: r["items"][0]["amount"].update(currency="USD"), "receipt.items.0.amount"),
]


@pytest.mark.parametrize(("spoil", "parameter"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_an_invalid_receipt_is_refused_with_the_parameter_at_fault(
    fiscal: SandboxHandle, spoil: Any, parameter: str
) -> None:
    bad = receipt()
    spoil(bad)
    response = raw(
        fiscal, "POST", "/payments", json=params(receipt=bad), headers={"Idempotence-Key": str(uuid.uuid4())}
    )
    assert response.status_code == 400, response.text
    body = response.json()
    validate(body, "Error")
    assert body["code"] == "invalid_request"
    assert body["parameter"].startswith(parameter), body


def test_a_receipt_for_a_payment_registers_after_it_succeeds(fiscal: SandboxHandle) -> None:
    full = {**receipt(), "tax_system_code": 1}
    payment = Payment.create(params(receipt=full), str(uuid.uuid4()))
    assert payment.receipt_registration == "pending"
    fiscal.confirm(payment.id, SUCCESS_CARD)
    body = get_json(fiscal, f"/payments/{payment.id}")
    assert body["status"] == "succeeded"
    validate(body, "Payment")
    final = wait_until(
        lambda: (
            (p := get_json(fiscal, f"/payments/{payment.id}"))["receipt_registration"] == "succeeded" and p
        ),
        message="receipt registered",
    )
    validate(final, "Payment")


def test_a_quantity_with_three_decimals_splitting_the_amount_is_accepted(fiscal: SandboxHandle) -> None:
    two = receipt("100.00", quantity=2)
    assert Payment.create(params("200.00", receipt=two), str(uuid.uuid4())).receipt_registration == "pending"


def test_a_fault_cancels_the_registration(fiscal: SandboxHandle) -> None:
    fiscal.add_fault("receipt_canceled", "payment")
    payment = Payment.create(params(receipt=receipt()), str(uuid.uuid4()))
    fiscal.confirm(payment.id, SUCCESS_CARD)
    final = wait_until(
        lambda: (p := get_json(fiscal, f"/payments/{payment.id}"))["receipt_registration"] != "pending" and p,
        message="registration final",
    )
    assert final["receipt_registration"] == "canceled" and final["status"] == "succeeded"
    validate(final, "Payment")
    again = Payment.create(params(receipt=receipt()), str(uuid.uuid4()))  # the fault was used up
    fiscal.confirm(again.id, SUCCESS_CARD)
    wait_until(
        lambda: get_json(fiscal, f"/payments/{again.id}")["receipt_registration"] == "succeeded",
        message="the next one registers",
    )


def test_a_declined_payment_registers_no_receipt(fiscal: SandboxHandle) -> None:
    payment = Payment.create(params(receipt=receipt()), str(uuid.uuid4()))
    fiscal.confirm(payment.id, "5555555555554600")  # insufficient_funds
    body = get_json(fiscal, f"/payments/{payment.id}")
    assert body["status"] == "canceled" and body["receipt_registration"] == "canceled"
    validate(body, "Payment")


def _paid_with_receipt(fiscal: SandboxHandle) -> str:
    payment = Payment.create(params(receipt=receipt()), str(uuid.uuid4()))
    fiscal.confirm(payment.id, SUCCESS_CARD)
    return str(payment.id)


def test_a_refund_without_a_receipt_is_refused_and_with_one_registers(fiscal: SandboxHandle) -> None:
    payment_id = _paid_with_receipt(fiscal)
    refund = {"payment_id": payment_id, "amount": {"value": "100.00", "currency": "RUB"}}
    with pytest.raises(BadRequestError) as caught:
        Refund.create(refund, str(uuid.uuid4()))
    assert caught.value.content["parameter"] == "receipt"
    with pytest.raises(BadRequestError):  # the receipt must add up to the refund, not the payment
        Refund.create({**refund, "receipt": receipt()}, str(uuid.uuid4()))
    done = Refund.create({**refund, "receipt": receipt("100.00")}, str(uuid.uuid4()))
    assert done.status == "succeeded" and done.receipt_registration == "pending"
    final = wait_until(
        lambda: (r := get_json(fiscal, f"/refunds/{done.id}"))["receipt_registration"] == "succeeded" and r,
        message="refund receipt registered",
    )
    validate(final, "Refund")


def test_with_fiscalisation_off_a_receipt_is_optional_but_still_checked(sandbox: SandboxHandle) -> None:
    plain = Payment.create(params(), str(uuid.uuid4()))
    assert plain.status == "pending" and getattr(plain, "receipt_registration", None) is None
    bad = copy.deepcopy(receipt())
    bad["items"][0]["vat_code"] = 99
    with pytest.raises(BadRequestError):
        Payment.create(params(receipt=bad), str(uuid.uuid4()))
