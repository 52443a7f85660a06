"""Refunds: how much of the latest paid period goes back to the user.

Rule (docs/design.md "Refund"): only the latest paid period is refundable, and only while it lasts.

* **Full** when asked within 7 × 24 h of the period's start. The boundary is *inclusive*:
  ``now - period_start <= FULL_REFUND_WINDOW`` is full, so exactly 7 days (604 800 s) after the start is
  still full and one second later is prorated. A refund asked before the period starts (possible with
  a test clock, or right after a renewal charged ahead of the boundary) is full too.
* **Prorated** otherwise: ``paid * unused_seconds // length_seconds`` — integer arithmetic, rounded
  down to the kopeck — where ``unused_seconds = period_end - now`` and ``length_seconds = period_end -
  period_start``, both in whole seconds (a fraction of a second of unused time is dropped, i.e. also
  rounded down). Durations are measured between UTC instants, so DST shifts count as real time.
* Anything already refunded for that payment is subtracted; the result is clamped to
  ``0 .. paid - already_refunded`` so refunds can never exceed what was paid.
* ``now >= period_end`` → :class:`RefundPeriodOver` (the period end itself is already over, matching
  the half-open period ``[start, end)``). This check comes first.
* :func:`quote_refund` may return an amount of 0 (for display); :func:`refund_amount` raises
  :class:`NothingToRefund` in that case.

Programming mistakes (naive datetimes, ``period_end <= period_start``, negative amounts,
``already_refunded > paid``) raise ``ValueError``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from kinobill.domain.errors import NothingToRefund, RefundPeriodOver
from kinobill.domain.money import Kopecks, format_rub
from kinobill.domain.periods import require_aware

FULL_REFUND_WINDOW = timedelta(days=7)
_SECOND = timedelta(seconds=1)


@dataclass(frozen=True)
class RefundQuote:
    """What a refund asked at ``now`` would return, with the numbers behind it."""

    amount: Kopecks
    full: bool
    unused_seconds: int
    length_seconds: int
    paid: Kopecks = 0
    already_refunded: Kopecks = 0

    @property
    def gross(self) -> Kopecks:
        """The refund before subtracting earlier refunds (``paid`` when full)."""
        if self.full:
            return self.paid
        return self.paid * self.unused_seconds // self.length_seconds

    def describe(self) -> str:
        if self.full:
            return f"full refund: {format_rub(self.amount)} RUB"
        return (
            f"prorated: {format_rub(self.paid)} × {self.unused_seconds}/{self.length_seconds} s"
            f" − {format_rub(self.already_refunded)} = {format_rub(self.amount)} RUB"
        )


def _check_kopecks(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an int number of kopecks, not {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{name} must not be negative, got {value}")
    return value


def quote_refund(
    *,
    paid: Kopecks,
    already_refunded: Kopecks,
    period_start: datetime,
    period_end: datetime,
    now: datetime,
) -> RefundQuote:
    """Quote the refund for the latest paid period; see the module docstring for the rule.

    Raises :class:`RefundPeriodOver` when ``now >= period_end``; the amount may be 0.
    """
    _check_kopecks("paid", paid)
    _check_kopecks("already_refunded", already_refunded)
    if already_refunded > paid:
        raise ValueError(f"already_refunded ({already_refunded}) exceeds paid ({paid})")
    start = require_aware(period_start, "period_start").astimezone(UTC)
    end = require_aware(period_end, "period_end").astimezone(UTC)
    at = require_aware(now, "now").astimezone(UTC)
    if end <= start:
        raise ValueError(f"period_end {period_end.isoformat()} must be after period_start")
    if at >= end:
        raise RefundPeriodOver(f"The period ended at {period_end.isoformat()}; it can no longer be refunded.")

    length_seconds = (end - start) // _SECOND
    remaining = paid - already_refunded
    if at - start <= FULL_REFUND_WINDOW:  # includes now < start
        unused_seconds = (end - max(at, start)) // _SECOND
        return RefundQuote(remaining, True, unused_seconds, length_seconds, paid, already_refunded)

    unused_seconds = (end - at) // _SECOND
    gross = paid * unused_seconds // length_seconds
    amount = max(0, min(gross - already_refunded, remaining))
    return RefundQuote(amount, False, unused_seconds, length_seconds, paid, already_refunded)


def refund_amount(
    *,
    paid: Kopecks,
    already_refunded: Kopecks,
    period_start: datetime,
    period_end: datetime,
    now: datetime,
) -> Kopecks:
    """Kopecks to refund now (> 0). Raises :class:`RefundPeriodOver` or :class:`NothingToRefund`."""
    quote = quote_refund(
        paid=paid,
        already_refunded=already_refunded,
        period_start=period_start,
        period_end=period_end,
        now=now,
    )
    if quote.amount <= 0:
        raise NothingToRefund()
    return quote.amount


__all__ = ["FULL_REFUND_WINDOW", "RefundQuote", "quote_refund", "refund_amount"]
