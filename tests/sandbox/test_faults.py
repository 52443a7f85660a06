"""Fault injection on the API (each kind, scoped by endpoint and count) as the SDK sees it over HTTP."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest
from yookassa import Payment
from yookassa.domain.exceptions import (
    InternalServerError,
    ResponseProcessingError,
    TooManyRequestsError,
)

from yookassa_sandbox.testing import SandboxError, SandboxHandle

from .helpers import create, raw

BODY = {
    "amount": {"value": "100.00", "currency": "RUB"},
    "capture": True,
    "confirmation": {"type": "redirect", "return_url": "https://kinobill.example/r"},
}


def test_latency_delays_but_answers(sandbox: SandboxHandle) -> None:
    sandbox.add_fault("latency", "payments.create", latency_ms=300)
    started = time.monotonic()
    payment = create()
    assert time.monotonic() - started >= 0.3
    assert payment.status == "pending"
    started = time.monotonic()
    create()
    assert time.monotonic() - started < 0.3  # count=1: consumed


@pytest.mark.parametrize("commit", [False, True])
def test_hang_never_answers(sandbox: SandboxHandle, commit: bool) -> None:
    sandbox.add_fault("hang", "payments.create", commit=commit)
    key = str(uuid.uuid4())
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            f"{sandbox.api_url}/payments",
            json=BODY,
            auth=(sandbox.shop_id, sandbox.secret_key),
            headers={"Idempotence-Key": key},
            timeout=0.5,
        )
    [entry] = sandbox.journal(idempotence_key=key)
    assert entry["http_status"] is None and entry["fault"] == "hang"
    assert len(Payment.list().items) == (1 if commit else 0)
    # the retry (same key, same body): replays the committed payment, or creates it now
    retried = raw(sandbox, "POST", "/payments", json=BODY, headers={"Idempotence-Key": key})
    assert retried.status_code == 200
    assert [p.id for p in Payment.list().items] == [retried.json()["id"]]
    assert sandbox.journal(idempotence_key=key)[-1]["replayed"] is commit


def test_error_before_commit_leaves_nothing(sandbox: SandboxHandle) -> None:
    sandbox.add_fault("error_before_commit", "payments.create")
    key = str(uuid.uuid4())
    with pytest.raises(InternalServerError) as exc:
        Payment.create(BODY, key)
    assert exc.value.content["code"] == "internal_server_error"
    assert Payment.list().items == []
    Payment.create(BODY, key)
    assert [e["replayed"] for e in sandbox.journal(idempotence_key=key)] == [False, False]
    assert [e["http_status"] for e in sandbox.journal(idempotence_key=key)] == [500, 200]


def test_error_after_commit_then_retry_replays(sandbox: SandboxHandle) -> None:
    sandbox.add_fault("error_after_commit", "payments.create")
    key = str(uuid.uuid4())
    with pytest.raises(InternalServerError):
        Payment.create(BODY, key)
    [made] = Payment.list().items  # it happened despite the 500
    assert Payment.create(BODY, key).id == made.id
    assert [e["replayed"] for e in sandbox.journal(idempotence_key=key)] == [False, True]
    assert len(Payment.list().items) == 1


def test_error_after_commit_on_capture(sandbox: SandboxHandle) -> None:
    payment = create(capture=False)
    sandbox.confirm(payment.id, "5555555555554444")
    sandbox.add_fault("error_after_commit", "POST /v3/payments/{payment_id}/capture")
    key = str(uuid.uuid4())
    with pytest.raises(InternalServerError):
        Payment.capture(payment.id, None, key)
    assert Payment.find_one(payment.id).status == "succeeded"
    assert Payment.capture(payment.id, None, key).status == "succeeded"


def test_drop_after_commit(sandbox: SandboxHandle) -> None:
    sandbox.add_fault("drop_after_commit", "payments.create")
    key = str(uuid.uuid4())
    # over http the SDK does not retry; a dropped connection surfaces as this AttributeError of the SDK
    with pytest.raises(AttributeError):
        Payment.create(BODY, key)
    [made] = Payment.list().items
    assert Payment.create(BODY, key).id == made.id


def test_drop_before_commit(sandbox: SandboxHandle) -> None:
    sandbox.add_fault("drop_before_commit", "payments.create")
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.post(
            f"{sandbox.api_url}/payments",
            json=BODY,
            auth=(sandbox.shop_id, sandbox.secret_key),
            headers={"Idempotence-Key": "k1"},
        )
    assert Payment.list().items == []


def test_too_many_requests_with_retry_after(sandbox: SandboxHandle) -> None:
    sandbox.add_fault("too_many_requests", "payments.create", retry_after=3)
    resp = raw(sandbox, "POST", "/payments", json=BODY, headers={"Idempotence-Key": "a"})
    assert resp.status_code == 429 and resp.headers["Retry-After"] == "3"
    assert resp.json()["code"] == "too_many_requests" and resp.json()["retry_after"] == 3000
    sandbox.add_fault("too_many_requests", "payments.create")
    with pytest.raises(TooManyRequestsError):
        Payment.create(BODY, "b")
    assert Payment.list().items == []


def test_processing_202(sandbox: SandboxHandle) -> None:
    sandbox.add_fault("processing", "payments.create", retry_after=2)
    resp = raw(sandbox, "POST", "/payments", json=BODY, headers={"Idempotence-Key": "a"})
    assert resp.status_code == 202 and resp.headers["Retry-After"] == "2"
    assert resp.json()["type"] == "processing"
    sandbox.add_fault("processing", "payments.create")
    with pytest.raises(ResponseProcessingError):
        Payment.create(BODY, "b")
    assert Payment.create(BODY, "b").status == "pending"


def test_scope_and_count(sandbox: SandboxHandle) -> None:
    payment = create()
    sandbox.add_fault("error_before_commit", "payments.get", count=2)
    assert create().status == "pending"  # other endpoints untouched
    for _ in range(2):
        with pytest.raises(InternalServerError):
            Payment.find_one(payment.id)
    assert Payment.find_one(payment.id).id == payment.id
    assert sandbox.faults() == []


def test_unlimited_fault_until_cleared(sandbox: SandboxHandle) -> None:
    sandbox.add_fault("error_before_commit", "*", count=None)
    for _ in range(3):
        with pytest.raises(InternalServerError):
            create()
    assert sandbox.faults()[0]["used"] == 3
    assert sandbox.clear_faults() == 1
    assert create().status == "pending"


def test_bad_fault_specs_are_rejected(sandbox: SandboxHandle) -> None:
    with pytest.raises(SandboxError):
        sandbox.add_fault("meltdown")
    with pytest.raises(SandboxError):
        sandbox.add_fault("latency", "payments.explode")
    with pytest.raises(SandboxError):
        sandbox.add_fault("webhook_reorder", count=1)
