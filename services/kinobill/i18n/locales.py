"""Which language and time zone a reader gets: validated values, the deployment's defaults, the
Auth token's `locale` and `zoneinfo` claims, and a browser's Accept-Language.

Nothing here trusts its input: an unknown or malformed locale falls back to the default locale, a zone
that is not in the tz database falls back to the default zone. Pure functions, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

SUPPORTED_LOCALES = ("ru", "en")
DEFAULT_LOCALE = "ru"
DEFAULT_ZONE = "Europe/Moscow"

# A BCP 47 tag or a POSIX locale name: a language, then optional subtags ("ru", "en-GB", "ru_RU.UTF-8").
_LANGUAGE_TAG = re.compile(r"^([A-Za-z]{2,3})(?:[-_][A-Za-z0-9]{1,8})*(?:\.[A-Za-z0-9-]+)?$")
# tz database names: "Europe/Moscow", "Etc/GMT+3", "UTC"; no dots-only parts, no leading slash.
_ZONE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_+-]*(?:/[A-Za-z0-9_+-]+)*$")


def supported_locale(value: object) -> str | None:
    """The supported locale a tag names ("ru-RU" → "ru"), or None for anything else."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    match = _LANGUAGE_TAG.match(value.strip())
    if match is None:
        return None
    language = match.group(1).lower()
    return language if language in SUPPORTED_LOCALES else None


@lru_cache(maxsize=512)
def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def valid_zone(value: object) -> str | None:
    """The tz database name itself when it names a zone ("Asia/Yekaterinburg"), else None."""
    if not isinstance(value, str) or not 0 < len(value) <= 64 or not _ZONE_NAME.match(value):
        return None
    return value if _zone(value) is not None else None


@dataclass(frozen=True)
class LocaleZone:
    """The language and the time zone one reader sees: stored with each e-mail so a resend is the same."""

    locale: str = DEFAULT_LOCALE
    zoneinfo: str = DEFAULT_ZONE

    def __post_init__(self) -> None:
        if self.locale not in SUPPORTED_LOCALES:
            raise ValueError(f"unsupported locale {self.locale!r}; supported: {', '.join(SUPPORTED_LOCALES)}")
        if valid_zone(self.zoneinfo) is None:
            raise ValueError(f"unknown time zone {self.zoneinfo!r}")

    @property
    def zone(self) -> ZoneInfo:
        zone = _zone(self.zoneinfo)
        assert zone is not None  # checked when made
        return zone

    @classmethod
    def of(cls, locale: object, zoneinfo: object, default: LocaleZone | None = None) -> LocaleZone:
        """Stored or claimed values, each replaced by the default when missing or invalid."""
        default = default or DEFAULT
        return cls(
            supported_locale(locale) or default.locale,
            valid_zone(zoneinfo) or default.zoneinfo,
        )


DEFAULT = LocaleZone()


def from_claims(claims: Mapping[str, object], default: LocaleZone | None = None) -> LocaleZone:
    """The reader's locale and zone from an Auth token's `locale` and `zoneinfo` claims (OpenID Connect
    standard claims: a BCP 47 language tag and a tz database name), each defaulted when absent or bad."""
    return LocaleZone.of(claims.get("locale"), claims.get("zoneinfo"), default)


def negotiate(accept_language: str | None, default: str = DEFAULT_LOCALE) -> str:
    """The supported locale a browser prefers most (RFC 9110 Accept-Language with q-values), else default."""
    if not accept_language or len(accept_language) > 1024:
        return default
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate(accept_language.split(",")):
        tag, _, params = item.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        locale = supported_locale(tag.strip())
        if locale is not None and 0 < quality <= 1:
            ranked.append((-quality, position, locale))
    return min(ranked)[2] if ranked else default
