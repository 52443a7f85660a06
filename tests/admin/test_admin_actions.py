"""Subscription actions against the real services: cancel and refund (Subscriptions), reconcile (Billing).

Every subscription here is bought through the real purchase flow (Subscriptions → Billing → YooKassa
sandbox → webhook); the admin calls the session's real services with its service token. What the admin
did is checked where it lands: the services' tables, the sandbox's journal, the mailbox, the audit log.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from admin_buy import bought
from admin_pages import action, admin_url
from django.test import override_settings

from kinobill.billing import tables as billing
from kinobill.subscriptions import tables as subs
from shop import create_plan, mail_to
from support import free_port, wait_until


def billing_refunds(engine: sa.Engine, subscription_id: str) -> list:
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(billing.refunds).where(billing.refunds.c.subscription_id == subscription_id)
            )
        )


def urls(sub: dict) -> tuple[str, str, str, str]:
    """The subscription's page and its three object tools."""
    return (
        admin_url("subscription", sub["id"], "change"),
        admin_url("subscription", sub["id"], "cancel"),
        admin_url("subscription", sub["id"], "refund"),
        admin_url("subscription", sub["id"], "reconcile"),
    )


def refund_key_on(page) -> str:
    """The Idempotency-Key minted when the refund confirmation was rendered (one row)."""
    ((_sub, _estimate, key),) = page.context["rows"]
    return key


def new_key() -> str:
    return f"admin-refund-{uuid.uuid4()}"


def test_operator_cancels_a_real_subscription(stack, plan, buyer, operator_client, operator_user):
    from kinobill_admin.models import AuditEntry, Subscription

    sub = bought(stack, plan, buyer)
    detail, cancel, _, _ = urls(sub)
    response = operator_client.post(cancel, follow=True)
    assert "Auto-renew is off; access stays until the period ends." in response.content.decode()

    stored = Subscription.objects.get(pk=sub["id"])
    assert stored.auto_renew is False and stored.status == "active"  # access stays until the period ends
    assert buyer.subscription(sub["id"])["auto_renew"] is False  # the service's own answer agrees
    entry = AuditEntry.objects.get(action="subscription.cancel", target_id=sub["id"])
    assert entry.outcome == "ok" and entry.actor_id == operator_user.id
    assert entry.details["result"]["auto_renew"] is False
    wait_until(
        lambda: any("отменена" in m["subject"] for m in mail_to(stack, buyer.email)),
        message="the cancellation e-mail (sent by Subscriptions, not the admin)",
    )
    page = operator_client.get(detail).content.decode()
    assert 'id="cancel-button"' not in page and "subscription.cancel" in page
    history = operator_client.get(admin_url("subscription", sub["id"], "history")).content.decode()
    assert "subscription.cancel: ok" in history  # the object's history page shows the attempt


def test_operator_refunds_a_subscription_bought_minutes_ago_in_full_once(
    stack, plan, buyer, operator_client, operator_user, db_engine
):
    from kinobill_admin.models import AuditEntry, Payment, Subscription

    sub = bought(stack, plan, buyer)
    detail, _, refund, _ = urls(sub)
    assert 'id="refund-button"' in operator_client.get(detail).content.decode()
    page = operator_client.get(refund)  # the confirmation: the amount by the rule, a key minted now
    key = refund_key_on(page)
    assert page.context["rows"][0][1].amount == "299.00"  # the rule now: the first days give it all back
    assert "299.00 ₽" in page.content.decode()
    form = {f"key-{sub['id']}": key}

    first = operator_client.post(refund, form, follow=True).content.decode()
    assert "Refund of 299.00 RUB requested (status: succeeded)." in first
    assert "The subscription has ended (refunded)." in first
    # the same form submitted again (double click, retried POST): a replay of the same refund
    again = operator_client.post(refund, form, follow=True).content.decode()
    assert "Refund of 299.00 RUB requested (status: succeeded)." in again

    rows = billing_refunds(db_engine, sub["id"])
    assert [(r.amount, r.status) for r in rows] == [(29900, "succeeded")]  # one refund, the whole payment
    created_at_yookassa = stack.sandbox.journal(
        operation="refunds.create", replayed=False, http_status=200, idempotence_key=str(rows[0].id)
    )
    assert len(created_at_yookassa) == 1
    payment = Payment.objects.get(pk=sub["payment_id"])
    assert payment.refunded_amount == payment.amount == 29900
    stored = Subscription.objects.get(pk=sub["id"])
    assert (stored.status, stored.ended_reason) == ("ended", "refunded")

    entries = list(
        AuditEntry.objects.filter(action="subscription.refund", target_id=sub["id"]).order_by("id")
    )
    assert [e.outcome for e in entries] == ["ok", "ok"], [e.message for e in entries]
    assert {e.details["result"]["id"] for e in entries} == {str(rows[0].id)}
    assert all(e.details["idempotency_key"] == key and e.actor_id == operator_user.id for e in entries)

    listed = operator_client.get(admin_url("refund"), {"q": buyer.email})
    assert [str(r.id) for r in listed.context["cl"].result_list] == [str(rows[0].id)]
    assert "299.00" in listed.content.decode()
    after = operator_client.get(detail).content.decode()
    assert 'id="refund-button"' not in after and str(rows[0].id) in after

    # another attempt with a fresh key is the service's refusal, shown as such; still one refund
    refused = operator_client.post(refund, {f"key-{sub['id']}": new_key()}, follow=True).content.decode()
    assert "this subscription was already refunded (already_refunded)" in refused
    assert len(billing_refunds(db_engine, sub["id"])) == 1


def test_a_refund_the_service_refuses_is_shown_and_audited_as_an_error(
    stack, plan, buyer, operator_client, db_engine
):
    from kinobill_admin.models import AuditEntry, Subscription

    sub = bought(stack, plan, buyer, confirm=False)  # bought, never paid
    _, _, refund, _ = urls(sub)
    response = operator_client.post(refund, {f"key-{sub['id']}": new_key()}, follow=True)
    assert response.status_code == 200
    shown = [str(m) for m in response.context["messages"]]
    assert shown == ["subscription.refund failed: nothing was paid for this subscription yet (nothing_paid)"]
    assert (
        "refund failed: nothing was paid for this subscription yet (nothing_paid)"
        in response.content.decode()
    )
    entry = AuditEntry.objects.get(action="subscription.refund", target_id=sub["id"])
    assert entry.outcome == "error" and "nothing_paid" in entry.message
    assert billing_refunds(db_engine, sub["id"]) == []
    assert Subscription.objects.get(pk=sub["id"]).status == "awaiting_payment"


def test_reconcile_settles_a_payment_whose_webhook_was_lost(stack, plan, buyer, operator_client):
    from kinobill_admin.models import AuditEntry, Payment, Subscription

    sub = bought(stack, plan, buyer, drop_webhook=True)  # YooKassa took the money; we never heard of it
    assert Payment.objects.get(pk=sub["payment_id"]).status == "pending"
    assert Subscription.objects.get(pk=sub["id"]).status == "awaiting_payment"
    _, _, _, reconcile = urls(sub)

    response = operator_client.post(reconcile, follow=True)
    assert (
        "Reconciliation ran: 1 of 1 pending payments and 0 of 0 pending refunds settled."
        in response.content.decode()
    )
    entry = AuditEntry.objects.get(action="subscription.reconcile", target_id=sub["id"])
    assert entry.outcome == "ok"
    assert entry.details["result"] == {
        "subscription_id": sub["id"],
        "pending_payments": 1,
        "settled_payments": 1,
        "pending_refunds": 0,
        "settled_refunds": 0,
    }
    assert Payment.objects.get(pk=sub["payment_id"]).status == "succeeded"
    wait_until(
        lambda: Subscription.objects.get(pk=sub["id"]).status == "active", message="activation via the stream"
    )


def test_support_gets_403_for_each_action_and_no_service_is_called(
    stack, plan, buyer, support_client, operator_client, db_engine
):
    from kinobill_admin.models import AuditEntry, Payment, Subscription

    # pending on our side: a cancel would end the purchase, a reconcile would settle the payment
    sub = bought(stack, plan, buyer, drop_webhook=True)
    _, cancel, refund, reconcile = urls(sub)
    key = new_key()
    for url, data in [(cancel, {}), (refund, {f"key-{sub['id']}": key}), (reconcile, {})]:
        assert support_client.post(url, data).status_code == 403, url
    assert support_client.get(refund).status_code == 403  # not even the confirmation page
    for name in ("cancel_selected", "refund_selected", "reconcile_selected"):  # nor as list actions
        refused = action(
            support_client, "subscription", name, [sub["id"]], confirmed="yes", **{f"key-{sub['id']}": key}
        )
        assert refused.status_code == 200  # the list again: support has no action on subscriptions
        assert refused.context["action_form"] is None
    page = support_client.get(urls(sub)[0]).content.decode()
    assert 'id="refund-button"' not in page and 'id="cancel-button"' not in page

    assert not AuditEntry.objects.filter(target_id=sub["id"]).exists()
    assert Subscription.objects.get(pk=sub["id"]).status == "awaiting_payment"  # no cancel reached it
    assert Payment.objects.get(pk=sub["payment_id"]).status == "pending"  # no reconcile reached Billing
    with db_engine.connect() as conn:  # no refund request reached Subscriptions (it records every key)
        keys = conn.execute(sa.select(sa.func.count()).where(subs.idempotency_keys.c.key == key)).scalar_one()
    assert keys == 0
    assert billing_refunds(db_engine, sub["id"]) == []

    # the same reconcile by an operator does reach Billing: the checks above could have failed
    operator_client.post(reconcile)
    assert Payment.objects.get(pk=sub["payment_id"]).status == "succeeded"


def test_an_unreachable_service_is_an_error_not_a_crash(stack, plan, buyer, operator_client):
    from kinobill_admin.models import AuditEntry

    sub = bought(stack, plan, buyer)
    _, _, _, reconcile = urls(sub)
    with override_settings(BILLING_URL=f"http://127.0.0.1:{free_port()}"):  # a closed port
        response = operator_client.post(reconcile, follow=True)
    assert response.status_code == 200 and "service_unavailable" in response.content.decode()
    assert AuditEntry.objects.get(target_id=sub["id"]).outcome == "error"


def test_each_confirmation_mints_a_new_refund_key(stack, plan, buyer, operator_client):
    sub = bought(stack, plan, buyer, confirm=False)
    _, _, refund, _ = urls(sub)
    keys = {refund_key_on(operator_client.get(refund)) for _ in range(2)}
    assert len(keys) == 2


def test_list_actions_cancel_and_refund_several_subscriptions(
    stack, plan, buyer, tokens, operator_client, db_engine
):
    """The change-list actions: cancel two, then refund them through the confirmation page, once each."""
    from kinobill_admin.models import AuditEntry, Subscription

    subs_ = [bought(stack, p, buyer) for p in (plan, create_plan(stack, tokens, name="Second plan"))]
    ids = [s["id"] for s in subs_]
    done = action(operator_client, "subscription", "cancel_selected", ids)
    assert done.status_code == 302
    assert all(not s.auto_renew for s in Subscription.objects.filter(pk__in=ids))

    confirmation = action(operator_client, "subscription", "refund_selected", ids)
    assert confirmation.status_code == 200
    rows = confirmation.context["rows"]
    assert {str(r[0].pk) for r in rows} == set(ids) and all(r[1].amount == "299.00" for r in rows)
    keys = {f"key-{r[0].pk}": r[2] for r in rows}
    assert len(set(keys.values())) == 2
    for _ in range(2):  # confirmed twice (a double click): still one refund per subscription
        confirmed = action(operator_client, "subscription", "refund_selected", ids, confirmed="yes", **keys)
        assert confirmed.status_code == 302
    for sub_id in ids:
        assert [(r.amount, r.status) for r in billing_refunds(db_engine, sub_id)] == [(29900, "succeeded")]
        assert (
            AuditEntry.objects.filter(action="subscription.refund", target_id=sub_id, outcome="ok").count()
            == 2
        )
