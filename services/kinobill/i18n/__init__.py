"""What readers see, in their language and time zone: locales and zones (`locales`), money and dates
per locale (`formatting`), the gettext catalogues (`catalogues`) and the Jinja2 templates of e-mails and
pages (`templates`). See docs/i18n.md."""

from kinobill.i18n.locales import DEFAULT, LocaleZone, from_claims, negotiate

__all__ = ["DEFAULT", "LocaleZone", "from_claims", "negotiate"]
