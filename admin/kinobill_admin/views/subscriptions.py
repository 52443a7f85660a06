"""Subscriptions: list with filters and search, one subscription's whole story, and the actions."""

from __future__ import annotations

import uuid
from datetime import datetime, time
from typing import Any

from django.contrib import messages
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from kinobill.domain.errors import DomainError
from kinobill.domain.money import format_rub
from kinobill.domain.refunds import quote_refund
from kinobill_admin import audit, clock, services
from kinobill_admin.forms import SubscriptionFilter, as_uuid
from kinobill_admin.models import (
    AuditEntry,
    BillingEmail,
    Payment,
    ProviderNotification,
    Refund,
    Subscription,
    SubscriptionEmail,
    SubscriptionPeriod,
)
from kinobill_admin.roles import operator_view, staff_view
from kinobill_admin.views.common import filter_query, paginate


def day_start(day: Any) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def filter_subscriptions(data: dict[str, Any]) -> QuerySet[Subscription]:
    qs = Subscription.objects.select_related("plan")
    q = data.get("q") or ""
    if q:
        as_id = as_uuid(q)
        if as_id is not None:
            qs = qs.filter(Q(user_id=as_id) | Q(id=as_id))
        else:
            qs = qs.filter(user_email__iexact=q) if "@" in q else qs.filter(user_email__icontains=q)
    if data.get("plan"):
        qs = qs.filter(plan=data["plan"])
    if data.get("status"):
        qs = qs.filter(status=data["status"])
    if data.get("auto_renew") == "yes":
        qs = qs.filter(auto_renew=True)
    elif data.get("auto_renew") == "no":
        qs = qs.filter(auto_renew=False)
    if data.get("period_end_from"):
        qs = qs.filter(current_period_end__gte=day_start(data["period_end_from"]))
    if data.get("period_end_to"):
        qs = qs.filter(current_period_end__lt=day_start(data["period_end_to"]) + timezone.timedelta(days=1))
    return qs.order_by("-created_at", "-id")


@staff_view
def subscription_list(request: HttpRequest) -> HttpResponse:
    form = SubscriptionFilter(request.GET or None)
    page = paginate(request, filter_subscriptions(form.cleaned() if request.GET else {}))
    return render(
        request,
        "kinobill_admin/subscription_list.html",
        {"form": form, "page": page, "query": filter_query(request)},
    )


def refund_estimate(sub: Subscription, periods: list[SubscriptionPeriod]) -> dict[str, Any] | None:
    """What the refund rule gives now for the latest paid period (Billing computes the real amount)."""
    if not periods:
        return None
    latest = periods[0]
    payment = Payment.objects.filter(pk=latest.payment_id).first()
    paid = payment.amount if payment else latest.amount
    already = payment.refunded_amount if payment else 0
    try:
        quote = quote_refund(
            paid=paid,
            already_refunded=already,
            period_start=latest.starts_at,
            period_end=latest.ends_at,
            now=clock.now(),
        )
    except (DomainError, ValueError) as exc:
        return {"amount": None, "text": str(exc)}
    return {"amount": format_rub(quote.amount), "text": quote.describe(), "period": latest.period_index}


@staff_view
def subscription_detail(request: HttpRequest, subscription_id: str) -> HttpResponse:
    sub = get_object_or_404(Subscription.objects.select_related("plan"), pk=subscription_id)
    periods = list(SubscriptionPeriod.objects.filter(subscription=sub).order_by("-period_index"))
    payments = list(Payment.objects.filter(subscription_id=sub.id).order_by("-created_at"))
    refunds = list(Refund.objects.filter(subscription_id=sub.id).order_by("-created_at"))
    provider_ids = [p.provider_payment_id for p in payments if p.provider_payment_id] + [
        r.provider_refund_id for r in refunds if r.provider_refund_id
    ]
    notifications = list(ProviderNotification.objects.filter(object_id__in=provider_ids)[:100])
    emails = sorted(
        [
            *SubscriptionEmail.objects.filter(user_id=sub.user_id)[:100],
            *BillingEmail.objects.filter(user_id=sub.user_id)[:100],
        ],
        key=lambda e: e.created_at,
        reverse=True,
    )
    actions = AuditEntry.objects.filter(target_type="subscription", target_id=str(sub.id))[:50]
    context = {
        "sub": sub,
        "periods": periods,
        "payments": payments,
        "refunds": refunds,
        "notifications": notifications,
        "emails": emails,
        "actions": actions,
        "estimate": refund_estimate(sub, periods) if sub.status == "active" else None,
        # a fresh key per page view: a double submit or a retry of this form replays, never refunds twice
        "refund_key": f"admin-refund-{uuid.uuid4()}",
    }
    return render(request, "kinobill_admin/subscription_detail.html", context)


def _act(
    request: HttpRequest, sub: Subscription, action: str, call: Any, details: dict[str, Any], done: Any
) -> HttpResponse:
    try:
        result = call()
    except services.ServiceError as error:
        audit.record(
            request,
            action,
            target_type="subscription",
            target_id=str(sub.id),
            details=details,
            outcome="error",
            message=str(error),
        )
        messages.error(request, f"{action} failed: {error.message} ({error.code})")
    else:
        audit.record(
            request,
            action,
            target_type="subscription",
            target_id=str(sub.id),
            details={**details, "result": result},
        )
        messages.success(request, done(result if isinstance(result, dict) else {}))
    return redirect("subscription_detail", subscription_id=sub.id)


def cancel_done(result: dict[str, Any]) -> str:
    if result.get("status") == "ended":
        return f"The purchase is cancelled ({result.get('ended_reason')}); nothing was charged."
    return "Auto-renew is off; access stays until the period ends."


def refund_done(result: dict[str, Any]) -> str:
    text = f"Refund of {result.get('amount', '?')} RUB requested (status: {result.get('status', '?')})."
    sub = result.get("subscription") or {}
    if sub.get("status") == "ended":
        return f"{text} The subscription has ended ({sub.get('ended_reason')})."
    return f"{text} The subscription ends when YooKassa confirms the refund."


def reconcile_done(result: dict[str, Any]) -> str:
    return (
        f"Reconciliation ran: {result.get('settled_payments', 0)} of {result.get('pending_payments', 0)} "
        f"pending payments and {result.get('settled_refunds', 0)} of {result.get('pending_refunds', 0)} "
        "pending refunds settled."
    )


@require_POST
@operator_view
def subscription_cancel(request: HttpRequest, subscription_id: str) -> HttpResponse:
    sub = get_object_or_404(Subscription, pk=subscription_id)
    return _act(
        request,
        sub,
        "subscription.cancel",
        lambda: services.cancel_subscription(str(sub.id)),
        {},
        cancel_done,
    )


@require_POST
@operator_view
def subscription_refund(request: HttpRequest, subscription_id: str) -> HttpResponse:
    sub = get_object_or_404(Subscription, pk=subscription_id)
    key = (request.POST.get("idempotency_key") or "").strip()[:200] or f"admin-refund-{uuid.uuid4()}"
    return _act(
        request,
        sub,
        "subscription.refund",
        lambda: services.refund_subscription(str(sub.id), key),
        {"idempotency_key": key},
        refund_done,
    )


@require_POST
@operator_view
def subscription_reconcile(request: HttpRequest, subscription_id: str) -> HttpResponse:
    sub = get_object_or_404(Subscription, pk=subscription_id)
    return _act(
        request,
        sub,
        "subscription.reconcile",
        lambda: services.reconcile_subscription(str(sub.id)),
        {},
        reconcile_done,
    )
