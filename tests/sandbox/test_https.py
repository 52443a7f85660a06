"""HTTPS with a self-signed certificate: the SDK's own retry path (only mounted for https://) exercised."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from yookassa import Configuration, Payment

from yookassa_sandbox.testing import SandboxHandle, run_sandbox

BODY = {
    "amount": {"value": "100.00", "currency": "RUB"},
    "capture": True,
    "confirmation": {"type": "redirect", "return_url": "https://kinobill.example/r"},
}


@pytest.fixture(scope="module")
def tls_process() -> Iterator[SandboxHandle]:
    with run_sandbox(https=True) as handle:
        yield handle


@pytest.fixture
def tls(tls_process: SandboxHandle) -> SandboxHandle:
    tls_process.reset()
    tls_process.update_settings(fiscalization=False)  # transport behaviour, on a shop without receipts
    # timeout=10 -> urllib3 backoff factor 0.01 s: the SDK's retries happen without long sleeps
    Configuration.configure(
        tls_process.shop_id,
        tls_process.secret_key,
        api_url=tls_process.api_url,
        verify=tls_process.ca_file,
        timeout=10,
    )
    return tls_process


def test_sdk_works_over_https_with_the_self_signed_cert(tls: SandboxHandle) -> None:
    assert tls.api_url.startswith("https://")
    payment = Payment.create(BODY, str(uuid.uuid4()))
    assert payment.confirmation.confirmation_url.startswith("https://")
    assert Payment.find_one(payment.id).status == "pending"


def test_sdk_retries_202_with_the_same_key(tls: SandboxHandle) -> None:
    tls.add_fault("processing", "payments.create", count=2, retry_after=0)
    key = str(uuid.uuid4())
    payment = Payment.create(BODY, key)
    entries = tls.journal(idempotence_key=key)
    assert [e["http_status"] for e in entries] == [202, 202, 200]
    assert entries[-1]["object_id"] == payment.id


def test_sdk_retries_429_with_retry_after(tls: SandboxHandle) -> None:
    tls.add_fault("too_many_requests", "payments.create", count=1, retry_after=0)
    key = str(uuid.uuid4())
    Payment.create(BODY, key)
    assert [e["http_status"] for e in tls.journal(idempotence_key=key)] == [429, 200]


def test_sdk_retry_after_dropped_connection_gets_the_committed_payment(tls: SandboxHandle) -> None:
    tls.add_fault("drop_after_commit", "payments.create")
    key = str(uuid.uuid4())
    payment = Payment.create(BODY, key)  # urllib3 retries the read error with the same key
    entries = tls.journal(idempotence_key=key)
    assert [(e["http_status"], e["replayed"]) for e in entries] == [(None, False), (200, True)]
    assert [p.id for p in Payment.list().items] == [payment.id]


def test_sdk_does_not_retry_500(tls: SandboxHandle) -> None:
    tls.add_fault("error_after_commit", "payments.create")
    key = str(uuid.uuid4())
    with pytest.raises(Exception, match="internal_server_error"):
        Payment.create(BODY, key)
    assert len(tls.journal(idempotence_key=key)) == 1
