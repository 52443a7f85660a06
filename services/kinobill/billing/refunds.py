"""Service layer of Billing for refunds: compute by the rule, row first, then YooKassa; settle once.

Invariants kept here and by the schema:
* Refunds never sum above the payment. The amount is computed, and the refund row inserted, while the
  payment row is locked (`SELECT ... FOR UPDATE`); pending and succeeded refunds both count as already
  refunded, so two requests racing with different keys serialize and the second gets what is left
  (usually nothing: 409 `nothing_to_refund`). `payments.refunded_amount` (CHECK ≤ amount) grows only
  when a refund succeeds, in the same transaction that settles it.
* The refund row is committed before YooKassa is called; its id is the Idempotence-Key and the request
  body is built from the row alone, so every repeat (client retry, crash recovery, reconciler) lands on
  the same YooKassa refund.
* `refund_key` (unique: `<service>:<Idempotency-Key>`) maps one request to one refund row.
* Settling happens in ONE transaction: final status, `refunded_amount`, outbox event, e-mail. A refund
  already final never changes again (duplicate or forged notifications are no-ops).

The amount follows docs/design.md's rule through :func:`kinobill.domain.refunds.refund_amount`, with the
test-clock-aware `now`. Billing knows what was paid (its payments table: the succeeded payment of the
subscription's latest period); Subscriptions tells it the bounds of that period.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from prometheus_client import Counter

from kinobill import keys
from kinobill.billing import notifications as n
from kinobill.billing.provider import OutcomeUnknown, ProviderRejected, YooKassaGateway
from kinobill.billing.receipts import announce_registration, registration_values
from kinobill.billing.reconciling import reconcile_due
from kinobill.billing.repository import BillingUnitOfWork
from kinobill.billing.results import RefundView
from kinobill.domain.errors import NothingToRefund
from kinobill.domain.money import format_rub
from kinobill.domain.payment import Phase
from kinobill.domain.receipts import RECEIPTS_OFF, ReceiptImpossible, ReceiptPolicy, receipt_for
from kinobill.domain.refund import Refund
from kinobill.domain.refunds import refund_amount
from kinobill.domain.statuses import PaymentStatus, RefundStatus
from kinobill.errors import Conflict, InvalidRequest, NotFound
from kinobill.events import REFUND_RESULTS
from kinobill.messages import RefundSettled

log = logging.getLogger(__name__)

REFUNDS_SETTLED = Counter("kinobill_refunds_settled_total", "Refunds that reached a final state", ["status"])
REFUND_RECOVERIES = Counter(
    "kinobill_refund_reconciler_recoveries_total", "Refunds the reconciler drove to a final state"
)
FIRST_CHECK = timedelta(minutes=2)
UNKNOWN_OUTCOME_RECHECK = timedelta(seconds=5)


@dataclass(frozen=True)
class RefundRequest:
    subscription_id: uuid.UUID
    user_id: uuid.UUID
    refund_key: str
    period_index: int
    period_start: datetime | None
    period_end: datetime | None
    requested_by: str  # user | operator | system
    full: bool = False  # system only: a late payment goes back in full, whatever the rule says
    payment_id: uuid.UUID | None = None  # with `full`: the payment to return


def refund_of(row: Any, payment: Any = None) -> Refund:
    """The domain's view of a refund row (with its payment's YooKassa id, for `advance`)."""
    return Refund(
        status=row.status,
        amount=row.amount,
        provider_refund_id=row.provider_refund_id,
        provider_payment_id=payment.provider_payment_id if payment is not None else None,
    )


class RefundService:
    def __init__(
        self,
        uow: Callable[[], BillingUnitOfWork],
        gateway: YooKassaGateway,
        now: Callable[[], datetime],
        *,
        public_url: str,
        crash_point: Callable[[str], None] = lambda _: None,
        receipts: ReceiptPolicy = RECEIPTS_OFF,
    ) -> None:
        self.uow, self.gateway, self.now = uow, gateway, now
        self.public_url, self.crash_point = public_url, crash_point
        self.receipts = receipts

    def view(self, row: Any) -> RefundView:
        return RefundView.of(row, self.public_url)

    # --- create -------------------------------------------------------------------------------

    def create(self, request: RefundRequest) -> RefundView:
        row = self._insert_or_get(request)
        phase = refund_of(row).phase
        if phase == Phase.RECORDED:
            row = self.submit(row)
        elif phase == Phase.SETTLED:
            self._republish(row)
        return self.view(row)

    def _republish(self, row: Any) -> None:
        """The same refund asked again when it is already final: its result goes out again (the first
        may have been lost with Redis' data after the outbox marked it published). The consumer is
        idempotent and the e-mail's dedupe key keeps it to one."""
        with self.uow() as uow:
            self._announce(uow, row, uow.payments.get(row.payment_id))
            uow.commit()

    def _insert_or_get(self, request: RefundRequest) -> Any:
        with self.uow() as uow:
            existing = uow.refunds.by_key(request.refund_key)
            if existing is None:
                payment = self._lock_payment(uow, request)
                # Under the payment lock: a same-key request that raced us is visible now.
                existing = uow.refunds.by_key(request.refund_key)
            if existing is not None:
                if existing.subscription_id != request.subscription_id:
                    raise InvalidRequest("refund_key_reused", "this refund key belongs to another refund")
                return existing
            already = uow.refunds.open_sum(payment.id)
            now = self.now()
            if request.full:
                amount = payment.amount - already
                if amount <= 0:
                    raise NothingToRefund()
            else:
                assert request.period_start is not None and request.period_end is not None
                amount = refund_amount(
                    paid=payment.amount,
                    already_refunded=already,
                    period_start=request.period_start,
                    period_end=request.period_end,
                    now=now,
                )
            try:  # the refund's 54-FZ receipt (kept on the row: every repeat sends the same body)
                receipt = receipt_for(
                    self.receipts,
                    email=payment.user_email,
                    description=payment.description or "Kinobill subscription",
                    amount=amount,
                    currency=payment.currency,
                )
            except ReceiptImpossible as exc:
                raise InvalidRequest(exc.code, exc.message) from exc
            row = uow.refunds.add(
                dict(
                    id=uuid.uuid4(),
                    payment_id=payment.id,
                    subscription_id=payment.subscription_id,
                    user_id=payment.user_id,
                    refund_key=request.refund_key,
                    amount=amount,
                    currency=payment.currency,
                    status=RefundStatus.PENDING,
                    receipt=receipt,
                    created_at=now,
                    updated_at=now,
                    next_check_at=now + FIRST_CHECK,
                )
            )
            log.info(
                "refund %s of %s kopecks for payment %s (%s, requested by %s)",
                row.id,
                amount,
                payment.id,
                "full" if request.full else "by the rule",
                request.requested_by,
            )
            uow.queue_email(
                **n.letter(
                    f"refund-started:{row.id}",
                    payment,
                    n.RefundStarted(
                        amount=amount,
                        description=payment.description or "Kinobill",
                        status_url=self.view(row).status_url,
                    ),
                ),
            )
            uow.commit()
            return row

    def _lock_payment(self, uow: BillingUnitOfWork, request: RefundRequest) -> Any:
        """The payment to refund, locked; refuses (4xx, no provider call) when there is none."""
        if request.full:
            if request.payment_id is None:
                raise InvalidRequest("payment_id_required", "a full refund names the payment it returns")
            payment = uow.payments.get(request.payment_id, for_update=True)
            if payment is None or payment.subscription_id != request.subscription_id:
                raise NotFound("payment_not_found", "no such payment for this subscription")
        else:
            # The latest paid period only: the succeeded payment with the highest period index (a
            # duplicate is returned whole by the system, not by users).
            latest = uow.payments.latest_paid(request.subscription_id)
            if latest is None:
                if uow.payments.has_pending(request.subscription_id):
                    raise Conflict("payment_not_succeeded", "the payment has not succeeded yet")
                raise Conflict("nothing_paid", "nothing was paid for this subscription")
            payment = uow.payments.get(latest, for_update=True)
            if payment.period_index != request.period_index:
                raise Conflict(
                    "period_mismatch",
                    f"the latest paid period is {payment.period_index}, not {request.period_index}; retry",
                )
        if payment.user_id != request.user_id:
            raise NotFound("payment_not_found", "no such payment for this user")
        if payment.status != PaymentStatus.SUCCEEDED or not payment.provider_payment_id:
            raise Conflict("payment_not_succeeded", "the payment has not succeeded yet")
        return payment

    def submit(self, row: Any) -> Any:
        """Call YooKassa for a committed refund row (again, if need be: same key, same body)."""
        with self.uow() as uow:
            payment = uow.payments.get(row.payment_id)
            uow.refunds.count_attempt(row.id)
            uow.commit()
        params = {
            "payment_id": payment.provider_payment_id,
            "amount": {"value": format_rub(row.amount), "currency": row.currency},
            "description": f"Refund: {payment.description or 'Kinobill'}"[:250],
            "metadata": {"refund_id": str(row.id), "subscription_id": str(row.subscription_id)},
        }
        if row.receipt is not None:
            params["receipt"] = row.receipt
        try:
            provider = dict(self.gateway.create_refund(params, idempotence_key=str(row.id)))
        except OutcomeUnknown as exc:
            # The refund exists on our side; the reconciler repeats the call with the same key.
            return self._note_unknown(row.id, str(exc))
        except ProviderRejected as exc:
            return self._settle(row.id, None, rejected=str(exc))
        self.crash_point("billing.after_provider_refund")
        return self._settle(row.id, provider)

    def _note_unknown(self, refund_id: uuid.UUID, error: str) -> Any:
        with self.uow() as uow:
            row = uow.refunds.update(
                refund_id, {"last_error": error[:500], "next_check_at": self.now() + UNKNOWN_OUTCOME_RECHECK}
            )
            uow.commit()
            return row

    # --- settle -------------------------------------------------------------------------------

    def _settle(
        self, refund_id: uuid.UUID, provider: dict[str, Any] | None, rejected: str | None = None
    ) -> Any:
        now = self.now()
        with self.uow() as uow:
            # Lock order everywhere: the payment, then its refunds.
            payment = uow.payments.get(uow.refunds.payment_of(refund_id), for_update=True)
            row = uow.refunds.get(refund_id, for_update=True)
            step = refund_of(row, payment).advance(provider, rejected=rejected is not None)
            if step.action == "ignore":
                if step.why != "final":  # final states never change: duplicates and late news are no-ops
                    log.error(
                        "provider refund %s not applied to refund %s: %s",
                        (provider or {}).get("id"),
                        row.id,
                        step.why,
                    )
                return row
            values: dict[str, Any] = {"updated_at": now}
            if rejected is not None:
                values["last_error"] = rejected[:500]
            else:
                assert provider is not None
                values.update(provider_refund_id=provider["id"], provider_object=provider)
                receipt = registration_values(row, provider, now)
                values.update(receipt)
                announce_registration(uow.receipts, "refund", row, receipt, provider)
            if step.action == "record":
                values["next_check_at"] = now + FIRST_CHECK
                pending = uow.refunds.update(row.id, values)
                uow.commit()
                return pending
            values.update(status=step.status, next_check_at=None)
            if step.status == RefundStatus.SUCCEEDED:
                values["succeeded_at"] = now
                payment = uow.payments.add_refunded(payment.id, row.amount, now)
            else:
                values["cancellation_reason"] = step.reason
            settled = uow.refunds.update(row.id, values)
            self._announce(uow, settled, payment)
            uow.commit()
        REFUNDS_SETTLED.labels(settled.status).inc()
        return settled

    def _announce(self, uow: BillingUnitOfWork, row: Any, payment: Any) -> None:
        others_open = uow.refunds.others_open(payment.id, row.id)
        succeeded = row.status == RefundStatus.SUCCEEDED
        uow.add_event(
            REFUND_RESULTS,
            RefundSettled(
                type="refund.succeeded" if succeeded else "refund.canceled",
                refund_id=row.id,
                payment_id=payment.id,
                subscription_id=row.subscription_id,
                user_id=row.user_id,
                user_email=payment.user_email,
                period_index=payment.period_index,
                amount=row.amount,
                payment_refunded_amount=payment.refunded_amount,
                # Other refunds of the same payment still pending or succeeded (a canceled refund
                # restores the subscription only when there are none).
                other_open_refunds=others_open,
                reason=row.cancellation_reason,
                # Returning a payment taken twice for one period leaves the paid subscription alone.
                ends_subscription=not keys.is_duplicate_refund(row.refund_key),
            ).to_json(),
        )
        told: n.Notification = (
            n.RefundSucceeded(amount=row.amount)
            if succeeded
            else n.RefundCanceled(amount=row.amount, reason=row.cancellation_reason)
        )
        uow.queue_email(**n.letter(f"refund-{row.status}:{row.id}", payment, told))

    # --- follow: webhook and reconciler -------------------------------------------------------

    def handle_notification(self, provider_refund_id: str) -> str:
        """A `refund.*` notification: re-read the refund from the API (never trust the body)."""
        try:
            provider = dict(self.gateway.get_refund(provider_refund_id))
        except OutcomeUnknown:
            return "unverified"
        except ProviderRejected:
            return "unknown"
        ours = (provider.get("metadata") or {}).get("refund_id")
        with self.uow() as uow:
            row = uow.refunds.by_provider_id(provider_refund_id)
            if row is None and ours:
                try:
                    row = uow.refunds.get(uuid.UUID(str(ours)))
                except ValueError:
                    row = None
        if row is None:
            return "unknown"
        if refund_of(row).phase == Phase.SETTLED:
            return "duplicate"
        settled = self._settle(row.id, provider)
        return "applied" if settled.status != RefundStatus.PENDING else "still_pending"

    def return_duplicate_payments(self, payments: Sequence[Any]) -> int:
        """Refund in full each payment YooKassa took twice for one period (`payments.duplicate_of`).
        The refund key is the payment's, so every pass lands on the same refund; returns how many were
        asked of YooKassa or are on their way."""
        started = 0
        for payment in payments:
            try:
                refund = self.create(
                    RefundRequest(
                        subscription_id=payment.subscription_id,
                        user_id=payment.user_id,
                        refund_key=keys.duplicate_refund(payment.id),
                        period_index=payment.period_index,
                        period_start=None,
                        period_end=None,
                        requested_by="system",
                        full=True,
                        payment_id=payment.id,
                    )
                )
                started += refund.status != RefundStatus.CANCELED
            except Exception:
                log.exception("returning duplicate payment %s failed", payment.id)
        return started

    def reconcile_once(self, limit: int = 100) -> int:
        with self.uow() as uow:
            due = uow.refunds.due_for_check(self.now(), limit)
        return reconcile_due("refunds", due, self.reconcile_refund, REFUND_RECOVERIES.inc)

    def pending_of(self, subscription_id: uuid.UUID) -> list[uuid.UUID]:
        """The subscription's refunds not final yet (an operator's "reconcile now")."""
        with self.uow() as uow:
            return uow.refunds.pending_of(subscription_id)

    def reconcile_refund(self, refund_id: uuid.UUID) -> bool:
        with self.uow() as uow:
            row = uow.refunds.get(refund_id)
        assert row is not None, f"no refund {refund_id}"
        phase = refund_of(row).phase
        if phase == Phase.SETTLED:
            return False
        if phase == Phase.RECORDED:
            result = self.submit(row)  # outcome unknown (or a crash): same key, same body
        else:
            try:
                result = self._settle(row.id, dict(self.gateway.get_refund(row.provider_refund_id)))
            except (OutcomeUnknown, ProviderRejected) as exc:
                self._note_unknown(row.id, str(exc))
                return False
        return bool(result.status != RefundStatus.PENDING)

    # --- queries ------------------------------------------------------------------------------

    def get(self, refund_id: uuid.UUID) -> RefundView | None:
        with self.uow() as uow:
            row = uow.refunds.get(refund_id)
        return self.view(row) if row is not None else None

    def list_for_user(self, user_id: uuid.UUID, limit: int = 100) -> list[RefundView]:
        with self.uow() as uow:
            return [self.view(row) for row in uow.refunds.list_for_user(user_id, limit)]
