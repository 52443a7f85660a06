"""The console's read-only models against the service tables, the new columns on its pages, and "now"
from the services' shared test clock."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from admin_buy import bought
from admin_pages import admin_url, listed_ids

from kinobill.billing import tables as billing
from kinobill.domain.money import parse_rub
from kinobill.subscriptions import tables as subs
from support import wait_until


def model_tables():
    from kinobill_admin import models as m

    return [
        (m.Plan, subs.plans),
        (m.Subscription, subs.subscriptions),
        (m.SubscriptionPeriod, subs.periods),
        (m.SubscriptionEmail, subs.emails),
        (m.SubscriptionsOutbox, subs.outbox),
        (m.Payment, billing.payments),
        (m.Refund, billing.refunds),
        (m.BillingEmail, billing.emails),
        (m.ProviderNotification, billing.provider_notifications),
        (m.BillingOutbox, billing.outbox),
        (m.OperatorTask, billing.operator_tasks),
        (m.CardChange, billing.card_changes),
    ]


def test_every_read_only_model_maps_every_column_of_its_table(django_ready, db_engine):
    inspector = sa.inspect(db_engine)
    for model, table in model_tables():
        mapped = {f.column for f in model._meta.concrete_fields}
        declared = {c.name for c in table.columns}
        migrated = {c["name"] for c in inspector.get_columns(table.name, schema=table.schema)}
        assert mapped == declared == migrated, (model.__name__, declared ^ mapped, migrated ^ declared)
        model.objects.first()  # the mapping reads without an error


def test_the_subscription_shows_its_price(stack, plan, buyer, support_client):
    from kinobill_admin.models import Subscription

    sub = bought(stack, plan, buyer)
    assert Subscription.objects.get(pk=sub["id"]).price == 29900
    page = support_client.get(admin_url("subscription", sub["id"], "change")).content.decode()
    assert "299.00 ₽" in page
    assert listed_ids(support_client, "subscription", q=buyer.email) == {sub["id"]}
    listed = support_client.get(admin_url("subscription"), {"q": buyer.email}).content.decode()
    assert '<td class="field-price_rub">299.00 ₽</td>' in listed


def test_the_dashboard_and_the_refund_estimate_follow_the_test_clock(
    stack, plan, buyer, support_client, operator_client, test_clock, db_engine
):
    from django.utils import timezone

    sub = bought(stack, plan, buyer)
    real_now = datetime.now(UTC)
    with db_engine.begin() as conn:  # a payment pending for 5 minutes: not stuck yet (15)
        conn.execute(
            billing.payments.insert().values(
                id=uuid.uuid4(),
                user_id=uuid.uuid4(),
                subscription_id=uuid.uuid4(),
                period_index=0,
                kind="initial",
                charge_key=f"admin-clock:{uuid.uuid4()}",
                amount=100,
                status="pending",
                created_at=real_now - timedelta(minutes=5),
                updated_at=real_now - timedelta(minutes=5),
            )
        )
    before = support_client.get("/")
    assert abs(before.context["now"] - real_now) < timedelta(minutes=1)
    assert 'id="test-clock"' in before.content.decode()

    def estimate():
        return operator_client.get(admin_url("subscription", sub["id"], "refund")).context["rows"][0][1]

    assert estimate().amount == "299.00"

    test_clock.advance(timedelta(days=10))  # the admin re-reads the offset within 50 ms
    after = wait_until(
        lambda: (r := support_client.get("/")).context["now"] - real_now > timedelta(days=10) and r,
        message="the dashboard to see the advanced clock",
    )
    shown = timezone.localtime(after.context["now"])  # staff see times in ADMIN_TIME_ZONE
    assert f'id="dashboard-now">{shown:%Y-%m-%d %H:%M}' in after.content.decode()
    assert after.context["stuck"]["payments_count"] >= before.context["stuck"]["payments_count"] + 1
    assert 0 < parse_rub(estimate().amount) < 29900  # day 10 of 30: prorated, as Billing would compute


def test_the_admin_migrations_describe_the_models(django_ready):
    """A model change without its migration (e.g. a renamed column label) makes `migrate` warn forever."""
    from django.core.management import call_command

    call_command("makemigrations", "kinobill_admin", "--check", "--dry-run", verbosity=0)
