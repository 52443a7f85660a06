"""POST /payment_methods: a card bound without a payment (redirect confirmation, binding page,
payment_method.active), through the official SDK's PaymentMethod calls; objects match the official schema."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from yookassa import Payment, PaymentMethod
from yookassa.domain.exceptions import BadRequestError, NotFoundError

from support import wait_until
from yookassa_sandbox.testing import SandboxHandle

from .conftest import Receiver
from .helpers import RETURN_URL, SUCCESS_CARD, get_json, raw
from .schema import validate

DECLINING_CARD = "5555555555554543"  # card_expired


def bind(key: str | None = None) -> Any:
    params = {"type": "bank_card", "confirmation": {"type": "redirect", "return_url": RETURN_URL}}
    return PaymentMethod.create(params, key or str(uuid.uuid4()))


def check_schema(obj: dict[str, Any]) -> None:
    validate(obj, "SavePaymentMethodBankCard")
    if "confirmation" in obj:
        validate(obj["confirmation"], "PaymentMethodsConfirmationRedirect")


def test_create_returns_a_pending_method_with_a_redirect(sandbox: SandboxHandle) -> None:
    method = bind()
    assert method.type == "bank_card" and method.status == "pending" and method.saved is False
    assert method.confirmation.confirmation_url.startswith(sandbox.base_url)
    assert method.confirmation.return_url == RETURN_URL
    body = get_json(sandbox, f"/payment_methods/{method.id}")
    check_schema(body)
    assert body["holder"]["account_id"] == sandbox.shop_id
    assert PaymentMethod.find_one(method.id).status == "pending"


def test_the_binding_page_saves_the_card_and_notifies(sandbox: SandboxHandle, receiver: Receiver) -> None:
    method = bind()
    url = method.confirmation.confirmation_url
    page = httpx.get(url, timeout=10)
    assert page.status_code == 200 and 'id="card-form"' in page.text
    done = httpx.post(url, data={"card_number": SUCCESS_CARD, "expiry": "12/30", "csc": "123"}, timeout=10)
    assert done.status_code == 303 and done.headers["location"] == RETURN_URL
    active = get_json(sandbox, f"/payment_methods/{method.id}")
    check_schema(active)
    assert active["status"] == "active" and active["saved"] is True and "confirmation" not in active
    assert active["card"]["last4"] == SUCCESS_CARD[-4:] and active["title"] == "Bank card *4444"
    found = PaymentMethod.find_one(method.id)
    assert found.status == "active" and found.saved is True
    notes = wait_until(lambda: receiver.accepted("payment_method.active", method.id), message="webhook")
    assert notes[0]["object"]["status"] == "active"
    # the bound card pays renewals as payment_method_id
    charge = Payment.create(
        {"amount": {"value": "299.00", "currency": "RUB"}, "capture": True, "payment_method_id": method.id},
        str(uuid.uuid4()),
    )
    assert charge.status == "succeeded" and charge.payment_method.id == method.id
    sandbox.set_behaviour(method.id, "insufficient_funds")  # and takes behaviours like any saved method
    again = Payment.create(
        {"amount": {"value": "299.00", "currency": "RUB"}, "capture": True, "payment_method_id": method.id},
        str(uuid.uuid4()),
    )
    assert again.status == "canceled"


def test_a_declining_card_leaves_the_method_inactive_without_a_notification(
    sandbox: SandboxHandle, receiver: Receiver
) -> None:
    method = bind()
    obj = sandbox.confirm_payment_method(method.id, DECLINING_CARD)
    assert obj["status"] == "inactive" and obj["saved"] is False
    check_schema(get_json(sandbox, f"/payment_methods/{method.id}"))
    assert receiver.accepted("payment_method.active", method.id) == []
    with pytest.raises(BadRequestError):
        Payment.create(
            {"amount": {"value": "1.00", "currency": "RUB"}, "payment_method_id": method.id},
            str(uuid.uuid4()),
        )


def test_a_repeated_create_replays_and_a_different_one_conflicts(sandbox: SandboxHandle) -> None:
    key = str(uuid.uuid4())
    assert bind(key).id == bind(key).id
    other = {"type": "bank_card", "confirmation": {"type": "redirect", "return_url": RETURN_URL + "?x=1"}}
    with pytest.raises(BadRequestError) as caught:
        PaymentMethod.create(other, key)
    assert caught.value.content["parameter"] == "Idempotence-Key"


@pytest.mark.parametrize(
    ("body", "parameter"),
    [
        ({"type": "sbp", "confirmation": {"type": "redirect", "return_url": RETURN_URL}}, "type"),
        ({"type": "bank_card"}, "confirmation.type"),
        ({"type": "bank_card", "confirmation": {"type": "redirect"}}, "confirmation.return_url"),
    ],
)
def test_a_bad_create_is_400_with_the_parameter(sandbox: SandboxHandle, body: dict, parameter: str) -> None:
    response = raw(
        sandbox, "POST", "/payment_methods", json=body, headers={"Idempotence-Key": str(uuid.uuid4())}
    )
    assert response.status_code == 400
    validate(response.json(), "Error")
    assert response.json()["parameter"] == parameter


def test_an_unknown_method_is_404(sandbox: SandboxHandle) -> None:
    with pytest.raises(NotFoundError):
        PaymentMethod.find_one("no-such-method")
    assert (
        httpx.get(f"{sandbox.base_url}/checkout/payment_methods?methodId=nope", timeout=10).status_code == 404
    )
