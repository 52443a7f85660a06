"""Every e-mail Billing sends: its kind, the typed facts it is written from, and its text.

Each e-mail is a frozen dataclass (the context) whose ``kind`` names it (the ``kind`` column of the
e-mail row, the ``X-Kinobill-Kind`` header); :func:`render` turns a context into the
:class:`~kinobill.mail.Email` that is queued, in the reader's language and time zone, from the kind's
template pair in ``mail/`` (docs/i18n.md). The texts live there and nowhere else: ``payments.py`` and
``refunds.py`` decide *when* to tell the user and with which facts, never *how* it reads.

Money in a context is integer kopecks; the templates format it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from kinobill.i18n import LocaleZone
from kinobill.mail import Email
from kinobill.notifications import Mail, Recipient

# --- contexts: one per kind ----------------------------------------------------------------------


@dataclass(frozen=True)
class PaymentSucceeded:
    kind: ClassVar[str] = "payment_succeeded"
    amount: int
    description: str


@dataclass(frozen=True)
class PaymentCanceled:
    """A payment that did not go through; `reason` is YooKassa's cancellation reason, if any."""

    kind: ClassVar[str] = "payment_canceled"
    amount: int
    description: str
    reason: str | None


@dataclass(frozen=True)
class PaymentDuplicate:
    """A second payment for a period already paid: it is returned in full."""

    kind: ClassVar[str] = "payment_duplicate"
    amount: int
    description: str


@dataclass(frozen=True)
class RefundStarted:
    kind: ClassVar[str] = "refund_started"
    amount: int
    description: str
    status_url: str


@dataclass(frozen=True)
class RefundSucceeded:
    kind: ClassVar[str] = "refund_succeeded"
    amount: int


@dataclass(frozen=True)
class RefundCanceled:
    """A refund YooKassa did not make; `reason` is its cancellation reason, if any."""

    kind: ClassVar[str] = "refund_canceled"
    amount: int
    reason: str | None


Notification = (
    PaymentSucceeded | PaymentCanceled | PaymentDuplicate | RefundStarted | RefundSucceeded | RefundCanceled
)


# --- texts: the templates in mail/ (<kind>.txt with the subject, <kind>.html) ------------------

MAIL = Mail(Path(__file__).parent / "mail")


def render(context: Notification, reader: LocaleZone) -> Email:
    """The e-mail for a context in the reader's language and time zone (`kinobill.notifications`)."""
    return MAIL.render(context, reader)


def letter(dedupe_key: str, recipient: Recipient, context: Notification) -> dict[str, Any]:
    """What `queue_email` takes to tell `recipient` once per `dedupe_key` (`kinobill.notifications`)."""
    return MAIL.letter(dedupe_key, recipient, context)
