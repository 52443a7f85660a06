"""One e-mail row as a MIME message: plain text alone, or multipart/alternative (text, then HTML).

Everything in it comes from the row (its id, creation time, subject, parts and locale), including the
multipart boundary, so sending the same row again (a retry after a failed attempt, an operator's resend)
produces the same bytes, and mail clients dedupe it by its Message-ID.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime


def compose(
    *,
    sender: str,
    to: str,
    message_id: uuid.UUID,
    created_at: datetime,
    kind: str,
    subject: str,
    text: str,
    html: str | None = None,
    locale: str | None = None,
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = f"<{message_id}@kinobill>"
    message["Date"] = format_datetime(created_at)
    message["X-Kinobill-Kind"] = kind
    message.set_content(text)  # (clears Content-* headers: Content-Language goes after it)
    if html:
        message.add_alternative(html, subtype="html")
        message.set_boundary(f"==kinobill-{message_id.hex}==")
    if locale:
        message["Content-Language"] = locale
    return message
