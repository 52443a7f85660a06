"""Scoped service identities against the real services: each internal endpoint answers only the callers
it declares (403 `caller_not_allowed` for any other valid service token), a saved card is charged only
for its owner, and a payment result is applied only as Billing confirms it. Refusals change nothing."""

from __future__ import annotations

import uuid

import httpx
import pytest
import sqlalchemy as sa

from kinobill.billing import tables as bt
from kinobill.subscriptions import tables as st
from shop import Buyer

IDENTITIES = ("admin", "subscriptions", "billing", "auth", "anything-else")
SOME_ID = "00000000-0000-4000-8000-000000000000"

# (service, method, path, the identities it accepts): the table of docs/security.md.
INTERNAL_ENDPOINTS = [
    ("subscriptions", "GET", "/internal/v1/plans", {"admin"}),
    ("subscriptions", "POST", "/internal/v1/plans", {"admin"}),
    ("subscriptions", "GET", f"/internal/v1/plans/{SOME_ID}", {"admin"}),
    ("subscriptions", "PATCH", f"/internal/v1/plans/{SOME_ID}", {"admin"}),
    ("subscriptions", "DELETE", f"/internal/v1/plans/{SOME_ID}", {"admin"}),
    ("subscriptions", "POST", f"/internal/v1/plans/{SOME_ID}/end-sale", {"admin"}),
    ("subscriptions", "POST", f"/internal/v1/subscriptions/{SOME_ID}/cancel", {"admin"}),
    ("subscriptions", "POST", f"/internal/v1/subscriptions/{SOME_ID}/refund", {"admin"}),
    ("subscriptions", "POST", "/internal/v1/payment-results", {"billing"}),
    ("subscriptions", "GET", f"/internal/v1/users/{SOME_ID}/subscriptions/active", {"auth"}),
    ("billing", "POST", "/internal/v1/payments", {"subscriptions"}),
    ("billing", "GET", f"/internal/v1/payments?subscription_id={SOME_ID}", {"subscriptions"}),
    ("billing", "GET", f"/internal/v1/payments/{SOME_ID}", {"subscriptions"}),
    ("billing", "GET", f"/internal/v1/payment-results?subscription_id={SOME_ID}", {"subscriptions"}),
    ("billing", "POST", "/internal/v1/refunds", {"subscriptions"}),
    ("billing", "GET", f"/internal/v1/refunds/{SOME_ID}", {"subscriptions"}),
    ("billing", "POST", "/internal/v1/reconcile", {"admin"}),
    ("billing", "POST", f"/internal/v1/operator-tasks/{SOME_ID}/resolve", {"admin"}),
    ("billing", "POST", "/internal/v1/card-changes", {"subscriptions"}),
]


def _url(stack, service: str, path: str) -> str:
    return (stack.subscriptions_url if service == "subscriptions" else stack.billing_url) + path


@pytest.mark.parametrize(("service", "method", "path", "accepted"), INTERNAL_ENDPOINTS)
def test_each_internal_endpoint_answers_only_its_callers(stack, tokens, service, method, path, accepted):
    for identity in IDENTITIES:
        headers = {**tokens.service_headers(identity), "Idempotency-Key": uuid.uuid4().hex}
        # An empty JSON object: an accepted caller gets a 4xx about the body, never a 403.
        response = httpx.request(method, _url(stack, service, path), headers=headers, json={}, timeout=10)
        if identity in accepted:
            assert response.status_code != 403, (identity, response.text)
        else:
            assert response.status_code == 403, (identity, response.text)
            assert response.json()["error"]["code"] == "caller_not_allowed"
            assert response.json()["error"]["details"]["accepted"] == sorted(accepted)


def test_every_internal_route_of_both_specs_is_in_the_table(stack):
    listed = {(m, p.split("?")[0].replace(SOME_ID, "{}")) for _, m, p, _ in INTERNAL_ENDPOINTS}
    for url in (stack.subscriptions_url, stack.billing_url):
        spec = httpx.get(f"{url}/openapi.json").json()
        for path, operations in spec["paths"].items():
            if not path.startswith("/internal/"):
                continue
            generic = "/".join("{}" if part.startswith("{") else part for part in path.split("/"))
            for method in operations:
                assert (method.upper(), generic) in listed, (method, path)


def _another_buyer(stack, tokens) -> Buyer:
    user_id = uuid.uuid4()
    email = f"{user_id.hex[:12]}@example.com"
    headers = tokens.user_headers(user_id, email)
    return Buyer(
        user_id,
        email,
        httpx.Client(base_url=stack.subscriptions_url, headers=headers, timeout=30),
        httpx.Client(base_url=stack.billing_url, headers=headers, timeout=30),
    )


def _payments_of_user(db, user_id: uuid.UUID) -> list[sa.Row]:
    with db.connect() as conn:
        return list(conn.execute(sa.select(bt.payments).where(bt.payments.c.user_id == user_id)))


def _charge(stack, tokens, identity: str, user_id: uuid.UUID, method: str) -> httpx.Response:
    return httpx.post(
        f"{stack.billing_url}/internal/v1/payments",
        headers={**tokens.service_headers(identity), "Idempotency-Key": uuid.uuid4().hex},
        json={
            "subscription_id": str(uuid.uuid4()),
            "user_id": str(user_id),
            "period_index": 1,
            "kind": "renewal",
            "amount": 999_900,  # kopecks
            "payment_method_id": method,
        },
        timeout=30,
    )


def test_a_saved_card_is_charged_only_for_the_user_who_saved_it(stack, tokens, plan, buyer, db):
    victim = buyer.subscribe(stack, plan)
    (paid,) = [p for p in buyer.payments() if p["subscription_id"] == victim["id"]]
    method = paid["payment_method_id"]
    assert method
    attacker = uuid.uuid4()
    charges_before = len(stack.sandbox.journal(operation="payments.create"))

    with_admin_token = _charge(stack, tokens, "admin", attacker, method)
    assert with_admin_token.status_code == 403, with_admin_token.text
    assert with_admin_token.json()["error"]["code"] == "caller_not_allowed"

    with_subscriptions_token = _charge(stack, tokens, "subscriptions", attacker, method)
    assert with_subscriptions_token.status_code == 403, with_subscriptions_token.text
    assert with_subscriptions_token.json()["error"]["code"] == "payment_method_not_owned"

    assert _payments_of_user(db, attacker) == []
    assert len(stack.sandbox.journal(operation="payments.create")) == charges_before


def _forged_result(purchase: dict, user_id: uuid.UUID) -> dict:
    return {
        "type": "payment.succeeded",
        "payment_id": purchase["payment"]["id"],
        "subscription_id": purchase["id"],
        "user_id": str(user_id),
        "period_index": 0,
        "kind": "initial",
        "amount": 29900,
    }


def _subscription_row(db, subscription_id: str) -> sa.Row:
    with db.connect() as conn:
        return conn.execute(
            sa.select(st.subscriptions).where(st.subscriptions.c.id == uuid.UUID(subscription_id))
        ).one()


def test_a_forged_payment_result_activates_nothing(stack, tokens, plan, buyer, db):
    response = buyer.buy(plan["id"])
    assert response.status_code == 201, response.text
    purchase = response.json()
    before = _subscription_row(db, purchase["id"])
    url = f"{stack.subscriptions_url}/internal/v1/payment-results"

    as_admin = httpx.post(
        url, headers=tokens.service_headers("admin"), json=_forged_result(purchase, buyer.user_id)
    )
    assert as_admin.status_code == 403, as_admin.text

    # Even with Billing's own identity, a result Billing's record does not confirm is refused.
    as_billing = httpx.post(
        url, headers=tokens.service_headers("billing"), json=_forged_result(purchase, buyer.user_id)
    )
    assert as_billing.status_code == 409, as_billing.text
    assert as_billing.json()["error"]["code"] == "payment_result_not_confirmed"

    after = _subscription_row(db, purchase["id"])
    assert after.status == before.status == "awaiting_payment"
    assert after._mapping == before._mapping
    with db.connect() as conn:
        periods = conn.execute(
            sa.select(st.periods).where(st.periods.c.subscription_id == uuid.UUID(purchase["id"]))
        ).all()
    assert periods == []


def test_a_payment_result_billing_confirms_is_applied_with_billings_facts(stack, tokens, plan, buyer):
    active = buyer.subscribe(stack, plan)
    url = f"{stack.subscriptions_url}/internal/v1/payment-results"
    result = {**_forged_result(active, buyer.user_id), "paid_at": "2030-01-01T00:00:00+00:00"}
    response = httpx.post(url, headers=tokens.service_headers("billing"), json=result)
    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "duplicate"  # already applied from the stream: nothing changes
    assert buyer.subscription(active["id"])["current_period_start"] == active["current_period_start"]

    wrong_amount = httpx.post(url, headers=tokens.service_headers("billing"), json={**result, "amount": 100})
    assert wrong_amount.status_code == 409, wrong_amount.text


def test_the_openapi_documents_say_what_the_edge_answers(stack):
    spec = httpx.get(f"{stack.billing_url}/openapi.json").json()
    create = spec["paths"]["/internal/v1/payments"]["post"]
    (key,) = [p for p in create["parameters"] if p["name"] == "Idempotency-Key"]
    assert key["in"] == "header" and key["required"] is True
    for status in ("401", "403", "413", "422", "431", "503"):
        assert create["responses"][status]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Error"
        }
    reads = spec["paths"]["/internal/v1/payments/{payment_id}"]["get"]
    assert "Idempotency-Key" not in {p["name"] for p in reads.get("parameters", [])}
