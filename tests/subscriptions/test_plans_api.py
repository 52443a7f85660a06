"""Plan catalogue over real HTTP: the Subscriptions service as a process, a real Postgres behind it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import sqlalchemy as sa


@pytest.fixture()
def api(subscriptions_service: str):
    with httpx.Client(base_url=subscriptions_service, timeout=10) as client:
        yield client


def plan_body(**overrides: object) -> dict:
    body = {
        "code": f"p{uuid.uuid4().hex[:10]}",
        "name": "Premium",
        "description": "4K",
        "price_month": "299.00",
        "price_year": "2990.00",
    }
    body.update(overrides)
    return body


def create_plan(api: httpx.Client, tokens, **overrides: object) -> dict:
    response = api.post("/internal/v1/plans", json=plan_body(**overrides), headers=tokens.service_headers())
    assert response.status_code == 201, response.text
    return response.json()


def test_created_plan_has_the_documented_shape(api, tokens):
    plan = create_plan(api, tokens, price_month="299.5")
    assert plan["price_month"] == "299.50"
    assert plan["price_year"] == "2990.00"
    assert plan["currency"] == "RUB"
    assert plan["sale_end"] is None
    assert datetime.fromisoformat(plan["sale_start"]).tzinfo is not None
    assert set(plan) >= {
        "id",
        "code",
        "name",
        "description",
        "price_month",
        "price_year",
        "currency",
        "sale_start",
        "sale_end",
    }


def test_users_see_only_plans_on_sale_now(api, tokens):
    now = datetime.now(UTC)
    on_sale = create_plan(api, tokens)
    future = create_plan(api, tokens, sale_start=(now + timedelta(days=10)).isoformat())
    past = create_plan(
        api,
        tokens,
        sale_start=(now - timedelta(days=10)).isoformat(),
        sale_end=(now - timedelta(days=1)).isoformat(),
    )
    seen: set[str] = set()
    cursor = None
    headers = tokens.user_headers(uuid.uuid4())
    while True:
        page = api.get(
            "/api/v1/plans", params={"limit": 2, **({"cursor": cursor} if cursor else {})}, headers=headers
        ).json()
        seen |= {p["id"] for p in page["items"]}
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert on_sale["id"] in seen
    assert future["id"] not in seen
    assert past["id"] not in seen


@pytest.mark.parametrize(
    ("overrides", "where"),
    [
        ({"price_month": "-1.00"}, "price_month"),
        ({"price_month": "1.001"}, "price_month"),
        ({"price_year": 2990}, "price_year"),  # numbers are refused: money travels as strings
        ({"price_month": "0.00"}, "price"),
        ({"sale_start": "2027-01-02T00:00:00+00:00", "sale_end": "2027-01-01T00:00:00+00:00"}, "sale"),
        ({"sale_start": "2027-01-02T00:00:00"}, "sale_start"),  # no offset
        ({"unexpected": "field"}, "unexpected"),
        ({"name": 5}, "name"),
        ({"code": "Bad Code!"}, "code"),
        ({"currency": "USD"}, "currency"),
    ],
    ids=[
        "negative",
        "three-decimals",
        "number-not-string",
        "zero",
        "end-before-start",
        "naive-time",
        "unknown-field",
        "wrong-type",
        "bad-code",
        "currency",
    ],
)
def test_bad_plan_input_is_a_422_with_the_error_shape(api, tokens, overrides, where):
    response = api.post("/internal/v1/plans", json=plan_body(**overrides), headers=tokens.service_headers())
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"]
    assert where.split("_")[0] in (error["message"] + str(error.get("details", ""))).lower()


def test_duplicate_code_is_a_conflict(api, tokens):
    plan = create_plan(api, tokens)
    response = api.post(
        "/internal/v1/plans", json=plan_body(code=plan["code"]), headers=tokens.service_headers()
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "plan_code_taken"


def test_update_end_sale_and_delete(api, tokens):
    headers = tokens.service_headers()
    plan = create_plan(api, tokens)
    updated = api.patch(f"/internal/v1/plans/{plan['id']}", json={"price_month": "349.00"}, headers=headers)
    assert updated.status_code == 200, updated.text
    assert updated.json()["price_month"] == "349.00"
    bad = api.patch(
        f"/internal/v1/plans/{plan['id']}", json={"sale_end": plan["sale_start"]}, headers=headers
    )
    assert bad.status_code == 422
    ended = api.post(f"/internal/v1/plans/{plan['id']}/end-sale", headers=headers).json()
    assert ended["sale_end"] is not None
    user_view = api.get("/api/v1/plans", params={"limit": 100}, headers=tokens.user_headers(uuid.uuid4()))
    assert plan["id"] not in {p["id"] for p in user_view.json()["items"]}
    assert api.delete(f"/internal/v1/plans/{plan['id']}", headers=headers).status_code == 204
    assert api.get(f"/internal/v1/plans/{plan['id']}", headers=headers).status_code == 404


def test_a_plan_with_subscriptions_cannot_be_deleted(api, tokens, migrated_database):
    plan = create_plan(api, tokens)
    engine = sa.create_engine(migrated_database)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO subscriptions.subscriptions (id, user_id, plan_id, period, status, price) "
                "VALUES (:id, :user, :plan, 'month', 'awaiting_payment', 29900)"
            ),
            {"id": uuid.uuid4(), "user": uuid.uuid4(), "plan": plan["id"]},
        )
    engine.dispose()
    response = api.delete(f"/internal/v1/plans/{plan['id']}", headers=tokens.service_headers())
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "plan_has_subscriptions"
    renamed = api.patch(
        f"/internal/v1/plans/{plan['id']}", json={"code": "renamed-plan"}, headers=tokens.service_headers()
    )
    assert renamed.status_code == 409
    assert renamed.json()["error"]["code"] == "plan_code_immutable"


def test_internal_api_needs_a_service_token(api, tokens):
    assert api.get("/internal/v1/plans").status_code == 401
    user_token = tokens.user_headers(uuid.uuid4())
    response = api.get("/internal/v1/plans", headers=user_token)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
