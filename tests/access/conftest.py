"""Fixtures for the access endpoint tests: the money-path fixtures, a purchase helper, the test clock."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import redis

from kinobill.events import SUBSCRIPTION_CHANGES
from shop import SUCCESS_CARD, Buyer

PATH = "/internal/v1/users/{user_id}/subscriptions/active"


def purchase(stack, who: Buyer, plan_id: str, card: str | None = SUCCESS_CARD) -> dict:
    """Buy; pay with `card` (None: leave it awaiting payment); wait until it is active or ended."""
    response = who.buy(plan_id)
    assert response.status_code == 201, response.text
    body = response.json()
    return body if card is None else who.pay(stack, body, card)


def changes_consumed(redis_client: redis.Redis, subscription_id: str, event: str) -> bool:
    """The subscription's `event` is on the change stream and the access-cache group has taken and acked
    everything: no change event in flight can drop a cache entry filled from now on."""
    entries = redis_client.xrange(SUBSCRIPTION_CHANGES)
    if not any(
        f.get(b"subscription_id") == subscription_id.encode() and f.get(b"event") == event.encode()
        for _, f in entries
    ):
        return False
    groups = redis_client.xinfo_groups(SUBSCRIPTION_CHANGES)
    group = next(g for g in groups if g["name"] in (b"access-cache", "access-cache"))
    return group["pending"] == 0 and group["last-delivered-id"] == entries[-1][0]


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
