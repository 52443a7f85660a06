"""At most one charge per renewal attempt under races, redelivery, crashes and a pending provider."""

from __future__ import annotations

import json
import subprocess
import uuid
from datetime import UTC, datetime, timedelta

import redis
import sqlalchemy as sa

from kinobill.billing import tables as bt
from kinobill.events import CHARGE_COMMANDS
from kinobill.subscriptions import tables as st
from renewals.conftest import tick
from support import ServiceProcess, kinobill_command, wait_until

MINUTE = timedelta(minutes=1)


def _payments(db, subscription_id: str) -> list[sa.Row]:
    with db.connect() as conn:
        return list(
            conn.execute(
                sa.select(bt.payments)
                .where(
                    bt.payments.c.subscription_id == uuid.UUID(subscription_id),
                    bt.payments.c.kind == "renewal",
                )
                .order_by(bt.payments.c.created_at)
            )
        )


def _creates(stack, payment_id: uuid.UUID) -> tuple[int, int]:
    """(YooKassa payments created, calls made) under this payment's Idempotence-Key.

    Distinct object ids count real charges: the sandbox journal does not flag a replay answered
    through a fault (e.g. `hang`) as replayed, but a replay always names the first call's object."""
    entries = stack.sandbox.journal(operation="payments.create", idempotence_key=str(payment_id))
    return len({e["object_id"] for e in entries if e["object_id"]}), len(entries)


def _commands_in_outbox(db, key: str) -> int:
    with db.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count())
                .select_from(st.outbox)
                .where(st.outbox.c.stream == CHARGE_COMMANDS, st.outbox.c.payload["charge_key"].astext == key)
            ).scalar_one()
        )


def _stream_entries(redis_url: str, key: str) -> list[dict]:
    client = redis.Redis.from_url(redis_url)
    found = []
    for _id, fields in client.xrange(CHARGE_COMMANDS):
        payload = json.loads(fields[b"payload"])
        if payload.get("charge_key") == key:
            found.append(payload)
    return found


def test_two_passes_and_two_consumers_racing_on_one_due_subscription_charge_once(
    stack, renewals, plan, redis_url
):
    sub, _ = renewals.activate(plan["id"], datetime(2027, 9, 7, 10, 0, tzinfo=UTC))
    sid = sub["id"]
    key = f"renewal:{sid}:1:0"
    second = ServiceProcess(
        "charge-commands-2", kinobill_command("worker", "--only", "charge-commands"), stack.env, stack.log_dir
    ).start()
    try:
        renewals.at_first_attempt(sid)
        passes = [
            subprocess.Popen(kinobill_command("tick"), env=stack.env, stdout=subprocess.PIPE, text=True)
            for _ in range(2)
        ]
        assert [p.wait(60) for p in passes] == [0, 0]
        assert _commands_in_outbox(renewals.db, key) == 1  # SKIP LOCKED + the moved next_attempt_at
        # The relay publishes it; deliver it twice more (as a relay crash before marking would) so that
        # both consumers of the group handle a copy at the same time.
        command = wait_until(lambda: _stream_entries(redis_url, key), message="the command on the stream")[0]
        client = redis.Redis.from_url(redis_url)
        for _ in range(2):
            client.xadd(CHARGE_COMMANDS, {"payload": json.dumps(command)})
        renewals.wait_period(sid, 1)
        wait_until(
            lambda: all(
                g["pending"] == 0
                and g["last-delivered-id"] == client.xinfo_stream(CHARGE_COMMANDS)["last-generated-id"]
                for g in client.xinfo_groups(CHARGE_COMMANDS)
            ),
            message="every copy handled",
        )
    finally:
        second.stop()
    payments = _payments(renewals.db, sid)
    assert [(p.charge_key, p.status) for p in payments] == [(key, "succeeded")]
    real, _calls = _creates(stack, payments[0].id)
    assert real == 1
    assert [p.period_index for p in renewals.periods(sid)] == [0, 1]
    assert renewals.row(sid).period_index == 1


def test_a_consumer_crash_after_the_provider_call_charges_once_after_restart(stack, renewals, plan):
    sub, _ = renewals.activate(plan["id"], datetime(2027, 9, 9, 10, 0, tzinfo=UTC))
    sid = sub["id"]
    worker = stack.start("worker", {"KINOBILL_CRASH_POINTS": "billing.after_provider_create"})
    try:
        renewals.at_first_attempt(sid)
        tick(stack)
        assert worker.wait_exit(60) == 97  # died between YooKassa's answer and our commit
        (payment,) = _payments(renewals.db, sid)
        assert payment.status == "pending" and payment.provider_payment_id is None
        assert _creates(stack, payment.id)[0] == 1  # the card was charged
    finally:
        stack.start("worker")
    renewals.wait_period(sid, 1)
    (payment,) = _payments(renewals.db, sid)
    assert payment.status == "succeeded" and payment.provider_payment_id
    real, calls = _creates(stack, payment.id)
    assert (real, calls >= 2) == (1, True)  # asked again with the same key: YooKassa replayed
    assert [p.period_index for p in renewals.periods(sid)] == [0, 1]


def test_a_pending_renewal_is_never_charged_again_while_it_is_pending(stack, renewals, plan):
    sub, _ = renewals.activate(plan["id"], datetime(2027, 9, 11, 10, 0, tzinfo=UTC))
    sid = sub["id"]
    stack.sandbox.add_fault("hang", endpoint="payments.create", count=None, commit=True)
    try:
        renewals.at_first_attempt(sid)
        tick(stack)
        payment = wait_until(lambda: (p := _payments(renewals.db, sid)) and p[0], message="the payment row")
        wait_until(lambda: _creates(stack, payment.id)[0] == 1, message="the charge at YooKassa")
        # an hour and more later, still no answer: the scheduler asks again, for the SAME attempt
        renewals.clock.advance(timedelta(hours=2))
        tick(stack)
        calls = _creates(stack, payment.id)[1]
        wait_until(lambda: _creates(stack, payment.id)[1] > calls, timeout=30, message="a repeated call")
        key = f"renewal:{sid}:1:0"
        assert _commands_in_outbox(renewals.db, key) == 2  # the scheduler re-requested the same attempt
        assert [p.charge_key for p in _payments(renewals.db, sid)] == [key]
        assert _creates(stack, payment.id)[0] == 1
        assert renewals.row(sid).period_index == 0
    finally:
        stack.sandbox.clear_faults()
    renewals.wait_period(sid, 1, timeout=60)  # the reconciler or the command settles it: once
    assert [(p.status, _creates(stack, p.id)[0]) for p in _payments(renewals.db, sid)] == [("succeeded", 1)]
    assert [p.period_index for p in renewals.periods(sid)] == [0, 1]
