"""Redis down for 60 s under steady purchase load, then back with its data.

While it is down: purchases are accepted and paid (Redis is not needed to take money), YooKassa's
webhooks are accepted and settle payments in Billing, the access endpoint answers from Postgres, and the
worker's /healthz fails once its consumers have not polled for KINOBILL_CONSUMER_STALL_SECONDS. Once it
is back, the relays catch up and every purchase made meanwhile activates; then the invariants hold.
KINOBILL_CHAOS_REDIS_DOWN_SECONDS shortens the outage (default 60).
"""

from __future__ import annotations

import os
import threading
import time
import uuid

import httpx
import pytest
import sqlalchemy as sa
from chaos_support import new_buyer
from invariants import wait_for_invariants

from kinobill.billing import tables as bt
from shop import SUCCESS_CARD
from support import wait_until

pytestmark = pytest.mark.chaos

DOWN_SECONDS = float(os.environ.get("KINOBILL_CHAOS_REDIS_DOWN_SECONDS", "60"))


class PurchaseLoad:
    """One buyer after another buys and pays, paced, until stopped; records what the API answered."""

    def __init__(self, stack, tokens, scope, plan) -> None:
        self.stack, self.tokens, self.scope, self.plan = stack, tokens, scope, plan
        self.answers: list[tuple[float, int]] = []  # (when, status)
        self.users: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            with new_buyer(self.stack, self.tokens, self.scope) as buyer:
                try:
                    response = buyer.buy(self.plan["id"])
                except httpx.HTTPError:
                    self.answers.append((time.monotonic(), 0))
                    continue
                self.answers.append((time.monotonic(), response.status_code))
                if response.status_code == 201:
                    purchase = response.json()
                    self.scope.add(purchase["id"])
                    self.users.append(str(buyer.user_id))
                    self.stack.sandbox.confirm(purchase["payment"]["provider_payment_id"], SUCCESS_CARD)
            self.stop.wait(0.2)  # pacing of the load, not synchronisation

    def __enter__(self) -> PurchaseLoad:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join(30)


def settled_in_billing(db: sa.Engine, subscription_ids: set[str]) -> int:
    p = bt.payments
    with db.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count())
                .select_from(p)
                .where(
                    p.c.subscription_id.in_([uuid.UUID(s) for s in subscription_ids]),
                    p.c.status == "succeeded",
                )
            ).scalar_one()
        )


def test_redis_down_for_a_minute_under_load_delays_but_loses_nothing(
    chaos_stack, chaos_redis, chaos_plan, tokens, scope, records, db
):
    access = httpx.Client(
        base_url=chaos_stack.subscriptions_url, headers=tokens.service_headers("auth"), timeout=10
    )
    with PurchaseLoad(chaos_stack, tokens, scope, chaos_plan) as load:
        wait_until(lambda: len(load.users) >= 3, timeout=60, message="the load running")
        chaos_redis.stop()
        down_at = time.monotonic()
        before_outage = set(scope.subscription_ids)
        unhealthy = wait_until(
            lambda: httpx.get(f"{chaos_stack.worker_url}/healthz", timeout=5).status_code == 503,
            timeout=min(DOWN_SECONDS, 45),
            message="the worker's /healthz to fail (consumers stalled)",
        )
        assert unhealthy
        user = load.users[-1]
        answer = access.get(f"/internal/v1/users/{user}/subscriptions/active")
        assert answer.status_code == 200, answer.text  # from Postgres: Redis is down
        wait_until(
            lambda: time.monotonic() - down_at >= DOWN_SECONDS, timeout=DOWN_SECONDS + 5, message="the outage"
        )
        during = [status for when, status in load.answers if when >= down_at]
        outage_purchases = scope.subscription_ids - before_outage
        paid_meanwhile = settled_in_billing(db, outage_purchases)
        chaos_redis.start()  # with its data (append-only file)
        back_at = time.monotonic()
    assert during and set(during) == {201}, f"answers while Redis was down: {sorted(set(during))}"
    assert paid_meanwhile >= 1  # webhooks accepted and settled in Billing without Redis
    report = wait_for_invariants(records, scope, timeout=120)
    recovered = time.monotonic() - back_at
    print(
        f"redis down {DOWN_SECONDS:.0f}s: {len(during)} purchases accepted, {paid_meanwhile} paid meanwhile; "
        f"all final {recovered:.1f}s after Redis came back"
    )
    assert report.ok, report.table()
    wait_until(
        lambda: httpx.get(f"{chaos_stack.worker_url}/healthz", timeout=5).status_code == 200,
        timeout=30,
        message="the worker healthy again",
    )
    access.close()
