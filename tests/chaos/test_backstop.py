"""The backstop that does not need Redis: a payment or refund result published by the outbox but lost from
Redis (a stream trimmed before the consumer read it) is applied from Billing's record within the bound
(KINOBILL_BACKSTOP_AFTER_SECONDS, default 10 minutes, plus one pass), measured with the test clock."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import pytest
import redis
import sqlalchemy as sa
from chaos_support import buy_and_pay, new_buyer, pay_for
from invariants import wait_for_invariants

from kinobill.billing import tables as bt
from kinobill.clock import TestClock
from kinobill.events import CHARGE_COMMANDS, PAYMENT_RESULTS, REFUND_RESULTS
from kinobill.subscriptions import tables as st
from shop import SUCCESS_CARD
from support import ServiceProcess, kinobill_command, wait_until

pytestmark = pytest.mark.chaos

NEW_CARD = "4111111111111111"  # Visa, succeeds without 3-D Secure
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


def published(db: sa.Engine, stream: str, **payload: object) -> bool:
    """An outbox row of `stream` whose payload has these values is published."""
    o = bt.outbox
    with db.connect() as conn:
        return bool(
            conn.execute(
                sa.select(sa.func.count())
                .select_from(o)
                .where(
                    o.c.stream == stream,
                    *(o.c.payload[key].astext == str(value) for key, value in payload.items()),
                    o.c.published_at.is_not(None),
                )
            ).scalar_one()
        )


def transport_alone(chaos_stack, transport_only: ServiceProcess) -> None:
    """Relays publish and Billing charges; nobody applies payment or refund results."""
    chaos_stack.processes["worker"].stop()
    transport_only.start()


def whole_worker(chaos_stack, transport_only: ServiceProcess) -> None:
    transport_only.stop()
    chaos_stack.start("worker")


def awaited_result(db: sa.Engine, subscription_id: str) -> sa.Row:
    a = st.awaited_results
    with db.connect() as conn:
        return conn.execute(sa.select(a).where(a.c.subscription_id == subscription_id)).one()


def lose_results(chaos_redis, stream: str = PAYMENT_RESULTS) -> None:
    client = redis.Redis.from_url(chaos_redis.url)
    client.xtrim(stream, maxlen=0)  # what Redis did not keep
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
        wait_until(
            lambda: published(db, PAYMENT_RESULTS, subscription_id=purchase["id"], period_index=0),
            timeout=30,
            message="the result published",
        )
        lose_results(chaos_redis)
        # everything again, the consumer too: there is nothing left to read
        whole_worker(chaos_stack, transport_only)
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
    whole_worker(chaos_stack, transport_only)
    active = buy_and_pay(chaos_stack, tokens, scope, chaos_plan)
    subscription_id = active["id"]
    wait_until(lambda: status(db, subscription_id).next_attempt_at, message="the renewal scheduled")
    first_end = status(db, subscription_id).current_period_end

    transport_alone(chaos_stack, transport_only)
    chaos_clock.set(status(db, subscription_id).next_attempt_at + timedelta(minutes=1))
    done = subprocess.run(
        kinobill_command("tick"), env=chaos_stack.env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1])  # the pass ran
    wait_until(
        lambda: published(db, PAYMENT_RESULTS, subscription_id=subscription_id, period_index=1),
        timeout=30,
        message="the renewal result published",
    )
    lose_results(chaos_redis)
    client = redis.Redis.from_url(chaos_redis.url)
    assert client.xlen(CHARGE_COMMANDS) >= 1  # the charge went through Redis; its result did not stay
    client.close()
    whole_worker(chaos_stack, transport_only)
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


def test_a_pending_refund_whose_result_redis_lost_ends_the_subscription_within_the_bound(
    chaos_stack, chaos_redis, chaos_plan, chaos_clock, transport_only, tokens, scope, records, db
):
    whole_worker(chaos_stack, transport_only)
    with new_buyer(chaos_stack, tokens, scope) as buyer:
        purchase, _ = pay_for(chaos_stack, buyer, scope, chaos_plan)
        chaos_stack.sandbox.set_refund_behaviour(
            "pending", payment_id=purchase["payment"]["provider_payment_id"]
        )
        asked = buyer.subscriptions.post(
            f"/api/v1/subscriptions/{purchase['id']}/refund", headers={"Idempotency-Key": "lost-result"}
        )
        assert asked.status_code == 202 and asked.json()["status"] == "pending", asked.text

        transport_alone(chaos_stack, transport_only)  # relays publish; nobody applies refund results
        provider_id = buyer.billing.get(f"/api/v1/refunds/{asked.json()['id']}").json()["provider_refund_id"]
        chaos_stack.sandbox.complete_refund(provider_id, "succeeded")  # the webhook settles it at Billing
        wait_until(
            lambda: published(db, REFUND_RESULTS, subscription_id=purchase["id"], period_index=0),
            message="the refund result published",
        )
        lose_results(chaos_redis, REFUND_RESULTS)
        whole_worker(chaos_stack, transport_only)  # the stream has nothing left to deliver
        assert buyer.subscription(purchase["id"])["status"] == "active"

        chaos_clock.advance(BOUND + timedelta(seconds=1))
        due_at = time.monotonic()
        ended = wait_until(
            lambda: (s := buyer.subscription(purchase["id"]))["status"] == "ended" and s,
            timeout=30,
            message="the backstop to apply the lost refund result",
        )
        assert ended["ended_reason"] == "refunded"
        print(f"backstop: lost refund result applied {time.monotonic() - due_at:.1f}s after the bound")
        awaited = awaited_result(db, purchase["id"])
        assert (awaited.kind, awaited.outcome) == ("refund", "succeeded") and awaited.resolved_at is not None
    report = wait_for_invariants(records, scope, timeout=60)
    assert report.ok, report.table()


def test_a_card_change_whose_result_redis_lost_reaches_the_subscription_within_the_bound(
    chaos_stack, chaos_redis, chaos_plan, chaos_clock, transport_only, tokens, scope, records, db
):
    whole_worker(chaos_stack, transport_only)
    with new_buyer(chaos_stack, tokens, scope) as buyer:
        purchase, _ = pay_for(chaos_stack, buyer, scope, chaos_plan)
        old_method = status(db, purchase["id"]).payment_method_id

        transport_alone(chaos_stack, transport_only)  # card-change results are payment results
        asked = buyer.subscriptions.post(
            f"/api/v1/subscriptions/{purchase['id']}/payment-method",
            headers={"Idempotency-Key": "lost-card-change"},
            json={"return_url": "https://kinobill.example/account"},
        )
        assert asked.status_code == 201 and asked.json()["status"] == "pending", asked.text
        method = parse_qs(urlparse(asked.json()["confirmation_url"]).query)["methodId"][0]
        chaos_stack.sandbox.confirm_payment_method(method, NEW_CARD)  # payment_method.active → Billing
        wait_until(
            lambda: published(
                db, PAYMENT_RESULTS, type="payment_method.active", subscription_id=purchase["id"]
            ),
            message="Billing to activate and publish it",
        )
        lose_results(chaos_redis)
        whole_worker(chaos_stack, transport_only)
        assert status(db, purchase["id"]).payment_method_id == old_method

        chaos_clock.advance(BOUND + timedelta(seconds=1))
        wait_until(
            lambda: status(db, purchase["id"]).payment_method_id == method,
            timeout=30,
            message="the backstop to apply the lost card change",
        )
        awaited = awaited_result(db, purchase["id"])
        assert (awaited.kind, awaited.outcome) == ("card_change", "card_changed")
    report = wait_for_invariants(records, scope, timeout=60)
    assert report.ok, report.table()
