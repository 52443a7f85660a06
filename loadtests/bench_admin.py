"""Benchmark: every page of the admin at production size, p50/p95 per page.

Runs against the embedded Postgres that ``loadtests/admin_seed.py`` filled (``--pgdata``). Django runs in
this process with the admin's real settings; a `support` staff user opens, through Django's test client
(the whole request: middleware, sessions, permissions, templates; no HTTP socket):

* the dashboard (the admin index);
* every change list, then the same list with each filter (each fixed choice, a date range, a plan), with a
  search (an id, an e-mail, a provider id), and page 2;
* every detail page (a subscription with its periods, payments, refunds, e-mails, notifications and staff
  actions; a payment with its refunds; a refund; a plan; a notification; an e-mail of each service; an
  audit entry).

Each request is what the admin does in production: templates are not instrumented (Django's test setup would
copy every template context), and the database connection is closed after each one as Django does at the end
of a request (back to the connection pool; with no pool, the next request connects). Each page is opened
once to warm up, then ``--repeat`` times; the table shows p50 and p95 in ms, this process's CPU time (Django
and the database driver, which a busy machine does not stretch), the time its SQL took and the rows the page
reported. The load average before and after is printed. A page past the last one must answer 400 (checked,
not timed).

Run it at normal priority: under ``nice`` on a machine with other work the admin and the Postgres it
starts get a fraction of a core, and the figures measure the other work.

    .venv/bin/python loadtests/bench_admin.py --pgdata .kinobill/admin-bench/pg [--repeat 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from kinobill import migrations
from kinobill.embedded import EmbeddedPostgres

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "admin"))


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def pages(samples: dict[str, Any]) -> list[tuple[str, str, dict[str, str]]]:
    """(label, path, query) for every page the benchmark opens."""
    from django.utils import timezone

    # the range Django's own "past 7 days" link sends: midnight to midnight in the admin's time zone
    today = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    week = {"__gte": str(today - timedelta(days=7)), "__lt": str(today + timedelta(days=1))}

    def dates(field: str) -> dict[str, str]:
        return {f"{field}{k}": v for k, v in week.items()}

    def model(name: str) -> str:
        return f"/kinobill_admin/{name}/"

    out: list[tuple[str, str, dict[str, str]]] = [("dashboard", "/", {})]
    lists: dict[str, list[tuple[str, dict[str, str]]]] = {
        "plan": [("on sale (no end)", {"sale_end__isempty": "1"}), ("search code", {"q": "premium"})],
        "subscription": [
            *((f"status={s}", {"status": s}) for s in ("active", "ended", "awaiting_payment")),
            ("plan", {"plan__id__exact": samples["plan_id"]}),
            ("period=year", {"period": "year"}),
            ("auto_renew=off", {"auto_renew__exact": "0"}),
            *(
                (f"ended_reason={r}", {"ended_reason": r})
                for r in ("cancelled", "refunded", "payment_failed", "expired")
            ),
            ("period end: past 7 days", dates("current_period_end")),
            ("created: past 7 days", dates("created_at")),
            ("status+plan", {"status": "active", "plan__id__exact": samples["plan_id"]}),
            ("search user id", {"q": samples["user_id"]}),
            ("search e-mail", {"q": samples["email"].upper()}),
            ("search id", {"q": samples["subscription_id"]}),
            ("page 2", {"p": "2"}),
        ],
        "payment": [
            *((f"status={s}", {"status": s}) for s in ("pending", "succeeded", "canceled")),
            *((f"kind={k}", {"kind": k}) for k in ("initial", "renewal")),
            ("created: past 7 days", dates("created_at")),
            ("paid: past 7 days", dates("paid_at")),
            ("search provider id", {"q": samples["provider_payment_id"]}),
            ("search e-mail", {"q": samples["email"]}),
            ("search subscription id", {"q": samples["subscription_id"]}),
            ("page 2", {"p": "2"}),
        ],
        "refund": [
            *((f"status={s}", {"status": s}) for s in ("pending", "succeeded", "canceled")),
            ("created: past 7 days", dates("created_at")),
            ("succeeded: past 7 days", dates("succeeded_at")),
            ("search provider id", {"q": samples["provider_refund_id"]}),
            ("search e-mail", {"q": samples["refund_email"]}),
            ("page 2", {"p": "2"}),
        ],
        "providernotification": [
            ("received: past 7 days", dates("received_at")),
            ("search object", {"q": samples["provider_payment_id"]}),
            ("search event", {"q": "refund.succeeded"}),
        ],
        **{
            f"{service}email": [
                ("created: past 7 days", dates("created_at")),
                ("sent: past 7 days", dates("sent_at")),
                ("search address", {"q": samples["email"].upper()}),
                ("search user id", {"q": samples["user_id"]}),
            ]
            for service in ("subscription", "billing")
        },
        "operatortask": [("created: past 7 days", dates("created_at"))],
        "cardchange": [("status=active", {"status": "active"})],
        "auditentry": [("outcome=error", {"outcome": "error"}), ("search actor", {"q": "bench"})],
    }
    for name, variants in lists.items():
        out.append((f"{name} list", model(name), {}))
        out.extend((f"{name} list, {label}", model(name), query) for label, query in variants)
    for name, key in (
        ("subscription", "subscription_id"),
        ("payment", "payment_id"),
        ("refund", "refund_id"),
        ("plan", "plan_id"),
        ("providernotification", "notification_id"),
        ("subscriptionemail", "subscription_email_id"),
        ("billingemail", "billing_email_id"),
        ("auditentry", "audit_id"),
    ):
        out.append((f"{name} detail", f"{model(name)}{samples[key]}/change/", {}))
    return out


def collect_samples() -> dict[str, Any]:
    from kinobill_admin.models import (
        AuditEntry,
        BillingEmail,
        Payment,
        Plan,
        ProviderNotification,
        Refund,
        Subscription,
        SubscriptionEmail,
    )

    sub = (
        Subscription.objects.filter(status="active")
        .order_by("created_at", "id")
        .only("id", "user_id", "user_email")[12345 % 1000]
    )
    payment = Payment.objects.filter(subscription_id=sub.id).order_by("period_index").first()
    refund = Refund.objects.order_by("created_at", "id").select_related("payment").first()
    assert payment is not None and refund is not None, "seed first: loadtests/admin_seed.py"
    notification = ProviderNotification.objects.filter(object_id=payment.provider_payment_id).first()
    emails = [
        model.objects.filter(user_id=sub.user_id).first() for model in (SubscriptionEmail, BillingEmail)
    ]
    assert notification and all(emails), "seed the messages: loadtests/admin_seed.py --only messages"
    audit = AuditEntry.objects.create(
        actor_name="bench", action="subscription.reconcile", target_type="subscription", target_id=str(sub.id)
    )
    return {
        "audit_id": str(audit.id),
        "notification_id": str(notification.id),
        "subscription_email_id": str(emails[0].id),
        "billing_email_id": str(emails[1].id),
        "plan_id": str(Plan.objects.get(code="premium").id),
        "subscription_id": str(sub.id),
        "user_id": str(sub.user_id),
        "email": sub.user_email,
        "payment_id": str(payment.id),
        "provider_payment_id": payment.provider_payment_id,
        "refund_id": str(refund.id),
        "provider_refund_id": refund.provider_refund_id,
        "refund_email": refund.payment.user_email,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pgdata", type=Path, default=Path(".kinobill/admin-bench/pg"))
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()

    postgres = EmbeddedPostgres(args.pgdata.resolve())
    database_url = postgres.start()
    try:
        migrations.upgrade(database_url)  # columns added since the seed (nullable: instant)
        os.environ.update(
            {
                "DATABASE_URL": database_url,
                "DJANGO_SETTINGS_MODULE": "kinobill_admin.settings",
                "KINOBILL_ENV": "dev",
                "ADMIN_LOG_LEVEL": "WARNING",
            }
        )
        from kinobill_admin.manage import setup

        setup()
        from django.conf import settings
        from django.core.management import call_command
        from django.db import connection
        from django.test import Client
        from django.test.utils import CaptureQueriesContext

        # production closes the connection at the end of each request (CONN_MAX_AGE = 0: back to the pool,
        # or closed without one); the test client keeps it, so the benchmark closes it itself
        close_after_request = settings.DATABASES["default"]["CONN_MAX_AGE"] == 0
        call_command("migrate", interactive=False, verbosity=0)
        from django.contrib.auth.models import Group, User

        user, _ = User.objects.get_or_create(username="bench-support", defaults={"is_staff": True})
        user.groups.add(Group.objects.get(name="support"))
        client = Client(headers={"Accept-Language": "en"})
        client.force_login(user)
        samples = collect_samples()
        if close_after_request:
            connection.close()

        load_before = os.getloadavg()
        print(f"load average before: {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}")
        rows = []
        for label, path, query in pages(samples):
            first = client.get(path, query)
            assert first.status_code == 200, (label, first.status_code, first.content[:300])
            timings, cpu, sql = [], [], []
            for _ in range(args.repeat):
                if close_after_request:
                    connection.close()
                with CaptureQueriesContext(connection) as queries:
                    began, began_cpu = time.perf_counter(), time.process_time()
                    response = client.get(path, query)
                    timings.append((time.perf_counter() - began) * 1000)
                    cpu.append((time.process_time() - began_cpu) * 1000)
                assert response.status_code == 200, (label, response.status_code)
                sql.append(sum(float(q["time"]) for q in queries.captured_queries) * 1000)
            cl = (getattr(response, "context_data", None) or {}).get("cl")
            shown = f"{'≈' if getattr(cl, 'count_estimated', False) else ''}{cl.result_count:,}" if cl else ""
            rows.append(
                (
                    label,
                    statistics.median(timings),
                    p95(timings),
                    statistics.median(cpu),
                    statistics.median(sql),
                    len(queries),
                    shown,
                )
            )
            print(
                f"{label:48s} p50 {rows[-1][1]:7.1f} ms  p95 {rows[-1][2]:7.1f} ms  "
                f"cpu {rows[-1][3]:5.1f} ms  sql p50 {rows[-1][4]:6.1f} ms in {len(queries)} queries  "
                f"{shown}",
                flush=True,
            )
        load_after = os.getloadavg()
        deep = client.get("/kinobill_admin/payment/", {"p": "999999"})
        assert deep.status_code == 400, deep.status_code

        print(
            "\n| page | p50 ms | p95 ms | CPU p50 ms | SQL p50 ms (queries) | rows shown |"
            "\n|---|---:|---:|---:|---:|---:|"
        )
        for label, p50, p95_ms, cpu_ms, sql_ms, n, shown in rows:
            print(f"| {label} | {p50:.0f} | {p95_ms:.0f} | {cpu_ms:.0f} | {sql_ms:.0f} ({n}) | {shown} |")
        worst = max(rows, key=lambda r: r[2])
        print(f"\nslowest p95: {worst[0]} {worst[2]:.0f} ms over {len(rows)} pages × {args.repeat}")
        print(
            f"load average: {load_before[0]:.2f} before, {load_after[0]:.2f} after "
            f"(1 min; 5 min {load_before[1]:.2f} / {load_after[1]:.2f}) on {os.cpu_count()} cores"
        )
    finally:
        postgres.stop()


if __name__ == "__main__":
    main()
