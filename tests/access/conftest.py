"""Fixtures for the access endpoint tests: the money-path fixtures, a purchase helper, the test clock."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import redis

from shop import SUCCESS_CARD, Buyer

PATH = "/internal/v1/users/{user_id}/subscriptions/active"


def purchase(stack, who: Buyer, plan_id: str, card: str | None = SUCCESS_CARD) -> dict:
    """Buy; pay with `card` (None: leave it awaiting payment); wait until it is active or ended."""
    response = who.buy(plan_id)
    assert response.status_code == 201, response.text
    body = response.json()
    return body if card is None else who.pay(stack, body, card)


@pytest.fixture()
def new_plan(stack, tokens):
    """A factory of plans on sale (a user may hold one open subscription per plan)."""
    import uuid

    def make() -> dict:
        response = httpx.post(
            f"{stack.subscriptions_url}/internal/v1/plans",
            headers=tokens.service_headers(),
            json={
                "code": f"a{uuid.uuid4().hex[:10]}",
                "name": "Access Plan",
                "price_month": "199.00",
                "price_year": "1990.00",
            },
        )
        assert response.status_code == 201, response.text
        return response.json()

    return make


@pytest.fixture()
def auth(stack, tokens) -> Iterator[httpx.Client]:
    """Auth's view: a client with a service token, as Auth would call the endpoint."""
    with httpx.Client(
        base_url=stack.subscriptions_url, headers=tokens.service_headers("auth"), timeout=10
    ) as client:
        yield client


@pytest.fixture()
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()
