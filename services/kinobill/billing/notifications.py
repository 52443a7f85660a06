"""Every e-mail Billing sends: its kind, the typed facts it is written from, and its text.

Each e-mail is a frozen dataclass (the context) whose ``kind`` names it (the ``kind`` column of the
e-mail row, the ``X-Kinobill-Kind`` header); :func:`render` turns a context into the
:class:`~kinobill.mail.Email` that is queued. The texts live here and nowhere else: ``payments.py`` and
``refunds.py`` decide *when* to tell the user and with which facts, never *how* it reads.

Money in a context is integer kopecks; formatting happens here.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import singledispatch
from typing import ClassVar

from kinobill.domain.money import format_rub
from kinobill.mail import Email

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


# --- texts -------------------------------------------------------------------------------------


def _reason(reason: str | None) -> str:
    return (reason or "declined").replace("_", " ")


@singledispatch
def render(context: Notification) -> Email:
    """The e-mail for a context (its kind, subject and text)."""
    raise TypeError(f"no e-mail text for {type(context).__name__}")


@render.register
def payment_succeeded(c: PaymentSucceeded) -> Email:
    amount = format_rub(c.amount)
    return Email(
        c.kind,
        f"Payment of {amount} RUB received",
        f"We received your payment of {amount} RUB ({c.description}). Thank you!",
    )


@render.register
def payment_canceled(c: PaymentCanceled) -> Email:
    amount = format_rub(c.amount)
    return Email(
        c.kind,
        f"Payment of {amount} RUB failed",
        f"Your payment of {amount} RUB ({c.description}) did not go through: {_reason(c.reason)}.",
    )


@render.register
def payment_duplicate(c: PaymentDuplicate) -> Email:
    amount = format_rub(c.amount)
    return Email(
        c.kind,
        f"A second payment of {amount} RUB is being returned",
        f"This period was already paid, so your second payment of {amount} RUB "
        f"({c.description}) goes back to you in full.",
    )


@render.register
def refund_started(c: RefundStarted) -> Email:
    amount = format_rub(c.amount)
    return Email(
        c.kind,
        f"Refund of {amount} RUB started",
        f"We started a refund of {amount} RUB for {c.description}. Follow it at {c.status_url}.",
    )


@render.register
def refund_succeeded(c: RefundSucceeded) -> Email:
    amount = format_rub(c.amount)
    return Email(
        c.kind,
        f"Refund of {amount} RUB completed",
        f"Your refund of {amount} RUB is complete; the money is on its way back to your card.",
    )


@render.register
def refund_canceled(c: RefundCanceled) -> Email:
    amount = format_rub(c.amount)
    return Email(
        c.kind,
        f"Refund of {amount} RUB failed",
        f"Your refund of {amount} RUB could not be made: {_reason(c.reason)}. "
        "Your subscription stays as it was; you may ask again or contact support.",
    )
