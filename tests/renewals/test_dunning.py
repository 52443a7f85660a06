"""Declined renewals follow the dunning schedule; one reminder per period; cancel ends at period end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from kinobill.subscriptions import tables as st
from kinobill.subscriptions.repository import to_entity
from renewals.conftest import tick
from support import wait_until

DAY = timedelta(days=1)
MINUTE = timedelta(minutes=1)


def _renewal_payments(buyer, subscription_id: str) -> list[dict]:
    return sorted(
        (p for p in buyer.payments() if p["subscription_id"] == subscription_id and p["kind"] == "renewal"),
        key=lambda p: p["created_at"],
    )


def _real_creates(stack, payment_id: str) -> int:
    entries = stack.sandbox.journal(operation="payments.create", idempotence_key=payment_id)
    return len([e for e in entries if not e["replayed"] and e["http_status"] == 200])


def _emails(db, subscription_id: str, prefix: str) -> list[str]:
    with db.connect() as conn:
        return list(
            conn.execute(
                sa.select(st.emails.c.dedupe_key).where(
                    st.emails.c.dedupe_key.like(f"{prefix}:{subscription_id}%")
                )
            ).scalars()
        )


def test_a_declined_card_is_retried_on_the_schedule_with_grace_then_ends_payment_failed(
    stack, renewals, plan
):
    sub, method = renewals.activate(plan["id"], datetime(2027, 3, 10, 10, 0, tzinfo=UTC))
    sid = sub["id"]
    end = renewals.row(sid).current_period_end
    stack.sandbox.set_behaviour(method, "insufficient_funds")

    # attempt 1 (end - 1 d), then the dunning retries at end + 1 d, + 3 d; each fails and is told
    for failures, (at, next_at) in enumerate(
        [(end - DAY, end + DAY), (end + DAY, end + 3 * DAY), (end + 3 * DAY, end + 5 * DAY)], start=1
    ):
        renewals.clock.set(at + MINUTE)
        tick(stack)
        row = wait_until(
            lambda n=failures: (r := renewals.row(sid)).failed_attempts == n and r,
            message=f"failure {failures}",
        )
        assert row.status == "active" and row.next_attempt_at == next_at
        assert row.period_index == 0 and row.current_period_end == end  # not extended
        tick(stack)  # a second pass at the same moment charges nothing more
        assert len(_renewal_payments(renewals.buyer, sid)) == failures
    entity = to_entity(renewals.row(sid))
    # access: through the grace period (3 d after the end), not after it while the last retry is pending
    assert entity.has_access(end + 2 * DAY) and not entity.has_access(end + 3 * DAY + MINUTE)
    assert entity.access_until() == end + 3 * DAY

    renewals.clock.set(end + 5 * DAY + MINUTE)  # the last attempt fails: the end
    tick(stack)
    ended = wait_until(lambda: (r := renewals.row(sid)).status == "ended" and r, message="the end")
    assert ended.ended_reason == "payment_failed" and ended.next_attempt_at is None
    assert renewals.buyer.subscription(sid)["ended_reason"] == "payment_failed"

    payments = _renewal_payments(renewals.buyer, sid)
    assert [(p["period_index"], p["status"]) for p in payments] == [(1, "canceled")] * 4
    assert all(_real_creates(stack, p["id"]) == 1 for p in payments)
    assert sorted(_emails(renewals.db, sid, "renewal-failed")) == [
        f"renewal-failed:{sid}:1:{attempt}" for attempt in range(3)
    ]
    wait_until(lambda: len(renewals.mails("Не удалось продлить")) == 3, message="three failure e-mails")
    wait_until(lambda: len(renewals.mails("закончилась")) == 1, message="the final e-mail")
    wait_until(lambda: len(renewals.mails("₽ не прошёл")) == 4, message="Billing's payment-failed e-mails")
    tick(stack)
    assert len(_renewal_payments(renewals.buyer, sid)) == 4


def test_a_card_that_succeeds_on_the_second_attempt_renews_once_from_the_old_end(stack, renewals, plan):
    sub, method = renewals.activate(plan["id"], datetime(2027, 3, 12, 10, 0, tzinfo=UTC))
    sid = sub["id"]
    end = renewals.row(sid).current_period_end
    stack.sandbox.set_behaviour(method, "issuer_unavailable")  # a soft decline: retried on the schedule
    renewals.clock.set(end - DAY + MINUTE)
    tick(stack)
    wait_until(lambda: renewals.row(sid).failed_attempts == 1, message="first failure")

    stack.sandbox.set_behaviour(method, "succeeded")
    renewals.clock.set(end + DAY + MINUTE)
    tick(stack)
    renewed = renewals.wait_period(sid, 1)
    assert renewed.current_period_start == end and renewed.failed_attempts == 0
    tick(stack)
    payments = _renewal_payments(renewals.buyer, sid)
    assert [(p["period_index"], p["status"]) for p in payments] == [(1, "canceled"), (1, "succeeded")]
    assert [p.period_index for p in renewals.periods(sid)] == [0, 1]
    wait_until(lambda: len(renewals.mails("продлена")) == 1, message="the renewed e-mail")


def test_the_reminder_goes_out_once_per_period_before_the_first_attempt(stack, renewals, plan):
    sub, _ = renewals.activate(plan["id"], datetime(2027, 6, 1, 10, 0, tzinfo=UTC))
    sid = sub["id"]
    end = renewals.row(sid).current_period_end
    renewals.clock.set(end - 4 * DAY - timedelta(hours=1))  # not yet: 3 days before the first attempt
    tick(stack)
    assert renewals.row(sid).reminded_period is None

    renewals.clock.set(end - 4 * DAY + MINUTE)
    tick(stack)
    tick(stack)
    assert renewals.row(sid).reminded_period == 0
    assert _emails(renewals.db, sid, "reminder") == [f"reminder:{sid}:0"]
    mail = wait_until(lambda: renewals.mails("продлится через 3 дня"), message="the reminder e-mail")
    assert len(mail) == 1

    renewals.clock.set(end - DAY + MINUTE)
    tick(stack)
    second_end = renewals.wait_period(sid, 1).current_period_end
    renewals.clock.set(second_end - 4 * DAY + MINUTE)
    tick(stack)
    assert renewals.row(sid).reminded_period == 1
    assert sorted(_emails(renewals.db, sid, "reminder")) == [f"reminder:{sid}:0", f"reminder:{sid}:1"]


def test_cancelled_means_no_charge_access_until_the_period_end_then_ended_cancelled(stack, renewals, plan):
    sub, _ = renewals.activate(plan["id"], datetime(2027, 8, 5, 10, 0, tzinfo=UTC))
    sid = sub["id"]
    end = renewals.row(sid).current_period_end
    response = renewals.buyer.subscriptions.post(f"/api/v1/subscriptions/{sid}/cancel")
    assert response.status_code == 200, response.text
    assert response.json()["auto_renew"] is False

    renewals.clock.set(end - DAY + MINUTE)  # when it would have renewed
    tick(stack)
    assert renewals.row(sid).status == "active"
    assert to_entity(renewals.row(sid)).has_access(end - MINUTE)
    renewals.clock.set(end + MINUTE)
    tick(stack)
    ended = renewals.row(sid)
    assert (ended.status, ended.ended_reason) == ("ended", "cancelled")
    assert _renewal_payments(renewals.buyer, sid) == []
    wait_until(lambda: len(renewals.mails("закончилась")) == 1, message="the ended e-mail")
