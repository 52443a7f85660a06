"""The dashboard: money per day, who is subscribed to what, what is failing, what is stuck."""

from __future__ import annotations

from datetime import date, timedelta

from django.db.models import Count, Sum
from django.db.models.functions import TruncDate
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from kinobill.domain.money import format_rub
from kinobill_admin import clock
from kinobill_admin.charts import bar_chart, column_chart
from kinobill_admin.models import (
    BillingEmail,
    BillingOutbox,
    Payment,
    Plan,
    Refund,
    Subscription,
    SubscriptionEmail,
    SubscriptionsOutbox,
)
from kinobill_admin.roles import staff_view

DAYS = 30
# Older than this and still not final: the reconciler should be on it (or something is wrong).
STUCK_AFTER = timedelta(minutes=15)
OUTBOX_STUCK_AFTER = timedelta(minutes=2)


def rub(kopecks: float) -> str:
    return format_rub(int(kopecks))


def per_day(rows: dict[date, int], first: date, days: int) -> list[tuple[str, float]]:
    return [
        ((first + timedelta(days=i)).strftime("%d.%m"), rows.get(first + timedelta(days=i), 0))
        for i in range(days)
    ]


def daily(qs, field: str, value: str | None) -> dict[date, int]:
    aggregate = Sum(value) if value else Count("id")
    return {
        row["day"]: row["v"] or 0
        for row in qs.annotate(day=TruncDate(field)).values("day").annotate(v=aggregate).order_by()
    }


def stuck_operations(now) -> dict:
    cutoff = now - STUCK_AFTER
    outbox_cutoff = now - OUTBOX_STUCK_AFTER
    payments = Payment.objects.filter(status="pending", created_at__lt=cutoff)
    refunds = Refund.objects.filter(status="pending").filter(created_at__lt=cutoff)
    return {
        "payments": payments.order_by("created_at")[:20],
        "payments_count": payments.count(),
        "refunds": refunds.order_by("created_at")[:20],
        "refunds_count": refunds.count(),
        "outbox": [
            (
                "subscriptions",
                SubscriptionsOutbox.objects.filter(
                    published_at__isnull=True, created_at__lt=outbox_cutoff
                ).count(),
            ),
            (
                "billing",
                BillingOutbox.objects.filter(published_at__isnull=True, created_at__lt=outbox_cutoff).count(),
            ),
        ],
        "emails": [
            (
                "subscriptions",
                SubscriptionEmail.objects.filter(sent_at__isnull=True, created_at__lt=cutoff).count(),
            ),
            ("billing", BillingEmail.objects.filter(sent_at__isnull=True, created_at__lt=cutoff).count()),
        ],
    }


@staff_view
def dashboard(request: HttpRequest) -> HttpResponse:
    now = clock.now()
    first = timezone.localdate(now) - timedelta(days=DAYS - 1)
    since = timezone.make_aware(timezone.datetime.combine(first, timezone.datetime.min.time()))

    paid = Payment.objects.filter(status="succeeded", paid_at__gte=since)
    revenue = per_day(daily(paid, "paid_at", "amount"), first, DAYS)
    refunded_qs = Refund.objects.filter(status="succeeded", succeeded_at__gte=since)
    refunded = per_day(daily(refunded_qs, "succeeded_at", "amount"), first, DAYS)
    failed_qs = Payment.objects.filter(kind="renewal", status="canceled", updated_at__gte=since)
    failed = per_day(daily(failed_qs, "updated_at", None), first, DAYS)

    by_plan = list(
        Subscription.objects.filter(status="active")
        .values("plan_id")
        .annotate(n=Count("id"))
        .order_by("-n")[:25]
    )
    names = dict(Plan.objects.filter(id__in=[r["plan_id"] for r in by_plan]).values_list("id", "name"))
    active = [(names.get(r["plan_id"], str(r["plan_id"])[:8]), r["n"]) for r in by_plan]
    in_dunning = Subscription.objects.filter(status="active", failed_attempts__gt=0).count()

    totals = {
        "revenue": rub(sum(v for _, v in revenue)),
        "refunded": rub(sum(v for _, v in refunded)),
        "failed": int(sum(v for _, v in failed)),
        "active": sum(n for _, n in active),
        "in_dunning": in_dunning,
    }
    context = {
        "days": DAYS,
        "totals": totals,
        "revenue_chart": column_chart(revenue, label="Revenue per day, RUB", fmt=rub),
        "refund_chart": column_chart(refunded, label="Refunds per day, RUB", fmt=rub, color="#e8590c"),
        "failed_chart": column_chart(failed, label="Failed renewal charges per day", color="#c92a2a"),
        "active_chart": bar_chart(active, label="Active subscriptions by plan"),
        "stuck": stuck_operations(now),
        "stuck_after_minutes": int(STUCK_AFTER.total_seconds() // 60),
        "now": now,
        "test_clock": clock.uses_test_clock(),
    }
    return render(request, "kinobill_admin/dashboard.html", context)
