"""What the e-mails of every service share: the one way a typed context becomes an e-mail, and the
letter (who, which event, what) the service layer queues.

Each service keeps its own contexts and texts (``subscriptions/notifications.py`` and
``billing/notifications.py``, templates in ``<service>/mail/``); both build their :class:`Mail` here, so
rendering, the reader's language and zone, and the recipient's address are decided in one place.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any, Protocol

from kinobill.i18n import LocaleZone
from kinobill.i18n.readers import reader_of
from kinobill.i18n.templates import Templates
from kinobill.mail import Email


class Context(Protocol):
    """The typed facts of one e-mail; its `kind` names the template pair and the e-mail row's kind."""

    @property
    def kind(self) -> str: ...


class Recipient(Protocol):
    """Whom an e-mail goes to: a subscription or a payment row (its `locale` and `zoneinfo`, when it has
    them, choose the language and zone: `reader_of`)."""

    @property
    def user_id(self) -> uuid.UUID: ...

    @property
    def user_email(self) -> str | None: ...


class Mail:
    """One service's e-mails: the templates of its ``mail/`` folder."""

    def __init__(self, folder: Path) -> None:
        self.templates = Templates(folder)

    def kinds(self) -> list[str]:
        return self.templates.kinds()

    def render(self, context: Context, reader: LocaleZone) -> Email:
        """The e-mail for a context in the reader's language and time zone: subject, plain text and HTML
        from the kind's template pair (a value the templates need and the context lacks fails here)."""
        mail = self.templates.render_mail(context.kind, context, reader)
        return Email(context.kind, mail.subject, mail.text, mail.html, reader.locale, reader.zoneinfo)

    def letter(self, dedupe_key: str, recipient: Recipient, context: Context) -> dict[str, Any]:
        """The arguments of `queue_email` for telling `recipient` about `context` once per `dedupe_key`
        (a key that names the event, so applying the event twice queues one e-mail)."""
        return {
            "dedupe_key": dedupe_key,
            "to": recipient.user_email,
            "user_id": recipient.user_id,
            "email": self.render(context, reader_of(recipient)),
        }
