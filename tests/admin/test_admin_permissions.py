"""Who may see and do what: anonymous → login, no group → 403, support reads, operator acts."""

from __future__ import annotations

import uuid

import pytest
from admin_arrange import new_plan, paid_subscription

READ_PAGES = ["/", "/plans/", "/subscriptions/", "/payments/", "/refunds/", "/audit/"]


@pytest.fixture()
def arranged(django_ready, db_engine):
    plan = new_plan(db_engine)
    sub = paid_subscription(db_engine, plan)
    return plan, sub


def action_posts(plan, sub) -> list[tuple[str, dict]]:
    return [
        (
            "/plans/new/",
            {"code": f"x{uuid.uuid4().hex[:8]}", "name": "X", "price_month": "1.00", "price_year": "10.00"},
        ),
        (
            f"/plans/{plan['id']}/",
            {
                "code": plan["code"],
                "name": "Renamed",
                "price_month": "1.00",
                "price_year": "10.00",
                "sale_start": "2020-01-01T00:00",
            },
        ),
        (f"/plans/{plan['id']}/end-sale/", {}),
        (f"/subscriptions/{sub['id']}/cancel/", {}),
        (f"/subscriptions/{sub['id']}/refund/", {"idempotency_key": "k"}),
        (f"/subscriptions/{sub['id']}/reconcile/", {}),
    ]


def test_anonymous_is_sent_to_login(django_ready, arranged):
    from django.test import Client

    client = Client()
    for url in [*READ_PAGES, f"/subscriptions/{arranged[1]['id']}/"]:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/login/"), url


def test_health_needs_no_login(django_ready):
    from django.test import Client

    assert Client().get("/healthz").json() == {"status": "ok"}
    assert Client().get("/readyz").status_code == 200


def test_a_user_without_a_staff_group_is_refused(nobody_client, arranged):
    for url in READ_PAGES:
        assert nobody_client.get(url).status_code == 403, url


def test_support_reads_every_page(support_client, arranged):
    plan, sub = arranged
    pages = [
        *READ_PAGES,
        f"/plans/{plan['id']}/",
        f"/subscriptions/{sub['id']}/",
        f"/payments/{sub['payment_id']}/",
        "/payments/export.csv",
        "/refunds/export.csv",
    ]
    for url in pages:
        response = support_client.get(url)
        assert response.status_code == 200, url


def test_support_sees_no_action_buttons(support_client, arranged):
    plan, sub = arranged
    page = support_client.get(f"/subscriptions/{sub['id']}/").content.decode()
    assert "Read-only" in page
    assert 'id="refund-button"' not in page and 'id="cancel-button"' not in page
    plan_page = support_client.get(f"/plans/{plan['id']}/").content.decode()
    assert "Take off sale" not in plan_page and "Save changes" not in plan_page
    assert support_client.get("/plans/new/").status_code == 403


def test_support_cannot_act_and_nothing_changes(support_client, arranged):
    from kinobill_admin.models import AuditEntry, Plan

    plan, sub = arranged
    before = AuditEntry.objects.count()
    for url, data in action_posts(plan, sub):
        assert support_client.post(url, data).status_code == 403, url
    assert AuditEntry.objects.count() == before  # refused before any call was made
    stored = Plan.objects.get(pk=plan["id"])
    assert stored.name == "Arranged plan" and stored.sale_end is None


def test_operator_sees_the_action_buttons(operator_client, arranged):
    _, sub = arranged
    page = operator_client.get(f"/subscriptions/{sub['id']}/").content.decode()
    assert 'id="refund-button"' in page and 'id="cancel-button"' in page and 'id="reconcile-button"' in page
    assert "Read-only" not in page


def test_actions_refuse_get(operator_client, arranged):
    plan, sub = arranged
    for url in (f"/plans/{plan['id']}/end-sale/", f"/subscriptions/{sub['id']}/refund/"):
        assert operator_client.get(url).status_code == 405, url


def test_staffuser_command_puts_the_user_in_exactly_one_role(django_ready, monkeypatch):
    from django.contrib.auth.models import User

    from kinobill_admin.manage import main

    name = f"cli-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("KB_TEST_PW", "a-long-enough-secret-42")
    assert main(["staffuser", name, "--role", "support", "--password-env", "KB_TEST_PW"]) == 0
    assert main(["staffuser", name, "--role", "operator", "--password-env", "KB_TEST_PW"]) == 0
    user = User.objects.get(username=name)
    assert [g.name for g in user.groups.all()] == ["operator"]
    assert user.check_password("a-long-enough-secret-42")
    monkeypatch.setenv("KB_TEST_PW", "short")
    assert main(["staffuser", f"{name}x", "--role", "support", "--password-env", "KB_TEST_PW"]) != 0
    assert not User.objects.filter(username=f"{name}x").exists()
