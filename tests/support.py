"""Helpers for the tests: real service processes, waiting on conditions with a deadline, private databases."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import httpx
import sqlalchemy as sa

from yookassa_sandbox.testing import free_port as free_port  # re-exported: the one free-port helper
from yookassa_sandbox.testing import start_sandbox

T = TypeVar("T")


def wait_until(
    condition: Callable[[], T], *, timeout: float = 20.0, interval: float = 0.05, message: str = "condition"
) -> T:
    """Poll `condition` until it returns something truthy; fail with `message` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            value = condition()
            if value:
                return value
        except Exception as exc:
            last_error = exc
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout}s waiting for {message}"
                + (f" (last error: {last_error!r})" if last_error else "")
            )
        time.sleep(interval)


class ServiceProcess:
    """A real `kinobill` process (or any command) with its output in a log file."""

    def __init__(
        self, name: str, args: list[str], env: dict[str, str], log_dir: Path, health_url: str | None = None
    ) -> None:
        self.name, self.args, self.env, self.health_url = name, args, env, health_url
        self.log_path = log_dir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> ServiceProcess:
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it
        self.process = subprocess.Popen(
            self.args, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        if self.health_url:

            def healthy() -> bool:
                assert self.process is not None
                if self.process.poll() is not None:
                    raise RuntimeError(f"{self.name} exited: {self.log_tail()}")
                return httpx.get(self.health_url, timeout=1).status_code == 200

            wait_until(healthy, timeout=timeout, message=f"{self.name} to be healthy")
        return self

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        return self.process.returncode

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def wait_exit(self, timeout: float = 30.0) -> int:
        assert self.process is not None
        return self.process.wait(timeout)


def kinobill_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "kinobill.cli", *args]


def behind_a_dead_host(database_url: str) -> list[str]:
    """The same database behind a first host where nothing listens, as the two multi-host URL forms
    (`host=h1,h2&port=p1,p2` and repeated `host=h:p`): a client that does not follow the list fails."""
    from kinobill.database_url import DatabaseUrl

    real = DatabaseUrl.parse(database_url)
    dead = f"127.0.0.1:{free_port()}"
    host, port = real.hosts[0], real.ports[0]
    real_host = f"{host}:{port}" if port else host
    auth = f"{real.user}:{real.password}@" if real.password else f"{real.user}@"
    lists = (
        f"postgresql+psycopg://{auth}/{real.dbname}?host=127.0.0.1,{host}"
        f"&port={dead.split(':')[1]},{port or ''}&target_session_attrs=read-write"
    )
    repeated = (
        f"postgresql+psycopg://{auth}/{real.dbname}?host={dead}&host={real_host}"
        "&target_session_attrs=read-write"
    )
    return [lists, repeated]


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


@contextmanager
def private_database(server_url: str, prefix: str) -> Iterator[str]:
    """A database of its own on the session's server, migrated, dropped afterwards: for tests whose
    passes take every row there is (a scheduler pass), so only the rows they insert may be there."""
    from kinobill import migrations

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    server = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.make_url(server_url).set(database=name).render_as_string(hide_password=False)
    try:
        migrations.upgrade(url)
        yield url
    finally:
        with server.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        server.dispose()
