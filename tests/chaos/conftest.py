"""The fault suite's own stack: the same services on their own Redis, which the scenarios flush, stop and
restart without disturbing the session's stack, and on a database of their own: the session's workers
relay, charge and reconcile every row of the database they serve, so on a shared one they would deliver what a
scenario has just made Redis lose. The invariants are scoped to each scenario's rows all the same."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from chaos_support import ChaosRedis
from invariants import Records, Scope

from shop import create_plan
from support import Stack, private_database


@pytest.fixture(scope="session")
def chaos_redis(infra_dir: Path) -> Iterator[ChaosRedis]:
    server = ChaosRedis(infra_dir / "chaos-redis")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def chaos_database(migrated_database: str) -> Iterator[str]:
    with private_database(migrated_database, "kb_chaos") as url:
        yield url


@pytest.fixture(scope="session")
def chaos_engine(chaos_database: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(chaos_database)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def db(chaos_engine: sa.Engine) -> sa.Engine:
    """The scenarios read the chaos stack's database."""
    return chaos_engine


@pytest.fixture(scope="session")
def chaos_stack(
    service_env: dict[str, str], infra_dir: Path, chaos_redis: ChaosRedis, chaos_database: str
) -> Iterator[Stack]:
    log_dir = infra_dir / "chaos"
    log_dir.mkdir(exist_ok=True)
    env = {
        **service_env,
        "DATABASE_URL": chaos_database,
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
