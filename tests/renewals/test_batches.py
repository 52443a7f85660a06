"""The batch paths of the stream consumers (charge commands, payment results) keep every guarantee.

Commands and events are appended to the streams in ONE Redis transaction, so the consumer reads them in
one batch: a duplicate inside the batch is applied once, a poison message makes the batch fall back to
one-by-one (it is dead-lettered after its deliveries, the others are applied once), and a crash in the
middle of a batch (after the provider calls, or after the commit and before the XACK) ends, after a
restart, with everything applied exactly once.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import httpx
import redis
import sqlalchemy as sa

from kinobill.billing import tables as bt
from kinobill.events import CHARGE_COMMANDS, DEAD_LETTER_SUFFIX, PAYMENT_RESULTS
from support import wait_until

MAX_DELIVERIES = 5  # StreamConsumer's default


def _another_plan(stack, tokens) -> dict:
    response = httpx.post(
        f"{stack.subscriptions_url}/internal/v1/plans",
        headers=tokens.service_headers(),
        json={
            "code": f"b{uuid.uuid4().hex[:10]}",
            "name": "Batch Plan",
            "description": "",
            "price_month": "299.00",
            "price_year": "2990.00",
        },
    )
    assert response.status_code == 201, response.text
    return response.json()


def _active(renewals, stack, tokens, plan, count: int, at: datetime) -> list[tuple[str, str]]:
    """`count` active monthly subscriptions of the buyer (one per plan): (subscription id, saved method)."""
    plans = [plan] + [_another_plan(stack, tokens) for _ in range(count - 1)]
    return [(sub["id"], method) for sub, method in (renewals.activate(p["id"], at) for p in plans)]


def _command(subscription_id: str, method: str, user_id: uuid.UUID) -> dict:
    return {
        "type": "charge.renewal",
        "charge_key": f"renewal:{subscription_id}:1:0",
        "subscription_id": subscription_id,
        "user_id": str(user_id),
        "user_email": "batch@example.com",  # the scheduler always sends one: the receipt needs it
        "period_index": 1,
        "attempt": 0,
        "amount": 29900,
        "payment_method_id": method,
        "description": "Kinobill Batch Plan, 1 month, renewal",
    }


def _append_at_once(redis_url: str, stream: str, payloads: list[dict]) -> list[bytes]:
    """XADD every payload in one MULTI/EXEC: a blocked consumer is served them in one read."""
    pipe = redis.Redis.from_url(redis_url).pipeline(transaction=True)
    for payload in payloads:
        pipe.xadd(stream, {"payload": json.dumps(payload)})
    return list(pipe.execute())


def _renewal_payments(db, subscription_id: str) -> list[sa.Row]:
    with db.connect() as conn:
        return list(
            conn.execute(
                sa.select(bt.payments).where(
                    bt.payments.c.subscription_id == uuid.UUID(subscription_id),
                    bt.payments.c.kind == "renewal",
                )
            )
        )


def _real_charges(stack, payment_id: uuid.UUID) -> int:
    entries = stack.sandbox.journal(operation="payments.create", idempotence_key=str(payment_id))
    return len({e["object_id"] for e in entries if e["object_id"]})


def _dead_letters(redis_url: str, stream: str, source_ids: list[bytes]) -> list[dict]:
    client = redis.Redis.from_url(redis_url)
    return [f for _id, f in client.xrange(stream + DEAD_LETTER_SUFFIX) if f.get(b"source_id") in source_ids]


def _settled_group(redis_url: str, stream: str, group: str) -> bool:
    client = redis.Redis.from_url(redis_url)
    last = client.xinfo_stream(stream)["last-generated-id"]
    return any(
        g["name"].decode() == group and g["pending"] == 0 and g["last-delivered-id"] == last
        for g in client.xinfo_groups(stream)
    )


def _assert_renewed_once(stack, renewals, subscriptions: list[tuple[str, str]]) -> None:
    for sid, _method in subscriptions:
        renewals.wait_period(sid, 1, timeout=60)
        (payment,) = _renewal_payments(renewals.db, sid)
        assert (payment.status, payment.period_index) == ("succeeded", 1)
        assert _real_charges(stack, payment.id) == 1
        assert [p.period_index for p in renewals.periods(sid)] == [0, 1]


def test_a_charge_batch_with_a_duplicate_and_a_poison_command_charges_each_once_and_dead_letters_the_poison(
    stack, renewals, plan, tokens, redis_url
):
    subs = _active(renewals, stack, tokens, plan, 3, datetime(2027, 10, 3, 10, 0, tzinfo=UTC))
    commands = [_command(sid, method, renewals.buyer.user_id) for sid, method in subs]
    poison = {**commands[0], "charge_key": "renewal:not-a-subscription:1:0", "subscription_id": "nope"}
    ids = _append_at_once(redis_url, CHARGE_COMMANDS, [*commands, commands[1], poison])
    _assert_renewed_once(stack, renewals, subs)
    (dead,) = wait_until(
        lambda: _dead_letters(redis_url, CHARGE_COMMANDS, [ids[-1]]), timeout=90, message="the poison dead"
    )
    assert b"nope" in dead[b"payload"] and dead[b"error"]
    assert _dead_letters(redis_url, CHARGE_COMMANDS, ids[:-1]) == []
    wait_until(lambda: _settled_group(redis_url, CHARGE_COMMANDS, "billing"), message="all acknowledged")
    _assert_renewed_once(stack, renewals, subs)  # still once, after the poison's redeliveries


def test_a_crash_after_the_provider_calls_of_a_batch_charges_each_once_after_restart(
    stack, renewals, plan, tokens, redis_url
):
    subs = _active(renewals, stack, tokens, plan, 3, datetime(2027, 10, 5, 10, 0, tzinfo=UTC))
    worker = stack.start("worker", {"KINOBILL_CRASH_POINTS": "charges.after_provider_batch"})
    try:
        commands = [_command(sid, method, renewals.buyer.user_id) for sid, method in subs]
        _append_at_once(redis_url, CHARGE_COMMANDS, [*commands, commands[0]])
        assert worker.wait_exit(60) == 97  # died between YooKassa's answers and the settling commit
        for sid, _method in subs:
            (payment,) = _renewal_payments(renewals.db, sid)
            assert payment.status == "pending" and payment.provider_payment_id is None
            assert _real_charges(stack, payment.id) == 1  # the card was charged
    finally:
        stack.start("worker")
    _assert_renewed_once(stack, renewals, subs)
    wait_until(lambda: _settled_group(redis_url, CHARGE_COMMANDS, "billing"), message="all acknowledged")


def _success(sid: str, user_id: uuid.UUID, payment_id: uuid.UUID) -> dict:
    return {
        "type": "payment.succeeded",
        "payment_id": str(payment_id),
        "subscription_id": sid,
        "user_id": str(user_id),
        "user_email": None,
        "period_index": 1,
        "kind": "renewal",
        "attempt": 0,
        "amount": 29900,
        "paid_at": datetime.now(UTC).isoformat(),
        "payment_method_id": None,
        "reason": None,
    }


def test_a_result_batch_with_duplicates_and_a_poison_event_renews_each_once_and_dead_letters_the_poison(
    stack, renewals, plan, tokens, redis_url
):
    subs = _active(renewals, stack, tokens, plan, 3, datetime(2027, 10, 7, 10, 0, tzinfo=UTC))
    user = renewals.buyer.user_id
    events = [_success(sid, user, uuid.uuid4()) for sid, _method in subs]
    # A clean batch first, with one event twice in it: the batch path applies it once.
    _append_at_once(redis_url, PAYMENT_RESULTS, [events[0], events[1], events[0]])
    for sid, _method in subs[:2]:
        renewals.wait_period(sid, 1)
    # Then the third, a redelivered first one, and a poison event: one by one after the batch fails.
    poison = {**events[2], "subscription_id": "nope", "payment_id": str(uuid.uuid4())}
    ids = _append_at_once(redis_url, PAYMENT_RESULTS, [events[2], events[0], poison])
    renewals.wait_period(subs[2][0], 1)
    (dead,) = wait_until(
        lambda: _dead_letters(redis_url, PAYMENT_RESULTS, [ids[-1]]), timeout=90, message="the poison dead"
    )
    assert b"nope" in dead[b"payload"]
    wait_until(
        lambda: _settled_group(redis_url, PAYMENT_RESULTS, "subscriptions"), message="all acknowledged"
    )
    for (sid, _method), event in zip(subs, events, strict=True):
        assert [(p.period_index, str(p.payment_id)) for p in renewals.periods(sid)][1:] == [
            (1, event["payment_id"])
        ]
        row = renewals.row(sid)
        assert (row.period_index, row.failed_attempts, row.status) == (1, 0, "active")
    renewed = wait_until(lambda: len(renewals.mails("продлена")) == 3 and renewals.mails("продлена"))
    assert len(renewed) == 3  # one e-mail per renewal, none for the duplicates


def test_a_crash_after_a_result_batch_commits_and_before_its_ack_applies_each_once_after_restart(
    stack, renewals, plan, tokens, redis_url
):
    subs = _active(renewals, stack, tokens, plan, 2, datetime(2027, 10, 9, 10, 0, tzinfo=UTC))
    worker = stack.start("worker", {"KINOBILL_CRASH_POINTS": "consumer.subscriptions.before_ack"})
    try:
        events = [_success(sid, renewals.buyer.user_id, uuid.uuid4()) for sid, _method in subs]
        _append_at_once(redis_url, PAYMENT_RESULTS, events)
        assert worker.wait_exit(60) == 97
        for sid, _method in subs:  # committed as one transaction before the crash
            assert renewals.row(sid).period_index == 1
    finally:
        stack.start("worker")
    wait_until(lambda: _settled_group(redis_url, PAYMENT_RESULTS, "subscriptions"), message="redelivered")
    for sid, _method in subs:
        assert [p.period_index for p in renewals.periods(sid)] == [0, 1]
        assert renewals.row(sid).period_index == 1
    assert len(wait_until(lambda: renewals.mails("продлена"), message="e-mails")) == 2
