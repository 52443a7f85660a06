"""Database failover under load: the whole stack on a real three-node Patroni cluster.

The services, the worker and the admin connect through one multi-host DATABASE_URL
(``host=h1,h2,h3&port=p1,p2,p3&target_session_attrs=read-write``). Each fault runs under steady
purchases (with their YooKassa webhooks) and a burst of renewals (the test clock jumps a month as the
fault starts), and is followed by the checks: no answer was 500, every 503 carried Retry-After, no
connection was reset, no dead letters, every paid purchase is active and every renewal done, no e-mail
arrived twice, the access endpoint and an admin login work again; the outage each side saw is printed.

Needs Patroni, PostgreSQL 15 and etcd (scripts/install-patroni, run by scripts/test as root); skipped
with the reason otherwise.
"""

from __future__ import annotations

import functools
import json
import re
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import redis
import sqlalchemy as sa
from invariants import InvariantReport, Records, Scope, wait_for_invariants
from patroni_cluster import PASSWORD, PatroniCluster, unavailable_reason
from patroni_load import SteadyLoad

from kinobill.clock import TestClock
from kinobill.db import one_off_engine
from kinobill.embedded import EmbeddedRedis
from kinobill.subscriptions import tables as st
from shop import create_plan
from support import ServiceProcess, Stack, free_port, wait_until

pytestmark = [pytest.mark.chaos, pytest.mark.slow, pytest.mark.timeout(900)]

# App-visible outage bounds in seconds: generous, the figures are printed (docs/reliability.md)
OUTAGE_BOUND = {"restart": 30.0, "switchover": 30.0, "kill-postgres": 30.0, "kill-node": 50.0}
FIGURES: dict[str, dict[str, object]] = {}


@pytest.fixture(scope="module", autouse=True)
def outage_table(pytestconfig: pytest.Config) -> Iterator[None]:
    """After the scenarios: the figures of each fault, as docs/reliability.md reports them."""
    yield
    if not FIGURES:
        return
    write = pytestconfig.pluginmanager.get_plugin("terminalreporter").write_line
    write("\nfault            db down  app outage  purchases ok  503s  500s  resets  /readyz 503")
    for name, f in FIGURES.items():
        write(
            f"{name:<16} {f['database_down_s']:>6}s {f['app_outage_s']:>9}s {f['purchases_ok']:>13}"
            f" {f['answers_503']:>5} {f['answers_500']:>5} {f['resets']:>7} {f['not_ready']:>12}"
        )


@pytest.fixture(scope="module")
def patroni() -> Iterator[PatroniCluster]:
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    cluster = PatroniCluster.create()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def failover_stack(patroni: PatroniCluster, service_env: dict[str, str], infra_dir: Path):
    from kinobill import migrations

    migrations.upgrade(patroni.database_url)
    own_redis = EmbeddedRedis(infra_dir / "patroni-redis")
    log_dir = infra_dir / "patroni"
    log_dir.mkdir(exist_ok=True)
    env = {
        **service_env,
        "DATABASE_URL": patroni.database_url,
        "REDIS_URL": own_redis.start(),
        "KINOBILL_RENEWAL_POLICY": '{"interval": "1s"}',
        # the clock jumps a month while purchases are in flight: none of them is abandoned for it
        "KINOBILL_ABANDON_PURCHASE_AFTER_SECONDS": str(90 * 86400),
    }
    stack = Stack(env, log_dir)
    try:
        stack.sandbox.update_settings(webhook_retry_scale=0.02)  # a refused notification comes back soon
        for name in ("mailbox", "billing", "subscriptions", "worker"):
            stack.start(name)
        stack.admin = start_admin(stack, env, log_dir)
        yield stack
    finally:
        admin = getattr(stack, "admin", None)
        if admin is not None:
            admin[0].stop()
        stack.stop_all()
        own_redis.stop()


def start_admin(stack, env: dict[str, str], log_dir: Path) -> tuple[ServiceProcess, str, str]:
    """The admin on the cluster URL, and a superuser to log in with."""
    password = f"pw-{uuid.uuid4().hex}"
    admin_env = {
        **env,
        "DJANGO_SUPERUSER_USERNAME": "failover",
        "DJANGO_SUPERUSER_PASSWORD": password,
        "DJANGO_SUPERUSER_EMAIL": "failover@staff.example",
        "SUBSCRIPTIONS_URL": stack.subscriptions_url,
        "BILLING_URL": stack.billing_url,
    }
    port = free_port()
    proc = ServiceProcess(
        "admin",
        [sys.executable, "-m", "kinobill_admin", "--port", str(port)],
        admin_env,
        log_dir,
        f"http://127.0.0.1:{port}/healthz",
    ).start(timeout=90)
    created = subprocess.run(
        [sys.executable, "-m", "kinobill_admin.manage", "createsuperuser", "--noinput"],
        env=admin_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert created.returncode == 0, created.stderr
    return proc, f"http://127.0.0.1:{port}", password


def admin_login(stack) -> bool:
    """A real login (a session row written), the form found by following the admin's own redirect."""
    _, base, password = stack.admin
    with httpx.Client(base_url=base, timeout=10, follow_redirects=False) as client:
        login_path = client.get("/").headers.get("location", "/login/").split("?")[0]
        form = client.get(login_path)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
        if form.status_code != 200 or not token:
            return False
        answer = client.post(
            login_path,
            data={"username": "failover", "password": password, "csrfmiddlewaretoken": token.group(1)},
            headers={"Referer": f"{base}{login_path}"},
        )
        return answer.status_code == 302 and not answer.headers["location"].startswith(login_path)


@pytest.fixture(scope="module")
def failover_plan(failover_stack, tokens) -> dict:
    return create_plan(failover_stack, tokens, name="Failover Plan")


@pytest.fixture(scope="module")
def cluster_db(patroni: PatroniCluster) -> Iterator[sa.Engine]:
    engine = one_off_engine(patroni.database_url)
    yield engine
    engine.dispose()


def run_fault(
    name: str,
    inject: Callable[[], object],
    *,
    patroni: PatroniCluster,
    stack,
    tokens,
    plan: dict,
    db: sa.Engine,
) -> None:
    clock = TestClock(redis.Redis.from_url(stack.env["REDIS_URL"]), refresh=0)
    load = SteadyLoad(stack, tokens, plan["id"], patroni.database_url).start()
    try:
        wait_until(lambda: len(load.paid) >= 6, timeout=60, message="steady purchases before the fault")
        renewing = active_subscriptions(db)
        clock.advance(timedelta(days=32))  # every active subscription comes due: a burst of renewals
        fault = time.monotonic()
        inject()
        # keep the load on until purchases succeed again, and a little after
        wait_until(
            lambda: (
                any(
                    a.status == 201 and a.started > fault
                    for a in load.seen.since(fault)
                    if a.what == "purchase"
                )
                and load.seen.app_outage(fault) < time.monotonic() - fault - 3
            ),
            timeout=OUTAGE_BOUND[name] + 30,
            interval=0.2,
            message="purchases to succeed again",
        )
    finally:
        load.stop()

    seen = load.seen.since(fault)
    served = [a for a in seen if not a.what.startswith("readyz")]  # readiness may say 503 without Retry-After
    figures = {
        "database_down_s": round(load.seen.database_down(fault), 1),
        "app_outage_s": round(load.seen.app_outage(fault), 1),
        "purchases_ok": sum(1 for a in served if a.what == "purchase" and a.status == 201),
        "answers_503": sum(1 for a in served if a.status == 503),
        "answers_500": sum(1 for a in served if a.status >= 500 and a.status != 503),
        "resets": sum(1 for a in seen if a.status == 0),
        "timeouts": sum(1 for a in seen if a.status == -1),
        "not_ready": sum(1 for a in seen if a.what.startswith("readyz") and a.status == 503),
        "db_probes": sum(1 for t, _ in load.seen.writable if t >= fault),
    }
    FIGURES[name] = figures
    (stack.log_dir / f"{name}-observations.json").write_text(
        json.dumps(
            {
                "answers": [
                    [round(a.started - fault, 2), round(a.at - fault, 2), a.what, a.status] for a in seen
                ],
                "writable": [[round(t - fault, 2), ok] for t, ok in load.seen.writable if t >= fault],
            }
        )
    )
    print(f"\n{name}: {figures}", flush=True)

    # what clients saw: never a 500, every 503 says when to retry, no connection dropped
    assert figures["answers_500"] == 0, [a for a in served if a.status >= 500 and a.status != 503][:5]
    assert all(a.retry_after for a in served if a.status == 503)
    assert figures["resets"] == 0 and figures["timeouts"] == 0, [a for a in seen if a.status <= 0][:5]
    assert not load.abandoned, load.abandoned[:5]
    assert figures["app_outage_s"] < OUTAGE_BOUND[name], figures

    # afterwards: every paid purchase active, every renewal done, nothing dead-lettered, no e-mail twice
    paid_ids = [p.subscription_id for p in load.paid]
    try:
        wait_until(lambda: statuses_of(db, paid_ids) == {"active"}, timeout=90, message="paid = active")
    except AssertionError:
        raise AssertionError(f"paid purchases not active: {not_active(db, paid_ids)}") from None
    wait_until(lambda: all_renewed(db, renewing), timeout=90, message="every due subscription renewed")
    assert dead_letters(stack) == {}
    # the access endpoint and the admin answer on the new leader
    # the access endpoint's own pool drops the connections the old leader left it within a bound
    wait_until(
        lambda: access_answers(stack, tokens, load.access_user),
        timeout=30,
        message="the access endpoint answering on the new leader",
    )
    wait_until(lambda: admin_login(stack), timeout=15, message="an admin login on the new leader")
    report = invariants(stack, db, load)
    assert report.ok, report.table()
    assert duplicate_messages(stack) == {}  # renewal e-mails of earlier scenarios' subscriptions too


def access_answers(stack, tokens, user_id) -> bool:
    answer = httpx.get(
        f"{stack.subscriptions_url}/internal/v1/users/{user_id}/subscriptions/active",
        headers=tokens.service_headers("auth"),
        timeout=10,
    )
    assert answer.status_code in (200, 503), answer.text  # never anything but an answer or "retry"
    return answer.status_code == 200


def active_subscriptions(db: sa.Engine) -> list[uuid.UUID]:
    with db.connect() as conn:
        return list(
            conn.execute(
                sa.select(st.subscriptions.c.id).where(st.subscriptions.c.status == "active")
            ).scalars()
        )


def statuses_of(db: sa.Engine, ids: list[str]) -> set[str]:
    with db.connect() as conn:
        return set(
            conn.execute(
                sa.select(st.subscriptions.c.status).where(
                    st.subscriptions.c.id.in_([uuid.UUID(i) for i in ids])
                )
            ).scalars()
        )


def not_active(db: sa.Engine, ids: list[str]) -> list[dict]:
    """What a paid purchase that is not active looks like in both schemas (for the failure message)."""
    from kinobill.billing import tables as bt

    s, p = st.subscriptions, bt.payments
    with db.connect() as conn:
        rows = conn.execute(
            sa.select(
                s.c.id, s.c.status, s.c.created_at, p.c.status.label("payment"), p.c.provider_payment_id
            )
            .outerjoin(p, p.c.subscription_id == s.c.id)
            .where(s.c.id.in_([uuid.UUID(i) for i in ids]), s.c.status != "active")
        ).all()
    return [dict(r._mapping) for r in rows]


def all_renewed(db: sa.Engine, ids: list[uuid.UUID]) -> bool:
    """Each subscription active at the jump has a paid period beyond the one it had (two at least)."""
    if not ids:
        return True
    with db.connect() as conn:
        counts = dict(
            conn.execute(
                sa.select(st.periods.c.subscription_id, sa.func.count())
                .where(st.periods.c.subscription_id.in_(ids))
                .group_by(st.periods.c.subscription_id)
            ).all()
        )
    return all(counts.get(i, 0) >= 2 for i in ids)


def dead_letters(stack) -> dict[str, int]:
    client = redis.Redis.from_url(stack.env["REDIS_URL"])
    try:
        return {key.decode(): n for key in client.scan_iter(match="*:dead") if (n := client.xlen(key))}
    finally:
        client.close()


def duplicate_messages(stack) -> dict[str, int]:
    items = httpx.get(f"{stack.mailbox_url}/api/messages", timeout=30).json()["items"]
    counts = Counter(m.get("message_id") for m in items)
    return {k: n for k, n in counts.items() if n > 1}


def invariants(stack, db: sa.Engine, load: SteadyLoad) -> InvariantReport:
    """The fault suite's invariant checker (tests/chaos/invariants.py) over what this scenario bought."""
    scope = Scope()
    for purchase in load.paid:
        scope.add(purchase.subscription_id, purchase.email)
    report = wait_for_invariants(Records(db, stack.sandbox, stack.mailbox_url), scope, timeout=30)
    print(report.table())
    return report


# --- the scenarios (ordered: the cheapest fault first, the slowest last) ---------------------------


@pytest.fixture()
def under_load(patroni, failover_stack, tokens, failover_plan, cluster_db) -> Callable[..., None]:
    """``under_load(name, inject)``: one fault on this module's cluster and stack, then the checks."""
    return functools.partial(
        run_fault, patroni=patroni, stack=failover_stack, tokens=tokens, plan=failover_plan, db=cluster_db
    )


def test_postgres_restart_under_load(patroni, under_load) -> None:
    under_load("restart", patroni.restart_postgres)


def test_switchover_under_load(patroni, under_load, failover_stack, tokens, failover_plan, infra_dir) -> None:
    """Also: a Subscriptions pinned to the old leader alone (a single-host URL) reports not ready and
    answers 503, not 500, once that node is a read-only replica."""
    leader = patroni.leader()
    port = free_port()
    pinned = ServiceProcess(
        "subscriptions-pinned",
        [sys.executable, "-m", "kinobill.cli", "serve", "subscriptions", "--port", str(port)],
        {
            **failover_stack.env,
            "DATABASE_URL": f"postgresql+psycopg://postgres:{PASSWORD}@127.0.0.1:{leader.pg_port}/postgres",
        },
        infra_dir,
        f"http://127.0.0.1:{port}/readyz",
    ).start()
    try:
        under_load("switchover", patroni.switchover)
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=10)
        assert ready.status_code == 503 and ready.json()["checks"]["database"] == "error: read-only"
        user = uuid.uuid4()
        refused = httpx.post(
            f"http://127.0.0.1:{port}/api/v1/subscriptions",
            json={"plan_id": failover_plan["id"], "period": "month"},
            headers={**tokens.user_headers(user, f"{user.hex[:8]}@example.com"), "Idempotency-Key": user.hex},
            timeout=30,
        )
        assert refused.status_code == 503 and "retry-after" in refused.headers, refused.text
    finally:
        pinned.stop()


def test_leader_postgres_killed_under_load(patroni, under_load) -> None:
    under_load("kill-postgres", patroni.kill_leader_postgres)


def test_leader_node_killed_under_load(patroni, under_load) -> None:
    """Patroni and postgres of the leader SIGKILLed: the leader lock must expire (ttl 20 s)."""
    killed: list = []
    under_load("kill-node", lambda: killed.append(patroni.kill_leader_node()))
    patroni.start_node(killed[0])  # back as a replica (pg_rewind), for whatever runs next
    wait_until(patroni.healthy, timeout=90, interval=0.5, message="the killed node to rejoin as a replica")
