"""The console in headless Chromium against a real admin process, the session's real services and Postgres.

Screenshots go to test-artifacts/admin/. The first journey reads rows arranged with SQL (old payments,
webhooks); the refund journey acts on a subscription bought through the real purchase flow.
Django's ORM is not used while Playwright runs (its sync API runs an event loop in this thread).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from admin_buy import bought

from kinobill.billing import tables as billing
from kinobill.subscriptions import tables as subs
from shop import new_plan, paid_subscription, refund_row

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "admin"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"Chromium not installed at {CHROMIUM}"),
]


@pytest.fixture()
def operator_login(django_ready):
    from django.contrib.auth.models import Group, User

    name, password = f"op-{uuid.uuid4().hex[:6]}", f"pw-{uuid.uuid4().hex}"
    user = User.objects.create_user(name, password=password, is_staff=True)
    user.groups.add(Group.objects.get(name="operator"))
    return name, password


@pytest.fixture()
def browser_page():
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        # a Russian reader's browser: the admin answers in Russian (its default anyway)
        page = browser.new_page(viewport={"width": 1400, "height": 1000}, locale="ru-RU")
        page.set_default_timeout(15_000)
        yield page
        browser.close()


def log_in(page, base: str, name: str, password: str) -> None:
    page.goto(f"{base}/login/")
    page.fill("#id_username", name)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_url(f"{base}/")


def search(page, base: str, model: str, text: str) -> None:
    page.goto(f"{base}/kinobill_admin/{model}/")
    page.fill("#searchbar", text)
    page.press("#searchbar", "Enter")
    page.wait_for_load_state()


def test_operator_logs_in_creates_a_plan_finds_a_subscription_and_sees_its_money(
    admin_process, operator_login, db_engine, browser_page
):
    """In Russian (the default): the dashboard, a plan created through the service, a subscription found
    by e-mail with its payments and refunds, the refunds and payments lists, the audit log."""
    from playwright.sync_api import expect

    base, page = admin_process.base_url, browser_page
    arranged_plan = new_plan(db_engine, name="Kino Max")
    sub = paid_subscription(db_engine, arranged_plan, email=f"viewer-{uuid.uuid4().hex[:6]}@example.com")
    refund = refund_row(db_engine, sub, amount=12345)

    log_in(page, base, *operator_login)
    expect(page.locator("html")).to_have_attribute("lang", "ru")
    expect(page.locator("#kb-dashboard svg.chart")).to_have_count(4)
    page.screenshot(path=str(ARTIFACTS / "01-dashboard.png"), full_page=True)

    code = f"b{uuid.uuid4().hex[:8]}"
    page.goto(f"{base}/kinobill_admin/plan/add/")
    page.fill("#id_code", code)
    page.fill("#id_name", "Browser plan")
    page.fill("#id_price_month", "399.00")
    page.fill("#id_price_year", "3990.00")
    page.screenshot(path=str(ARTIFACTS / "02-plan-form.png"), full_page=True)
    page.click("input[name=_save]")
    expect(page.locator("ul.messagelist")).to_contain_text(code)
    with db_engine.connect() as conn:
        stored = conn.execute(
            sa.select(subs.plans.c.price_month).where(subs.plans.c.code == code)
        ).scalar_one()
    assert stored == 39900  # created by the real Subscriptions service
    expect(page.locator("#result_list")).to_contain_text(code)
    page.screenshot(path=str(ARTIFACTS / "03-plans.png"), full_page=True)

    search(page, base, "subscription", sub["email"])
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)
    page.screenshot(path=str(ARTIFACTS / "04-subscription-search.png"), full_page=True)
    rows.first.locator("th a").click()
    expect(page.locator(".field-status .readonly")).to_have_text("active")
    expect(page.locator("#refund-button")).to_be_visible()
    expect(page.locator("#payments-group")).to_contain_text(sub["provider_payment_id"])
    expect(page.locator("#refunds-group")).to_contain_text("123.45")
    page.screenshot(path=str(ARTIFACTS / "05-subscription.png"), full_page=True)

    search(page, base, "refund", sub["email"])
    expect(page.locator("#result_list")).to_contain_text(str(refund["id"]))
    page.screenshot(path=str(ARTIFACTS / "06-refunds.png"), full_page=True)
    search(page, base, "payment", sub["provider_payment_id"])
    expect(page.locator("#result_list")).to_contain_text("299.00")
    page.screenshot(path=str(ARTIFACTS / "07-payments.png"), full_page=True)
    search(page, base, "auditentry", operator_login[0])
    expect(page.locator("#result_list")).to_contain_text("plan.create")
    page.screenshot(path=str(ARTIFACTS / "08-audit.png"), full_page=True)


def test_operator_refunds_a_subscription_bought_through_the_real_flow(
    admin_process, operator_login, stack, plan, buyer, db_engine, browser_page
):
    """The refund object tool: a confirmation page with the amount by the rule, then one refund."""
    from playwright.sync_api import expect

    sub = bought(stack, plan, buyer)  # arrange: bought and paid in the sandbox, active
    base, page = admin_process.base_url, browser_page

    log_in(page, base, *operator_login)
    search(page, base, "subscription", sub["email"])
    page.locator("#result_list tbody tr th a").first.click()
    expect(page.locator(".field-status .readonly")).to_have_text("active")
    expect(page.locator(".field-price_rub .readonly")).to_contain_text("299.00")
    page.click("#refund-button")
    expect(page.locator("#refund-rows .refund-amount")).to_have_text("299.00 ₽")
    page.screenshot(path=str(ARTIFACTS / "09-refund-confirmation.png"), full_page=True)
    page.click("#confirm-refund")
    expect(page.locator("ul.messagelist")).to_contain_text("299.00")
    expect(page.locator(".field-status .readonly")).to_have_text("ended")
    expect(page.locator("#refund-button")).to_have_count(0)
    page.screenshot(path=str(ARTIFACTS / "10-refund-requested.png"), full_page=True)

    search(page, base, "refund", sub["email"])
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("299.00")
    page.screenshot(path=str(ARTIFACTS / "11-refund-listed.png"), full_page=True)

    with db_engine.connect() as conn:
        refunds = conn.execute(
            sa.select(billing.refunds.c.amount, billing.refunds.c.status).where(
                billing.refunds.c.subscription_id == sub["id"]
            )
        ).all()
    assert [tuple(r) for r in refunds] == [(29900, "succeeded")]  # made by the real services, once
