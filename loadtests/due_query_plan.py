"""The scheduler's due query at the seed's scale: 6 million subscriptions, its plan and its timing.

Starts a throw-away embedded Postgres (or uses ``--database-url``), applies the migrations, seeds N
subscription rows with ``generate_series`` in SQL (a realistic mix: most active with the next attempt
spread over a month, some cancelled, some ended, some awaiting payment), ANALYZEs, then runs the exact
statements the scheduler sends (captured from ``SubscriptionRepository.due`` / ``.reminders_due``) under
``EXPLAIN (ANALYZE, BUFFERS)`` and times repeated runs. The seeded data is dropped at the end (the
embedded cluster's directory is deleted).

    .venv/bin/python loadtests/due_query_plan.py [--rows 6000000] [--batch 500] [--keep]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from kinobill import migrations
from kinobill.embedded import EmbeddedPostgres
from kinobill.subscriptions.repository import SubscriptionsUnitOfWork

NOW = datetime(2027, 3, 15, 12, 0, tzinfo=UTC)

SEED = """
INSERT INTO subscriptions.subscriptions (
    id, user_id, user_email, plan_id, period, status, ended_reason, auto_renew, anchor_at, period_index,
    current_period_start, current_period_end, price, payment_method_id, failed_attempts, next_attempt_at,
    reminded_period, created_at, updated_at, ended_at)
SELECT
    gen_random_uuid(), gen_random_uuid(), 'u' || g || '@example.com', :plan,
    CASE WHEN g % 10 = 0 THEN 'year' ELSE 'month' END,
    CASE WHEN g % 100 < 85 THEN 'active' WHEN g % 100 < 97 THEN 'ended' ELSE 'awaiting_payment' END,
    CASE WHEN g % 100 BETWEEN 85 AND 96 THEN
        (ARRAY['cancelled', 'expired', 'payment_failed', 'refunded'])[1 + g % 4] END,
    g % 100 NOT BETWEEN 80 AND 84,                      -- 5 % cancelled (auto-renew off), still active
    CASE WHEN g % 100 < 97 THEN e.period_end - interval '1 month' END,
    CASE WHEN g % 100 < 97 THEN (g % 12) END,
    CASE WHEN g % 100 < 97 THEN e.period_end - interval '1 month' END,
    CASE WHEN g % 100 < 97 THEN e.period_end END,
    29900, 'pm-' || g, 0,
    CASE WHEN g % 100 < 80 THEN e.period_end - interval '1 day'   -- renewing: first attempt
         WHEN g % 100 < 85 THEN e.period_end END,                 -- cancelled: end at period end
    -- reminded already, except the last hour's (the scheduler's previous pass saw them first)
    CASE WHEN g % 100 < 85 AND e.period_end - interval '4 days' <= :now - interval '1 hour' THEN g % 12
         WHEN g % 100 < 85 THEN (g % 12) - 1 END,
    :now - interval '400 days', :now, CASE WHEN g % 100 BETWEEN 85 AND 96 THEN :now END
FROM generate_series(CAST(:start AS bigint), CAST(:stop AS bigint)) AS g,
LATERAL (SELECT :now + interval '1 second' * ((g * 7919) % 2592000) AS period_end) AS e
"""


def capture(engine: sa.Engine, run: object) -> tuple[str, dict]:
    """The SQL and parameters of the first statement `run` sends (the scheduler's own query)."""
    seen: list[tuple[str, dict]] = []

    def listener(conn, cursor, statement, parameters, context, executemany):
        if not seen:
            seen.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", listener)
    try:
        run()  # type: ignore[operator]
    finally:
        sa.event.remove(engine, "before_cursor_execute", listener)
    return seen[0]


def explain(engine: sa.Engine, title: str, statement: str, params: dict, repeats: int) -> None:
    with engine.connect() as conn:
        plan = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, params).scalars().all()
        conn.rollback()
        timings = []
        for _ in range(repeats):
            started = time.perf_counter()
            rows = len(conn.exec_driver_sql(statement, params).all())
            timings.append((time.perf_counter() - started) * 1000)
            conn.rollback()
    print(f"\n### {title}\n")
    print("```")
    print(statement.strip())
    print(f"-- parameters: { {k: str(v) for k, v in params.items()} }")
    print()
    print("\n".join(plan))
    print("```")
    print(
        f"{rows} rows; over {repeats} runs from the client: median {statistics.median(timings):.2f} ms, "
        f"max {max(timings):.2f} ms"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=6_000_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--database-url", help="an existing, empty database (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary cluster")
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="kb-dueplan-"))
    server = None
    url = args.database_url
    if not url:
        server = EmbeddedPostgres(workdir / "pg")
        url = server.start()
    try:
        migrations.upgrade(url)
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            plan = conn.exec_driver_sql(
                "INSERT INTO subscriptions.plans (id, code, name, price_month, price_year, sale_start) "
                "VALUES (gen_random_uuid(), 'bench', 'Bench', 29900, 299000, now()) RETURNING id"
            ).scalar_one()
        started = time.monotonic()
        chunk = 1_000_000
        for start in range(1, args.rows + 1, chunk):
            stop = min(args.rows, start + chunk - 1)
            with engine.begin() as conn:
                conn.execute(sa.text(SEED), {"plan": plan, "now": NOW, "start": start, "stop": stop})
            print(f"seeded {stop:,} rows ({time.monotonic() - started:.0f} s)", file=sys.stderr, flush=True)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE subscriptions.subscriptions")
            counts = conn.exec_driver_sql(
                "SELECT count(*), count(*) FILTER (WHERE status = 'active'), "
                "count(*) FILTER (WHERE status = 'active' AND next_attempt_at <= %(now)s), "
                "pg_size_pretty(pg_total_relation_size('subscriptions.subscriptions')), "
                "pg_size_pretty(pg_relation_size('subscriptions.ix_subscriptions_due')), "
                "pg_size_pretty(pg_relation_size('subscriptions.ix_subscriptions_remind')) "
                "FROM subscriptions.subscriptions",
                {"now": NOW},
            ).one()
        print(f"# The due query at {counts[0]:,} subscriptions\n")
        print(
            f"{counts[1]:,} active; {counts[2]:,} due at {NOW.isoformat()} (a day's renewals and "
            f"endings); table with indexes {counts[3]}, ix_subscriptions_due {counts[4]}, "
            f"ix_subscriptions_remind {counts[5]}."
        )

        def due() -> None:
            with SubscriptionsUnitOfWork(engine) as uow:
                uow.subscriptions.due(NOW, args.batch)

        def reminders() -> None:
            with SubscriptionsUnitOfWork(engine) as uow:
                uow.subscriptions.reminders_due(NOW + timedelta(days=3), args.batch)

        statement, params = capture(engine, due)
        explain(engine, f"Due renewals and endings (batch {args.batch})", statement, params, args.repeats)
        statement, params = capture(engine, reminders)
        explain(engine, f"Reminders due (batch {args.batch})", statement, params, args.repeats)
        engine.dispose()
    finally:
        if server is not None and not args.keep:
            server.stop()
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
