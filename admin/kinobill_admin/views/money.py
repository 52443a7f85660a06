"""Payments and refunds: read-only lists with filters, provider objects, webhook history, CSV export."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone

from kinobill.domain.money import format_rub
from kinobill_admin import audit
from kinobill_admin.forms import MoneyFilter, as_uuid
from kinobill_admin.models import Payment, ProviderNotification, Refund
from kinobill_admin.roles import staff_view
from kinobill_admin.views.common import filter_query, paginate
from kinobill_admin.views.subscriptions import day_start

CSV_LIMIT = 200_000  # one export, streamed; narrow the filters for more


def filter_money(qs: QuerySet, data: dict[str, Any], provider_field: str, email: bool) -> QuerySet:
    if data.get("status"):
        qs = qs.filter(status=data["status"])
    if data.get("created_from"):
        qs = qs.filter(created_at__gte=day_start(data["created_from"]))
    if data.get("created_to"):
        qs = qs.filter(created_at__lt=day_start(data["created_to"]) + timedelta(days=1))
    if data.get("amount_min") is not None:
        qs = qs.filter(amount__gte=data["amount_min"])
    if data.get("amount_max") is not None:
        qs = qs.filter(amount__lte=data["amount_max"])
    provider_id = (data.get("provider_id") or "").strip()
    if provider_id:
        qs = qs.filter(**{provider_field: provider_id})
    q = (data.get("q") or "").strip()
    if q:
        as_id = as_uuid(q)
        if as_id is not None:
            qs = qs.filter(Q(id=as_id) | Q(user_id=as_id) | Q(subscription_id=as_id))
        elif email:
            qs = qs.filter(user_email__iexact=q)
        else:
            qs = qs.filter(payment__user_email__iexact=q)
    return qs.order_by("-created_at", "-id")


def _filtered(
    request: HttpRequest, model: type, provider_field: str, email: bool
) -> tuple[MoneyFilter, QuerySet]:
    form = MoneyFilter(request.GET or None)
    data = form.cleaned() if request.GET else {}
    return form, filter_money(model.objects.all(), data, provider_field, email)


@staff_view
def payment_list(request: HttpRequest) -> HttpResponse:
    form, qs = _filtered(request, Payment, "provider_payment_id", True)
    return render(
        request,
        "kinobill_admin/payment_list.html",
        {"form": form, "page": paginate(request, qs), "query": filter_query(request)},
    )


@staff_view
def refund_list(request: HttpRequest) -> HttpResponse:
    form, qs = _filtered(request, Refund, "provider_refund_id", False)
    return render(
        request,
        "kinobill_admin/refund_list.html",
        {"form": form, "page": paginate(request, qs), "query": filter_query(request)},
    )


def pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True) if value is not None else ""


def _notifications(object_id: str | None) -> list[dict[str, Any]]:
    if not object_id:
        return []
    return [
        {"row": n, "body": pretty(n.body)}
        for n in ProviderNotification.objects.filter(object_id=object_id).order_by("-received_at")[:200]
    ]


@staff_view
def payment_detail(request: HttpRequest, payment_id: str) -> HttpResponse:
    payment = get_object_or_404(Payment, pk=payment_id)
    refunds = Refund.objects.filter(payment_id=payment.id).order_by("-created_at")
    return render(
        request,
        "kinobill_admin/payment_detail.html",
        {
            "payment": payment,
            "refunds": refunds,
            "provider_object": pretty(payment.provider_object),
            "notifications": _notifications(payment.provider_payment_id),
        },
    )


@staff_view
def refund_detail(request: HttpRequest, refund_id: str) -> HttpResponse:
    refund = get_object_or_404(Refund.objects.select_related("payment"), pk=refund_id)
    return render(
        request,
        "kinobill_admin/refund_detail.html",
        {
            "refund": refund,
            "provider_object": pretty(refund.provider_object),
            "notifications": _notifications(refund.provider_refund_id),
        },
    )


class _Echo:
    def write(self, value: str) -> str:
        return value


def _iso(value: Any) -> str:
    return value.isoformat() if value else ""


def _csv_response(name: str, header: list[str], rows: Iterator[list[Any]]) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())

    def lines() -> Iterator[str]:
        yield writer.writerow(header)
        for row in rows:
            yield writer.writerow(row)

    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}-{stamp}.csv"'
    return response


@staff_view
def payment_csv(request: HttpRequest) -> StreamingHttpResponse:
    _, qs = _filtered(request, Payment, "provider_payment_id", True)
    audit.record(
        request, "payments.export_csv", target_type="payment", details={"filters": request.GET.dict()}
    )
    header = [
        "id",
        "created_at",
        "paid_at",
        "status",
        "provider_status",
        "amount",
        "refunded",
        "currency",
        "kind",
        "subscription_id",
        "period_index",
        "user_id",
        "user_email",
        "provider_payment_id",
        "cancellation_reason",
    ]
    rows = (
        [
            p.id,
            _iso(p.created_at),
            _iso(p.paid_at),
            p.status,
            p.provider_status or "",
            format_rub(p.amount),
            format_rub(p.refunded_amount),
            p.currency,
            p.kind,
            p.subscription_id,
            p.period_index,
            p.user_id,
            p.user_email or "",
            p.provider_payment_id or "",
            p.cancellation_reason or "",
        ]
        for p in qs[:CSV_LIMIT].iterator(chunk_size=2000)
    )
    return _csv_response("payments", header, rows)


@staff_view
def refund_csv(request: HttpRequest) -> StreamingHttpResponse:
    _, qs = _filtered(request, Refund, "provider_refund_id", False)
    audit.record(request, "refunds.export_csv", target_type="refund", details={"filters": request.GET.dict()})
    header = [
        "id",
        "created_at",
        "succeeded_at",
        "status",
        "amount",
        "currency",
        "payment_id",
        "subscription_id",
        "user_id",
        "provider_refund_id",
        "cancellation_reason",
    ]
    rows = (
        [
            r.id,
            _iso(r.created_at),
            _iso(r.succeeded_at),
            r.status,
            format_rub(r.amount),
            r.currency,
            r.payment_id,
            r.subscription_id,
            r.user_id,
            r.provider_refund_id or "",
            r.cancellation_reason or "",
        ]
        for r in qs[:CSV_LIMIT].iterator(chunk_size=2000)
    )
    return _csv_response("refunds", header, rows)
