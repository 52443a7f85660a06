"""Every e-mail Subscriptions sends: its kind, the typed facts it is written from, and its text.

Each e-mail is a frozen dataclass (the context) whose ``kind`` names it (the ``kind`` column of the
e-mail row, the ``X-Kinobill-Kind`` header); :func:`render` turns a context into the
:class:`~kinobill.mail.Email` that is queued, in the reader's language and time zone, from the kind's
template pair in ``mail/`` (docs/i18n.md). The texts live there and nowhere else: the service layer
decides *when* to tell the user and with which facts (``notices.py``, ``purchases.py``,
``cancellations.py``, the plan repository), never *how* it reads.

Money in a context is integer kopecks and moments are aware datetimes; the templates format them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from kinobill.domain.statuses import EndedReason
from kinobill.i18n import LocaleZone
from kinobill.mail import Email
from kinobill.notifications import Mail, Recipient

# --- contexts: one per kind ----------------------------------------------------------------------


@dataclass(frozen=True)
class RenewalReminder:
    """ "Payment scheduled in N days", once per period before the renewal charge."""

    kind: ClassVar[str] = "renewal_reminder"
    plan: str
    amount: int
    days: int
    charge_at: datetime


@dataclass(frozen=True)
class RenewalFailed:
    """A declined renewal attempt: when we try again and how long access lasts."""

    kind: ClassVar[str] = "renewal_failed"
    plan: str
    next_attempt_at: datetime
    access_until: datetime


@dataclass(frozen=True)
class CardUpdateNeeded:
    """A hard decline (domain/declines.py): the saved card is not charged again; a new one renews."""

    kind: ClassVar[str] = "card_update_needed"
    plan: str
    reason: str  # YooKassa's cancellation reason (a hard one: domain/declines.py)
    access_until: datetime


@dataclass(frozen=True)
class CardChanged:
    """The user bound a new card for the subscription; `retry_now` when a declined renewal is retried."""

    kind: ClassVar[str] = "card_changed"
    plan: str
    card: str  # e.g. "Bank card *4444"
    retry_now: bool


@dataclass(frozen=True)
class SubscriptionEnded:
    """The end of a subscription that had been active (one kind per reason)."""

    plan: str
    reason: EndedReason

    @property
    def kind(self) -> str:
        return f"subscription_ended_{self.reason}"


@dataclass(frozen=True)
class SubscriptionActivated:
    kind: ClassVar[str] = "subscription_activated"
    plan: str
    paid_until: datetime


@dataclass(frozen=True)
class SubscriptionRenewed:
    kind: ClassVar[str] = "subscription_renewed"
    plan: str
    paid_until: datetime


@dataclass(frozen=True)
class SubscriptionCancelled:
    """Cancelled by the user or support: access lasts until `access_until`, or there was none yet
    (a purchase cancelled before it was paid: `access_until` is None)."""

    kind: ClassVar[str] = "subscription_cancelled"
    plan: str
    access_until: datetime | None


@dataclass(frozen=True)
class PlanPriceChanged:
    """The price of a plan's period changes from the subscriber's next renewal."""

    kind: ClassVar[str] = "plan_price_changed"
    plan: str
    period: str
    old_amount: int
    new_amount: int


Notification = (
    RenewalReminder
    | RenewalFailed
    | SubscriptionEnded
    | SubscriptionActivated
    | SubscriptionRenewed
    | SubscriptionCancelled
    | PlanPriceChanged
    | CardUpdateNeeded
    | CardChanged
)

ENDED_REASONS_TOLD = frozenset({EndedReason.PAYMENT_FAILED, EndedReason.CANCELLED, EndedReason.EXPIRED})


# --- texts: the templates in mail/ (<kind>.txt with the subject, <kind>.html) ------------------

MAIL = Mail(Path(__file__).parent / "mail")


def render(context: Notification, reader: LocaleZone) -> Email:
    """The e-mail for a context in the reader's language and time zone (`kinobill.notifications`)."""
    return MAIL.render(context, reader)


def letter(dedupe_key: str, recipient: Recipient, context: Notification) -> dict[str, Any]:
    """What `queue_email` takes to tell `recipient` once per `dedupe_key` (`kinobill.notifications`)."""
    return MAIL.letter(dedupe_key, recipient, context)


def payment_description(plan: str, period: str, renewal: bool, reader: LocaleZone) -> str:
    """What a payment is for, in the buyer's language ("Kinobill Премиум, 1 месяц"): YooKassa shows it on
    the payment page and the receipt, Billing's e-mails repeat it. At most 128 characters (YooKassa)."""
    context = {"plan": plan, "period": period, "renewal": renewal}
    return MAIL.templates.render("payment_description.txt", context, reader).strip()[:128]
