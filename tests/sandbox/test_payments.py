"""Payments through the real ``yookassa`` SDK: create, confirm, capture/cancel, expiry, lists, errors."""

from __future__ import annotations

import uuid

import pytest
from jsonschema import ValidationError
from yookassa import Configuration, Payment
from yookassa.domain.exceptions import BadRequestError, NotFoundError, UnauthorizedError

from yookassa_sandbox.cards import DECLINE_CARDS
from yookassa_sandbox.testing import SandboxHandle, wait_until

from .conftest import Receiver
from .helpers import RETURN_URL, SUCCESS_CARD, THREE_DS_CARD, create, get_json, paid, raw
from .schema import validate


def test_created_redirect_payment_is_pending_with_a_checkout_url(sandbox: SandboxHandle) -> None:
    payment = create("499.00", metadata={"subscription_id": "42"})
    assert payment.status == "pending"
    assert payment.paid is False and payment.refundable is False
    assert payment.amount.value == 499 and payment.amount.currency == "RUB"
    assert payment.confirmation.type == "redirect"
    assert payment.confirmation.confirmation_url.startswith(f"{sandbox.base_url}/checkout/")
    assert payment.confirmation.return_url == RETURN_URL
    assert payment.test is True and len(payment.id) == 36
    body = get_json(sandbox, f"/payments/{payment.id}")
    validate(body, "Payment")
    assert body["amount"] == {"value": "499.00", "currency": "RUB"}
    # the SDK always adds cms_name; metadata comes back as sent
    assert body["metadata"] == {"subscription_id": "42", "cms_name": "yookassa_sdk_python"}
    assert body["recipient"]["account_id"] == sandbox.shop_id


def test_one_stage_payment_succeeds_after_confirmation(sandbox: SandboxHandle, receiver: Receiver) -> None:
    payment = create(capture=True)
    confirmed = sandbox.confirm(payment.id, SUCCESS_CARD)
    assert confirmed["status"] == "succeeded"
    found = Payment.find_one(payment.id)
    assert found.status == "succeeded" and found.paid is True and found.refundable is True
    assert found.payment_method.card.last4 == "4444" and found.payment_method.saved is False
    assert found.authorization_details.three_d_secure.applied is False
    body = get_json(sandbox, f"/payments/{payment.id}")
    validate(body, "Payment")
    assert "confirmation" not in body and body["captured_at"] and body["refunded_amount"]["value"] == "0.00"
    notes = wait_until(lambda: receiver.accepted("payment.succeeded", payment.id))
    validate(notes[0]["object"], "Payment")
    assert notes[0]["type"] == "notification" and notes[0]["object"]["status"] == "succeeded"


def test_three_ds_card_marks_three_d_secure_applied(sandbox: SandboxHandle) -> None:
    payment = create()
    sandbox.confirm(payment.id, THREE_DS_CARD)
    assert Payment.find_one(payment.id).authorization_details.three_d_secure.applied is True


def test_two_stage_payment_waits_for_capture_then_captures(
    sandbox: SandboxHandle, receiver: Receiver
) -> None:
    payment = create("1000.00", capture=False)
    sandbox.confirm(payment.id, SUCCESS_CARD)
    held = get_json(sandbox, f"/payments/{payment.id}")
    validate(held, "Payment")
    assert held["status"] == "waiting_for_capture" and held["paid"] is True and held["expires_at"]
    wait_until(lambda: receiver.accepted("payment.waiting_for_capture", payment.id))
    captured = Payment.capture(payment.id, None, str(uuid.uuid4()))  # the SDK sends no body at all
    assert captured.status == "succeeded" and captured.amount.value == 1000
    wait_until(lambda: receiver.accepted("payment.succeeded", payment.id))


def test_partial_capture_keeps_the_captured_amount(sandbox: SandboxHandle) -> None:
    payment = paid(sandbox, capture=False)
    captured = Payment.capture(
        payment.id, {"amount": {"value": "300.00", "currency": "RUB"}}, str(uuid.uuid4())
    )
    assert captured.status == "succeeded"
    assert get_json(sandbox, f"/payments/{payment.id}")["amount"]["value"] == "300.00"
    with pytest.raises(BadRequestError):
        Payment.capture(payment.id, None, str(uuid.uuid4()))


def test_cancel_of_held_payment_is_by_merchant(sandbox: SandboxHandle, receiver: Receiver) -> None:
    payment = paid(sandbox, capture=False)
    canceled = Payment.cancel(payment.id, str(uuid.uuid4()))
    assert canceled.status == "canceled"
    assert canceled.cancellation_details.party == "merchant"
    assert canceled.cancellation_details.reason == "canceled_by_merchant"
    validate(get_json(sandbox, f"/payments/{payment.id}"), "Payment")
    wait_until(lambda: receiver.accepted("payment.canceled", payment.id))


@pytest.mark.parametrize("action", ["capture", "cancel"])
def test_capture_and_cancel_need_waiting_for_capture(sandbox: SandboxHandle, action: str) -> None:
    pending = create()
    done = paid(sandbox, capture=True)
    for payment in (pending, done):
        with pytest.raises(BadRequestError) as exc:
            if action == "capture":
                Payment.capture(payment.id, None, str(uuid.uuid4()))
            else:
                Payment.cancel(payment.id, str(uuid.uuid4()))
        assert exc.value.content["code"] == "invalid_request"
    assert Payment.find_one(done.id).status == "succeeded"


@pytest.mark.parametrize(("reason", "party"), sorted(DECLINE_CARDS))
def test_each_decline_card_cancels_with_its_reason(sandbox: SandboxHandle, reason: str, party: str) -> None:
    payment = create()
    sandbox.confirm(payment.id, DECLINE_CARDS[(reason, party)])
    found = Payment.find_one(payment.id)
    assert found.status == "canceled" and found.paid is False
    assert (found.cancellation_details.reason, found.cancellation_details.party) == (reason, party)
    validate(get_json(sandbox, f"/payments/{payment.id}"), "Payment")


def test_confirmation_expires_and_notifies(sandbox: SandboxHandle, receiver: Receiver) -> None:
    sandbox.update_settings(confirmation_ttl=0.3)
    payment = create()
    # nobody polls the API: the sandbox cancels at the deadline on its own and sends the notification
    note = wait_until(lambda: receiver.accepted("payment.canceled", payment.id), timeout=5)[0]
    assert note["object"]["cancellation_details"] == {
        "party": "yoo_money",
        "reason": "expired_on_confirmation",
    }
    assert Payment.find_one(payment.id).status == "canceled"


def test_hold_expires_at_expires_at(sandbox: SandboxHandle) -> None:
    payment = paid(sandbox, capture=False)
    assert payment.status == "waiting_for_capture"
    sandbox.advance_clock(7 * 24 * 3600 + 1)
    found = Payment.find_one(payment.id)
    assert found.status == "canceled" and found.cancellation_details.reason == "expired_on_capture"
    with pytest.raises(BadRequestError):
        Payment.capture(payment.id, None, str(uuid.uuid4()))


def test_payment_method_data_card_pays_without_confirmation(sandbox: SandboxHandle) -> None:
    ok = Payment.create(
        {
            "amount": {"value": "10.00", "currency": "RUB"},
            "capture": True,
            "payment_method_data": {
                "type": "bank_card",
                "card": {"number": SUCCESS_CARD, "expiry_year": "2099", "expiry_month": "12", "csc": "123"},
            },
        },
        str(uuid.uuid4()),
    )
    assert ok.status == "succeeded"
    declined = Payment.create(
        {
            "amount": {"value": "10.00", "currency": "RUB"},
            "payment_method_data": {
                "type": "bank_card",
                "card": {"number": "5555555555554600", "expiry_year": "2099", "expiry_month": "12"},
            },
        },
        str(uuid.uuid4()),
    )
    assert declined.status == "canceled" and declined.cancellation_details.reason == "insufficient_funds"


def test_unknown_payment_is_404(sandbox: SandboxHandle) -> None:
    with pytest.raises(NotFoundError) as exc:
        Payment.find_one("00000000-000f-5000-9000-000000000000")
    assert exc.value.content["code"] == "not_found"
    validate(exc.value.content, "NotFound")


def test_invalid_amount_is_400_naming_the_parameter(sandbox: SandboxHandle) -> None:
    resp = raw(
        sandbox,
        "POST",
        "/payments",
        json={"amount": {"value": "10.001", "currency": "RUB"}, "confirmation": {"type": "redirect"}},
        headers={"Idempotence-Key": str(uuid.uuid4())},
    )
    assert resp.status_code == 400
    validate(resp.json(), "BadRequest")
    assert resp.json()["parameter"] == "amount.value"


def test_wrong_credentials_are_401(sandbox: SandboxHandle) -> None:
    Configuration.configure(sandbox.shop_id, "test_wrong", api_url=sandbox.api_url)
    with pytest.raises(UnauthorizedError) as exc:
        create()
    validate(exc.value.content, "InvalidCredentials")
    assert exc.value.content["code"] == "invalid_credentials"
    assert sandbox.journal(http_status=401)


def test_unknown_path_and_wrong_method(sandbox: SandboxHandle) -> None:
    assert raw(sandbox, "GET", "/nothing").status_code == 404
    resp = raw(sandbox, "GET", f"/payments/{uuid.uuid4()}/cancel")
    assert resp.status_code == 405 and resp.json()["type"] == "error"


def test_list_pages_with_cursor_newest_first(sandbox: SandboxHandle) -> None:
    ids = [create(f"{n}.00").id for n in range(1, 6)]
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = Payment.list(params)
        seen += [p.id for p in page.items]
        cursor = page.next_cursor
        if not cursor:
            break
    assert seen == list(reversed(ids))
    validate(get_json(sandbox, "/payments", limit=3), "PaymentList")


def test_list_filters(sandbox: SandboxHandle) -> None:
    first = create()
    done = paid(sandbox)
    assert [p.id for p in Payment.list({"status": "succeeded"}).items] == [done.id]
    assert [p.id for p in Payment.list({"status": "pending"}).items] == [first.id]
    assert [p.id for p in Payment.list({"created_at.gt": done.created_at}).items] == []
    assert {p.id for p in Payment.list({"created_at.gte": first.created_at}).items} == {first.id, done.id}
    assert [p.id for p in Payment.list({"captured_at.gte": "2000-01-01T00:00:00.000Z"}).items] == [done.id]
    with pytest.raises(BadRequestError) as exc:
        Payment.list({"limit": 101})
    assert exc.value.content["parameter"] == "limit"


def test_me_describes_the_test_shop(sandbox: SandboxHandle) -> None:
    me = get_json(sandbox, "/me")
    assert me["account_id"] == sandbox.shop_id and me["test"] is True


def test_schema_check_itself_rejects_a_broken_payment(sandbox: SandboxHandle) -> None:
    body = get_json(sandbox, f"/payments/{create().id}")
    validate(body, "Payment")
    for broken in (
        {k: v for k, v in body.items() if k != "recipient"},
        {**body, "status": "paid"},
        {**body, "confirmation": {"type": "redirect"}},
    ):
        with pytest.raises(ValidationError):
            validate(broken, "Payment")
