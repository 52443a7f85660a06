"""Renewals end to end over real HTTP: scheduler pass → charge command → Billing → sandbox → activation."""

from __future__ import annotations

from datetime import UTC, date, datetime

from renewals.conftest import tick
from support import wait_until


def _real_creates(stack, payment_id: str) -> list[dict]:
    return [
        e
        for e in stack.sandbox.journal(operation="payments.create", idempotence_key=payment_id)
        if not e["replayed"] and e["http_status"] == 200
    ]


def _renewal_payments(buyer, subscription_id: str) -> list[dict]:
    return sorted(
        (p for p in buyer.payments() if p["subscription_id"] == subscription_id and p["kind"] == "renewal"),
        key=lambda p: (p["period_index"], p["created_at"]),
    )


def _check_anchor_preserving(stack, renewals, plan, period, bought_at, expected_ends):
    sub, _method = renewals.activate(plan["id"], bought_at, period=period)
    sid = sub["id"]
    assert datetime.fromisoformat(sub["current_period_end"]).date() == expected_ends[0]
    for index, expected in enumerate(expected_ends[1:], start=1):
        previous = renewals.row(sid)
        renewals.at_first_attempt(sid)
        tick(stack)
        renewed = renewals.wait_period(sid, index)
        assert renewed.current_period_start == previous.current_period_end  # contiguous
        assert renewed.current_period_end.astimezone(UTC).date() == expected
        assert renewed.failed_attempts == 0 and renewed.status == "active"
    body = renewals.buyer.subscription(sid)
    assert datetime.fromisoformat(body["current_period_end"]).date() == expected_ends[-1]
    charges = _renewal_payments(renewals.buyer, sid)
    assert [(p["period_index"], p["status"]) for p in charges] == [
        (1, "succeeded"),
        (2, "succeeded"),
        (3, "succeeded"),
    ]
    for payment in charges:
        assert len(_real_creates(stack, payment["id"])) == 1
    assert [p.period_index for p in renewals.periods(sid)] == [0, 1, 2, 3]
    wait_until(lambda: len(renewals.mails("продлена")) == 3, message="three renewal e-mails")
    return charges


def test_monthly_bought_on_31_january_renews_three_times_keeping_the_anchor(stack, renewals, plan):
    charges = _check_anchor_preserving(
        stack,
        renewals,
        plan,
        "month",
        datetime(2027, 1, 31, 10, 0, tzinfo=UTC),
        [date(2027, 2, 28), date(2027, 3, 31), date(2027, 4, 30), date(2027, 5, 31)],
    )
    assert {p["amount"] for p in charges} == {plan["price_month"]}


def test_yearly_bought_on_29_february_renews_three_times_keeping_the_anchor(stack, renewals, plan):
    charges = _check_anchor_preserving(
        stack,
        renewals,
        plan,
        "year",
        datetime(2028, 2, 29, 10, 0, tzinfo=UTC),
        [date(2029, 2, 28), date(2030, 2, 28), date(2031, 2, 28), date(2032, 2, 29)],
    )
    assert {p["amount"] for p in charges} == {plan["price_year"]}
