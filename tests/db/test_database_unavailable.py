"""A database that cannot serve (read-only standby, nothing listening) reaches clients as 503 with
Retry-After and the JSON error shape, on a connection that stays open, logged as one line; /readyz says
not ready. Real service processes, real Postgres: the read-only one is the session's database reached
with ``default_transaction_read_only=on`` (what a demoted leader answers), the down one a dead port."""

from __future__ import annotations

import http.client
import json
import logging
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
import redis
import sqlalchemy as sa

from kinobill.database_url import DatabaseUrl
from kinobill.outbox import OutboxRelay
from kinobill.subscriptions import tables
from kinobill.transient import is_transient
from kinobill.unavailable import log_loop_failure
from support import ServiceProcess, free_port, kinobill_command, wait_until


def read_only_url(url: str) -> str:
    options = quote("-c default_transaction_read_only=on")
    return f"{url}{'&' if '?' in url else '?'}options={options}"


def dead_url(url: str) -> str:
    real = DatabaseUrl.parse(url)
    return f"postgresql+psycopg://{real.user}@127.0.0.1:{free_port()}/{real.dbname}"


def test_real_database_errors_are_told_transient_or_bugs(migrated_database: str) -> None:
    with pytest.raises(sa.exc.OperationalError) as refused:
        sa.create_engine(dead_url(migrated_database)).connect()
    assert is_transient(refused.value)

    engine = sa.create_engine(read_only_url(migrated_database), poolclass=sa.pool.NullPool)
    with engine.connect() as conn, pytest.raises(sa.exc.DBAPIError) as read_only:
        conn.execute(sa.text("CREATE TEMP TABLE t (x int)"))
    assert isinstance(read_only.value.orig, psycopg.errors.ReadOnlySqlTransaction)
    assert is_transient(read_only.value)

    with engine.connect() as conn, pytest.raises(sa.exc.DBAPIError) as bug:
        conn.execute(sa.text("SELECT * FROM no_such_table"))
    assert not is_transient(bug.value)
    with engine.connect() as conn, pytest.raises(sa.exc.DBAPIError) as bad_value:
        conn.execute(sa.text("SELECT 1/0"))
    assert not is_transient(bad_value.value)
    with engine.connect() as conn, pytest.raises(sa.exc.DBAPIError) as timed_out:
        conn.execute(sa.text("SET statement_timeout = 50"))
        conn.execute(sa.text("SELECT pg_sleep(1)"))
    assert is_transient(timed_out.value)


@pytest.fixture(params=["read-only", "down"])
def broken_subscriptions(
    request: pytest.FixtureRequest, stack, infra_dir: Path
) -> Iterator[tuple[str, ServiceProcess, int]]:
    """Subscriptions (the stack's Redis, sandbox, Billing) on a database that cannot take writes."""
    url = stack.env["DATABASE_URL"]
    broken = read_only_url(url) if request.param == "read-only" else dead_url(url)
    port = free_port()
    proc = ServiceProcess(
        f"subscriptions-{request.param}",
        kinobill_command("serve", "subscriptions", "--port", str(port)),
        {**stack.env, "DATABASE_URL": broken, "DB_CONNECT_TIMEOUT": "1"},
        infra_dir,
        f"http://127.0.0.1:{port}/healthz",
    ).start()
    yield request.param, proc, port
    proc.stop()


def test_an_unavailable_database_is_503_with_retry_after_on_an_open_connection(
    broken_subscriptions, stack, tokens, plan: dict
) -> None:
    kind, proc, port = broken_subscriptions
    user = uuid.uuid4()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    user_headers = {
        **tokens.user_headers(user, f"{user.hex[:8]}@example.com"),
        "Content-Type": "application/json",
    }

    def call(method: str, path: str, body: dict | None = None, headers: dict | None = None):
        conn.request(method, path, body=json.dumps(body) if body else None, headers=headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()

    # readiness: not ready, saying why
    status, _, body = call("GET", "/readyz")
    assert status == 503, body
    expected = "error: read-only" if kind == "read-only" else "error: OperationalError"
    assert json.loads(body)["checks"]["database"] == expected

    # a purchase: 503 + Retry-After + the error shape, then the SAME connection serves the next request
    for _ in range(2):
        status, headers, body = call(
            "POST",
            "/api/v1/subscriptions",
            {"plan_id": plan["id"], "period": "month"},
            {**user_headers, "Idempotency-Key": uuid.uuid4().hex},
        )
        assert status == 503, body
        assert int(headers["retry-after"]) > 0
        assert json.loads(body)["error"]["code"] == "database_unavailable"
        assert headers.get("connection", "").lower() != "close"

    # Auth's access endpoint (the async psycopg pool) follows the same rule
    status, headers, body = call(
        "GET", f"/internal/v1/users/{user}/subscriptions/active", headers=tokens.service_headers("auth")
    )
    if kind == "down":
        assert status == 503, body
        assert int(headers["retry-after"]) > 0
        assert json.loads(body)["error"]["code"] == "database_unavailable"
    else:  # reads still work on a standby
        assert status == 200, body
    conn.close()

    log = proc.log_path.read_text(errors="replace")
    assert "Traceback" not in log, proc.log_tail(60)
    assert log.count("database unavailable, answered 503") >= 2


def test_a_worker_loop_logs_an_outage_as_one_line_per_try_and_a_bug_with_its_traceback(
    migrated_database: str, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    dead = sa.create_engine(dead_url(migrated_database), connect_args={"connect_timeout": 1})
    relay = OutboxRelay(dead, tables.outbox, redis.Redis.from_url(redis_url), now=lambda: datetime.now(UTC))
    stop = threading.Event()
    caplog.set_level(logging.WARNING, logger="kinobill")
    worker = threading.Thread(target=relay.run, args=(stop,), daemon=True)
    worker.start()
    try:
        tries = wait_until(
            lambda: [r for r in caplog.records if r.name == "kinobill.outbox"][:2] or None,
            message="two failed relay turns against a dead database",
        )
    finally:
        stop.set()
        worker.join(timeout=10)
    assert all(r.levelno == logging.WARNING and r.exc_info is None for r in tries)
    assert "infrastructure unavailable (OperationalError:" in tries[0].getMessage()

    caplog.clear()
    log_loop_failure(logging.getLogger("kinobill.workers"), "periodic step failed", ValueError("a bug"))
    (bug,) = caplog.records
    assert bug.levelno == logging.ERROR and bug.exc_info is not None and bug.exc_info[1].args == ("a bug",)
