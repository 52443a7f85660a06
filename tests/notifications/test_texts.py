"""The e-mail texts of both services: every context renders to its kind, subject, plain text and HTML,
in Russian by default and in English, with its facts written the reader's way."""

from __future__ import annotations

import typing
from datetime import UTC, datetime

import pytest

from kinobill.billing import notifications as billing
from kinobill.domain.statuses import EndedReason
from kinobill.i18n import LocaleZone
from kinobill.subscriptions import notifications as subscriptions

AT = datetime(2026, 3, 5, 14, 30, tzinfo=UTC)  # 17:30 in Moscow
LATER = datetime(2026, 4, 5, 14, 30, tzinfo=UTC)
RU = LocaleZone("ru", "Europe/Moscow")
EN = LocaleZone("en", "Europe/Moscow")
_ = "\u00a0"  # the no-break space inside amounts and dates


@pytest.mark.parametrize(
    ("context", "subject_ru", "text_ru", "subject_en", "text_en"),
    [
        (
            subscriptions.RenewalReminder(plan="Cinema", amount=29_900, days=3, charge_at=AT),
            "Подписка «Cinema» продлится через 3 дня",
            f"Через 3 дня спишем 299,00{_}₽ с сохранённой карты.\n\nПодписка: Cinema\nСумма: 299,00{_}₽\n"
            f"Дата платежа: 5 марта 2026{_}г., 17:30{_}МСК\n",
            "Your Cinema subscription renews in 3 days",
            f"Payment date: March 5, 2026, 17:30{_}MSK",
        ),
        (
            subscriptions.RenewalReminder(plan="Cinema", amount=100, days=1, charge_at=AT),
            "Подписка «Cinema» продлится через 1 день",
            f"Через 1 день спишем 1,00{_}₽",
            "Your Cinema subscription renews in 1 day",
            f"A payment of 1.00{_}RUB is scheduled in 1 day",
        ),
        (
            subscriptions.RenewalFailed(plan="Cinema", next_attempt_at=AT, access_until=LATER),
            "Не удалось продлить подписку «Cinema»",
            f"Следующая попытка: 5 марта 2026{_}г., 17:30{_}МСК\nДоступ до: 5 апреля 2026{_}г., 17:30{_}МСК",
            "We could not renew your Cinema subscription",
            f"Next attempt: March 5, 2026, 17:30{_}MSK\nAccess until: April 5, 2026, 17:30{_}MSK",
        ),
        (
            subscriptions.SubscriptionEnded(plan="Cinema", reason=EndedReason.PAYMENT_FAILED),
            "Подписка «Cinema» закончилась",
            "не удалось списать плату за продление с вашей карты",
            "Your Cinema subscription has ended",
            "we could not charge your card for the renewal",
        ),
        (
            subscriptions.SubscriptionEnded(plan="Cinema", reason=EndedReason.CANCELLED),
            "Подписка «Cinema» закончилась",
            "так как вы её отменили",
            "Your Cinema subscription has ended",
            "as you cancelled it",
        ),
        (
            subscriptions.SubscriptionEnded(plan="Cinema", reason=EndedReason.EXPIRED),
            "Подписка «Cinema» закончилась",
            "без сохранённой карты её нельзя продлить",
            "Your Cinema subscription has ended",
            "could not be renewed without a saved card",
        ),
        (
            subscriptions.SubscriptionActivated(plan="Cinema", paid_until=LATER),
            "Подписка «Cinema» активна",
            f"Оплачено до: 5 апреля 2026{_}г., 17:30{_}МСК",
            "Your Cinema subscription is active",
            f"Paid until: April 5, 2026, 17:30{_}MSK",
        ),
        (
            subscriptions.SubscriptionRenewed(plan="Cinema", paid_until=LATER),
            "Подписка «Cinema» продлена",
            f"Оплачено до: 5 апреля 2026{_}г., 17:30{_}МСК",
            "Your Cinema subscription is renewed",
            f"Paid until: April 5, 2026, 17:30{_}MSK",
        ),
        (
            subscriptions.SubscriptionCancelled(plan="Cinema", access_until=LATER),
            "Подписка «Cinema» отменена",
            f"не будет продлеваться.\n\nПодписка: Cinema\nДоступ до: 5 апреля 2026{_}г., 17:30{_}МСК",
            "Your Cinema subscription is cancelled",
            f"it will not renew.\n\nPlan: Cinema\nAccess until: April 5, 2026, 17:30{_}MSK",
        ),
        (
            subscriptions.SubscriptionCancelled(plan="Cinema", access_until=None),
            "Подписка «Cinema» отменена",
            "Покупка подписки «Cinema» отменена, деньги не списаны.",
            "Your Cinema subscription is cancelled",
            "Your purchase of Cinema is cancelled; nothing was charged.",
        ),
        (
            subscriptions.PlanPriceChanged("Cinema", "month", old_amount=29_900, new_amount=34_900),
            "«Cinema»: цена за месяц меняется со следующего продления",
            f"Цена подписки «Cinema» меняется с 299,00{_}₽ на 349,00{_}₽.",
            "Cinema: the monthly price changes from your next renewal",
            f"The price of Cinema changes from 299.00{_}RUB to 349.00{_}RUB.",
        ),
        (
            billing.PaymentSucceeded(amount=29_900, description="Cinema, month 1"),
            f"Платёж на 299,00{_}₽ получен",
            f"Сумма: 299,00{_}₽\nЗа что: Cinema, month 1",
            f"Payment of 299.00{_}RUB received",
            f"Amount: 299.00{_}RUB\nFor: Cinema, month 1",
        ),
        (
            billing.PaymentCanceled(29_900, "Cinema, month 1", reason="insufficient_funds"),
            f"Платёж на 299,00{_}₽ не прошёл",
            "Платёж не прошёл: на карте недостаточно денег. Деньги не списаны.",
            f"Payment of 299.00{_}RUB failed",
            "Your payment did not go through: there is not enough money on the card.",
        ),
        (
            billing.PaymentCanceled(amount=29_900, description="Cinema, month 1", reason=None),
            f"Платёж на 299,00{_}₽ не прошёл",
            "Платёж не прошёл: банк отклонил платёж.",
            f"Payment of 299.00{_}RUB failed",
            "Your payment did not go through: the bank declined the payment.",
        ),
        (
            billing.PaymentDuplicate(amount=29_900, description="Cinema, month 1"),
            f"Возвращаем повторный платёж на 299,00{_}₽",
            "второй платёж вернётся к вам полностью",
            f"A second payment of 299.00{_}RUB is being returned",
            "your second payment goes back to you in full",
        ),
        (
            billing.RefundStarted(
                amount=15_000, description="Cinema", status_url="https://b/api/v1/refunds/1"
            ),
            f"Начат возврат 150,00{_}₽",
            "Следить за возвратом: https://b/api/v1/refunds/1",
            f"Refund of 150.00{_}RUB started",
            "Follow the refund: https://b/api/v1/refunds/1",
        ),
        (
            billing.RefundSucceeded(amount=15_000),
            f"Возврат 150,00{_}₽ выполнен",
            "деньги уже возвращаются на вашу карту",
            f"Refund of 150.00{_}RUB completed",
            "the money is on its way back to your card",
        ),
        (
            billing.RefundCanceled(amount=15_000, reason="rejected_by_payee"),
            f"Возврат 150,00{_}₽ не выполнен",
            "Вернуть деньги не удалось: банк отклонил платёж.",
            f"Refund of 150.00{_}RUB failed",
            "Your refund could not be made: the bank declined the payment.",
        ),
    ],
    ids=lambda value: getattr(value, "kind", None),
)
def test_each_context_renders_its_text(context, subject_ru, text_ru, subject_en, text_en) -> None:
    module = billing if type(context).__module__ == billing.__name__ else subscriptions
    russian, english = module.render(context, RU), module.render(context, EN)
    assert (russian.kind, english.kind) == (context.kind, context.kind)
    assert russian.subject == subject_ru and english.subject == subject_en
    assert text_ru in russian.body and text_en in english.body
    assert (russian.locale, russian.zoneinfo) == ("ru", "Europe/Moscow")
    assert russian.html is not None and f"<title>{subject_ru}</title>" in russian.html.replace("&#34;", '"')


def test_moments_follow_the_readers_zone() -> None:
    yekaterinburg = LocaleZone("ru", "Asia/Yekaterinburg")
    email = subscriptions.render(
        subscriptions.SubscriptionActivated(plan="Cinema", paid_until=LATER), yekaterinburg
    )
    assert f"Оплачено до: 5 апреля 2026{_}г., 19:30{_}UTC+5" in email.body
    assert (email.locale, email.zoneinfo) == ("ru", "Asia/Yekaterinburg")


@pytest.mark.parametrize("module", [subscriptions, billing], ids=lambda m: m.__name__)
def test_every_context_of_a_service_has_a_template_pair(module: typing.Any) -> None:
    """A context added to the module's `Notification` union without templates is caught here."""
    contexts = typing.get_args(module.Notification)
    assert contexts
    kinds = set(module.MAIL.kinds())
    for context in contexts:
        if context is subscriptions.SubscriptionEnded:
            wanted = {f"subscription_ended_{reason}" for reason in subscriptions.ENDED_REASONS_TOLD}
        else:
            wanted = {context.kind}
        assert wanted <= kinds, f"{context.__name__} has no templates"


def test_a_payment_says_what_it_is_for_in_the_buyers_language() -> None:
    describe = subscriptions.payment_description
    assert describe("Cinema", "month", False, RU) == "Kinobill Cinema, 1 месяц"
    assert describe("Cinema", "year", True, RU) == "Kinobill Cinema, 1 год, продление"
    assert describe("Cinema", "month", True, EN) == "Kinobill Cinema, 1 month, renewal"
    assert len(describe("x" * 200, "year", False, RU)) == 128  # YooKassa's limit
