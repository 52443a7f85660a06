"""Money and moments written the way a reader of each locale expects (CLDR data through Babel).

    money(29900, "ru")  → "299,00 ₽"        money(29900, "en")  → "299.00 RUB"
    moment(t, ru/Moscow) → "30 ноября 2026 г., 10:00 МСК"
    moment(t, en/Moscow) → "November 30, 2026, 10:00 MSK"

Spaces inside a figure or a date are no-break spaces (U+00A0), so a mail client never wraps
"299,00 ₽" or "2026 г." across lines; CLDR's narrow no-break space is written as the plain one, which
every mail client's fonts have.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from functools import lru_cache

from babel.dates import format_date as babel_date
from babel.dates import format_time as babel_time
from babel.numbers import format_currency

from kinobill.i18n.locales import LocaleZone

NBSP = "\u00a0"
# Moscow time has a name of its own in Russian and English; other zones are written as UTC offsets.
MOSCOW_TIME = {"ru": "МСК", "en": "MSK"}
MOSCOW_ZONES = frozenset({"Europe/Moscow", "W-SU", "Europe/Simferopol", "Europe/Kirov", "Europe/Volgograd"})


def _plain(text: str) -> str:
    return text.replace("\u202f", NBSP)


def money(kopecks: int, locale: str) -> str:
    """An amount in kopecks as the locale writes rubles."""
    if isinstance(kopecks, bool) or not isinstance(kopecks, int):
        raise TypeError(f"money is integer kopecks, not {type(kopecks).__name__}")
    return _money(kopecks, locale)


@lru_cache(maxsize=4096)  # a few prices recur in every e-mail; Babel's formatting is the costly part
def _money(kopecks: int, locale: str) -> str:
    amount = Decimal(kopecks) / 100
    symbol = "₽" if locale == "ru" else "RUB"
    text = format_currency(amount, "RUB", format=f"#,##0.00{NBSP}¤", locale=locale, currency_digits=True)
    return _plain(text.replace("RUB", symbol) if symbol != "RUB" else text)


def _local(moment_: datetime, where: LocaleZone) -> datetime:
    if moment_.tzinfo is None or moment_.utcoffset() is None:
        raise ValueError("a moment shown to a reader must be timezone-aware")
    return moment_.astimezone(where.zone)


def zone_label(moment_: datetime, where: LocaleZone) -> str:
    """ "МСК"/"MSK" for Moscow time, else the offset from UTC at that moment ("UTC+5", "UTC−3:30")."""
    if where.zoneinfo in MOSCOW_ZONES and _local(moment_, where).utcoffset() == timedelta(hours=3):
        return MOSCOW_TIME.get(where.locale, "MSK")
    offset = _local(moment_, where).utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    if minutes == 0:
        return "UTC"
    sign = "+" if minutes > 0 else "−"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")


@lru_cache(maxsize=4096)  # each e-mail shows its moments in both parts
def day(moment_: datetime, where: LocaleZone) -> str:
    """The date in the reader's zone: "30 ноября 2026 г." / "November 30, 2026"."""
    return _plain(babel_date(_local(moment_, where).date(), "long", locale=where.locale))


@lru_cache(maxsize=4096)
def moment(moment_: datetime, where: LocaleZone) -> str:
    """Date, 24-hour time and zone in the reader's zone: "30 ноября 2026 г., 10:00 МСК"."""
    local = _local(moment_, where)
    time = babel_time(local.time(), "HH:mm", locale=where.locale)
    return f"{day(moment_, where)}, {time}{NBSP}{zone_label(moment_, where)}"
