"""Locales and zones: what a token, a browser or a setting may name, and how money and moments read."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kinobill.config import Settings
from kinobill.i18n import LocaleZone, from_claims, negotiate
from kinobill.i18n.formatting import day, moment, money
from kinobill.security import user_from_claims

NBSP = "\u00a0"
MOSCOW_RU = LocaleZone("ru", "Europe/Moscow")
MOSCOW_EN = LocaleZone("en", "Europe/Moscow")
T = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)  # 10:00 in Moscow


def test_money_reads_as_each_locale_writes_rubles():
    assert money(29900, "ru") == f"299,00{NBSP}₽"
    assert money(29900, "en") == f"299.00{NBSP}RUB"
    assert money(123456789, "ru") == f"1{NBSP}234{NBSP}567,89{NBSP}₽"
    assert money(5, "en") == f"0.05{NBSP}RUB"
    with pytest.raises(TypeError):
        money(299.0, "ru")  # type: ignore[arg-type]


def test_moments_are_shown_in_the_readers_zone_with_its_name():
    assert moment(T, MOSCOW_RU) == f"30 ноября 2026{NBSP}г., 10:00{NBSP}МСК"
    assert moment(T, MOSCOW_EN) == f"November 30, 2026, 10:00{NBSP}MSK"
    assert day(T, MOSCOW_RU) == f"30 ноября 2026{NBSP}г."
    # Another zone: the local time with its offset; the date may change with it.
    assert moment(T, LocaleZone("ru", "Asia/Vladivostok")) == f"30 ноября 2026{NBSP}г., 17:00{NBSP}UTC+10"
    late = datetime(2026, 11, 30, 22, 30, tzinfo=UTC)
    assert moment(late, LocaleZone("en", "Asia/Kolkata")) == f"December 1, 2026, 04:00{NBSP}UTC+5:30"
    assert moment(late, LocaleZone("en", "America/St_Johns")).endswith(f"19:00{NBSP}UTC−3:30")
    with pytest.raises(ValueError):
        moment(datetime(2026, 11, 30, 7, 0), MOSCOW_RU)  # a naive moment has no zone to convert from


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        ({}, ("ru", "Europe/Moscow")),
        ({"locale": "en-GB", "zoneinfo": "Asia/Yekaterinburg"}, ("en", "Asia/Yekaterinburg")),
        ({"locale": "ru_RU.UTF-8"}, ("ru", "Europe/Moscow")),
        ({"locale": "de-DE", "zoneinfo": "Mars/Olympus"}, ("ru", "Europe/Moscow")),  # unknown → defaults
        ({"locale": 42, "zoneinfo": ["UTC"]}, ("ru", "Europe/Moscow")),  # wrong types
        ({"locale": "en;q=1", "zoneinfo": "../../etc/passwd"}, ("ru", "Europe/Moscow")),
        ({"locale": "EN", "zoneinfo": "/usr/share/zoneinfo/UTC"}, ("en", "Europe/Moscow")),
        ({"zoneinfo": "x" * 300}, ("ru", "Europe/Moscow")),
    ],
)
def test_token_claims_are_validated_and_defaulted(claims, expected):
    reader = from_claims(claims)
    assert (reader.locale, reader.zoneinfo) == expected


def test_the_deployment_default_fills_what_a_token_leaves_out():
    default = LocaleZone("en", "Asia/Novosibirsk")
    assert from_claims({"locale": "ru"}, default) == LocaleZone("ru", "Asia/Novosibirsk")
    assert from_claims({"zoneinfo": "Europe/Kaliningrad"}, default) == LocaleZone("en", "Europe/Kaliningrad")


def test_the_user_principal_carries_only_valid_claims():
    sub = "6f1c2d6e-8a8f-4d7e-9d55-3f1f0c1d2e3a"
    user = user_from_claims({"sub": sub, "locale": "en-US", "zoneinfo": "Asia/Omsk"})
    assert (user.locale, user.zoneinfo) == ("en", "Asia/Omsk")
    user = user_from_claims({"sub": sub, "locale": "fr", "zoneinfo": "Nowhere/Land"})
    assert (user.locale, user.zoneinfo) == (None, None)  # the deployment's defaults apply later


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, "ru"),
        ("", "ru"),
        ("en-US,en;q=0.9,ru;q=0.8", "en"),
        ("de-DE, ru;q=0.5, en;q=0.4", "ru"),
        ("fr, de", "ru"),
        ("en;q=0, ru", "ru"),
        ("ru;q=0.3, en;q=0.7", "en"),
        ("en;q=abc, ru;q=0.1", "ru"),
        ("*", "ru"),
    ],
)
def test_accept_language_picks_the_best_supported_locale(header, expected):
    assert negotiate(header) == expected


def test_defaults_are_deployment_settings_and_refuse_nonsense(monkeypatch):
    assert Settings().reader_default == LocaleZone("ru", "Europe/Moscow")
    monkeypatch.setenv("KINOBILL_DEFAULT_LOCALE", "en")
    monkeypatch.setenv("KINOBILL_DEFAULT_TIMEZONE", "Asia/Yekaterinburg")
    assert Settings().reader_default == LocaleZone("en", "Asia/Yekaterinburg")
    monkeypatch.setenv("KINOBILL_DEFAULT_TIMEZONE", "Moscow")
    with pytest.raises(ValueError, match="time zone"):
        Settings()
