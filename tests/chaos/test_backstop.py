"""The backstop that does not need Redis: a payment result published by the outbox but lost from Redis
(a stream trimmed before the consumer read it) is applied from Billing's record within the bound
(KINOBILL_BACKSTOP_AFTER_SECONDS, default 10 minutes, plus one pass), measured with the test clock."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
import redis
import sqlalchemy as sa
from chaos_support import buy_and_pay, new_buyer
from invariants import wait_for_invariants

from kinobill.billing import tables as bt
from kinobill.clock import TestClock
from kinobill.events import CHARGE_COMMANDS, PAYMENT_RESULTS
from kinobill.subscriptions import tables as st
from shop import SUCCESS_CARD
from support import ServiceProcess, kinobill_command, wait_until

pytestmark = pytest.mark.chaos

BOUND = timedelta(minutes=10)  # the default KINOBILL_BACKSTOP_AFTER_SECONDS


@pytest.fixture()
def chaos_clock(chaos_redis) -> Iterator[TestClock]:
    client = redis.Redis.from_url(chaos_redis.url)
    clock = TestClock(client, refresh=0)
    yield clock
    clock.reset()
    client.close()


@pytest.fixture()
def transport_only(chaos_stack) -> Iterator[ServiceProcess]:
    """The worker without the payment-results consumer: relays publish, Billing charges, nobody applies."""
    chaos_stack.processes["worker"].stop()
    roles = "relay-subscriptions,relay-billing,charge-commands,mail-subscriptions,mail-billing"
    partial = ServiceProcess(
        "worker-transport", kinobill_command("worker", "--only", roles), chaos_stack.env, chaos_stack.log_dir
    ).start()
    yield partial
    partial.stop()
    worker = chaos_stack.processes["worker"].process
    if worker is None or worker.poll() is not None:
        chaos_stack.start("worker")


def published(db: sa.Engine, subscription_id: str, period_index: int) -> bool:
    o = bt.outbox
    with db.connect() as conn:
        return bool(
            conn.execute(
                sa.select(sa.func.count())
                .select_from(o)
                .where(
                    o.c.stream == PAYMENT_RESULTS,
                    o.c.payload["subscription_id"].astext == subscription_id,
                    o.c.payload["period_index"].astext == str(period_index),
                    o.c.published_at.is_not(None),
                )
            ).scalar_one()
        )


def lose_results(chaos_redis) -> None:
    client = redis.Redis.from_url(chaos_redis.url)
    client.xtrim(PAYMENT_RESULTS, maxlen=0)  # what Redis did not keep
    client.close()


def status(db: sa.Engine, subscription_id: str) -> sa.Row:
    s = st.subscriptions
    with db.connect() as conn:
        return conn.execute(sa.select(s).where(s.c.id == subscription_id)).one()


def test_a_paid_purchase_whose_result_redis_lost_activates_within_the_bound(
    chaos_stack, chaos_redis, chaos_plan, chaos_clock, transport_only, tokens, scope, records, db
):
    with new_buyer(chaos_stack, tokens, scope) as buyer:
        purchase = buyer.buy(chaos_plan["id"]).json()
        scope.add(purchase["id"])
        chaos_stack.sandbox.confirm(purchase["payment"]["provider_payment_id"], SUCCESS_CARD)
        wait_until(lambda: published(db, purchase["id"], 0), timeout=30, message="the result published")
        lose_results(chaos_redis)
        transport_only.stop()
        chaos_stack.start("worker")  # everything again, the consumer too: there is nothing left to read
        assert buyer.subscription(purchase["id"])["status"] == "awaiting_payment"

        chaos_clock.advance(BOUND + timedelta(seconds=1))
        due_at = time.monotonic()
        active = wait_until(
            lambda: (s := buyer.subscription(purchase["id"]))["status"] == "active" and s,
            timeout=30,
            message="the backstop to apply the lost result",
        )
        assert active["current_period_end"]
        print(f"backstop: lost purchase result applied {time.monotonic() - due_at:.1f}s after the bound")
    report = wait_for_invariants(records, scope, timeout=60)
    assert report.ok, report.table()


def test_a_renewal_charged_whose_result_redis_lost_renews_within_the_bound(
    chaos_stack, chaos_redis, chaos_plan, chaos_clock, transport_only, tokens, scope, records, db
):
    transport_only.stop()
    chaos_stack.start("worker")
    active = buy_and_pay(chaos_stack, tokens, scope, chaos_plan)
    subscription_id = active["id"]
    wait_until(lambda: status(db, subscription_id).next_attempt_at, message="the renewal scheduled")
    first_end = status(db, subscription_id).current_period_end

    chaos_stack.processes["worker"].stop()
    transport_only.start()
    chaos_clock.set(status(db, subscription_id).next_attempt_at + timedelta(minutes=1))
    done = subprocess.run(
        kinobill_command("tick"), env=chaos_stack.env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1])  # the pass ran
    wait_until(lambda: published(db, subscription_id, 1), timeout=30, message="the renewal result published")
    lose_results(chaos_redis)
    client = redis.Redis.from_url(chaos_redis.url)
    assert client.xlen(CHARGE_COMMANDS) >= 1  # the charge went through Redis; its result did not stay
    client.close()
    transport_only.stop()
    chaos_stack.start("worker")
    assert status(db, subscription_id).current_period_end == first_end

    chaos_clock.advance(BOUND + timedelta(seconds=1))
    due_at = time.monotonic()
    renewed = wait_until(
        lambda: (row := status(db, subscription_id)).current_period_end > first_end and row,
        timeout=30,
        message="the backstop to apply the lost renewal result",
    )
    assert renewed.period_index == 1
    print(f"backstop: lost renewal result applied {time.monotonic() - due_at:.1f}s after the bound")
    report = wait_for_invariants(records, scope, timeout=60)
    assert report.ok, report.table()
