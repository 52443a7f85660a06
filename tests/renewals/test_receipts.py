"""54-FZ receipts over the real stack: the first payment, a renewal and a refund each carry the receipt
(the sandbox runs with fiscalisation on, as a shop with "Чеки от ЮKassa", and refuses them without one);
receipt_registration is followed to its final state; a canceled one opens an operator task and counts."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import sqlalchemy as sa

from kinobill.billing import tables as bt
from renewals.conftest import tick
from support import wait_until

DAY = timedelta(days=1)
MINUTE = timedelta(minutes=1)


def _payment(db: sa.Engine, payment_id: str) -> sa.Row:
    with db.connect() as conn:
        return conn.execute(sa.select(bt.payments).where(bt.payments.c.id == uuid.UUID(payment_id))).one()


def _expected_receipt(email: str, row: sa.Row) -> dict:
    return {
        "customer": {"email": email},
        "items": [
            {
                "description": row.description,
                "quantity": 1,
                "amount": {"value": f"{row.amount / 100:.2f}", "currency": "RUB"},
                "vat_code": 1,
                "payment_subject": "service",
                "payment_mode": "full_payment",
                "measure": "piece",
            }
        ],
    }


def _registered(db: sa.Engine, table: sa.Table, row_id: uuid.UUID) -> sa.Row:
    def final() -> sa.Row | None:
        with db.connect() as conn:
            row = conn.execute(sa.select(table).where(table.c.id == row_id)).one()
        return row if row.receipt_registration in ("succeeded", "canceled") else None

    return wait_until(final, timeout=30, message="the receipt registration followed to a final state")


def test_first_payment_renewal_and_refund_carry_receipts_followed_to_registration(stack, renewals, plan):
    sub, _method = renewals.activate(plan["id"], datetime(2027, 9, 10, 10, 0, tzinfo=UTC))
    sid = sub["id"]
    email = renewals.buyer.email
    payments = {p["kind"]: p for p in renewals.buyer.payments() if p["subscription_id"] == sid}
    first = _payment(renewals.db, payments["initial"]["id"])
    assert first.receipt == _expected_receipt(email, first)
    assert _registered(renewals.db, bt.payments, first.id).receipt_registration == "succeeded"

    end = renewals.row(sid).current_period_end
    renewals.clock.set(end - DAY + MINUTE)
    tick(stack)
    renewals.wait_period(sid, 1)
    renewal_id = next(
        p["id"] for p in renewals.buyer.payments() if p["subscription_id"] == sid and p["kind"] == "renewal"
    )
    renewal = _payment(renewals.db, renewal_id)
    assert renewal.status == "succeeded" and renewal.receipt == _expected_receipt(email, renewal)
    assert _registered(renewals.db, bt.payments, renewal.id).receipt_registration == "succeeded"

    response = renewals.buyer.refund(sid)
    assert response.status_code in (200, 201, 202), response.text
    refund_id = uuid.UUID(response.json()["id"])
    with renewals.db.connect() as conn:
        row = conn.execute(sa.select(bt.refunds).where(bt.refunds.c.id == refund_id)).one()
    assert row.receipt["customer"] == {"email": email}
    item = row.receipt["items"][0]
    assert item["amount"]["value"] == f"{row.amount / 100:.2f}" and item["payment_mode"] == "full_payment"
    assert _registered(renewals.db, bt.refunds, refund_id).receipt_registration == "succeeded"
    # every create of this subscription carried a receipt the sandbox accepted: none was refused
    ours = {str(first.id), str(renewal.id), str(refund_id)}
    refused = [
        e
        for op in ("payments.create", "refunds.create")
        for e in stack.sandbox.journal(operation=op, http_status=400)
        if e["idempotence_key"] in ours
    ]
    assert refused == []


def test_a_canceled_receipt_opens_one_operator_task_and_counts(stack, buyer, plan, db):
    stack.sandbox.add_fault("receipt_canceled", "payment")
    active = buyer.subscribe(stack, plan)
    payment = next(p for p in buyer.payments() if p["subscription_id"] == active["id"])
    row = _registered(db, bt.payments, uuid.UUID(payment["id"]))
    assert row.receipt_registration == "canceled" and row.status == "succeeded"
    with db.connect() as conn:
        tasks = conn.execute(
            sa.select(bt.operator_tasks).where(bt.operator_tasks.c.object_id == payment["id"])
        ).all()
    assert [(t.kind, t.object_type, t.resolved_at) for t in tasks] == [("receipt_canceled", "payment", None)]
    # counted by the process that saw it (the worker's follower, or Billing settling a late answer)
    metrics = [httpx.get(f"{url}/metrics", timeout=10).text for url in (stack.worker_url, stack.billing_url)]
    assert any('kinobill_receipts_canceled_total{kind="payment"} 1.0' in text for text in metrics)
