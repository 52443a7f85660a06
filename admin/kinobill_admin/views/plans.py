"""Plans: list, create, edit, take off sale. Writes go to the Subscriptions internal API."""

from __future__ import annotations

from django.contrib import messages
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from kinobill_admin import audit, clock, services
from kinobill_admin.forms import PlanForm
from kinobill_admin.models import Plan
from kinobill_admin.roles import can_operate, operator_view, staff_view


@staff_view
def plan_list(request: HttpRequest) -> HttpResponse:
    plans = Plan.objects.annotate(
        open_subscriptions=Count("subscription", filter=~Q(subscription__status="ended"))
    ).order_by("-created_at")
    now = clock.now()
    rows = [(plan, plan.on_sale_at(now)) for plan in plans]
    return render(request, "kinobill_admin/plan_list.html", {"rows": rows, "now": now})


def _apply_service_error(form: PlanForm, error: services.ServiceError) -> None:
    placed = False
    for name, problems in error.field_errors.items():
        if name in form.fields:
            for problem in problems:
                form.add_error(name, problem)
            placed = True
    if error.code == "plan_code_taken":
        form.add_error("code", error.message)
        placed = True
    if not placed:
        form.add_error(None, f"The Subscriptions service refused: {error.message} ({error.code})")


@staff_view
def plan_create(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        if not can_operate(request.user):
            return _forbidden(request)
        form = PlanForm(request.POST)
        if form.is_valid():
            body = form.api_body()
            try:
                plan = services.create_plan(body)
            except services.ServiceError as error:
                audit.record(
                    request,
                    "plan.create",
                    target_type="plan",
                    details={"request": body},
                    outcome="error",
                    message=str(error),
                )
                _apply_service_error(form, error)
            else:
                audit.record(
                    request,
                    "plan.create",
                    target_type="plan",
                    target_id=plan["id"],
                    details={"request": body, "result": plan},
                )
                messages.success(request, f"Plan {plan['code']} created.")
                return redirect("plan_edit", plan_id=plan["id"])
    else:
        if not can_operate(request.user):
            return _forbidden(request)
        form = PlanForm()
    return render(request, "kinobill_admin/plan_form.html", {"form": form, "plan": None})


@staff_view
def plan_edit(request: HttpRequest, plan_id: str) -> HttpResponse:
    plan = get_object_or_404(Plan, pk=plan_id)
    if request.method == "POST":
        if not can_operate(request.user):
            return _forbidden(request)
        form = PlanForm(request.POST, plan=plan)
        if form.is_valid():
            changes = form.api_body()
            if not changes:
                messages.info(request, "Nothing changed.")
                return redirect("plan_edit", plan_id=plan.pk)
            try:
                result = services.update_plan(str(plan.pk), changes)
            except services.ServiceError as error:
                audit.record(
                    request,
                    "plan.update",
                    target_type="plan",
                    target_id=str(plan.pk),
                    details={"changes": changes},
                    outcome="error",
                    message=str(error),
                )
                _apply_service_error(form, error)
            else:
                before = {"price_month": plan.price_month_rub, "price_year": plan.price_year_rub}
                audit.record(
                    request,
                    "plan.update",
                    target_type="plan",
                    target_id=str(plan.pk),
                    details={"changes": changes, "before": before, "result": result},
                )
                note = ""
                if "price_month" in changes or "price_year" in changes:
                    note = " New prices apply from each subscriber's next renewal; they are told by e-mail."
                messages.success(request, f"Plan {result['code']} saved.{note}")
                return redirect("plan_edit", plan_id=plan.pk)
    else:
        form = PlanForm(plan=plan)
    if not can_operate(request.user):
        for field in form.fields.values():
            field.disabled = True
    on_sale = plan.on_sale_at(clock.now())
    return render(request, "kinobill_admin/plan_form.html", {"form": form, "plan": plan, "on_sale": on_sale})


@require_POST
@operator_view
def plan_end_sale(request: HttpRequest, plan_id: str) -> HttpResponse:
    plan = get_object_or_404(Plan, pk=plan_id)
    try:
        result = services.end_plan_sale(str(plan.pk))
    except services.ServiceError as error:
        audit.record(
            request,
            "plan.end_sale",
            target_type="plan",
            target_id=str(plan.pk),
            outcome="error",
            message=str(error),
        )
        messages.error(request, f"Could not take the plan off sale: {error}")
    else:
        audit.record(
            request, "plan.end_sale", target_type="plan", target_id=str(plan.pk), details={"result": result}
        )
        messages.success(request, f"Plan {plan.code} is off sale; existing subscriptions keep renewing.")
    return redirect("plan_edit", plan_id=plan.pk)


def _forbidden(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "kinobill_admin/forbidden.html",
        {"reason": "Only the operator group may change plans; support is read-only."},
        status=403,
    )
