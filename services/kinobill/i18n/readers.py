"""Whom an e-mail is written for: the reader's stored language and zone, defaulted by the deployment."""

from __future__ import annotations

from kinobill.config import get_settings
from kinobill.i18n.locales import LocaleZone


def reader_of(holder: object) -> LocaleZone:
    """The `locale` and `zoneinfo` kept on a subscription or payment (from the buyer's token), each
    replaced by the deployment's default (KINOBILL_DEFAULT_LOCALE / _TIMEZONE) when absent."""
    return LocaleZone.of(
        getattr(holder, "locale", None), getattr(holder, "zoneinfo", None), get_settings().reader_default
    )
