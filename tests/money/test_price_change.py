"""A plan's price change applies from the next renewal, and renewing subscribers are told by e-mail."""

from __future__ import annotations

import httpx

from shop import mail_to
from support import wait_until


def test_renewing_subscribers_are_told_of_a_price_change_and_others_are_not(stack, tokens, plan, buyer):
    purchase = buyer.buy(plan["id"]).json()
    stack.sandbox.confirm(purchase["payment"]["provider_payment_id"], "5555555555554444")
    wait_until(lambda: buyer.subscription(purchase["id"])["status"] == "active", message="activation")

    response = httpx.patch(
        f"{stack.subscriptions_url}/internal/v1/plans/{plan['id']}",
        headers=tokens.service_headers(),
        json={"price_month": "349.00"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["price_month"] == "349.00"

    notice = wait_until(
        lambda: [m for m in mail_to(stack, buyer.email) if "цена за месяц меняется" in m["subject"]],
        message="the price-change e-mail",
    )
    assert len(notice) == 1
    assert "299,00\u00a0₽" in notice[0]["body"] and "349,00\u00a0₽" in notice[0]["body"]
    assert "299,00\u00a0₽" in notice[0]["html"] and "349,00\u00a0₽" in notice[0]["html"]
    assert buyer.subscription(purchase["id"])["status"] == "active"  # the paid period is untouched

    # The yearly price did not change: nobody hears about it; renaming the plan sends nothing either.
    httpx.patch(
        f"{stack.subscriptions_url}/internal/v1/plans/{plan['id']}",
        headers=tokens.service_headers(),
        json={"name": "Money Plan HD"},
    ).raise_for_status()
    wait_until(
        lambda: all(m["headers"].get("X-Kinobill-Kind") for m in mail_to(stack, buyer.email)),
        message="mail to settle",
    )
    changes = [
        m for m in mail_to(stack, buyer.email) if m["headers"].get("X-Kinobill-Kind") == "plan_price_changed"
    ]
    assert len(changes) == 1
