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


def test_a_wildcard_proxy_list_is_refused():
    from kinobill_admin.__main__ import trusted_proxies

    assert trusted_proxies("") == ""
    assert trusted_proxies(" 10.0.0.0/8, 127.0.0.1 ") == "10.0.0.0/8,127.0.0.1"
    with pytest.raises(SystemExit, match="forge"):
        trusted_proxies("10.0.0.1,*")


def test_russian_by_default_english_on_request_times_in_moscow(support_client, django_ready):
    from django.conf import settings
    from django.test import Client

    assert (settings.LANGUAGE_CODE, settings.USE_I18N, settings.TIME_ZONE) == ("ru", True, "Europe/Moscow")
    russian = Client().get("/login/")
    assert '<html lang="ru"' in russian.content.decode() and "Пароль" in russian.content.decode()
    assert "Password" in Client(headers={"Accept-Language": "en"}).get("/login/").content.decode()
    home = support_client.get("/")
    assert "Europe/Moscow" in home.content.decode()  # the zone is named next to the times


def test_every_page_carries_a_content_security_policy(support_client, django_ready):
    from django.test import Client

    pages = ["/", "/kinobill_admin/payment/", "/kinobill_admin/subscription/"]
    for response in [Client().get("/login/"), *(support_client.get(page) for page in pages)]:
        policy = response["Content-Security-Policy"]
        assert "default-src 'self'" in policy and "script-src 'self'" in policy
        assert "frame-ancestors 'none'" in policy and "unsafe-eval" not in policy


def test_repeated_failed_logins_lock_the_account_and_the_address(django_ready):
    """Five wrong passwords, then even the right one is refused (429) for the lockout period."""
    import uuid

    from axes.utils import reset
    from django.contrib.auth.models import User
    from django.test import Client

    name, password = f"victim-{uuid.uuid4().hex[:6]}", f"pw-{uuid.uuid4().hex}"
    User.objects.create_user(name, password=password, is_staff=True)
    attacker = Client(REMOTE_ADDR="10.66.0.1")
    try:
        for _ in range(4):
            wrong = attacker.post("/login/", {"username": name, "password": "guess", "next": "/"})
            assert wrong.status_code == 200  # the form again, with its error
        fifth = attacker.post("/login/", {"username": name, "password": "guess", "next": "/"})
        assert fifth.status_code == 429  # the fifth failure locks
        locked = attacker.post("/login/", {"username": name, "password": password, "next": "/"})
        assert locked.status_code == 429 and "_auth_user_id" not in attacker.session
        # the same account from another address is locked too (the lock is on the username)...
        elsewhere = Client(REMOTE_ADDR="10.66.0.2").post("/login/", {"username": name, "password": password})
        assert elsewhere.status_code == 429
    finally:
        reset(username=name)
        reset(ip="10.66.0.1")
        reset(ip="10.66.0.2")
    # ...until the lockout is lifted (an operator runs `kinobill admin axes_reset_username NAME`)
    ok = Client(REMOTE_ADDR="10.66.0.1").post("/login/", {"username": name, "password": password})
    assert ok.status_code == 302


def test_requests_reuse_pooled_connections_and_a_dead_one_is_replaced(django_ready, db_engine):
    """Each request gives its connection back to the process's pool (no new server process per page);
    one the server dropped, as in a failover, is found dead when taken and replaced."""
    import sqlalchemy as sa
    from django.db import connection

    def one_request() -> int:  # what a request does: take a connection, query, give it back
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            pid = cursor.fetchone()[0]
        connection.close()
        return pid

    connection.close()
    seen = [one_request() for _ in range(12)]
    assert len(set(seen)) < len(seen)  # connections were reused, not opened per request
    with db_engine.connect() as conn:
        conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM unnest(:pids) AS pid"), {"pids": seen})
    after = [one_request() for _ in range(12)]
    assert not set(after) & set(seen)
