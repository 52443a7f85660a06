"""Every e-mail Subscriptions sends: its kind, the typed facts it is written from, and its text.

Each e-mail is a frozen dataclass (the context) whose ``kind`` names it (the ``kind`` column of the
e-mail row, the ``X-Kinobill-Kind`` header); :func:`render` turns a context into the
:class:`~kinobill.mail.Email` that is queued. The texts live here and nowhere else: the service layer
decides *when* to tell the user and with which facts (``notices.py``, ``purchases.py``,
``cancellations.py``, the plan repository), never *how* it reads.

Money in a context is integer kopecks and moments are aware datetimes; formatting happens here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import singledispatch
from typing import ClassVar

from kinobill.domain.money import format_rub
from kinobill.domain.statuses import EndedReason
from kinobill.mail import Email

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
)

ENDED_REASONS_TOLD = frozenset({EndedReason.PAYMENT_FAILED, EndedReason.CANCELLED, EndedReason.EXPIRED})


# --- texts -------------------------------------------------------------------------------------


def _moment(moment: datetime) -> str:
    return moment.strftime("%d %B %Y, %H:%M UTC")


def _days(days: int) -> str:
    return f"{days} day{'s' if days != 1 else ''}"


@singledispatch
def render(context: Notification) -> Email:
    """The e-mail for a context (its kind, subject and text)."""
    raise TypeError(f"no e-mail text for {type(context).__name__}")


@render.register
def renewal_reminder(c: RenewalReminder) -> Email:
    return Email(
        c.kind,
        f"Your {c.plan} subscription renews in {_days(c.days)}",
        f"Payment of {format_rub(c.amount)} RUB is scheduled in {_days(c.days)}: "
        f"we will charge your saved card on {_moment(c.charge_at)}. To stop renewing, cancel before then.",
    )


@render.register
def renewal_failed(c: RenewalFailed) -> Email:
    return Email(
        c.kind,
        f"We could not renew your {c.plan} subscription",
        f"The renewal payment for your {c.plan} subscription was declined. We will try again on "
        f"{_moment(c.next_attempt_at)}; please make sure your card can pay. Your access continues "
        f"until {_moment(c.access_until)}.",
    )


_ENDINGS = {
    EndedReason.PAYMENT_FAILED: ("has ended", "has ended: we could not charge your card for the renewal"),
    EndedReason.CANCELLED: ("has ended", "has ended, as you cancelled it"),
    EndedReason.EXPIRED: ("has ended", "has ended: it could not be renewed without a saved card"),
}


@render.register
def subscription_ended(c: SubscriptionEnded) -> Email:
    headline, text = _ENDINGS[c.reason]
    return Email(
        c.kind,
        f"Your {c.plan} subscription {headline}",
        f"Your {c.plan} subscription {text}. You can subscribe again at any time.",
    )


@render.register
def subscription_activated(c: SubscriptionActivated) -> Email:
    subject = f"Your {c.plan} subscription is active"
    return Email(c.kind, subject, f"{subject}. Enjoy watching! Paid until {c.paid_until:%d %B %Y}.")


@render.register
def subscription_renewed(c: SubscriptionRenewed) -> Email:
    subject = f"Your {c.plan} subscription is renewed"
    return Email(c.kind, subject, f"{subject}. Enjoy watching! Paid until {c.paid_until:%d %B %Y}.")


@render.register
def subscription_cancelled(c: SubscriptionCancelled) -> Email:
    if c.access_until is None:
        body = f"Your purchase of {c.plan} is cancelled; nothing was charged."
    else:
        body = (
            f"Your {c.plan} subscription is cancelled: it will not renew. "
            f"You keep access until {c.access_until:%d %B %Y %H:%M UTC}."
        )
    return Email(c.kind, f"Your {c.plan} subscription is cancelled", body)


@render.register
def plan_price_changed(c: PlanPriceChanged) -> Email:
    return Email(
        c.kind,
        f"{c.plan}: the {c.period}ly price changes from your next renewal",
        f"The price of {c.plan} changes from {format_rub(c.old_amount)} to {format_rub(c.new_amount)} "
        f"RUB a {c.period}. It applies from your next renewal; the period you paid for stays as it is.",
    )
