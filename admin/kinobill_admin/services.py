"""Calls to the services' internal APIs with the admin's service token.

Every write the console makes goes through here, so the services' rules, idempotency and cache
invalidation apply. Errors come back as :class:`ServiceError` carrying the service's
``{"error": {"code", "message", "details"}}`` so forms can show them to the operator.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import httpx
from django.conf import settings

log = logging.getLogger(__name__)


@dataclass
class ServiceError(Exception):
    status: int
    code: str
    message: str
    details: Any = None
    field_errors: dict[str, list[str]] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.message} ({self.code})"


def _error_from(response: httpx.Response) -> ServiceError:
    try:
        error = response.json().get("error") or {}
    except ValueError:
        error = {}
    if not isinstance(error, dict):
        error = {}
    details = error.get("details")
    field_errors: dict[str, list[str]] = {}
    if isinstance(details, list):  # FastAPI validation: [{"loc": ["body", "price_month"], "msg": ...}]
        for item in details:
            if not isinstance(item, dict):
                continue
            loc = [str(p) for p in item.get("loc", []) if p != "body"]
            if loc:
                field_errors.setdefault(loc[0], []).append(str(item.get("msg", "invalid")))
    return ServiceError(
        status=response.status_code,
        code=str(error.get("code") or f"http_{response.status_code}"),
        message=str(error.get("message") or response.reason_phrase or "error"),
        details=details,
        field_errors=field_errors,
    )


class InternalApi:
    def __init__(self, base_url: str, token: str | None = None, timeout: float | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = settings.ADMIN_SERVICE_TOKEN if token is None else token
        self.timeout = settings.SERVICE_TIMEOUT_SECONDS if timeout is None else timeout

    def request(
        self, method: str, path: str, *, json: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        all_headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        all_headers.update(headers or {})
        try:
            with httpx.Client(base_url=self.base_url, timeout=self.timeout) as client:
                response = client.request(method, path, json=json, headers=all_headers)
        except httpx.TimeoutException as exc:
            # A timeout does not mean failure: the service may have applied the change.
            raise ServiceError(
                504, "service_timeout", f"{self.base_url} did not answer in time; check before retrying"
            ) from exc
        except httpx.HTTPError as exc:
            raise ServiceError(503, "service_unavailable", f"{self.base_url} is unreachable: {exc}") from exc
        if response.status_code >= 400:
            error = _error_from(response)
            log.info("internal API %s %s -> %s %s", method, path, response.status_code, error.code)
            raise error
        if response.status_code == 204 or not response.content:
            return response.status_code, None
        return response.status_code, response.json()


def subscriptions_api() -> InternalApi:
    return InternalApi(settings.SUBSCRIPTIONS_URL)


def billing_api() -> InternalApi:
    return InternalApi(settings.BILLING_URL)


# --- plans (Subscriptions) ---------------------------------------------------------------------


def create_plan(body: dict[str, Any]) -> dict[str, Any]:
    return subscriptions_api().request("POST", "/internal/v1/plans", json=body)[1]


def update_plan(plan_id: str, changes: dict[str, Any]) -> dict[str, Any]:
    return subscriptions_api().request("PATCH", f"/internal/v1/plans/{plan_id}", json=changes)[1]


def end_plan_sale(plan_id: str) -> dict[str, Any]:
    return subscriptions_api().request("POST", f"/internal/v1/plans/{plan_id}/end-sale")[1]


# --- subscriptions and money ---------------------------------------------------------------------


def cancel_subscription(subscription_id: str) -> dict[str, Any]:
    """Auto-renew off (an unpaid purchase ends); 200 with the subscription. Twice is harmless."""
    return subscriptions_api().request("POST", f"/internal/v1/subscriptions/{subscription_id}/cancel")[1]


def refund_subscription(subscription_id: str, idempotency_key: str) -> dict[str, Any]:
    """Subscriptions checks the subscription and asks Billing, which computes the amount by the same rule
    as the user's refund; 202 with the refund plus its ``subscription``. The key makes retries replay."""
    return subscriptions_api().request(
        "POST",
        f"/internal/v1/subscriptions/{subscription_id}/refund",
        headers={"Idempotency-Key": idempotency_key},
    )[1]


def resolve_operator_task(task_id: int, resolved_by: str, note: str) -> dict[str, Any]:
    """Billing marks the task resolved (who, when, the note); 200 with the task. A resolved task is
    answered as it is (the first resolution stays); an unknown one is 404 ``operator_task_not_found``."""
    body = {"resolved_by": resolved_by, "note": note}
    return billing_api().request("POST", f"/internal/v1/operator-tasks/{task_id}/resolve", json=body)[1]


def reconcile_subscription(subscription_id: str) -> dict[str, Any]:
    """Billing asks YooKassa about this subscription's pending payments and refunds now; 200 with
    ``{subscription_id, pending_payments, settled_payments, pending_refunds, settled_refunds}``."""
    body = {"subscription_id": subscription_id}
    return billing_api().request("POST", "/internal/v1/reconcile", json=body)[1]
