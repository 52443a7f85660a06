"""Hard declines stop the dunning after one attempt with one "update your card" e-mail; soft ones follow
the schedule. Reason by reason, over the real stack and the sandbox (domain/declines.py is the rule)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from kinobill.billing import tables as bt
from kinobill.domain.declines import HARD_REASONS, SOFT_REASONS
from renewals.conftest import tick
from renewals.test_dunning import _emails, _renewal_payments
from support import wait_until
from yookassa_sandbox.cards import PAYMENT_CANCEL_REASONS

DAY = timedelta(days=1)
MINUTE = timedelta(minutes=1)
START = datetime(2027, 4, 10, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize("reason", sorted(HARD_REASONS & PAYMENT_CANCEL_REASONS))
def test_a_hard_decline_stops_the_dunning_after_one_attempt_with_one_email(stack, renewals, plan, reason):
    sub, method = renewals.activate(plan["id"], START)
    sid = sub["id"]
    end = renewals.row(sid).current_period_end
    stack.sandbox.set_behaviour(method, reason)

    renewals.clock.set(end - DAY + MINUTE)  # the first attempt
    tick(stack)
    row = wait_until(lambda: (r := renewals.row(sid)).card_declined_reason and r, message="declined")
    assert row.card_declined_reason == reason and row.status == "active"
    assert row.next_attempt_at == end + 3 * DAY  # nothing more until the access runs out
    wait_until(lambda: _emails(renewals.db, sid, "card-declined"), message="the update-card e-mail")

    for moment in (end + DAY + MINUTE, end + 2 * DAY):  # the soft schedule's retry times: no charge
        renewals.clock.set(moment)
        tick(stack)
    assert [p["status"] for p in _renewal_payments(renewals.buyer, sid)] == ["canceled"]
    assert renewals.buyer.subscription(sid)["status"] == "active"  # access lasts through the grace

    renewals.clock.set(end + 3 * DAY + MINUTE)
    tick(stack)
    ended = wait_until(lambda: (r := renewals.row(sid)).status == "ended" and r, message="the end")
    assert ended.ended_reason == "payment_failed"
    assert len(_renewal_payments(renewals.buyer, sid)) == 1
    assert _emails(renewals.db, sid, "card-declined") == [f"card-declined:{sid}:1"]
    assert _emails(renewals.db, sid, "renewal-failed") == []
    mails = wait_until(lambda: renewals.mails("Обновите карту"), message="the e-mail delivered")
    assert len(mails) == 1
    (declined,) = _renewal_payments(renewals.buyer, sid)
    with renewals.db.connect() as conn:  # nothing was sold: its canceled receipt is no operator task
        tasks = conn.execute(
            sa.select(bt.operator_tasks).where(bt.operator_tasks.c.object_id == declined["id"])
        ).all()
    assert tasks == []


@pytest.mark.parametrize("reason", sorted(SOFT_REASONS & PAYMENT_CANCEL_REASONS))
def test_a_soft_decline_is_retried_on_the_dunning_schedule(stack, renewals, plan, reason):
    sub, method = renewals.activate(plan["id"], START)
    sid = sub["id"]
    end = renewals.row(sid).current_period_end
    stack.sandbox.set_behaviour(method, reason)

    renewals.clock.set(end - DAY + MINUTE)
    tick(stack)
    row = wait_until(lambda: (r := renewals.row(sid)).failed_attempts == 1 and r, message="failure 1")
    assert row.card_declined_reason is None and row.next_attempt_at == end + DAY

    renewals.clock.set(end + DAY + MINUTE)  # the first dunning retry charges the same card again
    tick(stack)
    wait_until(lambda: renewals.row(sid).failed_attempts == 2, message="failure 2")
    payments = _renewal_payments(renewals.buyer, sid)
    assert [(p["status"], p["cancellation_reason"]) for p in payments] == [("canceled", reason)] * 2
    assert _emails(renewals.db, sid, "card-declined") == []
