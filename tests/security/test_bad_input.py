"""Input that used to reach Postgres and fail there with a 500 is a 4xx with the JSON error shape, and
nothing of it is written."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
import sqlalchemy as sa

from kinobill.billing import tables as bt
from kinobill.subscriptions import tables as st

WEBHOOK_BODIES = {
    "NaN": b'{"type": "notification", "event": "payment.succeeded", "object": {"id": "p1", "x": NaN}}',
    "Infinity": b'{"type": "notification", "event": "payment.succeeded", "object": {"id": -Infinity}}',
    "NUL": b'{"type": "notification", "event": "payment.succeeded\\u0000", "object": {"id": "p1"}}',
    "lone surrogate": b'{"type": "notification", "event": "payment.succeeded", "object": {"id": "\\ud800"}}',
    "deep nesting": b'{"type": "notification", "object": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
    "not UTF-8": b'{"type": "notification", "event": "\xff\xfe", "object": {"id": "p1"}}',
}


def _count(db, table: sa.Table) -> int:
    with db.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


@pytest.mark.parametrize("case", sorted(WEBHOOK_BODIES))
def test_unstorable_webhook_bodies_are_400_and_not_recorded(stack, db, case):
    before = _count(db, bt.provider_notifications)
    response = httpx.post(f"{stack.billing_url}/webhooks/yookassa", content=WEBHOOK_BODIES[case], timeout=30)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_json"
    assert _count(db, bt.provider_notifications) == before


def _plan(**overrides: object) -> dict:
    return {
        "code": f"p{uuid.uuid4().hex[:10]}",
        "name": "Plan",
        "price_month": "1.00",
        "price_year": "9.00",
    } | overrides


PLAN_CASES = {
    "NUL in a name": {"name": "Cine\u0000ma"},
    "lone surrogate in a description": {"description": "\ud800"},
    "year 9999 with an offset": {
        "sale_start": "2026-01-01T00:00:00+00:00",
        "sale_end": "9999-12-31T23:00:00-05:00",
    },
    "a time as a number": {"sale_start": 0},
    "a long currency": {"currency": "R" * 10_000},
}


@pytest.mark.parametrize("case", sorted(PLAN_CASES))
def test_unstorable_plan_values_are_422_and_create_nothing(stack, tokens, db, case):
    before = _count(db, st.plans)
    response = httpx.post(
        f"{stack.subscriptions_url}/internal/v1/plans",
        headers={**tokens.service_headers(), "Content-Type": "application/json"},
        content=json.dumps(_plan(**PLAN_CASES[case])),  # ASCII with \u escapes, lone surrogates too
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_request"
    assert _count(db, st.plans) == before


PAYMENT = {
    "subscription_id": "00000000-0000-4000-8000-000000000001",
    "user_id": "00000000-0000-4000-8000-000000000002",
    "period_index": 0,
    "kind": "initial",
    "amount": 100,  # kopecks
}
PAYMENT_CASES = {
    "period index past int4": {"period_index": 2**31},
    "negative attempt": {"attempt": -1},
    "a 10 000-character payment method id": {"kind": "renewal", "payment_method_id": "m" * 10_000},
    "NUL in the description": {"description": "a\u0000"},
}


@pytest.mark.parametrize("case", sorted(PAYMENT_CASES))
def test_unstorable_payment_values_are_422_and_create_nothing(stack, tokens, db, case):
    before = _count(db, bt.payments)
    response = httpx.post(
        f"{stack.billing_url}/internal/v1/payments",
        headers={**tokens.service_headers("subscriptions"), "Idempotency-Key": uuid.uuid4().hex},
        json=PAYMENT | PAYMENT_CASES[case],
    )
    assert response.status_code == 422, response.text
    assert _count(db, bt.payments) == before


def test_a_refund_period_ending_before_it_starts_is_422(stack, tokens, db):
    before = _count(db, bt.refunds)
    response = httpx.post(
        f"{stack.billing_url}/internal/v1/refunds",
        headers={**tokens.service_headers("subscriptions"), "Idempotency-Key": uuid.uuid4().hex},
        json={
            "subscription_id": PAYMENT["subscription_id"],
            "user_id": PAYMENT["user_id"],
            "period_index": 0,
            "period_start": "2027-02-01T00:00:00+00:00",
            "period_end": "2027-01-01T00:00:00+00:00",
        },
    )
    assert response.status_code == 422, response.text
    assert "period_end" in response.json()["error"]["message"]
    assert _count(db, bt.refunds) == before


RESULT = {
    "type": "payment.succeeded",
    "payment_id": "00000000-0000-4000-8000-000000000003",
    "subscription_id": PAYMENT["subscription_id"],
    "user_id": PAYMENT["user_id"],
    "period_index": 0,
    "kind": "initial",
    "amount": 100,
}


@pytest.mark.parametrize("change", [{"paid_at": 0}, {"attempt": -1}, {"amount": 2**63}, {"reason": "\u0000"}])
def test_impossible_payment_results_are_422(stack, tokens, change):
    response = httpx.post(
        f"{stack.subscriptions_url}/internal/v1/payment-results",
        headers=tokens.service_headers("billing"),
        json=RESULT | change,
    )
    assert response.status_code == 422, response.text


def test_an_email_claim_with_several_addresses_is_refused(stack, tokens):
    token = tokens.user(uuid.uuid4(), email="buyer@example.com, victim@example.com")
    response = httpx.get(
        f"{stack.subscriptions_url}/api/v1/subscriptions", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_email_claim"


def test_401_answers_do_not_echo_the_token_library(stack, tokens):
    expired = tokens.user(uuid.uuid4(), ttl=-3600)
    wrong_audience = tokens.user(uuid.uuid4(), audience="elsewhere")
    for token in (expired, wrong_audience, "not-a-jwt"):
        response = httpx.get(
            f"{stack.subscriptions_url}/api/v1/plans", headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 401
        message = response.json()["error"]["message"]
        assert message == "the bearer token is invalid or expired"
    service = httpx.get(
        f"{stack.billing_url}/internal/v1/payments/{uuid.uuid4()}",
        headers={"Authorization": f"Bearer {expired}"},
    )
    assert service.status_code == 401
    assert service.json()["error"]["message"] == "the service token is invalid or expired"
