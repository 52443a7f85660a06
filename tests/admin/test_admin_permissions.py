"""Who may see and do what, as Django permissions and groups: anonymous → login, staff without a group →
nothing, support reads and exports, operator also acts, and superusers manage accounts."""

from __future__ import annotations

import uuid

import pytest
from admin_pages import admin_url

from shop import new_plan, paid_subscription

LISTS = [
    "plan",
    "subscription",
    "payment",
    "refund",
    "providernotification",
    "subscriptionemail",
    "billingemail",
    "auditentry",
]


@pytest.fixture()
def arranged(django_ready, db_engine):
    plan = new_plan(db_engine)
    sub = paid_subscription(db_engine, plan)
    return plan, sub


def detail_pages(plan, sub) -> list[str]:
    return [
        admin_url("plan", plan["id"], "change"),
        admin_url("subscription", sub["id"], "change"),
        admin_url("payment", sub["payment_id"], "change"),
        admin_url("subscription", sub["id"], "history"),
    ]


def operator_posts(plan, sub) -> list[tuple[str, dict]]:
    return [
        (
            admin_url("plan", "add"),
            {"code": f"x{uuid.uuid4().hex[:8]}", "name": "X", "price_month": "1.00", "price_year": "10.00"},
        ),
        (admin_url("plan", plan["id"], "end-sale"), {}),
        (admin_url("subscription", sub["id"], "cancel"), {}),
        (admin_url("subscription", sub["id"], "refund"), {f"key-{sub['id']}": "k"}),
        (admin_url("subscription", sub["id"], "reconcile"), {}),
    ]


def test_anonymous_is_sent_to_login(django_ready, arranged):
    from django.test import Client

    client = Client()
    for url in ["/", *(admin_url(m) for m in LISTS), *detail_pages(*arranged)]:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/login/"), url


def test_health_needs_no_login(django_ready):
    from django.test import Client

    assert Client().get("/healthz").json() == {"status": "ok"}
    assert Client().get("/readyz").status_code == 200


def test_staff_without_a_group_sees_nothing(nobody_client, arranged):
    home = nobody_client.get("/")
    assert home.status_code == 200 and home.context["app_list"] == [] and "totals" not in home.context
    for model in LISTS:
        assert nobody_client.get(admin_url(model)).status_code == 403, model
    for url in detail_pages(*arranged):
        assert nobody_client.get(url).status_code == 403, url


def test_a_user_who_is_not_staff_cannot_log_in_to_the_admin(django_ready, arranged):
    from admin_staff import client_for, make_user

    user = make_user("operator")
    user.is_staff = False
    user.save()
    assert client_for(user).get(admin_url("subscription"))["Location"].startswith("/login/")


def test_support_reads_every_page_and_may_export_but_not_act(support_client, arranged, db_engine):
    from kinobill_admin.models import AuditEntry, Plan

    plan, sub = arranged
    home = support_client.get("/")
    assert home.status_code == 200 and "totals" in home.context
    for model in LISTS:
        assert support_client.get(admin_url(model)).status_code == 200, model
    for url in detail_pages(plan, sub):
        assert support_client.get(url).status_code == 200, url
    payments = support_client.get(admin_url("payment"))
    assert "export_csv" in {name for name, _label in payments.context["action_form"].fields["action"].choices}
    for url, data in operator_posts(plan, sub):
        assert support_client.post(url, data).status_code == 403, url
    assert not AuditEntry.objects.filter(target_id__in=[str(plan["id"]), str(sub["id"])]).exists()
    assert Plan.objects.get(pk=plan["id"]).sale_end is None


def test_operator_is_offered_the_actions(operator_client, arranged):
    _plan, sub = arranged
    subs = operator_client.get(admin_url("subscription"))
    offered = {name for name, _label in subs.context["action_form"].fields["action"].choices}
    assert {"cancel_selected", "refund_selected", "reconcile_selected"} <= offered
    page = operator_client.get(admin_url("subscription", sub["id"], "change")).content.decode()
    assert 'id="refund-button"' in page and 'id="cancel-button"' in page and 'id="reconcile-button"' in page
    assert operator_client.get(admin_url("plan", "add")).status_code == 200
    # nobody deletes or edits a service row in place: those are the services' tables
    assert operator_client.post(
        admin_url("subscription", sub["id"], "delete"), {"post": "yes"}
    ).status_code in (403, 302)
    assert operator_client.get(admin_url("subscription", "add")).status_code == 403


def test_the_groups_hold_django_permissions(django_ready):
    from django.contrib.auth.models import Group

    support = {p.codename for p in Group.objects.get(name="support").permissions.all()}
    operator = {p.codename for p in Group.objects.get(name="operator").permissions.all()}
    assert {"view_subscription", "view_payment", "export_payment", "view_auditentry"} <= support
    assert not support & {"refund_subscription", "cancel_subscription", "change_plan", "add_plan"}
    assert support < operator
    assert {"refund_subscription", "cancel_subscription", "reconcile_subscription", "change_plan"} <= operator


def test_superusers_manage_accounts_and_groups(django_ready):
    from admin_staff import client_for, make_user

    root = client_for(make_user(None, superuser=True))
    assert root.get("/auth/user/").status_code == 200
    assert root.get("/auth/group/").status_code == 200
    support = client_for(make_user("support"))
    assert support.get("/auth/user/").status_code == 403
