"""The admin under test: Django set up in this process over the session's real Postgres, talking to the
session's real Subscriptions and Billing (the `stack`: worker, mailbox, YooKassa sandbox too) with a service
token; staff users of each role; real purchases (the money suite's `plan` and `buyer`); SQL arrangers."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from admin_staff import client_for, make_user

from support import free_port

ADMIN_ENV_KEYS = (
    "DATABASE_URL",
    "SUBSCRIPTIONS_URL",
    "BILLING_URL",
    "ADMIN_SERVICE_TOKEN",
    "KINOBILL_ENV",
    "KINOBILL_TEST_CLOCK",
    "REDIS_URL",
)


@pytest.fixture(scope="session")
def admin_env(migrated_database: str, redis_url: str, stack, tokens) -> dict[str, str]:
    """What an admin process needs: the session's real services, a service token, the shared test clock."""
    return {
        "DATABASE_URL": migrated_database,
        "SUBSCRIPTIONS_URL": stack.subscriptions_url,
        "BILLING_URL": stack.billing_url,
        "ADMIN_SERVICE_TOKEN": tokens.service("admin"),
        "KINOBILL_ENV": "test",
        "KINOBILL_TEST_CLOCK": "1",
        "REDIS_URL": redis_url,
    }


@pytest.fixture()
def test_clock(redis_url: str) -> Iterator:
    """The services' shared test clock (the admin reads it too); back to real time afterwards."""
    import redis

    from kinobill.clock import TestClock

    clock = TestClock(redis.Redis.from_url(redis_url), refresh=0)
    yield clock
    clock.reset()


@pytest.fixture(scope="session")
def django_ready(admin_env: dict[str, str]) -> Iterator[None]:
    """Django configured from admin_env; the process environment is restored right after setup so that
    other suites' fixtures copying os.environ never inherit the admin's values."""
    saved = {key: os.environ.get(key) for key in (*ADMIN_ENV_KEYS, "DJANGO_SETTINGS_MODULE")}
    os.environ.update(admin_env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "kinobill_admin.settings"
    try:
        from kinobill_admin.manage import setup

        setup()
        from django.conf import settings

        assert settings.DATABASES["default"]["NAME"]  # settings are read now, once
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    from django.core.management import call_command
    from django.test.utils import setup_test_environment, teardown_test_environment

    setup_test_environment()  # responses carry their template context
    call_command("migrate", interactive=False, verbosity=0)
    yield
    teardown_test_environment()


@pytest.fixture()
def support_client(django_ready):
    return client_for(make_user("support"))


@pytest.fixture()
def operator_user(django_ready):
    return make_user("operator")


@pytest.fixture()
def operator_client(operator_user):
    return client_for(operator_user)


@pytest.fixture()
def nobody_client(django_ready):
    return client_for(make_user(None))


@pytest.fixture(scope="session")
def db_engine(migrated_database: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(migrated_database, pool_size=2, max_overflow=2)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def admin_process(django_ready, admin_env: dict[str, str], service_env: dict[str, str], infra_dir):
    """`python -m kinobill_admin` as a real process on a free port (migrates, ensures roles, serves)."""
    import sys

    from support import ServiceProcess

    port = free_port()
    proc = ServiceProcess(
        "admin",
        [sys.executable, "-m", "kinobill_admin", "--port", str(port)],
        {**service_env, **admin_env},
        infra_dir,
        f"http://127.0.0.1:{port}/healthz",
    ).start(timeout=60)
    proc.base_url = f"http://127.0.0.1:{port}"  # type: ignore[attr-defined]
    yield proc
    proc.stop()
