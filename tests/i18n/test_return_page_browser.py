"""The return page in headless Chromium against the real services: Russian by default, English for an
English browser, and the status region updated in place (no reload) once the payment settles."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shop import SUCCESS_CARD

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "i18n"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"Chromium not installed at {CHROMIUM}"),
]


@pytest.fixture()
def chromium():
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield browser
        browser.close()


def test_the_status_is_announced_in_place_when_the_payment_settles(stack, plan, buyer, chromium):
    from playwright.sync_api import expect

    purchase = buyer.buy(plan["id"]).json()
    page = chromium.new_page(viewport={"width": 720, "height": 900}, locale="ru-RU")
    page.set_default_timeout(15_000)
    refused: list[str] = []  # what Chromium's console says the page's own policy blocked
    page.on("console", lambda msg: "Content Security Policy" in msg.text and refused.append(msg.text))
    page.goto(f"{stack.subscriptions_url}/return/{purchase['id']}")
    assert page.locator("html").get_attribute("lang") == "ru"
    status = page.get_by_role("status")
    expect(status).to_contain_text("Ждём подтверждения от банка")
    expect(page.get_by_role("heading", level=1)).to_have_text("Подтверждаем оплату…")
    page.evaluate("window.notReloaded = true")
    page.screenshot(path=str(ARTIFACTS / "return-pending-ru.png"))

    stack.sandbox.confirm(purchase["payment"]["provider_payment_id"], SUCCESS_CARD)
    expect(status).to_contain_text("Оплата прошла", timeout=30_000)
    expect(page.get_by_role("heading", level=1)).to_have_text("Подписка активна")
    expect(page.get_by_text("Оплачено до")).to_be_visible()
    assert page.evaluate("window.notReloaded") is True  # the same document: the live region spoke
    assert refused == []  # the page's style, script and status checks all pass its own policy
    page.screenshot(path=str(ARTIFACTS / "return-active-ru.png"))

    english = chromium.new_page(viewport={"width": 720, "height": 900}, locale="en-GB")
    english.goto(f"{stack.subscriptions_url}/return/{purchase['id']}")
    assert english.locator("html").get_attribute("lang") == "en"
    expect(english.get_by_role("heading", level=1)).to_have_text("Your subscription is active")
    expect(english.get_by_role("heading", level=2, name="What happens next")).to_be_visible()
