"""E-mails and pages from Jinja2 templates, in the reader's language and time zone.

One folder of templates per service. Each e-mail kind is a pair: `<kind>.txt` (its `subject` block and
the plain-text body) and `<kind>.html` (the HTML body); both extend the shared layouts in this package's
`templates/`. Texts are gettext messages (`{% trans %}`, `_()`) from the catalogues; amounts and moments
go through the `money`, `moment` and `day` filters, so both parts write them the same way. Undefined
variables raise (StrictUndefined): a template that needs a value its context lacks fails, never renders
a gap.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from jinja2 import (
    Environment,
    FileSystemLoader,
    StrictUndefined,
    Undefined,
    pass_context,
    select_autoescape,
)
from jinja2.runtime import Context

from kinobill.i18n import formatting
from kinobill.i18n.catalogues import translations
from kinobill.i18n.locales import SUPPORTED_LOCALES, LocaleZone

SHARED = Path(__file__).parent / "templates"
READER = "reader"  # the context variable holding the LocaleZone of the render


@dataclass(frozen=True)
class RenderedMail:
    subject: str
    text: str
    html: str


def _reader(context: Context) -> LocaleZone:
    reader = context.get(READER)
    if not isinstance(reader, LocaleZone):
        raise RuntimeError("rendered without a reader (LocaleZone)")
    return reader


def _defined(value: Any) -> Any:
    """Filters are called with an Undefined too: it fails there like anywhere else."""
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    return value


@pass_context
def _money(context: Context, kopecks: int) -> str:
    return formatting.money(_defined(kopecks), _reader(context).locale)


@pass_context
def _moment(context: Context, value: datetime) -> str:
    return formatting.moment(_defined(value), _reader(context))


@pass_context
def _day(context: Context, value: datetime) -> str:
    return formatting.day(_defined(value), _reader(context))


def context_of(value: object) -> dict[str, Any]:
    """A template context from a typed context (a dataclass, field by field) or a mapping."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: getattr(value, field.name) for field in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"a template context is a dataclass or a mapping, not {type(value).__name__}")


class Templates:
    """The templates of one folder (plus the shared layouts), one Jinja2 environment per locale."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @cached_property
    def _environments(self) -> dict[str, Environment]:
        return {locale: self._environment(locale) for locale in SUPPORTED_LOCALES}

    def _environment(self, locale: str) -> Environment:
        env = Environment(
            loader=FileSystemLoader([self.folder, SHARED]),
            undefined=StrictUndefined,
            autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
            extensions=["jinja2.ext.i18n"],
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            auto_reload=False,
        )
        catalogue = translations(locale)

        def ngettext(singular: str, plural: str, n: int) -> str:
            return catalogue.ngettext(singular, plural, _defined(n))

        env.install_gettext_callables(catalogue.gettext, ngettext, newstyle=True)  # type: ignore[attr-defined]
        env.filters.update(money=_money, moment=_moment, day=_day)
        env.globals.update(locale=locale)
        return env

    def render(self, name: str, context: object, reader: LocaleZone) -> str:
        """One template (e.g. `return.html`) in the reader's language and zone."""
        values = {**context_of(context), READER: reader}
        return self._environments[reader.locale].get_template(name).render(values)

    def kinds(self) -> list[str]:
        """The e-mail kinds of this folder: every `<kind>.txt` that has its `<kind>.html`."""
        return sorted(p.stem for p in self.folder.glob("*.txt") if p.with_suffix(".html").exists())

    def render_mail(self, kind: str, context: object, reader: LocaleZone) -> RenderedMail:
        """The subject, plain-text and HTML parts of one e-mail kind."""
        env = self._environments[reader.locale]
        values = {**context_of(context), READER: reader}
        text_template = env.get_template(f"{kind}.txt")
        if "subject" not in text_template.blocks:
            raise LookupError(f"{kind}.txt has no subject block")
        subject_parts = text_template.blocks["subject"](text_template.new_context(values))
        subject = re.sub(r"[ \t\r\n]+", " ", "".join(subject_parts)).strip(" ")
        if not subject:
            raise ValueError(f"{kind}: the subject rendered empty")
        values["subject"] = subject
        return RenderedMail(
            subject=subject,
            text=re.sub(r"\n{3,}", "\n\n", text_template.render(values)),
            html=env.get_template(f"{kind}.html").render(values),
        )
