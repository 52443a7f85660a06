"""Benchmark: renewals completed per second end to end (scheduler → stream → charge → activation).

Everything real and on loopback: a throw-away embedded Postgres and Redis, the YooKassa sandbox, and
`kinobill worker` processes split by role (one scheduler + relays process, then charge-commands and
payment-results consumers, two of each by default: the shape measured in docs/renewals.md). Seeds N
subscriptions whose first renewal attempt is due now, each with a saved card (a few saved methods made
through the sandbox's real checkout, shared round-robin: the provider side is not what is measured), then
starts the workers and counts subscriptions that reached period 1 (the renewal recorded and the
subscription extended) until all are renewed or the time runs out. E-mails are queued in the same
transactions but not sent (the SMTP workers are not started).

    .venv/bin/python loadtests/bench_renewals.py [--subscriptions 100000] [--charge-workers 2]
                                                 [--result-workers 2] [--batch 1000] [--timeout 900]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psutil
import sqlalchemy as sa

from kinobill import migrations
from kinobill.domain.periods import BillingPeriod, add_months, period_end
from kinobill.embedded import EmbeddedPostgres, EmbeddedRedis
from yookassa_sandbox.testing import start_sandbox

SEED = """
INSERT INTO subscriptions.subscriptions (
    id, user_id, user_email, plan_id, period, status, auto_renew, anchor_at, period_index,
    current_period_start, current_period_end, price, payment_method_id, failed_attempts, next_attempt_at,
    reminded_period, created_at, updated_at)
SELECT
    gen_random_uuid(), gen_random_uuid(), 'u' || g || '@bench.example', :plan, 'month', 'active', true,
    :anchor, 0, :anchor, :period_end, 29900, (CAST(:methods AS text[]))[1 + g % 10], 0,
    :due - interval '1 millisecond' * g, 0, :anchor, :anchor
FROM generate_series(1, CAST(:count AS bigint)) AS g
"""


def saved_methods(sandbox, count: int) -> list[str]:
    """Pay `count` first payments on the sandbox's checkout and keep their saved methods."""
    methods = []
    auth = (sandbox.shop_id, sandbox.secret_key)
    with httpx.Client(base_url=sandbox.api_url, auth=auth, timeout=10) as client:
        for _ in range(count):
            created = client.post(
                "/payments",
                headers={"Idempotence-Key": str(uuid.uuid4())},
                json={
                    "amount": {"value": "299.00", "currency": "RUB"},
                    "capture": True,
                    "save_payment_method": True,
                    "confirmation": {"type": "redirect", "return_url": "https://kinobill.local/return"},
                    "description": "bench",
                },
            )
            created.raise_for_status()
            payment_id = created.json()["id"]
            sandbox.confirm(payment_id, "5555555555554444")
            methods.append(payment_id)
    return methods


def renewed(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.exec_driver_sql(
                "SELECT count(*) FROM subscriptions.subscriptions WHERE period_index = 1"
            ).scalar_one()
        )


def cpu_seconds(pid: int) -> float:
    """CPU (user + system) of a process, its live descendants and the children it has reaped."""
    try:
        root = psutil.Process(pid)
        total = sum(root.cpu_times()[:4])  # user, system, children_user, children_system
        for child in root.children(recursive=True):
            with contextlib.suppress(psutil.NoSuchProcess):
                total += sum(child.cpu_times()[:2])
        return total
    except psutil.NoSuchProcess:
        return 0.0


def postmaster_pid(pgdata: Path) -> int:
    return int((pgdata / "postmaster.pid").read_text().split()[0])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--subscriptions", type=int, default=100_000)
    parser.add_argument("--charge-workers", type=int, default=2)
    parser.add_argument("--result-workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args(argv)
    if not 1 <= args.subscriptions <= 1_000_000 or not 1 <= args.charge_workers <= 16:
        parser.error("1..1,000,000 subscriptions and 1..16 charge workers")

    work = Path(tempfile.mkdtemp(prefix="kb-bench-"))
    pg, rd = EmbeddedPostgres(work / "pg"), EmbeddedRedis(work / "redis")
    sandbox = None
    workers: list[subprocess.Popen[bytes]] = []
    try:
        database_url, redis_url = pg.start(), rd.start()
        migrations.upgrade(database_url)
        engine = sa.create_engine(database_url)
        sandbox = start_sandbox(webhook_url=None)
        methods = saved_methods(sandbox, 10)
        now = datetime.now(UTC)
        anchor = add_months(now + timedelta(hours=23), -1)  # the first period ends in 23 h: due now
        with engine.begin() as conn:
            plan = conn.exec_driver_sql(
                "INSERT INTO subscriptions.plans (id, code, name, price_month, price_year, sale_start) "
                "VALUES (gen_random_uuid(), 'bench', 'Bench', 29900, 299000, %(start)s) RETURNING id",
                {"start": anchor},
            ).scalar_one()
            conn.execute(
                sa.text(SEED),
                {
                    "plan": plan,
                    "anchor": anchor,
                    "period_end": period_end(anchor, BillingPeriod.MONTH, 0),
                    "methods": methods,
                    "due": now,
                    "count": args.subscriptions,
                },
            )
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE subscriptions.subscriptions")
        with engine.connect() as conn:
            durable = conn.exec_driver_sql("SHOW synchronous_commit").scalar_one()
        print(
            f"seeded {args.subscriptions:,} due subscriptions; {len(methods)} saved cards; "
            f"synchronous_commit={durable}",
            flush=True,
        )

        env = {
            **os.environ,
            "KINOBILL_ENV": "test",
            "KINOBILL_HOME": str(work / "home"),
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "YOOKASSA_API_URL": sandbox.api_url,
            "YOOKASSA_SHOP_ID": sandbox.shop_id,
            "YOOKASSA_SECRET_KEY": sandbox.secret_key,
            "KINOBILL_RENEWAL_POLICY": json.dumps({"interval": "1s", "batch_size": args.batch}),
            "DB_POOL_SIZE": "4",
            "PYTHONUNBUFFERED": "1",
        }
        kb = [sys.executable, "-m", "kinobill.cli", "worker", "--only"]
        roles = [["scheduler,relay-subscriptions,relay-billing"]]
        roles += [["charge-commands"]] * args.charge_workers
        roles += [["payment-results"]] * args.result_workers
        log = open(work / "workers.log", "ab")  # noqa: SIM115 - closed with the directory
        watched = {"postgres": postmaster_pid(work / "pg"), "sandbox": sandbox.process.pid}
        if rd.process is not None:
            watched["redis"] = rd.process.pid
        cpu_before = {name: cpu_seconds(pid) for name, pid in watched.items()}
        started = time.monotonic()
        for role in roles:
            workers.append(subprocess.Popen([*kb, *role], env=env, stdout=log, stderr=subprocess.STDOUT))
        print(f"workers: {', '.join(r[0] for r in roles)}", flush=True)

        done, samples = 0, []
        deadline = started + args.timeout
        while done < args.subscriptions and time.monotonic() < deadline:
            time.sleep(1.0)
            done = renewed(engine)
            samples.append((time.monotonic() - started, done))
            if len(samples) % 10 == 0:
                print(f"  {samples[-1][0]:6.0f} s  {done:>8,} renewed", flush=True)
            if any(w.poll() is not None for w in workers):
                raise RuntimeError(f"a worker exited; see {work / 'workers.log'}")
        elapsed = samples[-1][0]
        pairs = enumerate(zip(roles, workers, strict=True))
        cpu = {f"{i}:{' '.join(r)}": cpu_seconds(w.pid) for i, (r, w) in pairs}
        cpu.update({name: cpu_seconds(pid) - cpu_before[name] for name, pid in watched.items()})
        first = next((t for t, n in samples if n > 0), elapsed)
        middle = [(t, n) for t, n in samples if 0.1 * args.subscriptions <= n <= 0.9 * args.subscriptions]
        steady = (middle[-1][1] - middle[0][1]) / (middle[-1][0] - middle[0][0]) if len(middle) > 1 else 0.0
        with engine.connect() as conn:
            charges = conn.exec_driver_sql(
                "SELECT count(*), count(DISTINCT (subscription_id, period_index)) FROM billing.payments "
                "WHERE status = 'succeeded'"
            ).one()
        print(
            f"\nrenewed {done:,} of {args.subscriptions:,} in {elapsed:.1f} s: "
            f"{done / elapsed:.0f} renewals/s end to end (first after {first:.1f} s; "
            f"steady 10-90 %: {steady:.0f}/s); succeeded charges {charges[0]:,} for {charges[1]:,} periods"
        )
        load = os.getloadavg()[0]
        print(f"CPU per renewal ({done:,} renewed, {elapsed:.0f} s wall, load average {load:.1f}):")
        for name, seconds in cpu.items():
            print(f"  {name:55s} {seconds:8.1f} s  {1000 * seconds / max(done, 1):6.2f} ms/renewal")
        total = sum(cpu.values())
        print(f"  {'total':55s} {total:8.1f} s  {1000 * total / max(done, 1):6.2f} ms/renewal")
        print(f"at that rate 2,000,000 renewals take {2_000_000 / max(done / elapsed, 1e-9) / 3600:.2f} h")
        return 0 if done == args.subscriptions and charges[0] == charges[1] == done else 1
    finally:
        for w in workers:
            w.terminate()
        for w in workers:
            try:
                w.wait(20)
            except subprocess.TimeoutExpired:
                w.kill()
        if sandbox is not None:
            sandbox.stop()
        rd.stop()
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
