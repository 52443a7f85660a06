"""Service layer of Billing for replacing a subscription's saved card (YooKassa ``POST /payment_methods``).

1. ``start``: the card-change row is committed first (one per request key: a replayed request lands on
   it), then YooKassa creates a bank-card method with a redirect confirmation, Idempotence-Key = the
   row id, so a repeat after any crash gets the same method and the same link.
2. ``payment_method.active`` arrives: like every notification it only names the object; ``activate``
   re-reads the method from the API and, if YooKassa says it is active and saved, marks the row
   ``active`` and puts a ``payment_method.active`` event for Subscriptions on the outbox in the same
   transaction. A row already final is never changed again: duplicates and forged bodies do nothing.
   A method YooKassa reports ``inactive`` (the card was declined on the binding page) ends ``canceled``.
3. A notification that never comes: ``reconcile_once`` (the reconciler's loop) asks YooKassa about
   changes still pending, once a minute for a day after they were started (then the user has gone).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from prometheus_client import Counter

from kinobill.billing.provider import OutcomeUnknown, ProviderRejected, YooKassaGateway
from kinobill.billing.repository import BillingUnitOfWork
from kinobill.billing.results import CardChangeView
from kinobill.errors import InvalidRequest, ProviderUnavailable
from kinobill.events import PAYMENT_RESULTS

log = logging.getLogger(__name__)

CARD_CHANGES = Counter("kinobill_card_changes_total", "Card changes by outcome", ["outcome"])
CARD_CHANGED_EVENT = "payment_method.active"
DEFAULT_RETURN_URL = "https://kinobill.local/return"
RECHECK = timedelta(minutes=1)
GIVE_UP_AFTER = timedelta(days=1)


@dataclass(frozen=True)
class NewCardChange:
    subscription_id: uuid.UUID
    user_id: uuid.UUID
    user_email: str | None
    request_key: str
    return_url: str | None = None


class CardChangeService:
    def __init__(
        self,
        uow: Callable[[], BillingUnitOfWork],
        gateway: YooKassaGateway,
        now: Callable[[], datetime],
        *,
        crash_point: Callable[[str], None] = lambda _: None,
    ) -> None:
        self.uow, self.gateway, self.now, self.crash_point = uow, gateway, now, crash_point

    # --- start --------------------------------------------------------------------------------

    def start(self, request: NewCardChange) -> CardChangeView:
        row = self._insert_or_get(request)
        if row.status == "pending" and row.confirmation_url is None:
            row = self._submit(row)
        return CardChangeView.of(row)

    def _insert_or_get(self, request: NewCardChange) -> Any:
        now = self.now()
        with self.uow() as uow:
            row = uow.card_changes.add_or_get(  # a repeat of the same request: its row
                dict(
                    id=uuid.uuid4(),
                    subscription_id=request.subscription_id,
                    user_id=request.user_id,
                    user_email=request.user_email,
                    request_key=request.request_key,
                    status="pending",
                    return_url=request.return_url,
                    created_at=now,
                    updated_at=now,
                )
            )
            uow.commit()
        if (row.subscription_id, row.user_id) != (request.subscription_id, request.user_id):
            raise InvalidRequest("request_key_reused", "this key belongs to another card change")
        return row

    def _submit(self, row: Any) -> Any:
        params = {
            "type": "bank_card",
            "confirmation": {"type": "redirect", "return_url": row.return_url or DEFAULT_RETURN_URL},
        }
        try:
            method = dict(self.gateway.create_payment_method(params, str(row.id)))
        except OutcomeUnknown as exc:
            self._update(row.id, last_error=str(exc)[:500])
            raise ProviderUnavailable() from exc
        except ProviderRejected as exc:
            CARD_CHANGES.labels("rejected").inc()
            return self._update(row.id, status="canceled", last_error=str(exc)[:500])
        self.crash_point("billing.after_provider_payment_method")
        confirmation = method.get("confirmation") or {}
        return self._update(
            row.id,
            provider_method_id=method["id"],
            confirmation_url=confirmation.get("confirmation_url"),
        )

    def _update(self, row_id: uuid.UUID, **values: Any) -> Any:
        with self.uow() as uow:
            row = uow.card_changes.update_pending(row_id, {"updated_at": self.now(), **values})
            uow.commit()
            return row

    # --- payment_method.active ----------------------------------------------------------------

    def handle_notification(self, provider_method_id: str) -> str:
        """``payment_method.active`` for one of ours: re-read it and apply. Returns the outcome
        (``unverified`` when YooKassa could not be asked: the notification is to be retried)."""
        with self.uow() as uow:
            row = uow.card_changes.by_provider_method_id(provider_method_id)
        if row is None:
            return "unknown"
        if row.status != "pending":
            return "duplicate"
        try:
            method = dict(self.gateway.get_payment_method(provider_method_id))
        except OutcomeUnknown:
            return "unverified"
        except ProviderRejected:
            return "rejected_by_provider"
        return self.apply_provider_object(row.id, method)

    def apply_provider_object(self, row_id: uuid.UUID, method: dict[str, Any]) -> str:
        now = self.now()
        with self.uow() as uow:
            row = uow.card_changes.get(row_id, for_update=True)
            if row.status != "pending":
                return "duplicate"
            if method.get("id") != row.provider_method_id:
                log.error("payment method %s does not belong to card change %s", method.get("id"), row.id)
                return "mismatch"
            status = method.get("status")
            if status == "pending":
                return "still_pending"
            if status != "active" or not method.get("saved"):
                uow.card_changes.update(
                    row.id, {"status": "canceled", "updated_at": now, "last_error": f"method {status}"}
                )
                uow.commit()
                CARD_CHANGES.labels("declined").inc()
                return "applied"
            title = method.get("title")
            uow.card_changes.update(
                row.id, {"status": "active", "card_title": title, "activated_at": now, "updated_at": now}
            )
            uow.add_event(
                PAYMENT_RESULTS,
                {
                    "type": CARD_CHANGED_EVENT,
                    "card_change_id": str(row.id),
                    "subscription_id": str(row.subscription_id),
                    "user_id": str(row.user_id),
                    "payment_method_id": row.provider_method_id,
                    "card": title,
                    "at": now.isoformat(),
                },
            )
            uow.commit()
        CARD_CHANGES.labels("active").inc()
        return "applied"

    # --- reconcile ----------------------------------------------------------------------------

    def reconcile_once(self, limit: int = 100) -> int:
        """Ask YooKassa about card changes still pending (a lost notification). Returns how many applied."""
        with self.uow() as uow:
            due = uow.card_changes.claim_due(self.now(), RECHECK, GIVE_UP_AFTER, limit)
            uow.commit()
        return sum(self.handle_notification(method_id) == "applied" for method_id in due)
