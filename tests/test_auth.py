"""JWT verification at the edge of both services: what gets a 401."""

from __future__ import annotations

import time
import uuid

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


def _foreign_key() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@pytest.mark.parametrize(
    "case",
    [
        "missing",
        "expired",
        "wrong-signature",
        "wrong-audience",
        "garbage",
        "not-a-uuid-subject",
        "hs256-with-public-key",
    ],
)
def test_bad_user_tokens_are_401(subscriptions_service, local_keys, case):
    now = int(time.time())
    private = local_keys.user_private.read_bytes()
    claims = {"sub": str(uuid.uuid4()), "aud": "kinobill", "iat": now, "exp": now + 600}
    token = {
        "missing": None,
        "expired": jwt.encode({**claims, "iat": now - 7200, "exp": now - 3600}, private, algorithm="RS256"),
        "wrong-signature": jwt.encode(claims, _foreign_key(), algorithm="RS256"),
        "wrong-audience": jwt.encode({**claims, "aud": "someone-else"}, private, algorithm="RS256"),
        "garbage": "not.a.token",
        "not-a-uuid-subject": jwt.encode({**claims, "sub": "alice"}, private, algorithm="RS256"),
        "hs256-with-public-key": jwt.encode(claims, "x" * 32, algorithm="HS256"),
    }[case]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = httpx.get(f"{subscriptions_service}/api/v1/plans", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


def test_a_valid_user_token_is_accepted(subscriptions_service, tokens):
    response = httpx.get(f"{subscriptions_service}/api/v1/plans", headers=tokens.user_headers(uuid.uuid4()))
    assert response.status_code == 200
    assert "items" in response.json()


def test_the_worker_reports_health_and_metrics(stack):
    assert httpx.get(f"{stack.worker_url}/healthz").json() == {"status": "ok"}
    metrics = httpx.get(f"{stack.worker_url}/metrics").text
    assert "kinobill_outbox_lag_seconds" in metrics
    assert httpx.get(f"{stack.worker_url}/nowhere").status_code == 404


def test_operational_endpoints(subscriptions_service, billing_service):
    for base in (subscriptions_service, billing_service):
        assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}
        ready = httpx.get(f"{base}/readyz").json()
        assert ready["checks"] == {"configuration": "ok", "database": "ok", "redis": "ok"}
        metrics = httpx.get(f"{base}/metrics").text
        assert "kinobill_http_requests_total" in metrics
        assert httpx.get(f"{base}/docs").status_code == 200
        response = httpx.get(f"{base}/healthz", headers={"X-Request-ID": "abc123"})
        assert response.headers["x-request-id"] == "abc123"
