"""Randomized soak: steady purchase load while a random process is killed -9 every few seconds.

Starts a private stack on loopback (embedded Postgres and Redis, the YooKassa sandbox, the mailbox,
Subscriptions, Billing, the worker: the processes of the test suite's stack), buys and pays continuously
(each purchase a new buyer, paid through the sandbox's checkout, so every one also brings a webhook),
and every ``--interval`` seconds (± half) kills one of: an API (Subscriptions or Billing), the worker,
Redis, Postgres, with SIGKILL, and starts it again. After ``--seconds`` the load stops, the stack is
given ``--settle`` seconds to finish, and the invariants of the fault suite (tests/chaos/invariants.py)
are checked. Prints the faults with their recovery times, the operations attempted and completed, and
the invariant results; exits non-zero when an invariant fails.

    .venv/bin/python loadtests/chaos_soak.py [--seconds 600] [--interval 5] [--seed 1]

Recovery per fault: ``restart`` = kill → the process answers its health check again; ``next ok`` =
kill → the next purchase answered 201 (the time a buyer saw it). Loopback only, bounded in time.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
import psycopg
import redis
import sqlalchemy as sa

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests"), str(REPO / "tests" / "chaos")]

from invariants import Records, Scope, wait_for_invariants  # noqa: E402

from kinobill import migrations  # noqa: E402
from kinobill.embedded import EmbeddedPostgres, EmbeddedRedis, ensure_runtime_dir  # noqa: E402
from kinobill.security import LocalKeys, mint_service_token, mint_user_token  # noqa: E402
from shop import SUCCESS_CARD  # noqa: E402
from support import Stack  # noqa: E402

TARGETS = ("subscriptions", "billing", "worker", "redis", "postgres")


@dataclass
class Fault:
    target: str
    at: float
    restart_s: float = float("nan")
    next_ok_s: float = float("nan")


@dataclass
class Load:
    attempted: int = 0
    accepted: int = 0
    paid: int = 0
    answers: Counter[str] = field(default_factory=Counter)
    ok_times: list[float] = field(default_factory=list)


class Soak:
    def __init__(self, home: Path, seed: int) -> None:
        self.home = home
        self.random = random.Random(seed)
        self.keys = LocalKeys(home / "keys").ensure()
        self.postgres = EmbeddedPostgres(home / "pg")
        self.redis = EmbeddedRedis(home / "redis")
        self.scope = Scope()
        self.load = Load()
        self.faults: list[Fault] = []
        self.stop = threading.Event()
        self.lock = threading.Lock()

    def start(self) -> None:
        database_url = self.postgres.start()
        migrations.upgrade(database_url)
        self.redis.start()
        self.engine = sa.create_engine(database_url, pool_pre_ping=True)
        env = {
            **os.environ,
            "KINOBILL_ENV": "test",
            "KINOBILL_HOME": str(self.home / "home"),
            "DATABASE_URL": database_url,
            "REDIS_URL": self.redis.url,
            "JWT_PUBLIC_KEY_FILE": str(self.keys.user_public),
            "SERVICE_JWT_PUBLIC_KEY_FILE": str(self.keys.service_public),
            "KINOBILL_SERVICE_TOKEN": mint_service_token(self.keys.service_private.read_bytes(), "kinobill"),
            "KINOBILL_BACKSTOP_INTERVAL_SECONDS": "5",
            "PYTHONUNBUFFERED": "1",
        }
        self.stack = Stack(env, self.home)
        for name in ("mailbox", "billing", "subscriptions", "worker"):
            self.stack.start(name)
        service = mint_service_token(self.keys.service_private.read_bytes(), "tests")
        plan = httpx.post(
            f"{self.stack.subscriptions_url}/internal/v1/plans",
            headers={"Authorization": f"Bearer {service}"},
            json={
                "code": f"soak{uuid.uuid4().hex[:8]}",
                "name": "Soak",
                "price_month": "299.00",
                "price_year": "2990.00",
            },
            timeout=30,
        )
        plan.raise_for_status()
        self.plan_id = plan.json()["id"]

    # --- load ---------------------------------------------------------------------------------

    def buyer_loop(self) -> None:
        while not self.stop.is_set():
            user_id = uuid.uuid4()
            email = f"{user_id.hex[:12]}@example.com"
            token = mint_user_token(self.keys.user_private.read_bytes(), user_id, email=email)
            headers = {"Authorization": f"Bearer {token}"}
            key = uuid.uuid4().hex
            with self.lock:
                self.load.attempted += 1
                self.scope.emails.add(email)
            purchase = None
            deadline = time.monotonic() + 60  # a buyer retries with the same key, as clients should
            while purchase is None and time.monotonic() < deadline and not self.stop.is_set():
                try:
                    response = httpx.post(
                        f"{self.stack.subscriptions_url}/api/v1/subscriptions",
                        json={"plan_id": self.plan_id, "period": "month"},
                        headers={**headers, "Idempotency-Key": key},
                        timeout=15,
                    )
                    answer = str(response.status_code)
                except httpx.HTTPError as exc:
                    answer = type(exc).__name__
                with self.lock:
                    self.load.answers[answer] += 1
                if answer == "201":
                    purchase = response.json()
                else:
                    self.stop.wait(0.5)  # a client's retry pause
            if purchase is None:
                continue
            with self.lock:
                self.load.accepted += 1
                self.load.ok_times.append(time.monotonic())
                self.scope.add(purchase["id"], email)
            for _ in range(20):  # the buyer pays (the sandbox's checkout); retried while it is unreachable
                try:
                    self.stack.sandbox.confirm(purchase["payment"]["provider_payment_id"], SUCCESS_CARD)
                    with self.lock:
                        self.load.paid += 1
                    break
                except Exception:
                    self.stop.wait(0.5)

    # --- faults -------------------------------------------------------------------------------

    def healthy(self, target: str) -> bool:
        try:
            if target == "redis":
                return bool(redis.Redis.from_url(self.redis.url, socket_timeout=1).ping())
            if target == "postgres":
                with psycopg.connect(self.postgres._server.get_uri(), connect_timeout=2) as conn:
                    return conn.execute("SELECT 1").fetchone() is not None
            url = {
                "subscriptions": f"{self.stack.subscriptions_url}/healthz",
                "billing": f"{self.stack.billing_url}/healthz",
                "worker": f"{self.stack.worker_url}/healthz",
            }[target]
            return httpx.get(url, timeout=2).status_code == 200
        except Exception:
            return False

    def kill_and_restart(self, target: str) -> Fault:
        fault = Fault(target, time.monotonic())
        if target in ("subscriptions", "billing", "worker"):
            process = self.stack.processes[target]
            process.kill()
            self.stack.start(target)
        elif target == "redis":
            assert self.redis.process is not None
            self.redis.process.kill()
            self.redis.process.wait(10)
            self.redis.start()
        else:
            self.restart_postgres()
        while not self.healthy(target) and time.monotonic() - fault.at < 120:
            time.sleep(0.1)
        fault.restart_s = time.monotonic() - fault.at
        return fault

    def restart_postgres(self) -> None:
        """kill -9 the postmaster; once it and its backends are gone (or zombies: nothing reaps them in
        some containers, and postgres would take a zombie's pid file for a live server), start it again."""
        server = self.postgres._server
        postmaster = psutil.Process(server.get_pid())
        family = [postmaster, *postmaster.children()]
        postmaster.kill()
        deadline = time.monotonic() + 30
        while not all(gone_or_zombie(p) for p in family) and time.monotonic() < deadline:
            time.sleep(0.05)
        for lock in (server.pgdata / "postmaster.pid", *server.pgdata.glob(".s.PGSQL.*.lock")):
            lock.unlink(missing_ok=True)
        server.ensure_postgres_running()

    def run(self, seconds: float, interval: float, buyers: int, targets: list[str]) -> None:
        threads = [threading.Thread(target=self.buyer_loop, daemon=True) for _ in range(buyers)]
        for thread in threads:
            thread.start()
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.stop.wait(interval * self.random.uniform(0.5, 1.5))
            if time.monotonic() >= end:
                break
            fault = self.kill_and_restart(self.random.choice(targets))
            self.faults.append(fault)
            print(f"  {fault.target:<13} killed, back in {fault.restart_s:.1f}s", flush=True)
        self.stop.set()
        for thread in threads:
            thread.join(90)
        for fault in self.faults:
            after = [t for t in self.load.ok_times if t > fault.at]
            fault.next_ok_s = (min(after) - fault.at) if after else float("nan")

    def close(self) -> None:
        self.stack.stop_all()
        self.redis.stop()
        self.postgres.stop()


def gone_or_zombie(process: psutil.Process) -> bool:
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def summary(values: list[float]) -> str:
    values = [v for v in values if v == v]
    if not values:
        return "-"
    return f"median {statistics.median(values):.1f}s, max {max(values):.1f}s"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=600.0, help="how long faults are injected")
    parser.add_argument("--interval", type=float, default=5.0, help="mean seconds between faults")
    parser.add_argument("--buyers", type=int, default=2, help="concurrent buyers")
    parser.add_argument("--settle", type=float, default=240.0, help="seconds allowed to finish afterwards")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--targets", default=",".join(TARGETS), help="what may be killed (comma-separated)")
    args = parser.parse_args()
    ensure_runtime_dir()
    home = Path(tempfile.mkdtemp(prefix="kb-soak-"))
    soak = Soak(home, args.seed)
    try:
        soak.start()
        print(
            f"soak: {args.seconds:.0f}s, a kill -9 every ~{args.interval:.0f}s, {args.buyers} buyers ({home})"
        )
        started = time.monotonic()
        soak.run(args.seconds, args.interval, args.buyers, args.targets.split(","))
        print(f"load stopped after {time.monotonic() - started:.0f}s; settling (at most {args.settle:.0f}s)")
        settle_from = time.monotonic()
        records = Records(soak.engine, soak.stack.sandbox, soak.stack.mailbox_url)
        report = wait_for_invariants(records, soak.scope, timeout=args.settle, interval=2.0)
        settled = time.monotonic() - settle_from
    finally:
        soak.close()

    print("\nfaults injected")
    print(f"{'target':<14}{'count':>6}  {'restart (kill → healthy)':<30}{'next purchase accepted':<30}")
    for target in TARGETS:
        mine = [f for f in soak.faults if f.target == target]
        print(
            f"{target:<14}{len(mine):>6}  {summary([f.restart_s for f in mine]):<30}"
            f"{summary([f.next_ok_s for f in mine]):<30}"
        )
    load = soak.load
    print("\noperations")
    print(
        f"purchases attempted {load.attempted}, accepted (201) {load.accepted}, paid at YooKassa {load.paid}"
    )
    print(f"provider payments checked {report.checked_payments}")
    print(
        "answers seen by buyers (retries included): "
        + ", ".join(f"{k}: {v}" for k, v in sorted(load.answers.items()))
    )
    print(f"\ninvariants (all final {settled:.0f}s after the load stopped)")
    print(report.table())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
