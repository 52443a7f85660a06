"""The page YooKassa sends the buyer back to: in the buyer's language, with the plan, the amount and
what happens next, and markup a screen reader can follow (language, headings, a live status)."""

from __future__ import annotations

import re
import uuid

import httpx

from shop import DECLINED_CARD, create_plan

NBSP = "\u00a0"


def _page(url: str, language: str | None = None) -> httpx.Response:
    return httpx.get(url, headers={"Accept-Language": language} if language else {})


def _status_region(html: str) -> str:
    match = re.search(r'<p id="status" class="status" role="status" aria-live="polite">(.*?)</p>', html, re.S)
    assert match, "the status is a polite live region"
    return match.group(1)


def test_the_return_page_speaks_the_buyers_language_and_follows_the_purchase(stack, tokens, buyer):
    plan = create_plan(stack, tokens, name="Кино+ Premium", price_month="349.00")
    purchase = buyer.buy(plan["id"]).json()
    url = f"{stack.subscriptions_url}/return/{purchase['id']}"

    russian = _page(url)  # no Accept-Language: the deployment's default, Russian
    assert russian.status_code == 200
    assert russian.headers["content-language"] == "ru"
    assert '<html lang="ru">' in russian.text
    assert '<h1 id="title">Подтверждаем оплату…</h1>' in russian.text
    assert "Ждём подтверждения от банка" in _status_region(russian.text)
    assert "Кино+ Premium" in russian.text and f"349,00{NBSP}₽" in russian.text
    assert '<h2 id="next-heading">Что дальше</h2>' in russian.text
    assert 'http-equiv="refresh"' in russian.text  # without scripts the page still refreshes
    policy = russian.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy
    assert re.search(r"script-src 'sha256-[A-Za-z0-9+/=]{44}';", policy)  # its own script, nothing else

    english = _page(url, "en-GB,en;q=0.9,ru;q=0.5")
    assert '<html lang="en">' in english.text and english.headers["content-language"] == "en"
    assert "Payment is being confirmed…" in english.text and f"349.00{NBSP}RUB" in english.text
    assert _page(url, "de-DE, fr;q=0.8").headers["content-language"] == "ru"  # unsupported: the default

    buyer.pay(stack, purchase)
    active = _page(url)
    assert '<h1 id="title">Подписка активна</h1>' in active.text
    assert "Оплата прошла" in _status_region(active.text)
    assert "Оплачено до" in active.text and "МСК" in active.text  # the end of the period, Moscow time
    assert "Подписка продлится сама" in active.text
    assert "refresh" not in active.text and "<script>" not in active.text  # final: nothing polls
    assert "script-src 'none'" in active.headers["content-security-policy"]


def test_a_declined_payment_says_nothing_was_charged(stack, plan, buyer):
    purchase = buyer.buy(plan["id"]).json()
    buyer.pay(stack, purchase, DECLINED_CARD)
    page = _page(f"{stack.subscriptions_url}/return/{purchase['id']}", "en")
    assert "The payment did not go through" in page.text
    assert "nothing was charged" in _status_region(page.text)


def test_an_unknown_purchase_is_a_404_page_in_the_readers_language(stack):
    page = _page(f"{stack.subscriptions_url}/return/{uuid.uuid4()}")
    assert page.status_code == 404
    assert "Покупка не найдена" in page.text and '<html lang="ru">' in page.text
    assert _page(f"{stack.subscriptions_url}/return/not-a-uuid").status_code == 422
