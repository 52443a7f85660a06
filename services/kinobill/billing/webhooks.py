"""YooKassa notifications: accepted only from YooKassa's networks, never trusted, always re-read.

The body only tells us *which* object to look at. We read that object from the API and apply what the
API says, so a forged body changes nothing. Anything already applied, or unknown to us, gets 200 (so
YooKassa stops retrying); a notification we could not verify right now gets 503 (so it retries).
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable
from typing import Any

from prometheus_client import Counter

from kinobill.billing.payments import PaymentService
from kinobill.billing.provider import OutcomeUnknown, ProviderRejected
from kinobill.billing.repository import BillingUnitOfWork
from kinobill.domain.statuses import PaymentStatus

log = logging.getLogger(__name__)

WEBHOOKS = Counter("kinobill_webhooks_total", "YooKassa notifications by outcome", ["event", "outcome"])
# The events YooKassa sends; anything else is one `other` label value (labels must stay few and short).
KNOWN_EVENTS = frozenset(
    {
        "payment.succeeded",
        "payment.waiting_for_capture",
        "payment.canceled",
        "refund.succeeded",
        "payment_method.active",
        "payout.succeeded",
        "payout.canceled",
        "deal.closed",
    }
)
MAX_EVENT_LENGTH = 64
MAX_OBJECT_ID_LENGTH = 128
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(text: str) -> list[IPNetwork]:
    return [ipaddress.ip_network(part.strip(), strict=False) for part in text.split(",") if part.strip()]


class SourceFilter:
    """Is this request from YooKassa? Honours X-Forwarded-For only behind our own trusted proxies."""

    def __init__(self, allowed: list[IPNetwork], trusted_proxies: list[IPNetwork]) -> None:
        self.allowed, self.trusted = allowed, trusted_proxies

    def client_address(self, peer: str, forwarded_for: str | None) -> str:
        address = peer
        if forwarded_for and self._in(peer, self.trusted):
            # Walk from the right: the first hop that is not one of our proxies is the client.
            for hop in reversed([h.strip() for h in forwarded_for.split(",") if h.strip()]):
                address = hop
                if not self._in(hop, self.trusted):
                    break
        return address

    def allows(self, address: str) -> bool:
        return self._in(address, self.allowed)

    @staticmethod
    def _in(address: str, networks: list[IPNetwork]) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in networks)


class NotificationHandler:
    def __init__(
        self,
        uow: Callable[[], BillingUnitOfWork],
        payments: PaymentService,
        refunds: Callable[[str], str] | None = None,
        payment_methods: Callable[[str], str] | None = None,
    ) -> None:
        self.uow, self.payments, self.refunds = uow, payments, refunds
        self.payment_methods = payment_methods

    def handle(self, body: Any, remote_addr: str) -> tuple[int, str]:
        """Returns (HTTP status, outcome)."""
        if (
            not isinstance(body, dict)
            or body.get("type") != "notification"
            or not isinstance(body.get("object"), dict)
        ):
            return self._record(body, remote_addr, "", None, 400, "malformed")
        event = str(body.get("event", ""))[:MAX_EVENT_LENGTH]
        object_id = body["object"].get("id")
        if not isinstance(object_id, str) or not object_id or len(object_id) > MAX_OBJECT_ID_LENGTH:
            return self._record(body, remote_addr, event, None, 400, "malformed")
        if event.startswith("payment."):
            status, outcome = self._payment(object_id)
        elif event.startswith("refund.") and self.refunds is not None:
            outcome = self.refunds(object_id)
            status = 503 if outcome == "unverified" else 200
        elif event == "payment_method.active" and self.payment_methods is not None:
            outcome = self.payment_methods(object_id)  # card changes (card_changes.py)
            status = 503 if outcome == "unverified" else 200
        else:
            status, outcome = 200, "ignored"
        return self._record(body, remote_addr, event, object_id, status, outcome)

    def _payment(self, provider_payment_id: str) -> tuple[int, str]:
        row = self.payments.by_provider_id(provider_payment_id)
        if row is None:
            return 200, "unknown"
        if row.status != PaymentStatus.PENDING:
            return 200, "duplicate"
        try:
            provider = dict(self.payments.gateway.get_payment(provider_payment_id))
        except OutcomeUnknown:
            return 503, "unverified"
        except ProviderRejected:
            return 200, "rejected_by_provider"
        settled = self.payments.apply_provider_object(row.id, provider)
        return 200, "applied" if settled.status != PaymentStatus.PENDING else "still_pending"

    def _record(
        self, body: Any, remote_addr: str, event: str, object_id: str | None, status: int, outcome: str
    ) -> tuple[int, str]:
        WEBHOOKS.labels(event if event in KNOWN_EVENTS else ("none" if not event else "other"), outcome).inc()
        with self.uow() as uow:
            uow.provider_notifications.add(
                {
                    "event": event or "?",
                    "object_id": object_id,
                    "remote_addr": remote_addr,
                    "body": body if isinstance(body, dict) else {"raw": str(body)[:2000]},
                    "outcome": outcome,
                }
            )
            uow.commit()
        return status, outcome
