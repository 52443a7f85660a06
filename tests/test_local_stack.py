"""A newcomer's `kinobill run`: everything starts, serves plans with auth, and stops on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import psutil
import pytest
import redis

from kinobill.events import CHARGE_COMMANDS, PAYMENT_RESULTS
from kinobill.stack import Ports
from support import wait_until


@pytest.mark.slow
def test_kinobill_run_serves_plans_and_stops_cleanly(tmp_path: Path):
    home = Path(os.environ.get("TMPDIR", "/tmp")) / f"kbrun-{uuid.uuid4().hex[:8]}"
    ports = Ports.free()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update({"KINOBILL_HOME": str(home), **ports.environment()})
    env.pop("YOOKASSA_API_URL", None)
    kinobill = [sys.executable, "-m", "kinobill.cli"]
    output = open(tmp_path / "run.log", "wb")  # noqa: SIM115
    run = subprocess.Popen([*kinobill, "run"], env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        wait_until(
            lambda: b"Kinobill is running" in (tmp_path / "run.log").read_bytes(),
            timeout=120,
            message="the start-up banner",
        )
        banner = (tmp_path / "run.log").read_text()
        assert f"http://127.0.0.1:{ports.subscriptions}" in banner

        user = str(uuid.uuid4())
        token = subprocess.run(
            [*kinobill, "token", "--user", user, "--email", "newcomer@example.com"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        plans = httpx.get(
            f"http://127.0.0.1:{ports.subscriptions}/api/v1/plans",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert plans.status_code == 200, plans.text
        assert {p["code"] for p in plans.json()["items"]} >= {"basic", "premium"}
        assert httpx.get(f"http://127.0.0.1:{ports.mailbox}/api/messages").json()["items"] == []
        assert httpx.get(f"http://127.0.0.1:{ports.sandbox}/sandbox/health").status_code == 200
        assert httpx.get(f"http://127.0.0.1:{ports.admin}/healthz").status_code == 200
        assert "login: admin / " in banner
        # Another shell, no DATABASE_URL or REDIS_URL: commands find the running stack through KINOBILL_HOME.
        bare = {k: v for k, v in env.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        shown = subprocess.run([*kinobill, "clock", "--show"], env=bare, capture_output=True, text=True)
        assert shown.returncode == 0 and "test clock:" in shown.stdout, shown.stderr
        users = subprocess.run(
            [
                *kinobill,
                "admin",
                "shell",
                "-c",
                "from django.contrib.auth.models import User; print(User.objects.count())",
            ],
            env=bare,
            capture_output=True,
            text=True,
        )
        assert users.returncode == 0 and users.stdout.strip().splitlines()[-1] == "1", users.stderr

        family = psutil.Process(run.pid).children(recursive=True)
        assert len(family) >= 5
        _each_role_has_its_redis_user(family, home)
        postmaster = int((home / "postgres" / "postmaster.pid").read_text().split()[0])

        run.send_signal(signal.SIGTERM)
        assert run.wait(60) == 0
        _gone, alive = psutil.wait_procs(family, timeout=10)
        assert alive == [], f"left behind: {[p.pid for p in alive]}"
        wait_until(lambda: not psutil.pid_exists(postmaster), timeout=20, message="postgres to stop")
    finally:
        if run.poll() is None:
            run.kill()
        output.close()


def _each_role_has_its_redis_user(family: list[psutil.Process], home: Path) -> None:
    """Each process connects to Redis as its role's ACL user; what an API or the admin holds cannot write
    a stream (a forged payment result or charge command), the workers' can; nobody connects without one."""
    held: dict[str, str] = {}
    for process in family:
        url = process.environ().get("REDIS_URL")
        if url:
            held[redis.connection.parse_url(url)["username"]] = url
    assert set(held) == {"worker", "subscriptions", "billing", "admin"}, held.keys()
    for user, url in held.items():
        client = redis.Redis.from_url(url)
        try:
            assert client.ping()
            if user == "worker":
                client.xadd("kinobill:acl-probe", {"probe": "1"})
                continue
            for stream in (PAYMENT_RESULTS, CHARGE_COMMANDS):
                with pytest.raises(redis.exceptions.NoPermissionError):
                    client.xadd(stream, {"payload": "{}"})
        finally:
            client.close()
    with pytest.raises(redis.exceptions.AuthenticationError):
        redis.Redis(unix_socket_path=str(home / "redis" / "redis.sock")).ping()
