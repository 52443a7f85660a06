"""KINOBILL_ENV=production refuses development settings at startup, naming each one; `kinobill token`
does not mint there; a service whose token keys are missing is not ready (instead of answering 500)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from support import ServiceProcess, kinobill_command
from yookassa_sandbox.testing import free_port


@pytest.fixture(scope="module")
def platform_keys(local_keys, tmp_path_factory) -> Path:
    """The public keys as the platform would mount them: not under KINOBILL_HOME/keys."""
    directory = tmp_path_factory.mktemp("platform-keys")
    for key in (local_keys.user_public, local_keys.service_public):
        shutil.copy(key, directory / key.name)
    return directory


@pytest.fixture()
def production_env(service_env, platform_keys, tmp_path) -> dict[str, str]:
    """A production configuration that is acceptable; each test spoils one setting."""
    env = {k: v for k, v in service_env.items() if k not in ("KINOBILL_TEST_CLOCK", "KINOBILL_CRASH_POINTS")}
    env.update(
        {
            "KINOBILL_ENV": "production",
            "KINOBILL_HOME": str(tmp_path / "home"),
            "YOOKASSA_SHOP_ID": "512345",
            "YOOKASSA_SECRET_KEY": "live_abcdef",
            "YOOKASSA_API_URL": "https://api.yookassa.ru/v3",
            "JWT_PUBLIC_KEY_FILE": str(platform_keys / "auth-public.pem"),
            "SERVICE_JWT_PUBLIC_KEY_FILE": str(platform_keys / "service-public.pem"),
        }
    )
    return env


UNSAFE = {
    "YOOKASSA_SHOP_ID": {"YOOKASSA_SHOP_ID": "100500"},
    "YOOKASSA_SECRET_KEY": {"YOOKASSA_SECRET_KEY": "test_kinobill_sandbox_key"},
    "YOOKASSA_API_URL": {"YOOKASSA_API_URL": "http://api.yookassa.ru/v3"},
    "SERVICE_JWT_PUBLIC_KEY": {"SERVICE_JWT_PUBLIC_KEY_FILE": None},
    "JWT_JWKS_URL": {"JWT_PUBLIC_KEY_FILE": None},
    "JWT_PUBLIC_KEY_FILE": {"JWT_PUBLIC_KEY_FILE": "/nonexistent/auth-public.pem"},
    "KINOBILL_TEST_CLOCK": {"KINOBILL_TEST_CLOCK": "1"},
    "KINOBILL_CRASH_POINTS": {"KINOBILL_CRASH_POINTS": "billing.after_provider_create"},
    "locally generated": {"LOCAL_KEYS": "1"},
}


@pytest.mark.parametrize("setting", sorted(UNSAFE))
def test_production_refuses_to_start_with_each_unsafe_setting(production_env, local_keys, setting):
    env = {k: v for k, v in {**production_env, **UNSAFE[setting]}.items() if v is not None}
    if env.pop("LOCAL_KEYS", None):
        env["KINOBILL_HOME"] = str(local_keys.directory.parent)
        env["SERVICE_JWT_PUBLIC_KEY_FILE"] = str(local_keys.service_public)
    done = subprocess.run(
        kinobill_command("serve", "billing", "--port", str(free_port())),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "KINOBILL_ENV=production refuses" in done.stderr, done.stderr[-2000:]
    assert setting in done.stderr


def test_an_acceptable_production_configuration_starts_and_is_ready(production_env, tmp_path):
    port = free_port()
    process = ServiceProcess(
        "billing-production",
        kinobill_command("serve", "billing", "--port", str(port)),
        production_env,
        tmp_path,
        f"http://127.0.0.1:{port}/readyz",
    ).start()
    try:
        assert httpx.get(f"http://127.0.0.1:{port}/readyz").json()["checks"]["configuration"] == "ok"
    finally:
        process.stop()


def test_kinobill_token_refuses_to_mint_in_production(production_env):
    done = subprocess.run(
        kinobill_command("token", "--service", "admin"),
        env=production_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert "refuses to mint" in done.stderr


def test_kinobill_run_refuses_production(production_env):
    done = subprocess.run(
        kinobill_command("run"), env=production_env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "demo" in done.stderr


def test_a_service_without_its_token_keys_is_not_ready(service_env, tmp_path):
    port = free_port()
    env = {k: v for k, v in service_env.items() if k != "SERVICE_JWT_PUBLIC_KEY_FILE"}
    process = ServiceProcess(
        "billing-unconfigured",
        kinobill_command("serve", "billing", "--port", str(port)),
        env,
        tmp_path,
        f"http://127.0.0.1:{port}/healthz",
    ).start()
    try:
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["configuration"].startswith("error")
    finally:
        process.stop()
