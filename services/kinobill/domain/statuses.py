"""Statuses and the transitions allowed between them (tables, not entities).

Rules:

* Subscription: ``awaiting_payment`` → ``active`` (first payment succeeded) or ``ended`` (payment
  canceled / abandoned); ``active`` → ``active`` (a renewal: same status, next period) or ``ended``
  (cancelled at period end, refunded, payment_failed, expired); ``ended`` is final.
  An ended subscription carries an :class:`EndedReason`.
* Payment and refund: ``pending`` → ``succeeded`` | ``canceled``; both final states are immutable.
  Re-applying the *same* final state (a duplicated callback) is not a transition: callers should
  treat ``current == new`` on a final state as an idempotent no-op *before* calling
  :func:`check_transition`, which rejects it so that a real second change is never silent.
  (``active → active`` is the one self-transition in the tables, because a renewal is a real event.)
* YooKassa payment statuses map onto ours: ``waiting_for_capture`` counts as ``pending`` (we never
  use two-stage capture, but a provider object in that state is not final).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import TypeVar

from kinobill.domain.errors import InvalidTransition


class SubscriptionStatus(StrEnum):
    AWAITING_PAYMENT = "awaiting_payment"
    ACTIVE = "active"
    ENDED = "ended"


class EndedReason(StrEnum):
    CANCELLED = "cancelled"
    REFUNDED = "refunded"
    PAYMENT_FAILED = "payment_failed"
    EXPIRED = "expired"


class PaymentStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    CANCELED = "canceled"


class RefundStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    CANCELED = "canceled"


class PaymentKind(StrEnum):
    INITIAL = "initial"
    RENEWAL = "renewal"


S = TypeVar("S", bound=StrEnum)

SUBSCRIPTION_TRANSITIONS: dict[SubscriptionStatus, frozenset[SubscriptionStatus]] = {
    SubscriptionStatus.AWAITING_PAYMENT: frozenset({SubscriptionStatus.ACTIVE, SubscriptionStatus.ENDED}),
    SubscriptionStatus.ACTIVE: frozenset({SubscriptionStatus.ACTIVE, SubscriptionStatus.ENDED}),
    SubscriptionStatus.ENDED: frozenset(),
}

PAYMENT_TRANSITIONS: dict[PaymentStatus, frozenset[PaymentStatus]] = {
    PaymentStatus.PENDING: frozenset({PaymentStatus.SUCCEEDED, PaymentStatus.CANCELED}),
    PaymentStatus.SUCCEEDED: frozenset(),
    PaymentStatus.CANCELED: frozenset(),
}

REFUND_TRANSITIONS: dict[RefundStatus, frozenset[RefundStatus]] = {
    RefundStatus.PENDING: frozenset({RefundStatus.SUCCEEDED, RefundStatus.CANCELED}),
    RefundStatus.SUCCEEDED: frozenset(),
    RefundStatus.CANCELED: frozenset(),
}


def can_transition(table: Mapping[S, frozenset[S]], current: S, new: S) -> bool:
    """True if ``current → new`` is in ``table``."""
    return new in table.get(current, frozenset())


def check_transition(table: Mapping[S, frozenset[S]], current: S, new: S) -> None:
    """Raise :class:`InvalidTransition` unless ``current → new`` is in ``table``."""
    if not can_transition(table, current, new):
        raise InvalidTransition(f"Cannot change status from {current!s} to {new!s}.")


def is_final(table: Mapping[S, frozenset[S]], status: S) -> bool:
    """True when no transition leaves ``status``."""
    return not table.get(status)


_PROVIDER_PAYMENT_STATUSES = {
    "pending": PaymentStatus.PENDING,
    "waiting_for_capture": PaymentStatus.PENDING,
    "succeeded": PaymentStatus.SUCCEEDED,
    "canceled": PaymentStatus.CANCELED,
}


def payment_status_from_provider(status: str) -> PaymentStatus:
    """Map a YooKassa payment status to ours; unknown statuses raise ``ValueError``."""
    try:
        return _PROVIDER_PAYMENT_STATUSES[status]
    except (KeyError, TypeError):
        raise ValueError(f"Unknown YooKassa payment status: {status!r}") from None


__all__ = [
    "PAYMENT_TRANSITIONS",
    "REFUND_TRANSITIONS",
    "SUBSCRIPTION_TRANSITIONS",
    "EndedReason",
    "PaymentKind",
    "PaymentStatus",
    "RefundStatus",
    "SubscriptionStatus",
    "can_transition",
    "check_transition",
    "is_final",
    "payment_status_from_provider",
]
