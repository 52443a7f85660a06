"""The checkout page at confirmation_url: a real HTML form, over plain HTTP and in Chromium (Playwright)."""

from __future__ import annotations

import os
import uuid
from typing import Any

import httpx
import pytest
from yookassa import Payment

from yookassa_sandbox.testing import SandboxHandle

from .conftest import Receiver

CHROMIUM = "/usr/bin/chromium"


def make(receiver: Receiver, capture: bool = True) -> Any:
    return Payment.create(
        {
            "amount": {"value": "349.00", "currency": "RUB"},
            "capture": capture,
            "description": "Kinobill Premium",
            "confirmation": {"type": "redirect", "return_url": f"{receiver.url}/return?order=7"},
        },
        str(uuid.uuid4()),
    )


def test_form_post_redirects_to_return_url(sandbox: SandboxHandle, receiver: Receiver) -> None:
    payment = make(receiver)
    url = payment.confirmation.confirmation_url
    page = httpx.get(url)
    assert page.status_code == 200 and 'name="card_number"' in page.text and "349.00" in page.text
    bad = httpx.post(url, data={"card_number": "1234", "expiry": "12/30", "csc": "123"})
    assert bad.status_code == 400 and 'id="error"' in bad.text
    assert Payment.find_one(payment.id).status == "pending"
    done = httpx.post(url, data={"card_number": "5555 5555 5555 4444", "expiry": "12/30", "csc": "123"})
    assert done.status_code == 303 and done.headers["location"] == f"{receiver.url}/return?order=7"
    assert Payment.find_one(payment.id).status == "succeeded"
    again = httpx.get(url)  # a finished payment shows its result instead of the form
    assert 'data-status="succeeded"' in again.text


def test_three_ds_page_then_decline(sandbox: SandboxHandle, receiver: Receiver) -> None:
    payment = make(receiver)
    url = payment.confirmation.confirmation_url
    card = {"card_number": "5555555555554592", "expiry": "12/30", "csc": "123"}  # 3d_secure_failed
    three_ds = httpx.post(url, data=card)
    assert three_ds.status_code == 200 and 'name="code"' in three_ds.text
    action = f"{sandbox.base_url}/checkout/payments/v2/3ds?orderId={payment.id}"
    result = httpx.post(action, data={**card, "code": "0000"})
    assert result.status_code == 303
    found = Payment.find_one(payment.id)
    assert found.status == "canceled" and found.cancellation_details.reason == "3d_secure_failed"


def _browser() -> Any:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is absent (apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    return sync_api


@pytest.mark.browser
@pytest.mark.parametrize(
    ("card", "three_ds", "status", "reason"),
    [
        ("5555555555554444", False, "succeeded", None),
        ("4793128161644804", True, "succeeded", None),
        ("5555555555554600", False, "canceled", "insufficient_funds"),
    ],
)
def test_payer_pays_in_chromium(
    sandbox: SandboxHandle, receiver: Receiver, card: str, three_ds: bool, status: str, reason: str | None
) -> None:
    sync_api = _browser()
    payment = make(receiver)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            page = browser.new_page()
            page.goto(payment.confirmation.confirmation_url)
            assert "349.00" in page.inner_text("#amount")
            page.fill("#card_number", card)
            page.fill("#expiry", "11/31")
            page.fill("#csc", "321")
            page.fill("#cardholder", "IVAN IVANOV")
            page.click("#pay")
            if three_ds:
                page.wait_for_selector("#code")
                page.fill("#code", "123456")
                page.click("#confirm")
            page.wait_for_url(f"{receiver.url}/return?order=7")
            assert page.inner_text("#shop") == "Back at the shop"
        finally:
            browser.close()
    found = Payment.find_one(payment.id)
    assert found.status == status
    assert found.payment_method.card.last4 == card[-4:]
    assert found.payment_method.card.expiry_month == "11" and found.payment_method.card.expiry_year == "2031"
    if reason:
        assert found.cancellation_details.reason == reason
    else:
        assert found.authorization_details.three_d_secure.applied is three_ds
