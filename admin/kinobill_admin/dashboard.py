"""The dashboard on the admin's index page: money per day, who is subscribed to what, what is failing,
what is stuck. "Now" is the services' clock (the shared test clock outside production).

Sized for production: each figure reads an index range (last 30 days of succeeded payments, refunds,
failed renewals; pending rows; unsent e-mails), never a whole table; on a big table the per-day totals of
closed days are cached (per process), so a view reads the last two or three days. Active subscriptions
per plan are counted exactly while the table is small and estimated by the planner (extended statistics
on status and plan) once it holds more than ``EXACT_ACTIVE_UP_TO`` rows.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from django.core.cache import cache
from django.db.models import Count, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.translation import gettext as _

from kinobill.domain.money import format_rub
from kinobill_admin import clock
from kinobill_admin.charts import bar_chart, column_chart
from kinobill_admin.models import (
    BillingEmail,
    BillingOutbox,
    OperatorTask,
    Payment,
    Plan,
    Refund,
    Subscription,
    SubscriptionEmail,
    SubscriptionsOutbox,
)
from kinobill_admin.paging import bounded_count, planner_estimate

DAYS = 30
# Older than this and still not final: the reconciler should be on it (or something is wrong).
STUCK_AFTER = timedelta(minutes=15)
OUTBOX_STUCK_AFTER = timedelta(minutes=2)
EXACT_ACTIVE_UP_TO = 200_000
# Per-day totals of days closed this long ago are cached once a table is this big (see ``daily``).
CACHE_CLOSED_DAYS_FROM_ROWS = 1_000_000
CLOSED_AFTER_DAYS = 2
CLOSED_DAY_CACHE_SECONDS = 6 * 3600
STUCK_COUNT_UP_TO = 10_000


def rub(kopecks: float) -> str:
    return format_rub(int(kopecks))


def per_day(rows: dict[date, int], first: date, days: int) -> list[tuple[str, float]]:
    return [
        ((first + timedelta(days=i)).strftime("%d.%m"), rows.get(first + timedelta(days=i), 0))
        for i in range(days)
    ]


def _per_day(qs: QuerySet, field: str, value: str | None) -> dict[date, int]:
    aggregate = Sum(value) if value else Count("pk")
    tz = timezone.get_current_timezone()
    return {
        row["day"]: row["v"] or 0
        for row in qs.annotate(day=TruncDate(field, tzinfo=tz)).values("day").annotate(v=aggregate).order_by()
    }


def day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, datetime.min.time()))


def daily(
    name: str, qs: QuerySet, field: str, value: str | None, first: date, now: datetime
) -> dict[date, int]:
    """Per-day sums (or counts) from ``first`` to now. On a big table the days that closed more than
    ``CLOSED_AFTER_DAYS`` ago are kept in the cache once computed (a settled payment does not move to
    another day), so a dashboard view reads two or three days of rows, not thirty."""
    today = timezone.localdate(now)
    end = {f"{field}__lte": now}
    if table_rows_estimate(qs.model) < CACHE_CLOSED_DAYS_FROM_ROWS:
        return _per_day(qs.filter(**{f"{field}__gte": day_start(first)}, **end), field, value)
    closed = [first + timedelta(days=i) for i in range((today - first).days - CLOSED_AFTER_DAYS + 1)]
    keys = {day: f"kb-dashboard:{name}:{day.isoformat()}" for day in closed}
    cached = cache.get_many(list(keys.values()))
    result = {day: cached[key] for day, key in keys.items() if key in cached}
    missing = [day for day in closed if day not in result]
    if missing:
        span = {
            f"{field}__gte": day_start(missing[0]),
            f"{field}__lt": day_start(missing[-1] + timedelta(days=1)),
        }
        computed = _per_day(qs.filter(**span), field, value)
        fresh = {day: computed.get(day, 0) for day in missing}
        cache.set_many({keys[day]: v for day, v in fresh.items()}, timeout=CLOSED_DAY_CACHE_SECONDS)
        result.update(fresh)
    live_from = closed[-1] + timedelta(days=1) if closed else first
    result.update(_per_day(qs.filter(**{f"{field}__gte": day_start(live_from)}, **end), field, value))
    return result


def table_rows_estimate(model: Any) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", [f'"{model._meta.db_table}"']
        )
        row = cursor.fetchone()
    return max(int(row[0]), 0) if row else 0


def active_by_plan() -> tuple[list[tuple[str, float]], bool]:
    plans = list(Plan.objects.order_by("name").values_list("id", "name"))
    active = Subscription.objects.filter(status="active")
    if table_rows_estimate(Subscription) <= EXACT_ACTIVE_UP_TO:
        counts = dict(active.values("plan_id").annotate(n=Count("pk")).order_by().values_list("plan_id", "n"))
        estimated = False
    else:
        counts = {plan_id: planner_estimate(active.filter(plan_id=plan_id)) for plan_id, _name in plans}
        estimated = True
    rows = sorted(((name, counts.get(plan_id, 0)) for plan_id, name in plans), key=lambda r: -r[1])
    return [r for r in rows if r[1]][:25], estimated


def stuck_operations(now: datetime) -> dict[str, Any]:
    cutoff = now - STUCK_AFTER
    outbox_cutoff = now - OUTBOX_STUCK_AFTER
    payments = Payment.objects.filter(status="pending", created_at__lt=cutoff)
    refunds = Refund.objects.filter(status="pending", created_at__lt=cutoff)

    def count(qs: QuerySet) -> int:
        return bounded_count(qs, STUCK_COUNT_UP_TO)

    return {
        "payments": payments.order_by("created_at")[:20],
        "payments_count": count(payments),
        "refunds": refunds.order_by("created_at")[:20],
        "refunds_count": count(refunds),
        # work left to an operator counts until someone marks it resolved, whatever its age
        "operator_tasks_count": count(OperatorTask.objects.filter(resolved_at__isnull=True)),
        "outbox": [
            (
                "subscriptions",
                count(
                    SubscriptionsOutbox.objects.filter(
                        published_at__isnull=True, created_at__lt=outbox_cutoff
                    )
                ),
            ),
            (
                "billing",
                count(BillingOutbox.objects.filter(published_at__isnull=True, created_at__lt=outbox_cutoff)),
            ),
        ],
        "emails": [
            (
                "subscriptions",
                count(SubscriptionEmail.objects.filter(sent_at__isnull=True, created_at__lt=cutoff)),
            ),
            ("billing", count(BillingEmail.objects.filter(sent_at__isnull=True, created_at__lt=cutoff))),
        ],
        "limit": STUCK_COUNT_UP_TO,
    }


def dashboard_context() -> dict[str, Any]:
    now = clock.now()
    first = timezone.localdate(now) - timedelta(days=DAYS - 1)

    paid = Payment.objects.filter(status="succeeded")
    revenue = per_day(daily("revenue", paid, "paid_at", "amount", first, now), first, DAYS)
    refunded_qs = Refund.objects.filter(status="succeeded")
    refunded = per_day(daily("refunded", refunded_qs, "succeeded_at", "amount", first, now), first, DAYS)
    failed_qs = Payment.objects.filter(kind="renewal", status="canceled")
    failed = per_day(daily("failed", failed_qs, "updated_at", None, first, now), first, DAYS)
    active, active_estimated = active_by_plan()
    in_dunning = bounded_count(
        Subscription.objects.filter(status="active", failed_attempts__gt=0), STUCK_COUNT_UP_TO
    )
    totals = {
        "revenue": rub(sum(v for _, v in revenue)),
        "refunded": rub(sum(v for _, v in refunded)),
        "failed": int(sum(v for _, v in failed)),
        "active": int(sum(n for _, n in active)),
        "active_estimated": active_estimated,
        "in_dunning": in_dunning,
    }
    return {
        "days": DAYS,
        "totals": totals,
        "revenue_chart": column_chart(revenue, label=_("Revenue per day, RUB"), fmt=rub),
        "refund_chart": column_chart(refunded, label=_("Refunds per day, RUB"), fmt=rub, color="#e8590c"),
        "failed_chart": column_chart(failed, label=_("Failed renewal charges per day"), color="#c92a2a"),
        "active_chart": bar_chart(active, label=_("Active subscriptions by plan")),
        "stuck": stuck_operations(now),
        "stuck_after_minutes": int(STUCK_AFTER.total_seconds() // 60),
        "now": now,
        "test_clock": clock.uses_test_clock(),
    }
