"""Refresh the catalogues from the templates and the code: new texts are added (untranslated), texts
no longer used are marked obsolete, translations already made are kept (`kinobill i18n extract`)."""

from __future__ import annotations

from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

from kinobill.i18n.catalogues import DOMAIN, catalogue_path
from kinobill.i18n.locales import SUPPORTED_LOCALES

PACKAGE = Path(__file__).resolve().parent.parent  # services/kinobill
JINJA = {"extensions": "jinja2.ext.i18n", "trimmed": "false", "newstyle_gettext": "true"}
METHODS = [
    ("**/mail/*.txt", "jinja2.ext:babel_extract"),
    ("**/mail/*.html", "jinja2.ext:babel_extract"),
    ("**/templates/*.txt", "jinja2.ext:babel_extract"),
    ("**/templates/*.html", "jinja2.ext:babel_extract"),
]


def template_messages() -> Catalog:
    """Every message the templates use, with where it is used."""
    catalogue = Catalog(domain=DOMAIN, project="Kinobill", charset="utf-8")
    options = {pattern: JINJA for pattern, _ in METHODS}
    for filename, lineno, message, comments, context in extract_from_dir(
        str(PACKAGE), METHODS, options, strip_comment_tags=True
    ):
        catalogue.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return catalogue


def refresh() -> list[Path]:
    template = template_messages()
    written = []
    for locale in SUPPORTED_LOCALES:
        path = catalogue_path(locale)
        if path.exists():
            with path.open("rb") as source:
                catalogue = read_po(source, locale=locale, domain=DOMAIN)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            catalogue = Catalog(locale=locale, domain=DOMAIN, project="Kinobill", charset="utf-8")
        catalogue.update(template, no_fuzzy_matching=True)
        with path.open("wb") as target:
            write_po(
                target, catalogue, width=110, omit_header=False, ignore_obsolete=True, include_lineno=False
            )
        written.append(path)
    return written
