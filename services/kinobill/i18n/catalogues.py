"""The gettext catalogues (Russian and English), read from their .po sources on first use.

The .po files under `locale/<lang>/LC_MESSAGES/kinobill.po` are the only form kept in the repository:
they are compiled in memory here, so a fresh clone needs no build step. To add or change a text, edit
the templates, then `kinobill i18n extract` refreshes the catalogues' entries (see docs/i18n.md).
"""

from __future__ import annotations

from functools import lru_cache
from io import BytesIO
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from kinobill.i18n.locales import SUPPORTED_LOCALES

DOMAIN = "kinobill"
LOCALE_DIR = Path(__file__).parent / "locale"


def catalogue_path(locale: str) -> Path:
    return LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


@lru_cache(maxsize=len(SUPPORTED_LOCALES))
def translations(locale: str) -> Translations:
    """The compiled catalogue of a supported locale (fuzzy entries are left out, as msgfmt does)."""
    if locale not in SUPPORTED_LOCALES:
        raise ValueError(f"unsupported locale {locale!r}")
    with catalogue_path(locale).open("rb") as source:
        catalogue = read_po(source, locale=locale, domain=DOMAIN)
    compiled = BytesIO()
    write_mo(compiled, catalogue, use_fuzzy=False)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)
