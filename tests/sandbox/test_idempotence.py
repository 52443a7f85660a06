"""Idempotence-Key: required on POST, <= 64 characters, replay for 24 hours, mismatch is 400."""

from __future__ import annotations

import uuid

import pytest
from yookassa import Payment, Refund
from yookassa.domain.exceptions import BadRequestError

from yookassa_sandbox.testing import SandboxHandle

from .helpers import create, paid, raw
from .schema import validate


def test_same_key_same_body_replays_the_first_answer(sandbox: SandboxHandle) -> None:
    key = str(uuid.uuid4())
    first = create("10.00", key=key)
    second = create("10.00", key=key)
    assert second.id == first.id and second.created_at == first.created_at
    assert len(Payment.list({"limit": 100}).items) == 1
    creates = sandbox.journal(operation="payments.create", idempotence_key=key)
    assert [e["replayed"] for e in creates] == [False, True]
    assert all(e["object_id"] == first.id and e["http_status"] == 200 for e in creates)


def test_replay_returns_the_original_answer_not_the_current_state(sandbox: SandboxHandle) -> None:
    key = str(uuid.uuid4())
    first = create(key=key)
    sandbox.confirm(first.id, "5555555555554444")
    assert create(key=key).status == "pending"  # as first answered
    assert Payment.find_one(first.id).status == "succeeded"


def test_same_key_different_body_is_400_naming_the_header(sandbox: SandboxHandle) -> None:
    key = str(uuid.uuid4())
    create("10.00", key=key)
    with pytest.raises(BadRequestError) as exc:
        create("11.00", key=key)
    error = exc.value.content
    validate(error, "BadRequest")
    assert error["code"] == "invalid_request" and error["parameter"] == "Idempotence-Key"
    assert len(Payment.list().items) == 1


def test_key_reused_on_another_endpoint_is_a_mismatch(sandbox: SandboxHandle) -> None:
    payment = paid(sandbox)
    key = str(uuid.uuid4())
    Refund.create({"payment_id": payment.id, "amount": {"value": "1.00", "currency": "RUB"}}, key)
    with pytest.raises(BadRequestError) as exc:
        create(key=key)
    assert exc.value.content["parameter"] == "Idempotence-Key"


def test_key_is_required_and_at_most_64_characters(sandbox: SandboxHandle) -> None:
    body = {
        "amount": {"value": "1.00", "currency": "RUB"},
        "confirmation": {"type": "redirect", "return_url": "x"},
    }
    missing = raw(sandbox, "POST", "/payments", json=body)
    assert missing.status_code == 400 and missing.json()["parameter"] == "Idempotence-Key"
    too_long = raw(sandbox, "POST", "/payments", json=body, headers={"Idempotence-Key": "k" * 65})
    assert too_long.status_code == 400 and too_long.json()["parameter"] == "Idempotence-Key"
    validate(too_long.json(), "BadRequest")
    assert create(key="k" * 64).status == "pending"
    assert len(Payment.list().items) == 1


def test_replay_window_is_24_hours(sandbox: SandboxHandle) -> None:
    key = str(uuid.uuid4())
    first = create(key=key)
    sandbox.advance_clock(23 * 3600)
    assert create(key=key).id == first.id
    sandbox.advance_clock(3600 + 1)
    assert create(key=key).id != first.id  # processed as a new request
    assert len(sandbox.journal(operation="payments.create", replayed=False)) == 2


def test_errors_are_replayed_too(sandbox: SandboxHandle) -> None:
    key = str(uuid.uuid4())
    for _ in range(2):
        with pytest.raises(BadRequestError):
            Payment.create({"amount": {"value": "1.00", "currency": "RUB"}, "payment_method_id": "nope"}, key)
    assert [e["replayed"] for e in sandbox.journal(idempotence_key=key)] == [False, True]
