"""Benchmark: Auth's ``GET /internal/v1/users/{id}/subscriptions/active``, cached and uncached, 1M users.

A fresh embedded Postgres and Redis under a temporary directory; migrations; 1,000,000 users'
subscriptions seeded in SQL (``generate_series``): each user holds one active subscription, every 5th
also an ended one and every 10th one awaiting payment, over a handful of plans. Prints the plan of
the uncached query (EXPLAIN ANALYZE). Then, for 1 and 2 uvicorn workers (``kinobill serve
subscriptions --workers N``, a real process; production runs several per pod), drives the endpoint
from this process over keep-alive HTTP/1.1 connections (``RawClient`` of ``bench_sandbox.py``):

* **cached**: a hot set of users, warmed first, requested at random (every answer from Redis);
* **uncached**: users never asked before, each once (every answer from Postgres, then cached).

Bounded in time and requests, loopback only; stops everything it started. Noisy on a shared machine:
the load generator, Postgres, Redis and the workers share the same cores.

    .venv/bin/python loadtests/bench_active_subscriptions.py [--users 1000000] [--seconds 8]
        [--concurrency 16] [--workers 1,2] [--hot 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import psycopg

from bench_sandbox import RawClient
from kinobill.embedded import EmbeddedPostgres, EmbeddedRedis, ensure_runtime_dir
from kinobill.security import LocalKeys, mint_service_token

PATH = "/internal/v1/users/{user_id}/subscriptions/active"
PLANS = ("premium", "kids", "basic", "films", "series")

SEED_SQL = """
INSERT INTO subscriptions.plans (id, code, name, price_month, price_year, sale_start)
SELECT md5('plan' || code)::uuid, code, initcap(code), 29900, 299000, now() - interval '1 year'
FROM unnest(ARRAY[:plans]) AS code;

CREATE TEMP TABLE plan_ids AS
SELECT row_number() OVER (ORDER BY code) - 1 AS n, id FROM subscriptions.plans;

-- one active subscription per user: plan n = i % 5, period end 1..28 days ahead
INSERT INTO subscriptions.subscriptions
  (id, user_id, plan_id, period, status, auto_renew, anchor_at, period_index, current_period_start,
   current_period_end, price, payment_method_id, next_attempt_at, created_at, updated_at)
SELECT md5('a' || i)::uuid, md5('u' || i)::uuid, p.id, 'month', 'active', true,
       now() - interval '1 day' * (30 - i % 28), 0, now() - interval '1 day' * (30 - i % 28),
       now() + interval '1 day' * (1 + i % 28), 29900, 'pm-' || i,
       now() + interval '1 day' * (i % 28), now() - interval '30 days', now()
FROM generate_series(1, :users) AS i JOIN plan_ids p ON p.n = i % 5;

-- every 5th user: an ended subscription of the next plan
INSERT INTO subscriptions.subscriptions
  (id, user_id, plan_id, period, status, ended_reason, auto_renew, price, created_at, updated_at, ended_at)
SELECT md5('e' || i)::uuid, md5('u' || i)::uuid, p.id, 'month', 'ended', 'expired', false, 29900,
       now() - interval '90 days', now() - interval '60 days', now() - interval '60 days'
FROM generate_series(5, :users, 5) AS i JOIN plan_ids p ON p.n = (i + 1) % 5;

-- every 10th user: a purchase awaiting payment of a third plan
INSERT INTO subscriptions.subscriptions
  (id, user_id, plan_id, period, status, auto_renew, price, created_at, updated_at)
SELECT md5('w' || i)::uuid, md5('u' || i)::uuid, p.id, 'year', 'awaiting_payment', true, 299000, now(), now()
FROM generate_series(10, :users, 10) AS i JOIN plan_ids p ON p.n = (i + 2) % 5;
"""


def user_id(i: int) -> str:
    """The seeded id of user i: the same md5 as the SQL's ``md5('u' || i)::uuid``."""
    return str(uuid.UUID(hashlib.md5(f"u{i}".encode()).hexdigest()))


def libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def seed(database_url: str, users: int) -> None:
    started = time.perf_counter()
    with psycopg.connect(libpq(database_url), autocommit=True) as conn:
        plans = ", ".join(f"'{code}'" for code in PLANS)  # constants of this script, not input
        conn.execute(SEED_SQL.replace(":plans", plans).replace(":users", str(int(users))).encode())
        conn.execute("VACUUM ANALYZE subscriptions.subscriptions")
        count = conn.execute("SELECT count(*) FROM subscriptions.subscriptions").fetchone()
    print(f"seeded {count[0] if count else 0:,} subscriptions of {users:,} users in "
          f"{time.perf_counter() - started:.1f} s")  # fmt: skip


def explain(database_url: str, uid: str) -> None:
    """The plan of the uncached query (``ACTIVE_ROWS_SQL``) for one user."""
    from kinobill.subscriptions.access import ACTIVE_ROWS_SQL

    with psycopg.connect(libpq(database_url), autocommit=True) as conn:
        rows = conn.execute(
            "EXPLAIN (ANALYZE, COSTS OFF) " + ACTIVE_ROWS_SQL,
            (uuid.UUID(uid),),
        ).fetchall()
    print("uncached query plan at this size:")
    for (line,) in rows:
        print("   ", line)


def start_service(env: dict[str, str], port: int, workers: int, log: Path) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "kinobill.cli", "serve", "subscriptions", "--port", str(port)]
    proc = subprocess.Popen(
        [*cmd, "--workers", str(workers)],
        env=env,
        stdout=open(log, "ab"),  # noqa: SIM115 - the child owns it
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"subscriptions exited; see {log}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"subscriptions not ready in time; see {log}")
        time.sleep(0.1)


async def drive(
    port: int,
    token: str,
    users: list[str],
    *,
    concurrency: int,
    seconds: float,
    max_requests: int,
    once: bool,
) -> tuple[list[float], int, float]:
    """Request random users (``once``: each user of ``users`` at most once, in order). Latencies, errors."""
    latencies: list[float] = []
    errors = 0
    issued = 0
    deadline = time.perf_counter() + seconds
    heads = {
        uid: (
            f"GET {PATH.format(user_id=uid)} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Authorization: Bearer {token}\r\n\r\n"
        ).encode()
        for uid in (users if len(users) <= 200_000 else users[:max_requests])
    }

    async def worker() -> None:
        nonlocal errors, issued
        client = RawClient("127.0.0.1", port, "")
        await client.connect()
        try:
            while issued < max_requests and time.perf_counter() < deadline:
                if once:
                    if issued >= len(users):
                        break
                    uid = users[issued]
                else:
                    uid = random.choice(users)
                issued += 1
                t0 = time.perf_counter()
                status = await client.send(heads[uid])
                latencies.append(time.perf_counter() - t0)
                errors += status != 200
        finally:
            await client.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, errors, time.perf_counter() - started


def report(label: str, latencies: list[float], errors: int, elapsed: float) -> dict[str, float]:
    latencies.sort()
    rate = len(latencies) / elapsed
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000
    print(f"  {label:<9} {len(latencies):>7,} requests in {elapsed:5.2f} s = {rate:7,.0f}/s   "
          f"p50 {p50:6.2f} ms   p99 {p99:6.2f} ms   errors {errors}")  # fmt: skip
    return {"rps": rate, "p50": p50, "p99": p99, "errors": errors}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1_000_000, help="users seeded")
    parser.add_argument("--seconds", type=float, default=8.0, help="time limit of each measured run")
    parser.add_argument("--max-requests", type=int, default=100_000, help="request limit of each run")
    parser.add_argument("--concurrency", type=int, default=16, help="keep-alive connections")
    parser.add_argument("--hot", type=int, default=10_000, help="users in the cached run's hot set")
    parser.add_argument("--workers", default="1,2", help="uvicorn worker counts to measure")
    parser.add_argument("--port", type=int, default=18401)
    args = parser.parse_args()
    ensure_runtime_dir()

    home = Path(tempfile.mkdtemp(prefix="kbbench-"))
    pg, rds = EmbeddedPostgres(home / "pg"), EmbeddedRedis(home / "redis")
    procs: list[subprocess.Popen[bytes]] = []
    results: dict[tuple[int, str], dict[str, float]] = {}
    try:
        database_url, redis_url = pg.start(), rds.start()
        from kinobill import migrations

        migrations.upgrade(database_url)
        seed(database_url, args.users)
        explain(database_url, user_id(args.users // 2))

        keys = LocalKeys(home / "keys").ensure()
        token = mint_service_token(keys.service_private.read_bytes(), "auth", ttl=3600)
        env = {
            **os.environ,
            "KINOBILL_ENV": "production",  # no test clock: the system clock, as Auth's calls get
            "KINOBILL_HOME": str(home),
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "JWT_PUBLIC_KEY_FILE": str(keys.user_public),
            "SERVICE_JWT_PUBLIC_KEY_FILE": str(keys.service_public),
            "PYTHONUNBUFFERED": "1",
        }
        env.pop("KINOBILL_TEST_CLOCK", None)
        rng = random.Random(7)
        order = rng.sample(range(1, args.users + 1), k=min(args.users, args.hot + 10 * args.max_requests))
        hot = [user_id(i) for i in order[: args.hot]]
        fresh = [user_id(i) for i in order[args.hot :]]

        for workers in [int(w) for w in args.workers.split(",")]:
            proc = start_service(env, args.port, workers, home / "subscriptions.log")
            procs.append(proc)
            sample = httpx.get(
                f"http://127.0.0.1:{args.port}" + PATH.format(user_id=hot[0]),
                headers={"Authorization": f"Bearer {token}"},
            )
            assert sample.status_code == 200 and len(sample.json()["items"]) == 1, sample.text
            print(f"\n{workers} worker(s), {args.concurrency} connections; one answer: {sample.text}")
            subprocess.run(  # every run starts from an empty cache
                [sys.executable, "-c", f"import redis; redis.Redis.from_url({redis_url!r}).flushall()"],
                check=True,
            )
            kw = {"concurrency": args.concurrency, "max_requests": args.max_requests}
            asyncio.run(drive(args.port, token, hot, seconds=60, once=True, **kw))  # warm the hot set
            lat, err, el = asyncio.run(drive(args.port, token, hot, seconds=args.seconds, once=False, **kw))
            results[(workers, "cached")] = report("cached", lat, err, el)
            taken = workers * args.max_requests  # each run its own never-asked users
            users = fresh[taken - args.max_requests : taken]
            lat, err, el = asyncio.run(drive(args.port, token, users, seconds=args.seconds, once=True, **kw))
            results[(workers, "uncached")] = report("uncached", lat, err, el)
            proc.terminate()
            proc.wait(30)
            procs.remove(proc)
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
        rds.stop()
        pg.stop()
    print("\nGoals: cached >= 2,000/s with p99 < 20 ms; uncached >= 800/s.")
    ok = all(
        r["errors"] == 0 and (r["rps"] >= 2000 and r["p99"] < 20 if kind == "cached" else r["rps"] >= 800)
        for (_, kind), r in results.items()
    )
    print("met" if ok else "NOT met (see above)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
