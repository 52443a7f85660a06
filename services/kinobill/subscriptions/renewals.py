"""Service layer of the renewal scheduler: one pass = reminders, renewal charge commands, endings.

Plain Python with its configuration as data (:class:`~kinobill.domain.schedule.RenewalPolicy`), so the
local loop (`kinobill worker` role ``scheduler``, `kinobill tick`) and a Kubernetes operator reading a
``RenewalSchedule`` custom resource drive the same code.

A pass, each step in batches of ``policy.batch_size``, each batch ONE transaction whose rows are taken
with ``FOR UPDATE SKIP LOCKED`` (concurrent passes share the work, never do it twice):

1. **Reminders** (partial index ``ix_subscriptions_remind``): auto-renewing subscriptions whose first
   attempt is within ``reminder_days`` and whose current period was not reminded get the "payment
   scheduled in N days" e-mail; ``reminded_period`` marks it done (a reminder whose moment passed
   unseen, e.g. the scheduler was down, is marked without an e-mail rather than sent late).
2. **Due steps** (partial index ``ix_subscriptions_due``, ``next_attempt_at <= now``):

   * renewing (auto-renew on, saved method): a charge command goes to the outbox (stream
     ``CHARGE_COMMANDS``) with the deterministic key ``renewal:<subscription>:<period>:<attempt>`` and
     the plan's *current* price ("a price change applies from the next renewal"); ``next_attempt_at``
     moves to ``now + RECHECK`` so the attempt is not requested again while its payment is pending.
     If it is still unresolved then, the same key is sent again: Billing maps it to the same payment
     (and YooKassa to the same charge), so a pending renewal is never charged twice.
   * not renewing (cancelled, or no saved method): the subscription ends at its period end
     (``cancelled`` / ``expired``), with the change event and an e-mail.

Billing's consumer (``billing/charges.py``) charges; the payment result comes back on
``PAYMENT_RESULTS`` and ``Purchases.apply_payment_result`` renews or follows the dunning schedule.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from prometheus_client import Counter

from kinobill import keys
from kinobill.domain import schedule
from kinobill.domain.plans import price_for
from kinobill.domain.subscription import Subscription
from kinobill.events import CHARGE_COMMANDS, SUBSCRIPTION_CHANGES
from kinobill.i18n.readers import reader_of
from kinobill.messages import RenewalChargeRequested
from kinobill.outbox import add_events
from kinobill.subscriptions import notifications as n
from kinobill.subscriptions import tables
from kinobill.subscriptions.notices import queue_reminder, queue_renewal_notice
from kinobill.subscriptions.purchases import change_event
from kinobill.subscriptions.repository import SubscriptionsUnitOfWork

log = logging.getLogger(__name__)

SCHEDULER_ACTIONS = Counter("kinobill_scheduler_actions_total", "What the renewal scheduler did", ["action"])
# How long a requested renewal charge may stay unresolved before the same attempt is requested again.
RECHECK = timedelta(hours=1)
# A pass stops after this many batches per step; the next pass continues (keeps a pass bounded).
MAX_BATCHES_PER_PASS = 1000


def policy_from_config(raw: str) -> schedule.RenewalPolicy:
    """The policy from ``KINOBILL_RENEWAL_POLICY`` (a JSON mapping, as a custom resource's spec)."""
    if not raw.strip():
        return schedule.DEFAULT_POLICY
    return schedule.RenewalPolicy.from_mapping(json.loads(raw))


@lru_cache(maxsize=1)
def renewal_policy() -> schedule.RenewalPolicy:
    """This process's policy (settings: ``KINOBILL_RENEWAL_POLICY``), shared by the scheduler and the
    payment-result handler so dunning follows the same schedule the scheduler acts on."""
    from kinobill.config import get_settings

    return policy_from_config(get_settings().renewal_policy)


@dataclass
class PassResult:
    reminded: int = 0
    reminders_skipped: int = 0
    charges_requested: int = 0
    ended: int = 0
    batches: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    @property
    def acted(self) -> int:
        return self.reminded + self.reminders_skipped + self.charges_requested + self.ended


class RenewalScheduler:
    def __init__(
        self,
        uow: Callable[[], SubscriptionsUnitOfWork],
        now: Callable[[], datetime],
        policy: schedule.RenewalPolicy = schedule.DEFAULT_POLICY,
    ) -> None:
        self.uow, self.now, self.policy = uow, now, policy

    def run_pass(self) -> PassResult:
        """One pass at the current time: reminders first, then due charges and endings."""
        now = self.now()
        result = PassResult()
        for step in (self._remind_batch, self._due_batch):
            for _ in range(MAX_BATCHES_PER_PASS):
                taken = step(now, result)
                if taken:
                    result.batches += 1
                if taken < self.policy.batch_size:
                    break
        return result

    # --- steps --------------------------------------------------------------------------------

    def _remind_batch(self, now: datetime, result: PassResult) -> int:
        until = now + timedelta(days=self.policy.reminder_days)
        with self.uow() as uow:
            subs = uow.subscriptions.reminders_due(until, self.policy.batch_size)
            prices = _Prices(uow)
            for sub in subs:
                send = sub.reminder_due(now, self.policy)
                sub.mark_reminded()
                row = uow.subscriptions.save(sub, now)
                if send:
                    assert sub.next_attempt_at is not None
                    queue_reminder(uow, row, amount=prices.of(sub), charge_at=sub.next_attempt_at, now=now)
                    result.reminded += 1
                else:
                    result.reminders_skipped += 1
            uow.commit()
        SCHEDULER_ACTIONS.labels("reminded").inc(len(subs))
        return len(subs)

    def _due_batch(self, now: datetime, result: PassResult) -> int:
        with self.uow() as uow:
            subs = uow.subscriptions.due(now, self.policy.batch_size)
            prices = _Prices(uow)
            charged, commands = [], []
            for sub in subs:
                action = sub.due_action(now)
                if action == "charge":
                    commands.append(self._charge_command(sub, prices, now))
                    charged.append(sub)
                elif action == "end" and self._end(uow, sub, now):
                    result.ended += 1
            # the batch's charges in two statements: the moved next_attempt_at, the commands
            uow.subscriptions.save_many(charged, now)
            add_events(uow.conn, tables.outbox, CHARGE_COMMANDS, commands)
            uow.commit()
        result.charges_requested += len(charged)
        SCHEDULER_ACTIONS.labels("charge_requested").inc(len(charged))
        return len(subs)

    def _charge_command(self, sub: Subscription, prices: _Prices, now: datetime) -> dict[str, Any]:
        """Ask for the due attempt (moves next_attempt_at, see the entity) and the command for Billing."""
        period_index, attempt = sub.request_renewal_charge(now, now + RECHECK)
        amount = prices.of(sub)
        assert sub.payment_method_id is not None  # only renewing subscriptions are charged
        return RenewalChargeRequested(
            charge_key=keys.renewal_charge(sub.id, period_index, attempt),
            subscription_id=sub.id,
            user_id=sub.user_id,
            user_email=sub.user_email,
            locale=sub.locale,
            zoneinfo=sub.zoneinfo,
            period_index=period_index,
            attempt=attempt,
            amount=amount,
            payment_method_id=sub.payment_method_id,
            description=n.payment_description(prices.name(sub), sub.period, True, reader_of(sub)),
        ).to_json()

    def _end(self, uow: SubscriptionsUnitOfWork, sub: Subscription, now: datetime) -> bool:
        outcome = sub.expire(now, self.policy)
        if outcome != "ended":  # still has access: `expire` moved next_attempt_at to when it runs out
            if sub.changed:
                uow.subscriptions.save(sub, now)
            return False
        row = uow.subscriptions.save(sub, now)
        uow.add_event(SUBSCRIPTION_CHANGES, change_event(row, outcome, now))
        queue_renewal_notice(uow, row, outcome, self.policy)
        SCHEDULER_ACTIONS.labels(f"ended_{row.ended_reason}").inc()
        return True


class _Prices:
    """Plan rows of one batch, read once each: the renewal price is the plan's current price."""

    def __init__(self, uow: SubscriptionsUnitOfWork) -> None:
        self.uow = uow
        self.plans: dict[uuid.UUID, Any] = {}

    def _plan(self, sub: Subscription) -> Any:
        if sub.plan_id not in self.plans:
            self.plans[sub.plan_id] = self.uow.plans.get(sub.plan_id)
        return self.plans[sub.plan_id]

    def of(self, sub: Subscription) -> int:
        plan = self._plan(sub)
        return int(price_for(plan.price_month, plan.price_year, sub.period))

    def name(self, sub: Subscription) -> str:
        return str(self._plan(sub).name)
