"""Every e-mail kind, in both languages: nothing missing, nothing untranslated, both parts agreeing."""

from __future__ import annotations

import email
import email.policy
import html
import re
from datetime import datetime

import pytest
from jinja2 import UndefinedError

from kinobill.cli import main as kinobill
from kinobill.i18n import LocaleZone
from kinobill.i18n.catalogues import translations
from kinobill.i18n.extract import template_messages
from kinobill.i18n.formatting import day, moment, money
from kinobill.i18n.templates import context_of
from kinobill.mail_preview import SAMPLES, all_kinds, render_sample, templates_for

READERS = [LocaleZone("ru", "Europe/Moscow"), LocaleZone("en", "Europe/Moscow")]
KINDS = all_kinds()
MONEY = re.compile(r"\d[\d\u00a0,.]*\u00a0(?:₽|RUB)")
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def _visible(markup: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", markup))


def test_every_kind_the_services_send_has_templates_and_a_sample():
    expected = {
        "subscription_activated", "subscription_renewed", "renewal_reminder", "renewal_failed",
        "subscription_cancelled", "subscription_ended_payment_failed", "subscription_ended_cancelled",
        "subscription_ended_expired", "plan_price_changed", "payment_succeeded", "payment_canceled",
        "payment_duplicate", "refund_started", "refund_succeeded", "refund_canceled",
    }  # fmt: skip
    assert expected <= set(KINDS)
    assert set(KINDS) == set(SAMPLES)


@pytest.mark.parametrize("reader", READERS, ids=lambda r: r.locale)
@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_renders_completely_in_each_language(kind, reader):
    mail = render_sample(kind, reader)
    assert mail.subject and "\n" not in mail.subject
    for part in (mail.subject, mail.text, mail.html):
        assert "%(" not in part and "{{" not in part and "{%" not in part
    assert f'<html lang="{reader.locale}">' in mail.html
    assert f"<title>{html.escape(mail.subject, quote=False)}</title>" in mail.html
    cyrillic = re.search(
        "[а-яА-Я]{4,}", _visible(mail.html).replace(context_of(SAMPLES[kind]).get("plan", ""), "")
    )
    if reader.locale == "ru":
        assert cyrillic, "the Russian e-mail is in Russian"
        assert mail.subject != render_sample(kind, READERS[1]).subject
    else:
        samples = " ".join(str(v) for v in context_of(SAMPLES[kind]).values())
        assert cyrillic is None or cyrillic.group(0) in samples, "no Russian in the English e-mail"


@pytest.mark.parametrize("reader", READERS, ids=lambda r: r.locale)
@pytest.mark.parametrize("kind", KINDS)
def test_html_and_text_agree_on_amounts_and_dates(kind, reader):
    mail = render_sample(kind, reader)
    text, visible = mail.text, _visible(mail.html)
    assert sorted(set(MONEY.findall(text))) == sorted(set(MONEY.findall(visible)))
    for value in context_of(SAMPLES[kind]).values():
        if isinstance(value, int) and not isinstance(value, bool) and value >= 100:
            shown = money(value, reader.locale)
            assert shown in text and shown in visible, (kind, shown)
        if isinstance(value, datetime):
            shown = {moment(value, reader), day(value, reader)}
            assert shown & {s for s in shown if s in text} == shown & {s for s in shown if s in visible}
            assert any(s in text for s in shown), (kind, value)


@pytest.mark.parametrize("kind", KINDS)
def test_a_missing_value_fails_instead_of_rendering_a_gap(kind):
    sample = context_of(SAMPLES[kind])
    for name in sample:
        if kind.startswith("subscription_ended_") and name == "reason":
            continue  # the kind itself names the reason: one template pair per reason
        context = {k: v for k, v in sample.items() if k != name}
        with pytest.raises(UndefinedError):
            templates_for(kind).render_mail(kind, context, READERS[0])


def test_names_are_escaped_in_html_and_kept_in_text():
    context = {
        **context_of(SAMPLES["subscription_activated"]),
        "plan": 'Kids <script>alert("x")</script> & Co',
    }
    mail = templates_for("subscription_activated").render_mail("subscription_activated", context, READERS[1])
    assert "<script>" not in mail.html and "&lt;script&gt;" in mail.html
    assert 'Kids <script>alert("x")</script> & Co' in mail.text


def test_plurals_follow_russian_grammar():
    def subject(days: int) -> str:
        context = {**context_of(SAMPLES["renewal_reminder"]), "days": days}
        return templates_for("renewal_reminder").render_mail("renewal_reminder", context, READERS[0]).subject

    assert subject(1).endswith("через 1 день")
    assert subject(3).endswith("через 3 дня")
    assert subject(5).endswith("через 5 дней")
    assert subject(21).endswith("через 21 день")


def test_the_catalogues_cover_every_text_of_the_templates():
    russian = translations("ru")
    used = [m for m in template_messages() if m.id]
    assert len(used) > 50
    for message in used:
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        if len(ids) == 2:
            translated = [russian.ngettext(ids[0], ids[1], n) for n in (1, 3, 5)]
        else:
            translated = [russian.gettext(ids[0])]
        for text in translated:
            assert text != ids[-1] or text == "Kinobill", f"untranslated: {ids[0]!r}"
            assert set(PLACEHOLDER.findall(text)) <= set(PLACEHOLDER.findall(" ".join(ids))), text


def test_preview_writes_the_parts_and_the_message(tmp_path):
    assert kinobill(["mail", "preview", "renewal_reminder", "--locale", "ru", "--out", str(tmp_path)]) == 0
    html_part = (tmp_path / "renewal_reminder.ru.html").read_text()
    text_part = (tmp_path / "renewal_reminder.ru.txt").read_text()
    assert '<html lang="ru">' in html_part and "МСК" in html_part
    assert text_part.startswith("Subject: Подписка «Премиум» продлится через 3 дня\n")
    message = email.message_from_bytes(
        (tmp_path / "renewal_reminder.ru.eml").read_bytes(), policy=email.policy.default
    )
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert message["Content-Language"] == "ru"
    assert kinobill(["mail", "preview", "no_such_kind", "--out", str(tmp_path)]) == 2
    assert kinobill(["mail", "preview", "--locale", "en", "--out", str(tmp_path / "all")]) == 0
    assert len(list((tmp_path / "all").glob("*.en.html"))) == len(KINDS)
