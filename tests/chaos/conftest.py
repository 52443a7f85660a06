"""The fault suite's own stack: the same services on their own Redis, which the scenarios flush, stop and
restart without disturbing the session's stack (the database is shared; the invariants are scoped)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from chaos_support import ChaosRedis
from invariants import Records, Scope

from shop import create_plan
from support import Stack


@pytest.fixture(scope="session")
def chaos_redis(infra_dir: Path) -> Iterator[ChaosRedis]:
    server = ChaosRedis(infra_dir / "chaos-redis")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def chaos_stack(service_env: dict[str, str], infra_dir: Path, chaos_redis: ChaosRedis) -> Iterator[Stack]:
    log_dir = infra_dir / "chaos"
    log_dir.mkdir(exist_ok=True)
    env = {
        **service_env,
        "REDIS_URL": chaos_redis.url,
        "KINOBILL_CONSUMER_STALL_SECONDS": "20",
        "KINOBILL_BACKSTOP_INTERVAL_SECONDS": "1",
    }
    stack = Stack(env, log_dir)
    try:
        for name in ("mailbox", "billing", "subscriptions", "worker"):
            stack.start(name)
        yield stack
    finally:
        stack.stop_all()


@pytest.fixture(scope="session")
def chaos_plan(chaos_stack: Stack, tokens) -> dict:
    return create_plan(chaos_stack, tokens, name="Chaos Plan")


@pytest.fixture()
def scope() -> Scope:
    return Scope()


@pytest.fixture()
def records(db: sa.Engine, chaos_stack: Stack) -> Records:
    return Records(db, chaos_stack.sandbox, chaos_stack.mailbox_url)
