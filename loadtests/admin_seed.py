"""Seed a production-size Kinobill database for the admin benchmark: 6 M subscriptions, ~30 M payments,
~1 M refunds (three years of a large cinema), loaded with COPY.

Starts (or reuses) an embedded Postgres whose data lives in ``--pgdata``, migrates it, then on empty
tables: drops their indexes and constraints, streams generated rows with ``COPY … FROM STDIN`` (text
format, deterministic ids so a re-run makes the same data), rebuilds the indexes and constraints
(parallel builds off, so it stays on one core) and ANALYZEs. Run it niced on a shared machine::

    nice -n 19 .venv/bin/python loadtests/admin_seed.py --pgdata .kinobill/admin-bench/pg [--scale 1.0]

``--scale 0.1`` makes 600 k subscriptions, ~3 M payments and ~100 k refunds. Then run
``loadtests/bench_admin.py`` against the same ``--pgdata``.

After the three big tables, the messages are derived from them inside Postgres (``INSERT … SELECT``, no
rows through Python): one YooKassa notification per final payment and per refund, one Billing e-mail per
final payment and per refund, and a Subscriptions e-mail per subscription (activated) and per ended one.
``--only messages`` fills just those (when they are empty) on an already seeded ``--pgdata``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from kinobill import migrations
from kinobill.embedded import EmbeddedPostgres

PLANS = [  # code, name, month, year (kopecks)
    ("basic", "Basic", 19900, 199000),
    ("premium", "Premium", 29900, 299000),
    ("kids", "Kids", 14900, 149000),
    ("films", "Films", 24900, 249000),
    ("series", "Series", 24900, 249000),
    ("sport", "Sport", 39900, 399000),
    ("4k", "Premium 4K", 49900, 499000),
    ("family", "Family", 59900, 599000),
]
YEARS = 3
DAY = 86400
TABLES = ["subscriptions.subscriptions", "billing.payments", "billing.refunds"]
MESSAGE_TABLES = ["billing.provider_notifications", "billing.emails", "subscriptions.emails"]
ENDED_REASONS = ["cancelled", "expired", "payment_failed", "refunded"]
NULL = "\\N"  # COPY text format


def seq_uuid(kind: int, n: int) -> str:
    """A valid, deterministic, sequential UUID: kind in the first group, the counter in the last."""
    return f"{kind:08x}-0000-4000-8000-{n:012x}"


class Stamp:
    """Fast UTC timestamps for COPY text: one strftime per day, arithmetic for the time of day."""

    def __init__(self) -> None:
        self.days: dict[int, str] = {}

    def __call__(self, epoch: int) -> str:
        day, second = divmod(epoch, DAY)
        text = self.days.get(day)
        if text is None:
            text = self.days[day] = datetime.fromtimestamp(day * DAY, UTC).strftime("%Y-%m-%d")
        h, rest = divmod(second, 3600)
        return f"{text} {h:02d}:{rest // 60:02d}:{rest % 60:02d}+00"


def save_and_drop_indexes(conn: psycopg.Connection, tables: list[str]) -> list[str]:
    """Every index and constraint of ``tables``, as the SQL that recreates it; then drop them."""
    recreate: list[str] = []
    for table in tables:
        schema, name = table.split(".")
        constraints = conn.execute(
            "SELECT conname, pg_get_constraintdef(oid), contype FROM pg_constraint "
            "WHERE conrelid = %s::regclass AND contype IN ('p', 'u', 'f')",
            [table],
        ).fetchall()
        constraint_names = {c[0] for c in constraints}
        for conname, definition, _kind in sorted(constraints, key=lambda c: c[2] == "f"):
            recreate.append(f'ALTER TABLE {table} ADD CONSTRAINT "{conname}" {definition}')
        for conname, _definition, _kind in sorted(constraints, key=lambda c: c[2] != "f"):
            conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{conname}" CASCADE')
        indexes = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = %s AND tablename = %s",
            [schema, name],
        ).fetchall()
        for indexname, definition in indexes:
            if indexname in constraint_names:
                continue
            recreate.append(definition)
            conn.execute(f'DROP INDEX "{schema}"."{indexname}"')
    # foreign keys last (they need the primary keys back first)
    return sorted(recreate, key=lambda sql: "FOREIGN KEY" in sql)


def copy_rows(conn: psycopg.Connection, table: str, columns: list[str], lines) -> int:
    count = 0
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        buffer: list[str] = []
        for line in lines:
            buffer.append(line)
            if len(buffer) >= 20000:
                copy.write("".join(buffer))
                count += len(buffer)
                buffer.clear()
        if buffer:
            copy.write("".join(buffer))
            count += len(buffer)
    return count


SUB_COLUMNS = [
    "id",
    "user_id",
    "user_email",
    "plan_id",
    "period",
    "status",
    "ended_reason",
    "auto_renew",
    "anchor_at",
    "period_index",
    "current_period_start",
    "current_period_end",
    "price",
    "payment_method_id",
    "failed_attempts",
    "next_attempt_at",
    "created_at",
    "updated_at",
    "ended_at",
]
PAYMENT_COLUMNS = [
    "id",
    "user_id",
    "user_email",
    "subscription_id",
    "period_index",
    "kind",
    "attempt",
    "charge_key",
    "amount",
    "description",
    "status",
    "provider_status",
    "provider_payment_id",
    "payment_method_id",
    "cancellation_party",
    "cancellation_reason",
    "refunded_amount",
    "provider_object",
    "created_at",
    "updated_at",
    "paid_at",
]
REFUND_COLUMNS = [
    "id",
    "payment_id",
    "subscription_id",
    "user_id",
    "refund_key",
    "amount",
    "status",
    "provider_refund_id",
    "created_at",
    "updated_at",
    "succeeded_at",
]


def seed(database_url: str, subscriptions: int, payments_per_sub: float, refund_every: int) -> dict[str, int]:
    now = int(time.time())
    start_of_history = now - YEARS * 365 * DAY
    stamp = Stamp()
    plan_ids = [seq_uuid(0xA, n) for n in range(len(PLANS))]
    spread = max(1, round(2 * payments_per_sub - 1))  # n_i = 1 + i % spread: mean ≈ payments_per_sub
    conninfo = database_url.replace("postgresql+psycopg://", "postgresql://")
    counts = {"subscriptions": 0, "payments": 0, "refunds": 0}
    with psycopg.connect(conninfo, autocommit=True) as conn:
        existing = conn.execute(
            "SELECT count(*) FROM (SELECT 1 FROM subscriptions.subscriptions LIMIT 1) s"
        ).fetchone()
        if existing and existing[0]:
            raise SystemExit("subscriptions.subscriptions is not empty: seed a fresh --pgdata")
        for n, (code, name, month, year) in enumerate(PLANS):
            conn.execute(
                "INSERT INTO subscriptions.plans (id, code, name, price_month, price_year, sale_start) "
                "VALUES (%s, %s, %s, %s, %s, now() - interval '4 years')",
                [plan_ids[n], code, name, month, year],
            )
        print("dropping indexes and constraints for the load", flush=True)
        recreate = save_and_drop_indexes(conn, TABLES)
        conn.execute("SET maintenance_work_mem = '1GB'")
        conn.execute("SET max_parallel_maintenance_workers = 0")
        refund_file = tempfile.NamedTemporaryFile("w+", suffix=".copy", delete=False)  # noqa: SIM115
        payment_file = tempfile.NamedTemporaryFile("w+", suffix=".copy", delete=False)  # noqa: SIM115

        def subscription_lines():
            payment_n = 0
            refund_n = 0
            for i in range(subscriptions):
                sub_id, user_id = seq_uuid(0xB, i), seq_uuid(0xC, i)
                email = f"user{i}@example.com"
                plan = i % len(PLANS)
                yearly = i % 7 == 0
                length = (365 if yearly else 30) * DAY
                price = PLANS[plan][3] if yearly else PLANS[plan][2]
                created = start_of_history + (i * 7919) % (YEARS * 365 * DAY)
                possible = 1 + (now - created) // length
                n_payments = min(1 + i % spread, possible)
                status, reason = "active", None
                if i % 4 == 0:
                    status, reason = "ended", ENDED_REASONS[(i // 4) % 4]
                elif i % 97 == 1:
                    status, n_payments = "awaiting_payment", 1
                failed = 1 if status == "active" and i % 61 == 2 else 0
                last_index = n_payments - 1
                period_start = created + last_index * length
                period_end = period_start + length
                for k in range(n_payments):
                    pid = seq_uuid(0xD, payment_n)
                    at = created + k * length + (payment_n % 600)
                    if status == "awaiting_payment":
                        pay_status, at = "pending", now - (i % 3600)
                    elif (k > 0 and (i + k) % 17 == 0) or (
                        status == "ended" and reason == "payment_failed" and k == last_index and k > 0
                    ):
                        pay_status = "canceled"
                    else:
                        pay_status = "succeeded"
                    refunded = 0
                    if pay_status == "succeeded" and payment_n % refund_every == 0:
                        refunded = price if payment_n % (2 * refund_every) == 0 else price // 3
                        rid = seq_uuid(0xE, refund_n)
                        ts = stamp(min(at + 3 * DAY, now))
                        refund_file.write(
                            f"{rid}\t{pid}\t{sub_id}\t{user_id}\tseed-refund:{refund_n}\t{refunded}\tsucceeded\t"
                            f"seed-r-{refund_n:x}\t{ts}\t{ts}\t{ts}\n"
                        )
                        refund_n += 1
                    ts = stamp(at)
                    paid = "true" if pay_status == "succeeded" else "false"
                    provider_id = f"seed-{payment_n:x}"
                    party, why = (
                        ("payment_network", "insufficient_funds")
                        if pay_status == "canceled"
                        else ("\\N", "\\N")
                    )
                    payment_file.write(
                        f"{pid}\t{user_id}\t{email}\t{sub_id}\t{k}\t{'initial' if k == 0 else 'renewal'}\t0\t"
                        f"seed:{payment_n}\t{price}\tSubscription {PLANS[plan][1]}\t"
                        f"{pay_status}\t{pay_status}\t"
                        f"{provider_id}\tpm-{i}\t{party}\t{why}\t{refunded}\t"
                        f'{{"id": "{provider_id}", "status": "{pay_status}", "paid": {paid}}}\t'
                        f"{ts}\t{ts}\t{ts if pay_status == 'succeeded' else NULL}\n"
                    )
                    payment_n += 1
                ended_at = stamp(min(period_end, now)) if status == "ended" else "\\N"
                auto_renew = "t" if status == "active" and i % 10 != 3 else "f"
                next_attempt = stamp(period_end) if status == "active" and auto_renew == "t" else "\\N"
                yield (
                    f"{sub_id}\t{user_id}\t{email}\t{plan_ids[plan]}\t"
                    f"{'year' if yearly else 'month'}\t{status}\t"
                    f"{reason or NULL}\t{auto_renew}\t{stamp(created)}\t"
                    f"{last_index if status != 'awaiting_payment' else NULL}\t"
                    f"{stamp(period_start) if status != 'awaiting_payment' else NULL}\t"
                    f"{stamp(period_end) if status != 'awaiting_payment' else NULL}\t{price}\tpm-{i}\t"
                    f"{failed}\t{next_attempt}\t{stamp(created)}\t{stamp(created)}\t{ended_at}\n"
                )
            counts["payments"], counts["refunds"] = payment_n, refund_n

        started = time.monotonic()
        counts["subscriptions"] = copy_rows(
            conn, "subscriptions.subscriptions", SUB_COLUMNS, subscription_lines()
        )
        print(f"subscriptions: {counts['subscriptions']:,} in {time.monotonic() - started:.0f} s", flush=True)
        for path_file, table, columns in (
            (payment_file, "billing.payments", PAYMENT_COLUMNS),
            (refund_file, "billing.refunds", REFUND_COLUMNS),
        ):
            path_file.flush()
            path_file.seek(0)
            began = time.monotonic()
            copied = copy_rows(conn, table, columns, iter(path_file))
            print(f"{table}: {copied:,} in {time.monotonic() - began:.0f} s", flush=True)
            path_file.close()
            os.unlink(path_file.name)
        rebuild(conn, recreate, [*TABLES, "subscriptions.plans"])
    return counts


def rebuild(conn: psycopg.Connection, recreate: list[str], tables: list[str]) -> None:
    """Indexes and constraints back, then statistics and the visibility map (index-only scans)."""
    for sql in recreate:
        began = time.monotonic()
        conn.execute(sql)
        print(f"{time.monotonic() - began:6.0f} s  {sql[:110]}", flush=True)
    for table in tables:
        conn.execute(f"VACUUM (ANALYZE) {table}")


# Derived from the seeded payments, refunds and subscriptions, in Postgres. Ids are deterministic: the
# source row's id with another first group (payments are 0000000d-…, refunds 0000000e-…, subscriptions
# 0000000b-…), so a re-run makes the same rows.
MESSAGES_SQL = {
    "billing.provider_notifications": [
        """INSERT INTO billing.provider_notifications
               (event, object_id, remote_addr, body, outcome, received_at)
        SELECT 'payment.' || status, provider_payment_id, '185.71.76.' || (1 + period_index % 30),
               jsonb_build_object('type', 'notification', 'event', 'payment.' || status,
                                  'object', jsonb_build_object('id', provider_payment_id, 'status', status,
                                                               'paid', status = 'succeeded')),
               'applied', updated_at + interval '2 seconds'
        FROM billing.payments WHERE status IN ('succeeded', 'canceled')""",
        """INSERT INTO billing.provider_notifications
               (event, object_id, remote_addr, body, outcome, received_at)
        SELECT 'refund.succeeded', provider_refund_id, '185.71.76.2',
               jsonb_build_object('type', 'notification', 'event', 'refund.succeeded',
                                  'object', jsonb_build_object('id', provider_refund_id, 'status', status)),
               'applied', succeeded_at + interval '2 seconds'
        FROM billing.refunds WHERE status = 'succeeded'""",
    ],
    "billing.emails": [
        """INSERT INTO billing.emails (id, dedupe_key, user_id, to_address, kind, subject, body, locale,
                                    zoneinfo, attempts, created_at, sending_at, sent_at)
        SELECT overlay(id::text placing '0000001a' from 1 for 8)::uuid, 'payment-' || status || ':' || id,
               user_id, user_email, CASE status WHEN 'succeeded' THEN 'payment_succeeded'
                                                ELSE 'payment_canceled' END,
               'Kinobill: ' || description, 'Payment ' || status || ': ' || amount / 100 || ' RUB', 'ru',
               'Europe/Moscow', 1, updated_at + interval '1 second', updated_at + interval '3 seconds',
               updated_at + interval '4 seconds'
        FROM billing.payments WHERE status IN ('succeeded', 'canceled')""",
        """INSERT INTO billing.emails (id, dedupe_key, user_id, to_address, kind, subject, body, locale,
                                    zoneinfo, attempts, created_at, sending_at, sent_at)
        SELECT overlay(r.id::text placing '0000001b' from 1 for 8)::uuid, 'refund-started:' || r.id,
               r.user_id, p.user_email, 'refund_started', 'Kinobill: refund',
               'Refund: ' || r.amount / 100 || ' RUB', 'ru', 'Europe/Moscow', 1, r.created_at,
               r.created_at + interval '2 seconds', r.created_at + interval '3 seconds'
        FROM billing.refunds r JOIN billing.payments p ON p.id = r.payment_id""",
    ],
    "subscriptions.emails": [
        """INSERT INTO subscriptions.emails (id, dedupe_key, user_id, to_address, kind, subject, body, locale,
                                          zoneinfo, attempts, created_at, sending_at, sent_at)
        SELECT overlay(id::text placing '0000001c' from 1 for 8)::uuid, 'activated:' || id, user_id,
               user_email, 'subscription_activated', 'Kinobill: your subscription is active',
               'Period: ' || period, 'ru', 'Europe/Moscow', 1, created_at + interval '1 minute',
               created_at + interval '62 seconds', created_at + interval '63 seconds'
        FROM subscriptions.subscriptions WHERE status <> 'awaiting_payment'""",
        """INSERT INTO subscriptions.emails (id, dedupe_key, user_id, to_address, kind, subject, body, locale,
                                          zoneinfo, attempts, created_at, sending_at, sent_at)
        SELECT overlay(id::text placing '0000001d' from 1 for 8)::uuid, 'ended:' || id, user_id, user_email,
               'subscription_' || ended_reason, 'Kinobill: your subscription has ended',
               'Reason: ' || ended_reason, 'ru', 'Europe/Moscow', 1, ended_at,
               ended_at + interval '2 seconds', ended_at + interval '3 seconds'
        FROM subscriptions.subscriptions WHERE status = 'ended'""",
    ],
}


def seed_messages(database_url: str) -> dict[str, int]:
    """Fill the notification and e-mail tables that are empty from the seeded rows (see MESSAGES_SQL)."""
    conninfo = database_url.replace("postgresql+psycopg://", "postgresql://")
    counts: dict[str, int] = {}
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '1GB'")
        conn.execute("SET max_parallel_maintenance_workers = 0")
        empty = [
            table
            for table in MESSAGE_TABLES
            if not conn.execute(f"SELECT count(*) FROM (SELECT 1 FROM {table} LIMIT 1) t").fetchone()[0]
        ]
        recreate = save_and_drop_indexes(conn, empty)
        for table in empty:
            began = time.monotonic()
            counts[table] = sum(conn.execute(sql).rowcount for sql in MESSAGES_SQL[table])
            print(f"{table}: {counts[table]:,} in {time.monotonic() - began:.0f} s", flush=True)
        rebuild(conn, recreate, empty)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pgdata", type=Path, default=Path(".kinobill/admin-bench/pg"))
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = 6 M subscriptions")
    parser.add_argument("--payments-per-subscription", type=float, default=6.0)
    parser.add_argument("--refund-every", type=int, default=28, help="one payment in N is refunded")
    parser.add_argument(
        "--only",
        choices=["messages"],
        help="messages: fill only the empty notification and e-mail tables of a seeded --pgdata",
    )
    args = parser.parse_args()
    postgres = EmbeddedPostgres(args.pgdata.resolve())
    database_url = postgres.start()
    try:
        migrations.upgrade(database_url)
        began = time.monotonic()
        counts: dict[str, int] = {}
        if args.only is None:
            counts = seed(
                database_url, int(6_000_000 * args.scale), args.payments_per_subscription, args.refund_every
            )
        counts.update(seed_messages(database_url))
        print(f"seeded {counts} in {time.monotonic() - began:.0f} s into {args.pgdata}")
    finally:
        postgres.stop()


if __name__ == "__main__":
    main()
