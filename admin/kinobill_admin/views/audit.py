"""The audit log: every staff action attempt, filterable by who, what and target."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from kinobill_admin.models import AuditEntry
from kinobill_admin.roles import staff_view
from kinobill_admin.views.common import filter_query, paginate


@staff_view
def audit_list(request: HttpRequest) -> HttpResponse:
    qs = AuditEntry.objects.all()
    actor = request.GET.get("actor", "").strip()
    action = request.GET.get("action", "").strip()
    target = request.GET.get("target", "").strip()
    if actor:
        qs = qs.filter(actor_name__iexact=actor)
    if action:
        qs = qs.filter(action__startswith=action)
    if target:
        qs = qs.filter(target_id=target)
    return render(
        request,
        "kinobill_admin/audit_list.html",
        {
            "page": paginate(request, qs),
            "query": filter_query(request),
            "actor": actor,
            "action": action,
            "target": target,
        },
    )
