"""A viewer's language and zone from the Auth token travel with the purchase: kept on the subscription,
passed to Billing with the payment (and with every renewal charge), so e-mails written later, with no
token at hand, still use them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

import httpx
import pytest
import sqlalchemy as sa

from shop import Buyer, create_plan, mail_to
from support import wait_until

NBSP = "\u00a0"


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
def russian_viewer(stack, tokens) -> Iterator[Buyer]:
    yield from _buyer(stack, tokens)  # a token without locale claims: the defaults, ru and Moscow


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


def _mail(stack, address: str, count: int) -> list[dict]:
    return wait_until(
        lambda: len(mails := mail_to(stack, address)) >= count and mails, message=f"{count} e-mails"
    )


def _email_rows(db, user_id: uuid.UUID) -> list[tuple]:
    with db.connect() as conn:
        return [
            tuple(r)
            for schema in ("subscriptions", "billing")
            for r in conn.execute(
                sa.text(
                    f"SELECT kind, locale, zoneinfo FROM {schema}.emails WHERE user_id = :u ORDER BY kind"
                ),
                {"u": user_id},
            )
        ]


def test_a_russian_viewers_emails_reach_the_mailbox_in_russian(stack, db, tokens, russian_viewer):
    plan = create_plan(stack, tokens, name="Кино+")
    viewer = russian_viewer
    viewer.subscribe(stack, plan)
    mails = {m["headers"]["X-Kinobill-Kind"]: m for m in _mail(stack, viewer.email, 2)}
    activated, paid = mails["subscription_activated"], mails["payment_succeeded"]
    assert activated["subject"] == "Подписка «Кино+» активна"
    assert paid["subject"] == f"Платёж на 299,00{NBSP}₽ получен"
    for mail in (activated, paid):
        assert mail["headers"]["Content-Language"] == "ru"
        assert mail["headers"]["Content-Type"].startswith("multipart/alternative")
        assert '<html lang="ru">' in mail["html"] and "Онлайн-кинотеатр" in mail["body"]
    assert "Оплачено до:" in activated["body"] and f"{NBSP}МСК" in activated["body"]
    assert f"Сумма: 299,00{NBSP}₽" in paid["body"] and f"299,00{NBSP}₽" in paid["html"]
    assert "За что: Kinobill Кино+, 1 месяц" in paid["body"]  # the payment's description, too
    assert _email_rows(db, viewer.user_id) == [
        ("subscription_activated", "ru", "Europe/Moscow"),
        ("payment_succeeded", "ru", "Europe/Moscow"),
    ]


def test_an_english_viewer_in_yekaterinburg_reads_english_in_local_time(stack, db, plan, english_viewer):
    active = english_viewer.subscribe(stack, plan)
    mails = {m["headers"]["X-Kinobill-Kind"]: m for m in _mail(stack, english_viewer.email, 2)}
    assert mails["subscription_activated"]["subject"] == "Your Money Plan subscription is active"
    assert mails["payment_succeeded"]["subject"] == f"Payment of 299.00{NBSP}RUB received"
    end = datetime.fromisoformat(active["current_period_end"]).astimezone(ZoneInfo("Asia/Yekaterinburg"))
    assert f"{end:%H:%M}{NBSP}UTC+5" in mails["subscription_activated"]["body"]
    assert mails["subscription_activated"]["headers"]["Content-Language"] == "en"
    assert "For: Kinobill Money Plan, 1 month" in mails["payment_succeeded"]["body"]
    assert _email_rows(db, english_viewer.user_id) == [
        ("subscription_activated", "en", "Asia/Yekaterinburg"),
        ("payment_succeeded", "en", "Asia/Yekaterinburg"),
    ]


def test_a_resent_email_is_the_same_bytes(stack, db, plan, buyer):
    buyer.subscribe(stack, plan)
    first = {m["headers"]["X-Kinobill-Kind"]: m for m in _mail(stack, buyer.email, 2)}[
        "subscription_activated"
    ]
    with db.begin() as conn:  # an operator's resend: the row is due again
        resent = conn.execute(
            sa.text(
                "UPDATE subscriptions.emails SET sent_at = NULL, sending_at = NULL, claimed_until = NULL "
                "WHERE user_id = :u AND kind = 'subscription_activated'"
            ),
            {"u": buyer.user_id},
        ).rowcount
    assert resent == 1
    copies = wait_until(
        lambda: (
            len(c := [m for m in mail_to(stack, buyer.email) if m["message_id"] == first["message_id"]]) == 2
            and c
        ),
        message="the resent e-mail",
    )
    assert copies[0]["raw"] == copies[1]["raw"]
    assert "--==kinobill-" in copies[1]["raw"]  # multipart, with the row's own boundary
