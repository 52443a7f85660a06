"""Settings from the environment: the services' DATABASE_URL form, and production refusing dev defaults."""

from __future__ import annotations

import subprocess
import sys

import pytest


def test_database_url_forms(django_ready):
    # imported here: importing the settings module before django_ready would freeze an empty environment
    from kinobill_admin.settings import database_from_url

    socket = database_from_url("postgresql+psycopg://postgres:@/postgres?host=/tmp/kbt-x/pg")
    assert (socket["HOST"], socket["NAME"], socket["USER"], socket["PORT"]) == (
        "/tmp/kbt-x/pg",
        "postgres",
        "postgres",
        "",
    )
    tcp = database_from_url("postgresql+psycopg://kb:p%40ss@db.internal:6432/kinobill?sslmode=require")
    assert (tcp["HOST"], tcp["PORT"], tcp["PASSWORD"], tcp["NAME"]) == (
        "db.internal",
        "6432",
        "p@ss",
        "kinobill",
    )
    assert tcp["OPTIONS"]["sslmode"] == "require"
    assert tcp["OPTIONS"]["options"] == "-c statement_timeout=30000 -c search_path=admin,public"
    assert tcp["OPTIONS"]["connect_timeout"] == "3" and tcp["OPTIONS"]["keepalives"] == "1"


def test_django_follows_a_host_list_to_the_writable_host(django_ready, migrated_database):
    from django.db.backends.postgresql.base import DatabaseWrapper

    from kinobill_admin.settings import database_from_url
    from support import behind_a_dead_host

    for url in behind_a_dead_host(migrated_database):
        settings_dict = database_from_url(url)
        assert settings_dict["OPTIONS"]["target_session_attrs"] == "read-write"
        with DatabaseWrapper(settings_dict).get_new_connection(
            DatabaseWrapper(settings_dict).get_connection_params()
        ) as conn:
            assert conn.execute("SHOW search_path").fetchone() == ("admin,public",)
            assert conn.execute("SELECT NOT pg_is_in_recovery()").fetchone() == (True,)


def run_check(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    code = "from kinobill_admin.manage import main; import sys; sys.exit(main(['check', '--deploy']))"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)


def test_production_requires_a_secret_key_and_passes_the_deploy_check():
    base = {
        "PATH": "/usr/bin:/bin",
        "KINOBILL_ENV": "production",
        "DATABASE_URL": "postgresql://x@127.0.0.1/x",
    }
    missing = run_check(base)
    assert missing.returncode != 0 and "DJANGO_SECRET_KEY is required" in missing.stderr
    ok = run_check({**base, "DJANGO_SECRET_KEY": "k" * 60, "ALLOWED_HOSTS": "admin.kinobill.example"})
    assert ok.returncode == 0, ok.stderr


@pytest.mark.parametrize("value", ["1", "true"])
def test_production_refuses_the_test_clock(value):
    refused = run_check(
        {
            "PATH": "/usr/bin:/bin",
            "KINOBILL_ENV": "production",
            "DATABASE_URL": "postgresql://x@127.0.0.1/x",
            "DJANGO_SECRET_KEY": "k" * 60,
            "ALLOWED_HOSTS": "admin.kinobill.example",
            "KINOBILL_TEST_CLOCK": value,
            "REDIS_URL": "redis://127.0.0.1:1/0",
        }
    )
    assert refused.returncode != 0 and "KINOBILL_TEST_CLOCK is refused" in refused.stderr
