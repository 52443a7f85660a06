"""Subscriptions' client for Billing's internal API (real HTTP, service token, timeouts)."""

from __future__ import annotations

from typing import Any

import httpx

from kinobill.web import ApiError


class BillingClient:
    def __init__(self, base_url: str, service_token: str, timeout: float = 15.0) -> None:
        self._http = httpx.Client(
            base_url=base_url,
            timeout=timeout,
            headers={"Authorization": f"Bearer {service_token}"},
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=50),
        )

    def create_payment(self, idempotency_key: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._post("/internal/v1/payments", idempotency_key, body)

    def create_refund(self, idempotency_key: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._post("/internal/v1/refunds", idempotency_key, body)

    def payments_of(self, subscription_id: str) -> list[dict[str, Any]]:
        try:
            response = self._http.get("/internal/v1/payments", params={"subscription_id": subscription_id})
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise ApiError(503, "billing_unavailable", "billing did not answer") from exc
        return list(response.json()["items"])

    def _post(self, path: str, idempotency_key: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            response = self._http.post(path, json=body, headers={"Idempotency-Key": idempotency_key})
        except httpx.HTTPError as exc:
            raise ApiError(
                503, "billing_unavailable", "billing did not answer; retry with the same Idempotency-Key"
            ) from exc
        if response.status_code >= 500:
            raise ApiError(
                503,
                "billing_unavailable",
                "billing could not complete the payment now; retry with the same Idempotency-Key",
            )
        data = response.json()
        if response.status_code >= 400:
            error = data.get("error", {})
            raise ApiError(response.status_code, error.get("code", "billing_error"), error.get("message", ""))
        return dict(data)
