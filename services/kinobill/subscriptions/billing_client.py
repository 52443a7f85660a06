"""Subscriptions' client for Billing's internal API (real HTTP, service token, timeouts).

urllib3 with a keep-alive pool: on the purchase path it costs about a third of the CPU httpx did.
No automatic retries: a POST is retried by our caller with the same Idempotency-Key, never blindly.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import urllib3

from kinobill.errors import (
    ApplicationError,
    BillingUnavailable,
    Conflict,
    Forbidden,
    InvalidRequest,
    NotFound,
    Unauthenticated,
)
from kinobill.messages import PaymentSettled

# Billing's refusals, by the status it answered with, as the application errors they are.
REFUSALS: dict[int, type[ApplicationError]] = {
    401: Unauthenticated,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    422: InvalidRequest,
}

# The refusals that concern the request itself: asked again with the same key, Billing answers the same.
# 401 and 403 are about our own credentials or identity, which an operator can mend, so they are not final.
REQUEST_REFUSED: tuple[type[ApplicationError], ...] = (NotFound, Conflict, InvalidRequest)


class BillingClient:
    def __init__(self, base_url: str, service_token: str, timeout: float = 15.0) -> None:
        self._base = base_url.rstrip("/")
        self._http = urllib3.PoolManager(
            maxsize=64, block=False, retries=False, timeout=urllib3.Timeout(connect=2.0, read=timeout)
        )
        self._headers = {"Authorization": f"Bearer {service_token}", "Content-Type": "application/json"}

    def create_payment(self, idempotency_key: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._post("/internal/v1/payments", idempotency_key, body)

    def create_refund(self, idempotency_key: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._post("/internal/v1/refunds", idempotency_key, body)

    def create_card_change(self, idempotency_key: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._post("/internal/v1/card-changes", idempotency_key, body)

    def payments_of(self, subscription_id: str) -> list[dict[str, Any]]:
        return self._items("/internal/v1/payments", subscription_id)

    def payment_results_of(self, subscription_id: str) -> list[PaymentSettled]:
        """The result events of the subscription's final payments, read from Billing's record."""
        return [
            PaymentSettled.from_json(item)
            for item in self._items("/internal/v1/payment-results", subscription_id)
        ]

    def payment(self, payment_id: str) -> dict[str, Any] | None:
        """Billing's record of one payment, or None when Billing has no such payment."""
        return self._get(f"/internal/v1/payments/{payment_id}")

    def _items(self, path: str, subscription_id: str) -> list[dict[str, Any]]:
        data = self._get(f"{path}?{urlencode({'subscription_id': subscription_id})}")
        if data is None:
            raise BillingUnavailable(message="billing answered 404")
        return list(data["items"])

    def _get(self, path: str) -> dict[str, Any] | None:
        try:
            response = self._http.request("GET", self._base + path, headers=self._headers)
        except urllib3.exceptions.HTTPError as exc:
            raise BillingUnavailable(message="billing did not answer") from exc
        if response.status == 404:
            return None
        if response.status != 200:
            raise BillingUnavailable(message=f"billing answered {response.status}")
        return dict(json.loads(response.data))

    def _post(self, path: str, idempotency_key: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            response = self._http.request(
                "POST",
                self._base + path,
                body=json.dumps(body).encode(),
                headers={**self._headers, "Idempotency-Key": idempotency_key},
            )
        except urllib3.exceptions.HTTPError as exc:
            raise BillingUnavailable(
                message="billing did not answer; retry with the same Idempotency-Key"
            ) from exc
        if response.status >= 500:
            raise BillingUnavailable(
                message="billing could not complete the payment now; retry with the same Idempotency-Key",
            )
        data = json.loads(response.data)
        if response.status >= 400:
            error = data.get("error", {})
            refusal = REFUSALS.get(response.status, InvalidRequest)
            raise refusal(error.get("code", "billing_error"), error.get("message", ""))
        return dict(data)
