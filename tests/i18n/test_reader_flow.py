"""A viewer's language and zone from the Auth token travel with the purchase: kept on the subscription,
passed to Billing with the payment (and with every renewal charge), so e-mails written later, with no
token at hand, still use them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
import sqlalchemy as sa

from shop import Buyer


def _buyer(stack, tokens, **claims) -> Iterator[Buyer]:
    user_id = uuid.uuid4()
    email = f"{user_id.hex[:12]}@example.com"
    headers = {"Authorization": f"Bearer {tokens.user(user_id, email, **claims)}"}
    with (
        httpx.Client(base_url=stack.subscriptions_url, headers=headers, timeout=30) as subs,
        httpx.Client(base_url=stack.billing_url, headers=headers, timeout=30) as billing,
    ):
        yield Buyer(user_id, email, subs, billing)


@pytest.fixture()
def english_viewer(stack, tokens) -> Iterator[Buyer]:
    yield from _buyer(stack, tokens, locale="en-GB", zoneinfo="Asia/Yekaterinburg")


@pytest.fixture()
def confused_viewer(stack, tokens) -> Iterator[Buyer]:
    yield from _buyer(stack, tokens, locale="tlh", zoneinfo="Europe/Atlantis")


def _stored(db, subscription_id: str) -> tuple[tuple, tuple]:
    with db.connect() as conn:
        sub = conn.execute(
            sa.text("SELECT locale, zoneinfo FROM subscriptions.subscriptions WHERE id = :id"),
            {"id": subscription_id},
        ).one()
        payment = conn.execute(
            sa.text("SELECT locale, zoneinfo FROM billing.payments WHERE subscription_id = :id"),
            {"id": subscription_id},
        ).one()
    return tuple(sub), tuple(payment)


def test_the_tokens_locale_and_zone_are_kept_with_the_subscription_and_its_payment(
    stack, db, plan, english_viewer
):
    purchase = english_viewer.buy(plan["id"]).json()
    assert _stored(db, purchase["id"]) == (("en", "Asia/Yekaterinburg"), ("en", "Asia/Yekaterinburg"))


def test_claims_that_name_nothing_supported_are_not_kept(stack, db, plan, confused_viewer):
    purchase = confused_viewer.buy(plan["id"]).json()
    assert purchase["status"] == "awaiting_payment"  # never an error
    assert _stored(db, purchase["id"]) == ((None, None), (None, None))  # the deployment's defaults apply
