"""Redis loses its data under a running stack: the transport is gone, the record is not.

FLUSHALL (the same as a Redis restarted without its volume, or a failover to an empty replica) removes the
streams and their consumer groups; each consumer recreates its group and goes on, so the next purchase
activates. A Redis restarted with its data, and one restarted empty, leave nothing undone either. Every
scenario ends with the invariant checks.
"""

from __future__ import annotations

import time

import httpx
import pytest
from chaos_support import buy_and_pay, worker_metric
from invariants import wait_for_invariants

from support import wait_until

pytestmark = pytest.mark.chaos


def test_after_flushall_consumers_recreate_their_groups_and_the_next_purchase_activates(
    chaos_stack, chaos_redis, chaos_plan, tokens, scope, records
):
    buy_and_pay(chaos_stack, tokens, scope, chaos_plan)
    recreated_before = worker_metric(chaos_stack, "kinobill_stream_group_recreated_total")

    chaos_redis.flushall()
    lost_at = time.monotonic()

    active = buy_and_pay(chaos_stack, tokens, scope, chaos_plan, timeout=30)
    print(f"FLUSHALL: a purchase made after it active {time.monotonic() - lost_at:.1f}s later")
    assert active["current_period_end"]
    assert worker_metric(chaos_stack, "kinobill_stream_group_recreated_total") > recreated_before
    assert httpx.get(f"{chaos_stack.worker_url}/healthz").status_code == 200
    report = wait_for_invariants(records, scope, timeout=60)
    assert report.ok, report.table()


@pytest.mark.parametrize("keep_data", [True, False], ids=["with-its-data", "empty"])
def test_redis_restarted_leaves_nothing_undone(
    chaos_stack, chaos_redis, chaos_plan, tokens, scope, records, keep_data
):
    buy_and_pay(chaos_stack, tokens, scope, chaos_plan)

    chaos_redis.kill()  # kill -9: what the append-only file did not fsync is lost too
    if not keep_data:
        chaos_redis.wipe()
    chaos_redis.start()
    back_at = time.monotonic()

    buy_and_pay(chaos_stack, tokens, scope, chaos_plan, timeout=30)
    print(
        f"Redis killed and restarted ({'with its data' if keep_data else 'empty'}): a purchase active"
        f" {time.monotonic() - back_at:.1f}s after it was back"
    )
    wait_until(
        lambda: httpx.get(f"{chaos_stack.worker_url}/healthz").status_code == 200,
        timeout=30,
        message="the worker healthy again",
    )
    report = wait_for_invariants(records, scope, timeout=60)
    assert report.ok, report.table()
