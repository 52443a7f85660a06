"""YooKassa through the official `yookassa` SDK, behind one small adapter that fixes what the SDK lacks.

The SDK (3.13.0) builds a new `requests.Session` per call from global class-level configuration, sends
without any socket timeout (a hung server blocks forever), retries only over HTTPS, and turns a refused
connection into an `AttributeError`. The gateway keeps the SDK's request building, validation and
response objects, but sends through a shared pooled session with a timeout and no hidden retries, with
its own configuration (no globals), and classifies every failure:

* `ProviderRejected`: YooKassa answered that the request is wrong (4xx): nothing happened.
* `OutcomeUnknown`: timeout, dropped connection, 5xx, 202 or 429: it may or may not have happened.
  Repeat the same call with the same Idempotence-Key later; YooKassa replays the first answer.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import requests
from prometheus_client import Counter, Histogram
from requests.adapters import HTTPAdapter
from yookassa import Payment, PaymentMethod, Refund
from yookassa.client import ApiClient
from yookassa.domain.common import RequestObject, UserAgent
from yookassa.domain.response import PaymentResponse, RefundResponse, SavePaymentMethodResponse

PROVIDER_CALLS = Counter("kinobill_provider_calls_total", "YooKassa API calls", ["operation", "outcome"])
PROVIDER_LATENCY = Histogram(
    "kinobill_provider_call_seconds",
    "YooKassa API call latency",
    ["operation"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


class ProviderError(Exception):
    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.retry_after = status, code, retry_after


class ProviderRejected(ProviderError):
    """A definite refusal: the operation did not happen (and repeating it will not help)."""


class OutcomeUnknown(ProviderError):
    """The operation may or may not have happened; repeat it with the same Idempotence-Key."""


@dataclass(frozen=True)
class YooKassaConfig:
    shop_id: str
    secret_key: str
    api_url: str
    timeout: float = 10.0
    verify: bool | str = True


class _PooledApiClient(ApiClient):
    """The SDK's ApiClient with our session, timeout and error classification."""

    def __init__(self, config: YooKassaConfig, session: requests.Session) -> None:  # no super(): no globals
        self.config = config
        self.session = session
        self.endpoint = config.api_url.rstrip("/")
        self.shop_id, self.shop_password, self.auth_token = config.shop_id, config.secret_key, None
        self.user_agent = UserAgent()

    def request(
        self,
        method: Any = "",
        path: str = "",
        query_params: Any = None,
        headers: Any = None,
        body: Any = None,
    ) -> Any:
        if isinstance(body, RequestObject):
            body.validate()
            body = dict(body)
        request_headers = self.prepare_request_headers(headers)
        try:
            response = self.session.request(
                str(method),
                self.endpoint + path,
                params=query_params,
                headers=request_headers,
                json=body,
                timeout=self.config.timeout,
                verify=self.config.verify,
            )
        except requests.Timeout as exc:
            raise OutcomeUnknown(f"timeout after {self.config.timeout}s: {exc}") from exc
        except requests.RequestException as exc:
            raise OutcomeUnknown(f"connection failed: {exc}") from exc
        if response.status_code == 200:
            try:
                return response.json()
            except ValueError as exc:
                raise OutcomeUnknown("200 with a body that is not JSON") from exc
        try:
            error = response.json()
        except ValueError:
            error = {}
        description = f"HTTP {response.status_code} {error.get('code', '')}: {error.get('description', '')}"
        retry_after = response.headers.get("Retry-After")
        if response.status_code >= 500 or response.status_code in (202, 429):
            raise OutcomeUnknown(
                description,
                status=response.status_code,
                code=error.get("code"),
                retry_after=float(retry_after) if retry_after else None,
            )
        raise ProviderRejected(description, status=response.status_code, code=error.get("code"))


class YooKassaGateway:
    def __init__(self, config: YooKassaConfig) -> None:
        self.config = config
        session = requests.Session()
        session.trust_env = False  # never route provider calls through an environment proxy by accident
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=64, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        self._session = session
        client = _PooledApiClient(config, session)
        # SDK resource classes bound to our client instead of the global configuration.
        self._payment: Any = type(
            "GatewayPayment", (Payment,), {"__init__": lambda s: setattr(s, "client", client)}
        )
        self._refund: Any = type(
            "GatewayRefund", (Refund,), {"__init__": lambda s: setattr(s, "client", client)}
        )
        self._payment_method: Any = type(
            "GatewayPaymentMethod", (PaymentMethod,), {"__init__": lambda s: setattr(s, "client", client)}
        )

    def _call(self, operation: str, fn: Any, *args: Any) -> Any:
        started = time.perf_counter()
        try:
            result = fn(*args)
        except OutcomeUnknown:
            PROVIDER_CALLS.labels(operation, "unknown").inc()
            raise
        except ProviderRejected:
            PROVIDER_CALLS.labels(operation, "rejected").inc()
            raise
        finally:
            PROVIDER_LATENCY.labels(operation).observe(time.perf_counter() - started)
        PROVIDER_CALLS.labels(operation, "ok").inc()
        return result

    def create_payment(self, params: dict[str, Any], idempotence_key: str) -> PaymentResponse:
        return self._call("create_payment", self._payment.create, params, idempotence_key)

    def get_payment(self, provider_payment_id: str) -> PaymentResponse:
        return self._call("get_payment", self._payment.find_one, provider_payment_id)

    def create_refund(self, params: dict[str, Any], idempotence_key: str) -> RefundResponse:
        return self._call("create_refund", self._refund.create, params, idempotence_key)

    def get_refund(self, provider_refund_id: str) -> RefundResponse:
        return self._call("get_refund", self._refund.find_one, provider_refund_id)

    def create_payment_method(
        self, params: dict[str, Any], idempotence_key: str
    ) -> SavePaymentMethodResponse:
        """``POST /payment_methods``: a card to bind without a payment (the user confirms by redirect)."""
        return self._call("create_payment_method", self._payment_method.create, params, idempotence_key)

    def get_payment_method(self, payment_method_id: str) -> SavePaymentMethodResponse:
        return self._call("get_payment_method", self._payment_method.find_one, payment_method_id)

    def close(self) -> None:
        self._session.close()
