"""Scriptable fault injection for the API endpoints and for webhook delivery.

A fault is added with ``POST /sandbox/faults`` and consumed by the next ``count`` matching requests
(or notifications); ``count: null`` keeps it active until ``DELETE /sandbox/faults``.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field
from typing import Any

# API operations a fault can be scoped to; "*" matches all of them
OPERATIONS = {
    "payments.create": ("POST", "/v3/payments"),
    "payments.list": ("GET", "/v3/payments"),
    "payments.get": ("GET", "/v3/payments/{payment_id}"),
    "payments.capture": ("POST", "/v3/payments/{payment_id}/capture"),
    "payments.cancel": ("POST", "/v3/payments/{payment_id}/cancel"),
    "refunds.create": ("POST", "/v3/refunds"),
    "refunds.list": ("GET", "/v3/refunds"),
    "refunds.get": ("GET", "/v3/refunds/{refund_id}"),
    "me.get": ("GET", "/v3/me"),
    "payment_methods.create": ("POST", "/v3/payment_methods"),
    "payment_methods.get": ("GET", "/v3/payment_methods/{payment_method_id}"),
}
_ALIASES = {f"{m} {p}": op for op, (m, p) in OPERATIONS.items()}
_ALIASES.update({f"{m} {p[3:]}": op for op, (m, p) in OPERATIONS.items()})

API_KINDS = (
    "latency",  # wait latency_ms, then answer normally
    "hang",  # never answer (until the client goes away); with commit=true the operation happens first
    "error_before_commit",  # HTTP 500, nothing happened
    "error_after_commit",  # the operation happened (and is stored for the Idempotence-Key), then HTTP 500
    "drop_before_commit",  # close the connection without an answer, nothing happened
    "drop_after_commit",  # the operation happened, then the connection is closed without an answer
    "too_many_requests",  # HTTP 429 + Retry-After, nothing happened
    "processing",  # HTTP 202 {type: processing} + Retry-After, nothing happened
)
WEBHOOK_EVENTS = (
    "payment.waiting_for_capture",
    "payment.succeeded",
    "payment.canceled",
    "refund.succeeded",
    "payment_method.active",
)
WEBHOOK_KINDS = (
    "webhook_duplicate",  # deliver each notification `copies` times
    "webhook_delay",  # deliver latency_ms later
    "webhook_reorder",  # hold `count` (>= 2) notifications, then deliver them newest first
    "webhook_drop",  # lose the notification: never delivered, never retried
)
RECEIPT_KINDS = ("receipt_canceled",)  # the next `count` receipts fail to register (endpoint payment|refund)
RECEIPT_OBJECTS = ("payment", "refund")
KINDS = API_KINDS + WEBHOOK_KINDS + RECEIPT_KINDS


class FaultError(ValueError):
    pass


@dataclass
class Fault:
    id: str
    kind: str
    endpoint: str = "*"
    count: int | None = 1
    latency_ms: int = 0
    retry_after: int = 1
    commit: bool = False
    copies: int = 2
    used: int = 0
    held: list[Any] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("held")
        d["remaining"] = None if self.count is None else self.count - self.used
        return d


class Faults:
    def __init__(self) -> None:
        self.active: list[Fault] = []
        self._ids = itertools.count(1)

    def __bool__(self) -> bool:
        return bool(self.active)

    def add(self, spec: dict[str, Any]) -> Fault:
        kind = spec.get("kind")
        if kind not in KINDS:
            raise FaultError(f"unknown fault kind {kind!r}; one of {list(KINDS)}")
        endpoint = str(spec.get("endpoint") or "*")
        if kind in API_KINDS:
            endpoint = _ALIASES.get(endpoint, endpoint)
            if endpoint != "*" and endpoint not in OPERATIONS:
                raise FaultError(
                    f"unknown endpoint {endpoint!r}; one of {['*', *OPERATIONS]} or 'METHOD /v3/path'"
                )
        elif kind in RECEIPT_KINDS:
            if endpoint not in ("*", *RECEIPT_OBJECTS):
                raise FaultError(f"unknown receipt endpoint {endpoint!r}; one of {['*', *RECEIPT_OBJECTS]}")
        elif endpoint not in ("*", "webhook", *WEBHOOK_EVENTS):
            raise FaultError(f"unknown webhook endpoint {endpoint!r}; one of {['*', *WEBHOOK_EVENTS]}")
        count = spec.get("count", 1)
        if count is not None and (not isinstance(count, int) or count < 1):
            raise FaultError("count must be a positive integer or null (unlimited)")
        if kind == "webhook_reorder" and (count is None or count < 2):
            raise FaultError("webhook_reorder needs count >= 2 (the number of notifications to reorder)")
        fault = Fault(
            id=f"f{next(self._ids)}",
            kind=kind,
            endpoint=endpoint,
            count=count,
            latency_ms=int(spec.get("latency_ms", 0)),
            retry_after=int(spec.get("retry_after", 1)),
            commit=bool(spec.get("commit", False)),
            copies=int(spec.get("copies", 2)),
        )
        if fault.latency_ms < 0 or fault.retry_after < 0 or fault.copies < 1:
            raise FaultError("latency_ms and retry_after must be >= 0, copies >= 1")
        self.active.append(fault)
        return fault

    def take_api(self, operation: str) -> Fault | None:
        """The first active API fault matching ``operation``, consuming one use of it."""
        for fault in self.active:
            if fault.kind in API_KINDS and fault.endpoint in ("*", operation):
                self._use(fault)
                return fault
        return None

    def take_webhook(self, event: str) -> Fault | None:
        for fault in self.active:
            if fault.kind in WEBHOOK_KINDS and fault.endpoint in ("*", "webhook", event):
                if fault.kind != "webhook_reorder":
                    self._use(fault)
                return fault
        return None

    def take_receipt(self, object_type: str) -> Fault | None:
        """The first receipt fault for a ``payment`` or ``refund`` receipt, consuming one use of it."""
        for fault in self.active:
            if fault.kind in RECEIPT_KINDS and fault.endpoint in ("*", object_type):
                self._use(fault)
                return fault
        return None

    def _use(self, fault: Fault) -> None:
        fault.used += 1
        if fault.count is not None and fault.used >= fault.count:
            self.active.remove(fault)

    def remove(self, fault_id: str) -> Fault | None:
        for fault in self.active:
            if fault.id == fault_id:
                self.active.remove(fault)
                return fault
        return None

    def clear(self) -> list[Fault]:
        removed, self.active = self.active, []
        return removed
