"""The Subscription entity: its state and every change it may go through (no I/O, `now` is passed in).

`next_attempt_at` is when the scheduler must act next: charge (first renewal attempt or a dunning
retry) while auto-renew is on, or end the subscription at its period end once it is cancelled.

Each method applies one business event and returns what happened (a short event name the service
layer turns into stream events and e-mails), or raises :class:`InvalidTransition`. Re-applying an
event that already took effect returns ``"duplicate"`` and changes nothing, so handlers stay idempotent.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from kinobill.domain import schedule
from kinobill.domain.declines import is_hard_decline
from kinobill.domain.errors import InvalidTransition
from kinobill.domain.periods import BillingPeriod, period_bounds
from kinobill.domain.statuses import EndedReason, SubscriptionStatus

Status = SubscriptionStatus


@dataclass
class Subscription:
    id: uuid.UUID
    user_id: uuid.UUID
    plan_id: uuid.UUID
    period: BillingPeriod
    status: SubscriptionStatus
    price: int
    created_at: datetime
    user_email: str | None = None
    locale: str | None = None  # the buyer's language and time zone, when their token named valid ones
    zoneinfo: str | None = None
    ended_reason: EndedReason | None = None
    auto_renew: bool = True
    anchor_at: datetime | None = None
    period_index: int | None = None
    current_period_start: datetime | None = None
    current_period_end: datetime | None = None
    payment_method_id: str | None = None
    failed_attempts: int = 0
    next_attempt_at: datetime | None = None
    reminded_period: int | None = None
    ended_at: datetime | None = None
    purchase_key: str | None = None
    # the hard decline (domain/declines.py) that stopped charging the saved method, until it is replaced
    card_declined_reason: str | None = None
    changed: set[str] = field(default_factory=set, repr=False, compare=False)

    def _set(self, **values: object) -> None:
        for name, value in values.items():
            if getattr(self, name) != value:
                setattr(self, name, value)
                self.changed.add(name)

    # --- queries ------------------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        return self.status != Status.ENDED

    def access_until(self, policy: schedule.RenewalPolicy = schedule.DEFAULT_POLICY) -> datetime | None:
        """Until when the user may watch: the period end, plus the grace period while a renewal is retried."""
        if self.status != Status.ACTIVE or self.current_period_end is None:
            return None
        if self.auto_renew and self.failed_attempts > 0:
            return schedule.access_until(self.current_period_end, policy)
        return self.current_period_end

    def has_access(self, now: datetime, policy: schedule.RenewalPolicy = schedule.DEFAULT_POLICY) -> bool:
        until = self.access_until(policy)
        return until is not None and now < until

    @property
    def renews(self) -> bool:
        """True when the scheduler will charge for the next period (auto-renew on and a saved method)."""
        return (
            self.status == Status.ACTIVE
            and self.auto_renew
            and bool(self.payment_method_id)
            and self.card_declined_reason is None
        )

    def due_action(self, now: datetime) -> str:
        """What the scheduler must do now: ``"charge"``, ``"end"`` (no renewal: end at the period end) or
        ``"none"`` (nothing due yet, or nothing to do)."""
        if self.status != Status.ACTIVE or self.next_attempt_at is None or self.next_attempt_at > now:
            return "none"
        return "charge" if self.renews else "end"

    # --- payments -----------------------------------------------------------------------------

    def record_payment(
        self,
        *,
        period_index: int,
        paid_at: datetime,
        payment_method_id: str | None,
        policy: schedule.RenewalPolicy = schedule.DEFAULT_POLICY,
    ) -> str:
        """A payment for period `period_index` succeeded: activate (0) or renew (the next index)."""
        if period_index == 0:
            if self.status != Status.AWAITING_PAYMENT:
                return "duplicate" if self.anchor_at is not None else "late_payment"
            anchor = paid_at
        else:
            if self.anchor_at is None or self.period_index is None:
                raise InvalidTransition("a renewal payment for a subscription that was never active")
            if period_index <= self.period_index:
                return "duplicate"
            if period_index != self.period_index + 1:
                raise InvalidTransition(f"period {period_index} paid while {self.period_index} is current")
            if self.status != Status.ACTIVE:
                return "late_payment"
            anchor = self.anchor_at
        start, end = period_bounds(anchor, self.period, period_index)
        method = payment_method_id or self.payment_method_id
        self._set(
            status=Status.ACTIVE,
            anchor_at=anchor,
            period_index=period_index,
            current_period_start=start,
            current_period_end=end,
            payment_method_id=method,
            failed_attempts=0,
            card_declined_reason=None,
        )
        self._schedule_renewal(policy)
        return "activated" if period_index == 0 else "renewed"

    def first_payment_failed(self, now: datetime) -> str:
        if self.status != Status.AWAITING_PAYMENT:
            return "duplicate"
        self._end(EndedReason.PAYMENT_FAILED, now)
        return "ended"

    def renewal_failed(
        self,
        *,
        period_index: int,
        attempt: int,
        now: datetime,
        policy: schedule.RenewalPolicy = schedule.DEFAULT_POLICY,
        reason: str | None = None,
    ) -> str:
        """The charge for the next period failed.

        A soft decline (``reason``, see ``domain/declines.py``) is retried on the dunning schedule, and the
        subscription ends after the last attempt. A hard one stops charging the saved method at once
        (``"card_declined"``): no more attempts on it; access lasts for the grace period
        (``schedule.access_until``), when the scheduler ends the subscription (payment_failed) unless
        the user replaces the card first (:meth:`replace_payment_method`)."""
        if self.status != Status.ACTIVE or self.period_index is None or period_index != self.period_index + 1:
            return "duplicate"
        if attempt < self.failed_attempts:
            return "duplicate"
        failures = attempt + 1
        assert self.current_period_end is not None
        if is_hard_decline(reason) and self.auto_renew:
            self._set(
                failed_attempts=failures,
                card_declined_reason=reason,
                next_attempt_at=schedule.access_until(self.current_period_end, policy),
            )
            return "card_declined"
        next_at = schedule.next_attempt_at(self.current_period_end, failures, policy)
        if next_at is None or not self.auto_renew:
            self._set(failed_attempts=failures)
            self._end(EndedReason.PAYMENT_FAILED, now)
            return "ended"
        self._set(failed_attempts=failures, next_attempt_at=next_at)
        return "retry_scheduled"

    def request_renewal_charge(self, now: datetime, recheck_at: datetime) -> tuple[int, int]:
        """The scheduler asks Billing to charge: returns ``(period index to pay, attempt number)``.

        ``next_attempt_at`` moves to ``recheck_at`` so the same attempt is not requested again while its
        payment is pending; the payment result moves it properly (next period or next dunning attempt).
        Asking again later for the same attempt yields the same pair, hence the same charge key.
        """
        if self.due_action(now) != "charge":
            raise InvalidTransition("no renewal charge is due")
        assert self.period_index is not None
        self._set(next_attempt_at=recheck_at)
        return self.period_index + 1, self.failed_attempts

    def reminder_due(self, now: datetime, policy: schedule.RenewalPolicy = schedule.DEFAULT_POLICY) -> bool:
        """The "payment scheduled" reminder for this period should go out now (and has not yet)."""
        if not self.renews or self.failed_attempts or self.reminded_period == self.period_index:
            return False
        assert self.current_period_end is not None
        first = schedule.first_attempt_at(self.current_period_end, policy)
        return schedule.reminder_at(self.current_period_end, policy) <= now < first

    # --- user and operator actions ------------------------------------------------------------

    def replace_payment_method(
        self,
        payment_method_id: str,
        now: datetime,
        policy: schedule.RenewalPolicy = schedule.DEFAULT_POLICY,
    ) -> str:
        """The user bound a new card: later renewals charge it. A renewal in dunning (declined, hard or
        soft) is retried with it at once, as one more attempt (``"card_changed_retry"``)."""
        if not payment_method_id:
            raise InvalidTransition("a saved payment method is needed")
        if self.status != Status.ACTIVE:
            raise InvalidTransition(f"the subscription is {self.status}")
        if self.payment_method_id == payment_method_id and self.card_declined_reason is None:
            return "duplicate"
        self._set(payment_method_id=payment_method_id, card_declined_reason=None)
        if self.auto_renew and self.failed_attempts > 0:
            self._set(next_attempt_at=now)
            return "card_changed_retry"
        if self.auto_renew:
            self._schedule_renewal(policy)  # a subscription that had no saved card renews from now on
        return "card_changed"

    def cancel(self, now: datetime) -> str:
        """Turn auto-renew off. Access stays until the period ends; a pending purchase ends at once."""
        if self.status == Status.ENDED:
            return "duplicate"
        if self.status == Status.AWAITING_PAYMENT:
            self._set(auto_renew=False)
            self._end(EndedReason.CANCELLED, now)
            return "ended"
        if not self.auto_renew:
            return "duplicate"
        # No more charges; the scheduler comes back at the period end to end it.
        self._set(auto_renew=False, next_attempt_at=self.current_period_end)
        return "cancelled"

    def expire(self, now: datetime, policy: schedule.RenewalPolicy = schedule.DEFAULT_POLICY) -> str:
        """End a subscription whose access is over and which will not renew.

        While it still has access nothing ends: ``next_attempt_at`` moves to the end of that access so
        the scheduler comes back then."""
        if self.status != Status.ACTIVE:
            return "duplicate"
        if self.has_access(now, policy):
            self._set(next_attempt_at=self.access_until(policy))
            return "duplicate"
        if not self.auto_renew:
            reason = EndedReason.CANCELLED
        elif self.card_declined_reason is not None:  # the card was declined for good and never replaced
            reason = EndedReason.PAYMENT_FAILED
        else:
            reason = EndedReason.EXPIRED
        self._end(reason, now)
        return "ended"

    def refunded(self, now: datetime) -> str:
        if self.status == Status.ENDED:
            return "duplicate"
        self._end(EndedReason.REFUNDED, now)
        return "ended"

    def mark_reminded(self) -> None:
        self._set(reminded_period=self.period_index)

    # --- helpers ------------------------------------------------------------------------------

    def _schedule_renewal(self, policy: schedule.RenewalPolicy) -> None:
        # No renewal possible (auto-renew off or no saved method): the scheduler comes back at the
        # period end to end it, as after a cancel.
        assert self.current_period_end is not None
        renews = self.auto_renew and self.payment_method_id
        end = self.current_period_end
        self._set(next_attempt_at=schedule.first_attempt_at(end, policy) if renews else end)

    def _end(self, reason: EndedReason, now: datetime) -> None:
        self._set(status=Status.ENDED, ended_reason=reason, ended_at=now, next_attempt_at=None)
