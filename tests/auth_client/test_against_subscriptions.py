"""The client against the REAL Subscriptions service (the session stack), where the stand-in adds nothing.

What the real service can show and the stand-in cannot: the real ETags and 304s, the real service
token check, and invalidation by the real change events of a real purchase. Faults the real service
cannot be made to produce on demand (503 for the next k requests, a slow answer, a malformed body)
stay in ``test_client.py`` against ``contract_server.py``.
"""

from __future__ import annotations

import uuid

import httpx
import pytest
import redis

from kinobill.auth_client import ActiveSubscriptionsClient, ChangeListener, SubscriptionsRequestError
from kinobill.auth_client.client import PATH
from kinobill.security import mint_service_token
from support import wait_until


@pytest.fixture
def real_client(stack, tokens):
    client = ActiveSubscriptionsClient(stack.subscriptions_url, tokens.service("auth"), ttl=3600)
    yield client
    client.close()


@pytest.fixture
def a_plan(stack, tokens) -> dict:
    response = httpx.post(
        f"{stack.subscriptions_url}/internal/v1/plans",
        headers=tokens.service_headers(),
        json={"code": f"c{uuid.uuid4().hex[:10]}", "name": "Client Plan", "price_month": "99.00",
              "price_year": "990.00"},
    )  # fmt: skip
    assert response.status_code == 201, response.text
    return response.json()


def test_etag_revalidation_against_the_real_service(stack, tokens):
    client = ActiveSubscriptionsClient(stack.subscriptions_url, tokens.service("auth"), ttl=0)
    user = uuid.uuid4()
    try:
        first = client.get(user)
        second = client.get(user)
        assert first.items == second.items == ()
        assert (client.stats.fetched, client.stats.revalidated) == (1, 1)
        assert (
            first.etag
            == httpx.get(
                stack.subscriptions_url + PATH.format(user_id=user), headers=tokens.service_headers("auth")
            ).headers["etag"]
        )
    finally:
        client.close()


def test_a_token_signed_by_another_key_is_a_configuration_error(stack):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    client = ActiveSubscriptionsClient(stack.subscriptions_url, mint_service_token(pem, "auth"))
    try:
        with pytest.raises(SubscriptionsRequestError) as info:
            client.get(uuid.uuid4())
        assert (info.value.status, info.value.code) == (401, "unauthorized")
    finally:
        client.close()


def test_a_real_purchase_reaches_the_claim_through_the_change_listener(
    stack, tokens, redis_url, real_client, a_plan
):
    user = uuid.uuid4()
    assert real_client.claim_for(user) == {"subs": ""}  # cached for an hour (ttl=3600)
    listener = ChangeListener(redis.Redis.from_url(redis_url), real_client, block_ms=200).start()
    try:
        headers = tokens.user_headers(user, f"{user.hex[:8]}@example.com")
        bought = httpx.post(
            f"{stack.subscriptions_url}/api/v1/subscriptions",
            json={"plan_id": a_plan["id"], "period": "month"},
            headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
        )
        assert bought.status_code == 201, bought.text
        stack.sandbox.confirm(bought.json()["payment"]["provider_payment_id"], "5555555555554444")
        claim = wait_until(
            lambda: (c := real_client.claim_for(user))["subs"] and c,
            message="the listener to invalidate the cached empty answer",
        )
        assert claim["subs"].startswith(f"{a_plan['code']}:")
        assert real_client.stats.invalidations >= 1
    finally:
        listener.stop()
