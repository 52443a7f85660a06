"""Change lists (filters, search, paging, bad input), detail pages, CSV exports and the dashboard, over
rows arranged in the real database."""

from __future__ import annotations

import csv
import io
import re
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
from admin_pages import action, admin_url, listed_ids

from kinobill.billing import tables as billing
from shop import new_plan, notification, paid_subscription, refund_row


@pytest.fixture()
def world(django_ready, db_engine):
    """One fresh plan with three subscriptions (two active, one ended) and a refund."""
    plan = new_plan(db_engine, name=f"Plan {uuid.uuid4().hex[:6]}")
    now = datetime.now(UTC)
    on = paid_subscription(db_engine, plan, started=now - timedelta(days=3), amount=29900)
    off = paid_subscription(db_engine, plan, started=now - timedelta(days=20), amount=19900, auto_renew=False)
    ended = paid_subscription(db_engine, plan, started=now - timedelta(days=40), amount=9900, status="ended")
    refund = refund_row(db_engine, off, amount=5000)
    notification(db_engine, on["provider_payment_id"])
    notification(
        db_engine, on["provider_payment_id"], event="payment.waiting_for_capture", outcome="duplicate"
    )
    return {"plan": plan, "on": on, "off": off, "ended": ended, "refund": refund}


def test_subscription_filters(support_client, world):
    plan = str(world["plan"]["id"])
    on, off, ended = (str(world[k]["id"]) for k in ("on", "off", "ended"))

    def subs(**params: str) -> set[str]:
        return listed_ids(support_client, "subscription", plan__id__exact=plan, **params)

    assert subs() == {on, off, ended}
    assert subs(status="active") == {on, off}
    assert subs(status="ended") == {ended}
    assert subs(ended_reason="cancelled") == {ended}
    assert subs(auto_renew__exact="0") == {off}
    assert subs(auto_renew__exact="1", status="active") == {on}
    assert subs(period="year") == set()
    end_on = world["on"]["end"]
    assert subs(
        current_period_end__gte=(end_on - timedelta(hours=1)).isoformat(),
        current_period_end__lt=(end_on + timedelta(hours=1)).isoformat(),
    ) == {on}
    assert subs(created_at__gte=(datetime.now(UTC) - timedelta(days=7)).isoformat()) == {on}


def test_a_filtered_list_links_each_row_to_its_page_keeping_the_filters(support_client, world):
    on = str(world["on"]["id"])
    query = {"status": "active", "q": on}
    page = support_client.get(admin_url("subscription"), query).content.decode()
    kept = urlencode({"_changelist_filters": urlencode(query)})
    assert f'href="{admin_url("subscription", on, "change")}?{kept}"' in page
    # and Django follows them back: the change page's link to the list has the same filters
    detail = support_client.get(f"{admin_url('subscription', on, 'change')}?{kept}").content.decode()
    assert f"{admin_url('subscription')}?{urlencode(query)}".replace("&", "&amp;") in detail


def test_subscription_search_by_user_id_email_or_id(support_client, world):
    on = world["on"]

    def found(q: str) -> set[str]:
        return listed_ids(support_client, "subscription", q=q)

    assert found(str(on["user_id"])) == {str(on["id"])}
    assert found(on["email"].upper()) == {str(on["id"])}
    assert found(f"  {on['id']} ") == {str(on["id"])}
    assert found(f"nobody-{uuid.uuid4().hex}@example.com") == set()
    assert found("no such thing") == set()


BAD_INPUTS = [
    {"status": "\x00"},
    {"status": "bogus"},
    {"q": "a\x00b"},
    {"q": "x" * 500},
    {"p": "999999999999999999999"},
    {"p": "-3"},
    {"created_at__gte": "\x00"},
    {"created_at__gte": "99999-01-01"},
    {"created_at__lt": "0000-00-00"},
    {"plan__id__exact": "not-a-uuid"},
    {"auto_renew__exact": "\x00"},
    {"current_period_end__gte": "9999-12-31T23:59:59+14:00"},
    {"no_such_field": "1"},
    {"o": "99"},
]


def test_bad_filter_values_pages_and_dates_are_a_clear_4xx_never_a_500(support_client, world):
    for model in (
        "subscription",
        "payment",
        "refund",
        "plan",
        "providernotification",
        "subscriptionemail",
        "auditentry",
    ):
        for params in BAD_INPUTS:
            response = support_client.get(admin_url(model), params)
            assert response.status_code < 500, (model, params, response.status_code)
            assert response.status_code in (200, 302, 400), (model, params, response.status_code)
    refused = support_client.get(admin_url("payment"), {"status": "\x00"})
    assert refused.status_code == 400 and "NUL" in refused.content.decode()
    # past the last page of a list longer than one page: 400 naming the page, not an empty page or a scan
    from kinobill_admin.models import AuditEntry

    actor = f"bulk-{uuid.uuid4().hex[:8]}"
    AuditEntry.objects.bulk_create(
        [AuditEntry(actor_name=actor, action="test.bulk", outcome="ok") for _ in range(60)]
    )
    assert len(listed_ids(support_client, "auditentry", q=actor, p="2")) == 10
    deep = support_client.get(admin_url("auditentry"), {"q": actor, "p": "999999999999999999999"})
    assert deep.status_code == 400 and "page" in deep.content.decode()
    assert support_client.get(admin_url("auditentry"), {"at__year": "99999"}).status_code == 400
    for model in ("subscription", "payment", "refund", "subscriptionemail"):
        assert support_client.get(admin_url(model, "not-a-uuid", "change")).status_code in (302, 404)
    for bad_id in ("not-a-uuid", "\x00", "9" * 40):  # a ticked row id that is not one
        refused = action(support_client, "payment", "export_csv", [bad_id])
        assert refused.status_code == 400, bad_id
    assert support_client.get(admin_url("providernotification", "1" * 40, "change")).status_code in (302, 404)


def test_subscription_detail_shows_every_column_periods_payments_refunds_emails_and_webhooks(
    support_client, world, db_engine
):
    from kinobill.subscriptions import tables as subs

    off = world["off"]
    with db_engine.begin() as conn:
        conn.execute(
            subs.emails.insert().values(
                id=uuid.uuid4(),
                dedupe_key=f"welcome:{off['id']}",
                user_id=off["user_id"],
                to_address=off["email"],
                kind="activated",
                subject="Your subscription is active",
                body="Enjoy",
            )
        )
    response = support_client.get(admin_url("subscription", off["id"], "change"))
    page = response.content.decode()
    shown = {field for fieldset in response.context["adminform"] for line in fieldset for field in line}
    labels = {f.field["name"] for f in shown}
    for column in subs.subscriptions.columns:  # every column of the table, generically
        assert column.name.removesuffix("_id") in labels or column.name in labels, column.name
    assert str(off["payment_id"]) in page
    assert str(world["refund"]["id"]) in page and "50.00" in page
    assert "Your subscription is active" in page
    on_page = support_client.get(admin_url("subscription", world["on"]["id"], "change")).content.decode()
    assert "payment.waiting_for_capture" in on_page


def test_refund_estimate_on_the_confirmation_follows_the_rule(operator_client, world):
    def estimate(sub):
        page = operator_client.get(admin_url("subscription", sub["id"], "refund"))
        return page.context["rows"][0][1]

    assert estimate(world["on"]).amount == "299.00"  # 3 days into the period: full refund
    later = estimate(world["off"])
    assert later.text.startswith("prorated")  # 20 days in; 50.00 already refunded is subtracted
    assert 0 < float(later.amount) < 199.00 - 50.00


def test_payment_filters_and_search(support_client, world):
    on, off = world["on"], world["off"]

    def payments(**params: str) -> set[str]:
        return listed_ids(support_client, "payment", **params)

    assert payments(q=on["provider_payment_id"]) == {str(on["payment_id"])}
    assert payments(q=str(off["user_id"])) == {str(off["payment_id"])}
    assert payments(q=str(off["id"])) == {str(off["payment_id"])}  # by subscription id
    assert payments(q=off["email"]) == {str(off["payment_id"])}
    assert payments(q=str(off["user_id"]), status="pending") == set()
    assert payments(q=str(off["user_id"]), status="succeeded", kind="initial") == {str(off["payment_id"])}
    created = off["start"]
    assert payments(q=str(off["user_id"]), created_at__gte=(created + timedelta(days=2)).isoformat()) == set()
    assert payments(
        q=str(off["user_id"]),
        created_at__gte=(created - timedelta(days=1)).isoformat(),
        created_at__lt=(created + timedelta(days=1)).isoformat(),
    ) == {str(off["payment_id"])}


def test_refund_filters_search_and_detail(support_client, world):
    refund, off = world["refund"], world["off"]
    assert listed_ids(support_client, "refund", q=refund["provider_refund_id"]) == {str(refund["id"])}
    assert listed_ids(support_client, "refund", q=off["email"]) == {str(refund["id"])}
    assert listed_ids(support_client, "refund", q=off["email"], status="pending") == set()
    page = support_client.get(admin_url("refund", refund["id"], "change")).content.decode()
    assert refund["provider_refund_id"] in page and "50.00" in page


def test_payment_detail_shows_the_raw_provider_object_and_webhook_history(support_client, world):
    on = world["on"]
    page = support_client.get(admin_url("payment", on["payment_id"], "change")).content.decode()
    assert f"&quot;id&quot;: &quot;{on['provider_payment_id']}&quot;" in page
    assert page.count("185.71.76.1") == 2 and "duplicate" in page


def test_email_and_notification_lists(support_client, world):
    on = world["on"]
    found = listed_ids(support_client, "providernotification", q=on["provider_payment_id"])
    assert len(found) == 2
    by_event = listed_ids(support_client, "providernotification", q="payment.waiting_for_capture")
    assert len(found & by_event) == 1  # an event name searches the events, not the objects
    one = sorted(found)[0]
    assert support_client.get(admin_url("providernotification", one, "change")).status_code == 200
    assert support_client.get(admin_url("billingemail")).status_code == 200


def read_csv(response) -> list[dict[str, str]]:
    assert response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


def test_csv_exports_are_audited_and_neutralise_formulas(support_client, world, db_engine):
    from kinobill_admin.models import AuditEntry

    off = world["off"]
    rows = read_csv(action(support_client, "payment", "export_csv", [off["payment_id"]]))
    assert [(r["id"], r["amount"], r["refunded_amount"]) for r in rows] == [
        (str(off["payment_id"]), "19900", "5000")
    ]
    refunds = read_csv(action(support_client, "refund", "export_csv", [world["refund"]["id"]]))
    assert [(r["id"], r["amount"], r["status"]) for r in refunds] == [
        (str(world["refund"]["id"]), "5000", "succeeded")
    ]
    entry = AuditEntry.objects.filter(action="payment.export_csv").first()
    assert entry is not None and entry.outcome == "ok"

    # a payer's e-mail or a provider's reason that a spreadsheet would run as a formula
    evil = paid_subscription(db_engine, world["plan"], email='=HYPERLINK("http://x")@example.com')
    with db_engine.begin() as conn:
        conn.execute(
            billing.payments.update()
            .where(billing.payments.c.id == evil["payment_id"])
            .values(cancellation_reason="+cmd|' /C calc'!A0", provider_status="-1+1", description="@SUM(1)")
        )
    (row,) = read_csv(action(support_client, "payment", "export_csv", [evil["payment_id"]]))
    assert row["user_email"] == '\'=HYPERLINK("http://x")@example.com'
    assert row["cancellation_reason"] == "'+cmd|' /C calc'!A0"
    assert row["provider_status"] == "'-1+1"


def test_dashboard_charts_and_stuck_operations(support_client, world, db_engine):
    now = datetime.now(UTC)
    stuck_id = uuid.uuid4()
    on = world["on"]
    with db_engine.begin() as conn:
        conn.execute(
            billing.payments.insert().values(
                id=stuck_id,
                user_id=on["user_id"],
                subscription_id=on["id"],
                period_index=1,
                kind="renewal",
                charge_key=f"renewal:{on['id']}:1:{uuid.uuid4()}",
                amount=29900,
                status="pending",
                provider_attempts=3,
                last_error="timeout",
                # the list shows the 20 oldest stuck payments: older than any other test's rows
                created_at=now - timedelta(days=400),
                updated_at=now - timedelta(days=400),
                next_check_at=now - timedelta(minutes=1),
            )
        )
    response = support_client.get("/")
    page = response.content.decode()
    assert page.count('<svg class="chart"') == 4
    assert f"{world['plan']['name']}: 2</title>" in page  # active subscriptions by plan: on + off
    stuck = response.context["stuck"]
    assert str(stuck_id) in {str(p.id) for p in stuck["payments"]}
    assert str(stuck_id) in page
    from django.utils import timezone

    day = timezone.localdate(on["start"]).strftime("%d.%m")
    revenue_chart = page[page.index("Revenue per day, RUB") : page.index("Active subscriptions by plan")]
    shown = re.search(rf"<title>{re.escape(day)}: ([0-9.]+)</title>", revenue_chart)
    assert shown is not None and float(shown.group(1)) >= 299.00  # at least the arranged payment


def column_headers(page: str) -> list[str]:
    return re.findall(r'<div class="text">(?:<a [^>]*>|<span>)([^<]+)<', page)


def test_change_list_columns_are_russian_by_default_and_english_on_request(world):
    from admin_staff import client_for, make_user
    from django.contrib import admin
    from django.test import Client
    from django.utils import translation

    user = make_user("support")
    russian = Client()  # no Accept-Language: the admin's default
    russian.force_login(user)
    search = {"q": str(world["on"]["id"])}  # a row, so the list has its table
    assert column_headers(russian.get(admin_url("payment"), search).content.decode()) == [
        "ID",
        "Создано",
        "Сумма",
        "Статус",
        "Причина отмены",
        "Регистрация чека",
        "Вид",
        "E-mail пользователя",
        "ID платежа в ЮKassa",
        "Оплачено",
    ]
    english = client_for(user, language="en").get(admin_url("subscription"), search).content.decode()
    assert column_headers(english)[:4] == ["ID", "User e-mail", "Plan", "Period"]
    # every column of every page in Russian: a name left out would show the English column name
    with translation.override("ru"):
        for model in [m for m in admin.site._registry if m._meta.app_label == "kinobill_admin"]:
            for field in model._meta.concrete_fields:
                name = str(field.verbose_name)
                assert name == "ID" or re.search("[а-я]", name), (model.__name__, field.name, name)
            assert re.search("[а-я]", str(model._meta.verbose_name_plural)), model.__name__
