"""Benchmark: purchases initiated per second through the whole path, with p50/p99 of the purchase call.

Starts a private local stack (`kinobill run` in a temporary KINOBILL_HOME on free ports: embedded
Postgres and Redis, Subscriptions and Billing with N uvicorn workers each, the YooKassa sandbox,
workers), then drives `POST /api/v1/subscriptions` (each request a new user, so each is a real purchase:
subscription row, idempotency record, Billing payment row, a YooKassa payment, the confirmation link)
with locust's FastHttpUser from this process for a fixed time, and prints the figures. Loopback only;
bounded in time; stops the stack at the end.

    .venv/bin/python loadtests/bench_purchases.py [--seconds 20] [--users 64] [--web-workers 2] [--rate 150]

Without --rate the buyers go as fast as they can (throughput); with it, the load is paced at that many
purchases per second in total (latency at a given load, e.g. the goal: 150/s with p99 under 100 ms).
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent  # noqa: E402
import httpx  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402
from locust import FastHttpUser, constant, constant_throughput, task  # noqa: E402
from locust.env import Environment  # noqa: E402

from kinobill.embedded import die_with_parent  # noqa: E402
from kinobill.security import LocalKeys, mint_service_token, mint_user_token  # noqa: E402
from kinobill.stack import Ports  # noqa: E402


def start_stack(home: Path, web_workers: int) -> tuple[subprocess.Popen[bytes], Ports, Path]:
    ports = Ports.free()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "YOOKASSA_API_URL")}
    env.update({"KINOBILL_HOME": str(home), "KINOBILL_WEB_WORKERS": str(web_workers), **ports.environment()})
    log = home / "run.log"
    home.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "kinobill.cli", "run"],
        env=env,
        stdout=open(log, "wb"),  # noqa: SIM115 - the child owns it
        stderr=subprocess.STDOUT,
        preexec_fn=die_with_parent,  # even if this benchmark is killed, the stack goes with it
    )
    deadline = time.monotonic() + 180
    while b"Kinobill is running" not in log.read_bytes():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the stack did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)
    return proc, ports, log


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--users", type=int, default=64, help="concurrent simulated buyers")
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="offered purchases/s in total (paced users); 0 = as fast as they can",
    )
    parser.add_argument("--web-workers", type=int, default=2, help="uvicorn workers per service")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--purchases", type=int, default=8000, help="at most this many purchases (buyers)")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="kb-bench-"))
    proc, ports, _log = start_stack(home, args.web_workers)
    base = f"http://127.0.0.1:{ports.subscriptions}"
    try:
        keys = LocalKeys(home / "keys").ensure()
        service = {
            "Authorization": f"Bearer {mint_service_token(keys.service_private.read_bytes(), 'admin')}"
        }
        plan = httpx.post(
            f"{base}/internal/v1/plans",
            headers=service,
            timeout=10,
            json={
                "code": f"bench-{uuid.uuid4().hex[:8]}",
                "name": "Bench",
                "price_month": "299.00",
                "price_year": "2990.00",
            },
        ).json()
        private = serialization.load_pem_private_key(keys.user_private.read_bytes(), None)  # parse once
        assert isinstance(private, rsa.RSAPrivateKey)
        tokens = iter(
            [
                mint_user_token(private, uuid.uuid4(), email=f"b{i}@example.com", ttl=3600)
                for i in range(args.purchases)
            ]
        )
        failures: list[str] = []

        class Purchaser(FastHttpUser):
            host = base
            wait_time = constant_throughput(args.rate / args.users) if args.rate else constant(0)

            @task
            def buy(self) -> None:
                token = next(tokens, None)
                if token is None:
                    self.environment.runner.quit()  # type: ignore[union-attr]
                    return
                with self.client.post(
                    "/api/v1/subscriptions",
                    json={"plan_id": plan["id"], "period": "month"},
                    headers={"Authorization": f"Bearer {token}", "Idempotency-Key": uuid.uuid4().hex},
                    name="purchase",
                    catch_response=True,
                ) as response:
                    if response.status_code == 201 and response.json()["payment"]["confirmation_url"]:
                        response.success()
                    else:
                        failures.append(f"{response.status_code} {response.text[:120]}")
                        response.failure(str(response.status_code))

        env = Environment(user_classes=[Purchaser])
        runner = env.create_local_runner()
        runner.start(args.users, spawn_rate=args.users)
        gevent.sleep(args.warmup)
        env.stats.reset_all()
        started = time.monotonic()
        gevent.sleep(args.seconds)
        elapsed = time.monotonic() - started
        stats = env.stats.get("purchase", "POST")
        runner.quit()
        done = stats.num_requests - stats.num_failures
        offered = f"offered {args.rate:.0f}/s by " if args.rate else ""
        print(
            f"\npurchases through the whole path ({offered}{args.users} concurrent buyers, "
            f"{args.web_workers} uvicorn workers per service, {os.cpu_count()} cores shared by everything)"
        )
        print(f"  completed      {done} in {elapsed:.1f} s  = {done / elapsed:.1f} purchases/s")
        print(f"  failures       {stats.num_failures} {failures[:3]}")
        print(
            f"  latency  p50 {stats.get_response_time_percentile(0.5):.0f} ms   "
            f"p90 {stats.get_response_time_percentile(0.9):.0f} ms   "
            f"p99 {stats.get_response_time_percentile(0.99):.0f} ms   max {stats.max_response_time:.0f} ms"
        )
        return 0 if stats.num_failures == 0 else 1
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()


if __name__ == "__main__":
    sys.exit(main())
