"""Helpers of the fault scenarios: the chaos Redis and its faults, buyers, the worker's metrics."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import redis
from invariants import Scope

from kinobill.embedded import EmbeddedRedis
from shop import SUCCESS_CARD, Buyer
from support import Stack, wait_until


class ChaosRedis:
    """The chaos stack's Redis, with the faults the scenarios inject."""

    def __init__(self, directory: Path) -> None:
        self.server = EmbeddedRedis(directory)

    @property
    def url(self) -> str:
        return self.server.url

    def start(self) -> None:
        self.server.start()

    def stop(self) -> None:
        self.server.stop()

    def kill(self) -> None:
        if self.server.process is not None:
            self.server.process.kill()
            self.server.process.wait(10)
            self.server.process = None

    def wipe(self) -> None:
        """Forget the data on disk: the next start is a Redis restarted without its volume."""
        for path in self.server.directory.iterdir():
            if path.name.startswith("appendonly") or path.suffix == ".rdb":
                shutil.rmtree(path) if path.is_dir() else path.unlink()

    def flushall(self) -> None:
        client = redis.Redis.from_url(self.url)
        client.flushall()
        client.close()


@contextmanager
def new_buyer(stack: Stack, tokens: Any, scope: Scope) -> Iterator[Buyer]:
    user_id = uuid.uuid4()
    email = f"{user_id.hex[:12]}@example.com"
    scope.emails.add(email)
    headers = tokens.user_headers(user_id, email)
    with (
        httpx.Client(base_url=stack.subscriptions_url, headers=headers, timeout=30) as subs,
        httpx.Client(base_url=stack.billing_url, headers=headers, timeout=30) as billing,
    ):
        yield Buyer(user_id, email, subs, billing)


def buy_and_pay(stack: Stack, tokens: Any, scope: Scope, plan: dict, timeout: float = 60.0) -> dict:
    """A new buyer buys `plan` and pays with a good card; returns the subscription once active."""
    with new_buyer(stack, tokens, scope) as buyer:
        return pay_for(stack, buyer, scope, plan, timeout)[1]


def pay_for(stack: Stack, buyer: Buyer, scope: Scope, plan: dict, timeout: float = 60.0) -> tuple[dict, dict]:
    """`buyer` buys `plan` and pays with a good card: the purchase's answer (with its payment) and the
    subscription once active."""
    response = buyer.buy(plan["id"])
    assert response.status_code == 201, response.text
    purchase = response.json()
    scope.add(purchase["id"])
    stack.sandbox.confirm(purchase["payment"]["provider_payment_id"], SUCCESS_CARD)
    active = wait_until(
        lambda: (s := buyer.subscription(purchase["id"]))["status"] == "active" and s,
        timeout=timeout,
        message=f"purchase {purchase['id']} to activate",
    )
    return purchase, active


def worker_metric(stack: Stack, name: str) -> float:
    """The sum of a metric's samples on the worker's /metrics."""
    text = httpx.get(f"{stack.worker_url}/metrics", timeout=5).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name) and not line.startswith("#")
    )
