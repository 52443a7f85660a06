"""Operator tasks marked resolved, against the real services: a receipt YooKassa (the sandbox) canceled
opens the task in Billing; the admin's "mark resolved" (list action or the detail page's tool) asks
Billing's internal API, which records when, who and the note once. Checked where it lands: Billing's
table, the audit log, the change list's `resolved` filter and the dashboard's stuck-operations figure."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
import sqlalchemy as sa
from admin_buy import bought
from admin_pages import action, admin_url, listed_ids
from admin_staff import client_for, make_user

from kinobill.billing import tables as billing
from support import wait_until

RESOLVE_PATH = "/internal/v1/operator-tasks/{}/resolve"


def task_row(engine: sa.Engine, task_id: int) -> sa.Row:
    with engine.connect() as conn:
        return conn.execute(
            sa.select(billing.operator_tasks).where(billing.operator_tasks.c.id == task_id)
        ).one()


@pytest.fixture()
def open_task(stack, plan, buyer, db_engine) -> Iterator[int]:
    """The id of a `receipt_canceled` task: a purchase whose receipt the sandbox's register canceled.

    The fault cancels every payment receipt until this one's task is open (a receipt of an earlier test's
    payment may register first and would take a one-time fault), then it is removed."""
    fault = stack.sandbox.add_fault("receipt_canceled", "payment", count=None)
    try:
        yield _task_of_a_canceled_receipt(stack, plan, buyer, db_engine)
    finally:
        stack.sandbox.remove_fault(fault["id"])


def _task_of_a_canceled_receipt(stack, plan, buyer, db_engine) -> int:
    sub = bought(stack, plan, buyer)

    def opened() -> int | None:
        with db_engine.connect() as conn:
            return conn.execute(
                sa.select(billing.operator_tasks.c.id).where(
                    billing.operator_tasks.c.kind == "receipt_canceled",
                    billing.operator_tasks.c.object_id == sub["payment_id"],
                )
            ).scalar()

    return wait_until(opened, timeout=30, message="the operator task of the canceled receipt")


def unresolved_on_dashboard(client) -> int:
    return client.get("/").context["stuck"]["operator_tasks_count"]


def unresolved_in_billing(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(
            sa.select(sa.func.count()).where(billing.operator_tasks.c.resolved_at.is_(None))
        ).scalar_one()


def test_operator_resolves_a_task_from_the_list_and_a_second_resolve_changes_nothing(
    open_task, operator_client, operator_user, db_engine
):
    from kinobill_admin.models import AuditEntry

    assert str(open_task) in listed_ids(operator_client, "operatortask", resolved="no")
    assert str(open_task) not in listed_ids(operator_client, "operatortask", resolved="yes")
    assert unresolved_on_dashboard(operator_client) == unresolved_in_billing(db_engine) >= 1

    note = "Чек выдан вручную через ОФД, № 4711"
    response = action(operator_client, "operatortask", "resolve_selected", [open_task], note=note)
    assert response.status_code == 302, response.content.decode()[:500]
    row = task_row(db_engine, open_task)
    assert row.resolved_at is not None
    assert (row.resolved_by, row.resolution_note) == (operator_user.username, note)
    entry = AuditEntry.objects.get(action="operatortask.resolve", target_id=str(open_task))
    assert entry.outcome == "ok" and entry.actor_id == operator_user.id
    assert entry.details["note"] == note and entry.details["result"]["resolved_by"] == operator_user.username

    assert str(open_task) in listed_ids(operator_client, "operatortask", resolved="yes")
    assert str(open_task) not in listed_ids(operator_client, "operatortask", resolved="no")
    assert operator_client.get(admin_url("operatortask"), {"resolved": "maybe"}).status_code == 400
    audit_list = operator_client.get(admin_url("auditentry"), {"q": str(open_task)}).content.decode()
    assert admin_url("operatortask", open_task, "change") in audit_list  # the entry links to the task
    assert unresolved_on_dashboard(operator_client) == unresolved_in_billing(db_engine)  # not this one
    page = operator_client.get(admin_url("operatortask", open_task, "change")).content.decode()
    assert note in page and 'id="resolve-button"' not in page  # shown resolved, no tool any more

    # again, from the detail page's tool, by someone else with another note: the first record stays

    second = client_for(make_user("operator"))
    again = second.post(admin_url("operatortask", open_task, "resolve"), {"note": "другое"}, follow=True)
    assert "was already resolved by" in again.content.decode()
    assert task_row(db_engine, open_task) == row
    assert AuditEntry.objects.filter(action="operatortask.resolve", target_id=str(open_task)).count() == 2


def test_operator_resolves_from_the_detail_page(open_task, operator_client, operator_user, db_engine):
    detail = admin_url("operatortask", open_task, "change")
    assert 'id="resolve-button"' in operator_client.get(detail).content.decode()
    in_russian = client_for(operator_user, language="ru").get(detail).content.decode()
    assert "Отметить решённой" in in_russian and "Кем решено" in in_russian  # the field label
    response = operator_client.post(
        admin_url("operatortask", open_task, "resolve"), {"note": ""}, follow=True
    )
    assert f"Task {open_task} is resolved" in response.content.decode()
    row = task_row(db_engine, open_task)
    assert row.resolved_at is not None and row.resolved_by == operator_user.username
    assert row.resolution_note == ""


def test_support_cannot_resolve_and_billing_is_not_asked(open_task, support_client, db_engine):
    from kinobill_admin.models import AuditEntry

    assert (
        support_client.post(admin_url("operatortask", open_task, "resolve"), {"note": "x"}).status_code == 403
    )
    refused = action(support_client, "operatortask", "resolve_selected", [open_task], note="x")
    assert refused.status_code == 200 and refused.context["action_form"] is None  # no action offered
    assert (
        'id="resolve-button"'
        not in support_client.get(admin_url("operatortask", open_task, "change")).content.decode()
    )
    assert task_row(db_engine, open_task).resolved_at is None
    assert not AuditEntry.objects.filter(target_id=str(open_task)).exists()


def test_billing_resolves_only_for_the_admin_and_knows_its_tasks(stack, tokens, open_task, db_engine):
    def resolve(identity: str, task_id: object, body: dict) -> httpx.Response:
        return httpx.post(
            stack.billing_url + RESOLVE_PATH.format(task_id),
            headers=tokens.service_headers(identity),
            json=body,
            timeout=10,
        )

    body = {"resolved_by": "operator-1", "note": "issued by hand"}
    for identity in ("subscriptions", "billing", "auth"):
        refused = resolve(identity, open_task, body)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "caller_not_allowed"
    assert task_row(db_engine, open_task).resolved_at is None

    unknown = resolve("admin", 2**62, body)
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "operator_task_not_found"
    too_long = resolve("admin", open_task, {**body, "note": "x" * 2001})
    assert too_long.status_code == 422
    assert task_row(db_engine, open_task).resolved_at is None

    first = resolve("admin", open_task, body)
    assert first.status_code == 200, first.text
    assert (first.json()["resolved_by"], first.json()["resolution_note"]) == ("operator-1", "issued by hand")
    second = resolve("admin", open_task, {"resolved_by": "operator-2", "note": "again"})
    assert second.status_code == 200 and second.json() == first.json()


def test_an_unknown_task_is_not_found(operator_client):
    missing = admin_url("operatortask", uuid.uuid4().int % 2**62, "resolve")
    assert operator_client.post(missing, {"note": ""}).status_code == 404
