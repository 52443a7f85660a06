"""Filters, search, detail pages, CSV and the dashboard, over rows arranged in the real database."""

from __future__ import annotations

import csv
import io
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from admin_arrange import new_plan, notification, paid_subscription, refund_row

from kinobill.billing import tables as billing


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


def sub_ids(client, **params) -> set[str]:
    response = client.get("/subscriptions/", params)
    assert response.status_code == 200
    return {str(s.id) for s in response.context["page"].rows}


def test_subscription_filters(support_client, world):
    plan = str(world["plan"]["id"])
    on, off, ended = (str(world[k]["id"]) for k in ("on", "off", "ended"))
    assert sub_ids(support_client, plan=plan) == {on, off, ended}
    assert sub_ids(support_client, plan=plan, status="active") == {on, off}
    assert sub_ids(support_client, plan=plan, status="ended") == {ended}
    assert sub_ids(support_client, plan=plan, auto_renew="no") == {off}
    assert sub_ids(support_client, plan=plan, auto_renew="yes", status="active") == {on}
    end_on = world["on"]["end"].date()
    assert sub_ids(
        support_client, plan=plan, period_end_from=end_on.isoformat(), period_end_to=end_on.isoformat()
    ) == {on}
    assert sub_ids(support_client, plan=plan, period_end_to=(end_on - timedelta(days=1)).isoformat()) == {
        off,
        ended,
    }


def test_subscription_search_by_user_id_email_or_id(support_client, world):
    on = world["on"]
    assert sub_ids(support_client, q=str(on["user_id"])) == {str(on["id"])}
    assert sub_ids(support_client, q=on["email"].upper()) == {str(on["id"])}
    assert sub_ids(support_client, q=str(on["id"])) == {str(on["id"])}
    assert sub_ids(support_client, q=f"nobody-{uuid.uuid4().hex}@example.com") == set()


def test_a_bad_filter_value_is_reported_not_crashed(support_client, world):
    response = support_client.get("/subscriptions/", {"period_end_from": "not-a-date"})
    assert response.status_code == 200
    assert response.context["form"].errors["period_end_from"]


def test_subscription_detail_shows_periods_payments_refunds_emails_and_webhooks(
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
    page = support_client.get(f"/subscriptions/{off['id']}/").content.decode()
    assert str(off["payment_id"]) in page
    assert str(world["refund"]["id"]) in page and "50.00" in page
    assert "Your subscription is active" in page
    on_page = support_client.get(f"/subscriptions/{world['on']['id']}/").content.decode()
    assert "payment.waiting_for_capture" in on_page


def test_refund_estimate_follows_the_rule(operator_client, world):
    response = operator_client.get(f"/subscriptions/{world['on']['id']}/")
    assert response.context["estimate"]["amount"] == "299.00"  # 3 days into the period: full refund
    later = operator_client.get(f"/subscriptions/{world['off']['id']}/").context["estimate"]
    assert later["text"].startswith("prorated")  # 20 days in; 50.00 already refunded is subtracted
    assert 0 < float(later["amount"]) < 199.00 - 50.00


def ids(response) -> set[str]:
    return {str(r.id) for r in response.context["page"].rows}


def test_payment_filters(support_client, world):
    on, off = world["on"], world["off"]
    assert ids(support_client.get("/payments/", {"provider_id": on["provider_payment_id"]})) == {
        str(on["payment_id"])
    }
    mine = {"q": str(off["user_id"])}
    assert ids(support_client.get("/payments/", mine)) == {str(off["payment_id"])}
    assert ids(support_client.get("/payments/", {**mine, "amount_min": "200"})) == set()
    assert ids(support_client.get("/payments/", {**mine, "amount_min": "199", "amount_max": "199.00"})) == {
        str(off["payment_id"])
    }
    assert ids(support_client.get("/payments/", {**mine, "status": "pending"})) == set()
    created = off["start"].astimezone(UTC).date()
    assert (
        ids(
            support_client.get(
                "/payments/", {**mine, "created_from": (created + timedelta(days=2)).isoformat()}
            )
        )
        == set()
    )
    assert ids(
        support_client.get(
            "/payments/",
            {
                **mine,
                "created_from": (created - timedelta(days=1)).isoformat(),
                "created_to": (created + timedelta(days=1)).isoformat(),
            },
        )
    ) == {str(off["payment_id"])}
    bad = support_client.get("/payments/", {"amount_min": "10", "amount_max": "5"})
    assert "below the minimum" in bad.content.decode()


def test_refund_filters_and_detail(support_client, world):
    refund, off = world["refund"], world["off"]
    assert ids(support_client.get("/refunds/", {"provider_id": refund["provider_refund_id"]})) == {
        str(refund["id"])
    }
    assert ids(support_client.get("/refunds/", {"q": off["email"]})) == {str(refund["id"])}
    assert ids(support_client.get("/refunds/", {"q": off["email"], "status": "pending"})) == set()
    page = support_client.get(f"/refunds/{refund['id']}/").content.decode()
    assert refund["provider_refund_id"] in page and "50.00" in page


def test_payment_detail_shows_the_raw_provider_object_and_webhook_history(support_client, world):
    on = world["on"]
    page = support_client.get(f"/payments/{on['payment_id']}/").content.decode()
    assert f"&quot;id&quot;: &quot;{on['provider_payment_id']}&quot;" in page
    assert page.count("185.71.76.1") == 2 and "duplicate" in page


def read_csv(response) -> list[dict[str, str]]:
    assert response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


def test_csv_exports_follow_the_filters_and_are_audited(support_client, world):
    from kinobill_admin.models import AuditEntry

    off = world["off"]
    rows = read_csv(support_client.get("/payments/export.csv", {"q": str(off["user_id"])}))
    assert [(r["id"], r["amount"], r["refunded"]) for r in rows] == [
        (str(off["payment_id"]), "199.00", "50.00")
    ]
    refunds = read_csv(
        support_client.get("/refunds/export.csv", {"provider_id": world["refund"]["provider_refund_id"]})
    )
    assert [(r["id"], r["amount"], r["status"]) for r in refunds] == [
        (str(world["refund"]["id"]), "50.00", "succeeded")
    ]
    entry = AuditEntry.objects.filter(action="payments.export_csv").first()
    assert entry is not None and entry.details["filters"] == {"q": str(off["user_id"])}


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
                created_at=now - timedelta(hours=2),
                updated_at=now - timedelta(hours=2),
                next_check_at=now - timedelta(minutes=1),
            )
        )
    response = support_client.get("/")
    page = response.content.decode()
    assert page.count("<svg") == 4
    assert f"{world['plan']['name']}: 2</title>" in page  # active subscriptions by plan: on + off
    stuck = response.context["stuck"]
    assert str(stuck_id) in {str(p.id) for p in stuck["payments"]}
    assert "timeout" in page
    from django.utils import timezone

    day = timezone.localdate(on["start"]).strftime("%d.%m")
    revenue_chart = page[page.index("Revenue per day, RUB") : page.index("Active subscriptions by plan")]
    shown = re.search(rf"<title>{re.escape(day)}: ([0-9.]+)</title>", revenue_chart)
    assert shown is not None and float(shown.group(1)) >= 299.00  # at least the arranged payment
