"""Plans through the admin: forms validate, the real Subscriptions service applies, the audit log records."""

from __future__ import annotations

import uuid

from admin_arrange import new_plan


def plan_form(**overrides: str) -> dict[str, str]:
    data = {
        "code": f"p{uuid.uuid4().hex[:10]}",
        "name": "Premium 4K",
        "description": "All films in 4K",
        "price_month": "299.00",
        "price_year": "2990",
        "sale_start": "",
        "sale_end": "",
    }
    data.update(overrides)
    return data


def test_operator_creates_a_plan_through_the_service(operator_client, operator_user):
    from kinobill_admin.models import AuditEntry, Plan

    data = plan_form(price_month="299.5")
    response = operator_client.post("/plans/new/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    plan = Plan.objects.get(code=data["code"])
    assert (plan.price_month, plan.price_year, plan.name) == (29950, 299000, "Premium 4K")
    assert plan.sale_end is None
    assert response["Location"] == f"/plans/{plan.id}/"
    entry = AuditEntry.objects.get(action="plan.create", target_id=str(plan.id))
    assert entry.actor_id == operator_user.id and entry.outcome == "ok"
    assert entry.details["request"]["price_month"] == "299.50"
    listing = operator_client.get("/plans/").content.decode()
    assert data["code"] in listing and "299.50" in listing


def test_the_form_refuses_bad_prices_and_windows_before_calling_the_service(operator_client):
    from kinobill_admin.models import AuditEntry, Plan

    cases = [
        ({"price_month": "12.345"}, "more than two decimals"),
        ({"price_year": "0.50"}, "at least 1.00"),
        ({"price_month": "-5"}, "negative"),
        ({"code": "Bad Code"}, "Plan code must be"),
        ({"sale_start": "2030-01-02T10:00", "sale_end": "2030-01-01T10:00"}, "must end after it starts"),
    ]
    before = AuditEntry.objects.filter(action="plan.create").count()
    for overrides, expected in cases:
        data = plan_form(**overrides)
        response = operator_client.post("/plans/new/", data)
        assert response.status_code == 200, overrides
        assert expected in response.content.decode(), overrides
        assert not Plan.objects.filter(code=data["code"]).exists()
    assert AuditEntry.objects.filter(action="plan.create").count() == before


def test_a_refusal_from_the_service_is_shown_on_the_form_and_audited(operator_client, db_engine):
    from kinobill_admin.models import AuditEntry

    taken = new_plan(db_engine)
    response = operator_client.post("/plans/new/", plan_form(code=taken["code"]))
    assert response.status_code == 200
    page = response.content.decode()
    assert "already exists" in page  # the service's plan_code_taken message, on the code field
    entry = AuditEntry.objects.filter(action="plan.create", outcome="error").first()
    assert entry is not None and "plan_code_taken" in entry.message


def test_a_price_change_is_sent_alone_and_applies_from_the_next_renewal(operator_client, db_engine):
    from kinobill_admin.models import AuditEntry, Plan

    plan = new_plan(db_engine)
    page = operator_client.get(f"/plans/{plan['id']}/")
    form = page.context["form"]
    data = {name: form[name].value() or "" for name in form.fields}
    data["sale_start"] = form["sale_start"].value().strftime("%Y-%m-%dT%H:%M")
    data["price_month"] = "349.00"
    response = operator_client.post(f"/plans/{plan['id']}/", data, follow=True)
    assert response.status_code == 200
    assert "next renewal" in response.content.decode()
    stored = Plan.objects.get(pk=plan["id"])
    assert stored.price_month == 34900 and stored.price_year == plan["price_year"]
    assert stored.sale_start == plan["sale_start"]  # untouched: the form's minute precision is not sent
    entry = AuditEntry.objects.get(action="plan.update", target_id=str(plan["id"]))
    assert entry.details["changes"] == {"price_month": "349.00"}
    assert entry.details["before"]["price_month"] == "299.00"


def test_an_edit_based_on_a_stale_page_is_refused(operator_client, db_engine):
    from kinobill_admin.models import Plan

    plan = new_plan(db_engine)
    form = operator_client.get(f"/plans/{plan['id']}/").context["form"]
    data = {name: form[name].value() or "" for name in form.fields}
    data["sale_start"] = form["sale_start"].value().strftime("%Y-%m-%dT%H:%M")
    data["loaded_version"] = "2001-01-01T00:00:00+00:00"
    data["name"] = "Lost update"
    response = operator_client.post(f"/plans/{plan['id']}/", data)
    assert "Someone changed this plan" in response.content.decode()
    assert Plan.objects.get(pk=plan["id"]).name == "Arranged plan"


def test_taking_a_plan_off_sale(operator_client, db_engine):
    from django.utils import timezone

    from kinobill_admin.models import AuditEntry, Plan

    plan = new_plan(db_engine)
    response = operator_client.post(f"/plans/{plan['id']}/end-sale/", follow=True)
    assert "off sale" in response.content.decode()
    stored = Plan.objects.get(pk=plan["id"])
    assert stored.sale_end is not None and stored.sale_end <= timezone.now()
    assert not stored.on_sale_at(timezone.now())
    assert AuditEntry.objects.filter(action="plan.end_sale", target_id=str(plan["id"]), outcome="ok").exists()
