"""Plans through Django's admin add/change forms: validated here, saved by the real Subscriptions service
(its refusals shown on the form), every attempt audited and in the plan's history."""

from __future__ import annotations

import uuid

from admin_pages import action, admin_url

from shop import new_plan


def plan_form(**overrides: str) -> dict[str, str]:
    data = {
        "code": f"p{uuid.uuid4().hex[:10]}",
        "name": "Premium 4K",
        "description": "All films in 4K",
        "price_month": "299.00",
        "price_year": "2990",
        "sale_start_0": "",
        "sale_start_1": "",
        "sale_end_0": "",
        "sale_end_1": "",
    }
    data.update(overrides)
    return data


def edit_form(client, plan_id) -> dict[str, str]:
    """What the change form posts back untouched (the split date and time inputs included)."""
    from django.utils import timezone

    form = client.get(admin_url("plan", plan_id, "change")).context["adminform"].form
    data = {
        name: form[name].value() or ""
        for name in ("code", "name", "description", "price_month", "price_year")
    }
    for name in ("sale_start", "sale_end"):
        value = form[name].value()
        local = timezone.localtime(value) if value else None
        data[f"{name}_0"] = local.strftime("%Y-%m-%d") if local else ""
        data[f"{name}_1"] = local.strftime("%H:%M:%S") if local else ""
    return data


def test_operator_creates_a_plan_through_the_service(operator_client, operator_user):
    from kinobill_admin.models import AuditEntry, Plan

    data = plan_form(price_month="299.5")
    response = operator_client.post(admin_url("plan", "add"), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    plan = Plan.objects.get(code=data["code"])
    assert (plan.price_month, plan.price_year, plan.name) == (29950, 299000, "Premium 4K")
    assert plan.sale_end is None
    assert response["Location"] in (admin_url("plan"), admin_url("plan", plan.id, "change"))
    entry = AuditEntry.objects.get(action="plan.create", target_id=str(plan.id))
    assert entry.actor_id == operator_user.id and entry.outcome == "ok"
    assert entry.details["request"]["price_month"] == "299.50"
    listing = operator_client.get(admin_url("plan")).content.decode()
    assert data["code"] in listing and "299.50" in listing


def test_the_form_refuses_bad_prices_and_windows_before_calling_the_service(operator_client):
    from kinobill_admin.models import AuditEntry, Plan

    cases = [
        ({"price_month": "12.345"}, "more than two decimals"),
        ({"price_year": "0.50"}, "at least 1.00"),
        ({"price_month": "-5"}, "negative"),
        ({"code": "Bad Code"}, "Plan code must be"),
        (
            {
                "sale_start_0": "2030-01-02",
                "sale_start_1": "10:00",
                "sale_end_0": "2030-01-01",
                "sale_end_1": "10:00",
            },
            "must end after it starts",
        ),
    ]
    before = AuditEntry.objects.filter(action="plan.create").count()
    for overrides, expected in cases:
        data = plan_form(**overrides)
        response = operator_client.post(admin_url("plan", "add"), data)
        assert response.status_code == 200, overrides
        assert expected in response.content.decode(), overrides
        assert not Plan.objects.filter(code=data["code"]).exists()
    assert AuditEntry.objects.filter(action="plan.create").count() == before


def test_a_failed_call_to_the_service_is_shown_on_the_form_and_audited(operator_client):
    from django.test import override_settings

    from kinobill_admin.models import AuditEntry, Plan
    from support import free_port

    data = plan_form()
    with override_settings(SUBSCRIPTIONS_URL=f"http://127.0.0.1:{free_port()}"):  # a closed port
        response = operator_client.post(admin_url("plan", "add"), data)
    assert response.status_code == 200
    form = response.context["adminform"].form
    assert "service_unavailable" in " ".join(form.non_field_errors())
    assert "The Subscriptions service refused" in response.content.decode()
    assert not Plan.objects.filter(code=data["code"]).exists()
    entry = AuditEntry.objects.get(action="plan.create", details__request__code=data["code"])
    assert entry.outcome == "error" and "service_unavailable" in entry.message


def test_a_taken_code_is_an_error_on_the_code_field(operator_client, db_engine):
    taken = new_plan(db_engine)
    response = operator_client.post(admin_url("plan", "add"), plan_form(code=taken["code"]))
    assert response.status_code == 200
    assert "already exists" in " ".join(response.context["adminform"].form.errors["code"])


def test_a_price_change_is_sent_alone_and_shows_in_the_history(operator_client, db_engine):
    from kinobill_admin.models import AuditEntry, Plan

    plan = new_plan(db_engine)
    data = edit_form(operator_client, plan["id"])
    data["price_month"] = "349.00"
    response = operator_client.post(admin_url("plan", plan["id"], "change"), data, follow=True)
    assert response.status_code == 200
    stored = Plan.objects.get(pk=plan["id"])
    assert stored.price_month == 34900 and stored.price_year == plan["price_year"]
    entry = AuditEntry.objects.get(action="plan.update", target_id=str(plan["id"]))
    assert entry.details["request"] == {"price_month": "349.00"}
    history = operator_client.get(admin_url("plan", plan["id"], "history")).content.decode()
    assert "plan.update: ok" in history


def test_a_service_error_on_edit_is_shown_on_the_form(operator_client, db_engine):
    from kinobill_admin.models import AuditEntry, Plan

    plan, other = new_plan(db_engine), new_plan(db_engine)
    data = edit_form(operator_client, plan["id"])
    data["code"] = other["code"]  # Django's unique check catches this one before any call
    response = operator_client.post(admin_url("plan", plan["id"], "change"), data)
    assert response.status_code == 200 and "code" in response.context["adminform"].form.errors
    assert Plan.objects.get(pk=plan["id"]).code == plan["code"]
    assert not AuditEntry.objects.filter(action="plan.update", target_id=str(plan["id"])).exists()


def test_taking_a_plan_off_sale_by_object_tool_and_by_action(operator_client, support_client, db_engine):
    from django.utils import timezone

    from kinobill_admin.models import AuditEntry, Plan

    one, two = new_plan(db_engine), new_plan(db_engine)
    assert support_client.post(admin_url("plan", one["id"], "end-sale")).status_code == 403
    response = operator_client.post(admin_url("plan", one["id"], "end-sale"), follow=True)
    assert "is off sale" in response.content.decode()
    done = action(operator_client, "plan", "end_sale_selected", [two["id"]])
    assert done.status_code == 302
    for plan in (one, two):
        stored = Plan.objects.get(pk=plan["id"])
        assert stored.sale_end is not None and not stored.on_sale_at(timezone.now())
        assert AuditEntry.objects.filter(
            action="plan.end_sale", target_id=str(plan["id"]), outcome="ok"
        ).exists()


def test_support_reads_a_plan_but_cannot_add_or_change_it(support_client, db_engine):
    from kinobill_admin.models import Plan

    plan = new_plan(db_engine)
    assert support_client.get(admin_url("plan", "add")).status_code == 403
    page = support_client.get(admin_url("plan", plan["id"], "change"))
    assert page.status_code == 200 and plan["code"] in page.content.decode()
    assert 'name="price_month"' not in page.content.decode()  # read-only: every column, no inputs
    refused = support_client.post(admin_url("plan", plan["id"], "change"), {"name": "Hijacked"})
    assert refused.status_code == 403
    assert Plan.objects.get(pk=plan["id"]).name == plan["name"]
