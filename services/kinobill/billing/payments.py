"""Service layer of Billing for payments: create (row first, then YooKassa), settle, reconcile.

Invariants kept here and by the schema:
* The payment row is committed before YooKassa is called; its id is the Idempotence-Key, so every
  repeat of the call (client retry, crash recovery, reconciler) lands on the same YooKassa payment.
* A `charge_key` (unique) maps one business intent to one payment row.
* Settling happens in ONE transaction: final status, saved method, outbox event, e-mail. A payment
  already final is never changed again (duplicate or forged notifications are no-ops).
* At most one successful payment per (subscription, period): a partial unique index.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from prometheus_client import Counter

from kinobill.billing import notifications as n
from kinobill.billing.provider import OutcomeUnknown, ProviderRejected, YooKassaGateway
from kinobill.billing.receipts import announce_registration, registration_values
from kinobill.billing.reconciling import reconcile_due
from kinobill.billing.repository import BillingUnitOfWork
from kinobill.billing.results import PaymentView
from kinobill.domain.money import format_rub
from kinobill.domain.payment import Phase, advance, phase_of
from kinobill.domain.receipts import RECEIPTS_OFF, ReceiptImpossible, ReceiptPolicy, receipt_for
from kinobill.domain.statuses import PaymentKind, PaymentStatus
from kinobill.errors import ApplicationError, ChargeKeyReused, Forbidden, InvalidRequest, ProviderUnavailable
from kinobill.events import PAYMENT_RESULTS
from kinobill.messages import PaymentSettled

log = logging.getLogger(__name__)

PAYMENTS_SETTLED = Counter(
    "kinobill_payments_settled_total", "Payments that reached a final state", ["kind", "status"]
)
RECONCILER_RECOVERIES = Counter(
    "kinobill_reconciler_recoveries_total", "Operations the reconciler drove to a final state", ["operation"]
)
PAYMENT_RESULTS_REPUBLISHED = Counter(
    "kinobill_payment_results_republished_total", "Results of final payments published again on a repeat"
)
# How soon the reconciler looks at a payment that is not final yet.
FIRST_CHECK = timedelta(minutes=2)
UNKNOWN_OUTCOME_RECHECK = timedelta(seconds=5)


@dataclass(frozen=True)
class NewPayment:
    subscription_id: uuid.UUID
    user_id: uuid.UUID
    user_email: str | None
    period_index: int
    kind: PaymentKind
    charge_key: str
    amount: int
    description: str
    return_url: str | None = None
    payment_method_id: str | None = None  # renewals: the saved method to charge
    attempt: int = 0
    locale: str | None = None  # the user's language and zone for the e-mails (None: the defaults)
    zoneinfo: str | None = None


class PaymentService:
    def __init__(
        self,
        uow: Callable[[], BillingUnitOfWork],
        gateway: YooKassaGateway,
        now: Callable[[], datetime],
        *,
        crash_point: Callable[[str], None] = lambda _: None,
        receipts: ReceiptPolicy = RECEIPTS_OFF,
    ) -> None:
        self.uow, self.gateway, self.now, self.crash_point = uow, gateway, now, crash_point
        self.receipts = receipts

    def _admitted(self, uow: BillingUnitOfWork, request: NewPayment) -> dict[str, Any] | None:
        """What a payment must pass before its row is written, asked over HTTP or on the charge stream,
        alone or in a batch: a saved method is charged only for the user it was saved for (Forbidden
        `payment_method_not_owned`), and its receipt must be possible. Returns the receipt."""
        method = request.payment_method_id
        if method and not uow.payments.method_saved_for(method, request.user_id):
            raise Forbidden("payment_method_not_owned", "this payment method was not saved by this user")
        return self._receipt(request)

    def _receipt(self, request: NewPayment) -> dict[str, Any] | None:
        """The 54-FZ receipt this payment carries (kept on the row: every repeat sends the same body)."""
        try:
            return receipt_for(
                self.receipts,
                email=request.user_email,
                description=request.description,
                amount=request.amount,
            )
        except ReceiptImpossible as exc:
            raise InvalidRequest(exc.code, exc.message) from exc

    # --- create -------------------------------------------------------------------------------

    def create(self, request: NewPayment) -> PaymentView:
        """One payment: the row is committed first (one row per charge key), then YooKassa is asked with
        the row id as the Idempotence-Key, and its answer settled. The same path as `create_many`."""
        (answer,) = self._create([request], None, "billing.after_provider_create")
        if isinstance(answer, ApplicationError):
            raise answer
        return answer

    def republish(self, rows: Sequence[Any]) -> None:
        """The same charge asked again for a final payment: its result event goes out again. The first
        one may have been lost with Redis' data after the outbox marked it published; the consumer is
        idempotent, so a second copy changes nothing when the first arrived."""
        final = [row for row in rows if phase_of(row.status, row.provider_payment_id) == Phase.SETTLED]
        if final:
            with self.uow() as uow:
                uow.defer_writes()  # one multi-row INSERT
                for row in final:
                    uow.add_event(PAYMENT_RESULTS, self._announcement(row)[0])
                uow.commit()
            PAYMENT_RESULTS_REPUBLISHED.inc(len(final))

    def results_of(self, subscription_id: uuid.UUID) -> list[dict[str, Any]]:
        """The result events of a subscription's final payments, oldest first: what the stream carried,
        read from the record (Subscriptions' backstop applies them when the stream lost them)."""
        with self.uow() as uow:
            rows = reversed(uow.payments.list_for_subscription(subscription_id))
        return [
            self._announcement(row)[0]
            for row in rows
            if phase_of(row.status, row.provider_payment_id) == Phase.SETTLED
        ]

    @staticmethod
    def _new_row(request: NewPayment, receipt: dict[str, Any] | None, now: datetime) -> dict[str, Any]:
        """The payment row a request writes (one or a batch): pending, first checked after FIRST_CHECK."""
        return {
            "id": uuid.uuid4(),
            "user_id": request.user_id,
            "user_email": request.user_email,
            "locale": request.locale,
            "zoneinfo": request.zoneinfo,
            "subscription_id": request.subscription_id,
            "period_index": request.period_index,
            "kind": str(request.kind),
            "attempt": request.attempt,
            "charge_key": request.charge_key,
            "amount": request.amount,
            "description": request.description,
            "status": PaymentStatus.PENDING,
            "return_url": request.return_url,
            "payment_method_id": request.payment_method_id,
            "receipt": receipt,
            "created_at": now,
            "updated_at": now,
            "next_check_at": now + FIRST_CHECK,
        }

    @staticmethod
    def _same_intent(row: Any, request: NewPayment) -> bool:
        """A charge key names one intent: the same subscription, amount and period."""
        return (row.subscription_id, row.amount, row.period_index) == (
            request.subscription_id,
            request.amount,
            request.period_index,
        )

    def submit(self, row: Any) -> Any:
        """Call YooKassa for a committed payment row (again, if need be: same Idempotence-Key); the row
        as settled, or ProviderUnavailable when the answer is unknown (the reconciler asks again)."""
        settled = self._submit([row], None, "billing.after_provider_create")[row.id]
        if isinstance(settled, ApplicationError):
            raise settled
        return settled

    def _ask_provider(self, row: Any) -> tuple[str, Any]:
        """Create the payment at YooKassa for a committed row (Idempotence-Key = row id); no DB work, so
        it may run on any thread. Answers ("created", provider object) | ("rejected" | "unknown", error)."""
        params: dict[str, Any] = {
            "amount": {"value": format_rub(row.amount), "currency": row.currency},
            "capture": True,
            "description": row.description[:128],
            "metadata": {"payment_id": str(row.id), "subscription_id": str(row.subscription_id)},
        }
        if row.receipt is not None:
            params["receipt"] = row.receipt
        if row.kind == PaymentKind.RENEWAL:
            params["payment_method_id"] = row.payment_method_id
        else:
            params["save_payment_method"] = True
            params["confirmation"] = {
                "type": "redirect",
                "return_url": row.return_url or "https://kinobill.local/return",
            }
        try:
            return "created", dict(self.gateway.create_payment(params, str(row.id)))
        except OutcomeUnknown as exc:
            return "unknown", str(exc)
        except ProviderRejected as exc:
            return "rejected", str(exc)

    def _note_unknown(self, payment_id: uuid.UUID, error: str) -> None:
        with self.uow() as uow:
            uow.payments.note_unknown(payment_id, error, self.now() + UNKNOWN_OUTCOME_RECHECK)
            uow.commit()

    # --- one path for one payment and a batch (the renewal charge consumer) --------------------

    def create_many(
        self, requests: Sequence[NewPayment], pool: Executor
    ) -> list[PaymentView | ApplicationError]:
        """`create` for a batch, answer by answer in the order asked (the error where `create` raises).

        The same guarantees with fewer round trips: the rows are committed first in ONE multi-row
        INSERT (unique charge key: one row per intent however often it is asked), YooKassa is called
        for each row still unsubmitted, concurrently on `pool` (Idempotence-Key = row id), and the
        answers are settled in ONE transaction by the same rules as one payment (`_settle_locked`)."""
        return self._create(requests, pool, "charges.after_provider_batch")

    def _create(
        self, requests: Sequence[NewPayment], pool: Executor | None, after_calls: str
    ) -> list[PaymentView | ApplicationError]:
        """`create` and `create_many`: `after_calls` names the crash point between YooKassa's answers
        and the transaction that records them (one per path: the tests crash each)."""
        rows = self._insert_or_get_many(requests)
        todo = {
            row.id: row
            for row in rows
            if not isinstance(row, ApplicationError)
            and phase_of(row.status, row.provider_payment_id) == Phase.RECORDED
        }
        submitted = self._submit(list(todo.values()), pool, after_calls) if todo else {}
        self.republish([row for row in rows if not isinstance(row, ApplicationError)])
        answers: list[PaymentView | ApplicationError] = []
        for row in rows:
            if isinstance(row, ApplicationError):
                answers.append(row)
                continue
            final = submitted.get(row.id, row)
            answers.append(final if isinstance(final, ApplicationError) else PaymentView.of(final))
        return answers

    def _insert_or_get_many(self, requests: Sequence[NewPayment]) -> list[Any]:
        now = self.now()
        first: dict[str, NewPayment] = {}
        for request in requests:
            first.setdefault(request.charge_key, request)
        ordered = sorted(first.values(), key=lambda r: r.charge_key)  # one lock order for every batch
        refused: dict[str, ApplicationError] = {}  # refused as `create` would refuse them
        receipts_of: dict[str, dict[str, Any] | None] = {}
        with self.uow() as uow:
            for r in ordered:
                try:
                    receipts_of[r.charge_key] = self._admitted(uow, r)
                except ApplicationError as exc:
                    refused[r.charge_key] = exc
        ordered = [r for r in ordered if r.charge_key not in refused]
        values = [self._new_row(r, receipts_of[r.charge_key], now) for r in ordered]
        with self.uow() as uow:
            by_key = {row.charge_key: row for row in uow.payments.add_many(values)}
            # these keys exist: repeats
            repeated = [key for key in first if key not in by_key and key not in refused]
            if repeated:
                by_key.update({row.charge_key: row for row in uow.payments.by_charge_keys(repeated)})
            uow.commit()
        answers: list[Any] = []
        for request in requests:
            if request.charge_key in refused:
                answers.append(refused[request.charge_key])
                continue
            row = by_key[request.charge_key]
            answers.append(row if self._same_intent(row, request) else ChargeKeyReused())
        return answers

    def _submit(self, rows: Sequence[Any], pool: Executor | None, after_calls: str) -> dict[uuid.UUID, Any]:
        """Ask YooKassa for committed rows (concurrently on `pool`, inline without one) and settle the
        answers in ONE transaction (rows locked FOR UPDATE in id order). Returns each row as settled,
        or ProviderUnavailable when YooKassa's answer is unknown (the row is marked for the reconciler).
        The crash point `after_calls` fires once YooKassa holds a payment it created for us: a crash
        there loses its answer, and the next ask with the same key replays it."""
        answers = list(pool.map(self._ask_provider, rows) if pool else map(self._ask_provider, rows))
        if any(answer == "created" for answer, _detail in answers):
            self.crash_point(after_calls)
        results: dict[uuid.UUID, Any] = {}
        known = {row.id: answer for row, answer in zip(rows, answers, strict=True) if answer[0] != "unknown"}
        settled_now = []
        if known:
            now = self.now()
            with self.uow() as uow:
                # the events and e-mails of the batch: multi-row INSERTs at commit, same transaction
                uow.defer_writes()
                for row in uow.payments.lock_many(list(known)):
                    answer, detail = known[row.id]
                    provider, rejected = (detail, None) if answer == "created" else (None, detail)
                    results[row.id], settled = self._settle_locked(uow, row, provider, rejected, True, now)
                    if settled:
                        settled_now.append(results[row.id])
                uow.commit()
        for row in settled_now:
            PAYMENTS_SETTLED.labels(row.kind, row.status).inc()
        for row, (answer, detail) in zip(rows, answers, strict=True):
            if answer == "unknown":
                self._note_unknown(row.id, detail)
                results[row.id] = ProviderUnavailable()
        return results

    # --- settle -------------------------------------------------------------------------------

    def apply_provider_object(self, payment_id: uuid.UUID, provider: dict[str, Any]) -> Any:
        """Record what YooKassa says about our payment; settle it if that is final. Idempotent."""
        return self._settle(payment_id, provider)

    def _settle(
        self,
        payment_id: uuid.UUID,
        provider: dict[str, Any] | None,
        rejected: str | None = None,
        attempted: bool = False,
    ) -> Any:
        """One transaction: record the provider's view (and a create attempt); settle if final."""
        now = self.now()
        with self.uow() as uow:
            row = uow.payments.get(payment_id, for_update=True)
            row, settled = self._settle_locked(uow, row, provider, rejected, attempted, now)
            uow.commit()
        if settled:
            PAYMENTS_SETTLED.labels(row.kind, row.status).inc()
        return row

    def _settle_locked(
        self,
        uow: BillingUnitOfWork,
        row: Any,
        provider: dict[str, Any] | None,
        rejected: str | None,
        attempted: bool,
        now: datetime,
    ) -> tuple[Any, bool]:
        """The rules of settling, for a row locked FOR UPDATE in the caller's unit of work.
        Returns the row as it is now and whether it became final here (event and e-mail written)."""
        payment_id = row.id
        step = advance(
            status=row.status,
            amount=row.amount,
            provider_payment_id=row.provider_payment_id,
            view=provider,
            rejected=rejected is not None,
        )
        if step.action == "ignore":
            if step.why != "final":  # final states never change: duplicates and late news are no-ops
                log.error(
                    "provider view %s not applied to payment %s: %s",
                    (provider or {}).get("id"),
                    payment_id,
                    step.why,
                )
            return row, False
        values: dict[str, Any] = {"updated_at": now}
        new_status, reason, party = step.status, step.reason, step.party
        if rejected is not None:
            values["last_error"] = rejected[:500]
        else:
            assert provider is not None
            confirmation = provider.get("confirmation") or {}
            values.update(
                provider_payment_id=provider["id"],
                provider_status=provider["status"],
                provider_object=provider,
                confirmation_url=confirmation.get("confirmation_url") or row.confirmation_url,
            )
            receipt = registration_values(row, provider, now)
            values.update(receipt)
            announce_registration(uow.receipts, "payment", row, receipt, provider)
        if new_status == PaymentStatus.PENDING:
            values["next_check_at"] = now + FIRST_CHECK
            return uow.payments.update(payment_id, values, attempted=attempted), False
        values.update(status=new_status, next_check_at=None)
        if new_status == PaymentStatus.SUCCEEDED:
            method = (provider or {}).get("payment_method") or {}
            values.update(
                paid_at=now, saved_payment_method_id=method.get("id") if method.get("saved") else None
            )
            first = uow.payments.success_of_period(row)
            if first is not None:
                # The money was taken twice at YooKassa for one period: record the truth, announce
                # nothing to Subscriptions, and let the reconciler return it in full (refund_duplicates).
                values["duplicate_of"] = first
                log.error("payment %s duplicates %s for the same period: refunding it", payment_id, first)
        else:
            values.update(cancellation_reason=reason, cancellation_party=party)
        settled = uow.payments.update(payment_id, values, attempted=attempted)
        if settled.duplicate_of is not None:
            uow.queue_email(
                **n.letter(
                    f"payment-duplicate:{settled.id}",
                    settled,
                    n.PaymentDuplicate(amount=settled.amount, description=settled.description),
                ),
            )
            return settled, True
        event, email = self._announcement(settled)
        uow.add_event(PAYMENT_RESULTS, event)
        uow.queue_email(**email)
        return settled, True

    def duplicates_to_refund(self, limit: int = 100) -> list[Any]:
        with self.uow() as uow:
            return uow.payments.duplicates_to_refund(limit)

    def _announcement(self, row: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        """What a final payment tells: the result event for Subscriptions and the user's e-mail."""
        succeeded = row.status == PaymentStatus.SUCCEEDED
        event = PaymentSettled(
            type="payment.succeeded" if succeeded else "payment.canceled",
            payment_id=row.id,
            subscription_id=row.subscription_id,
            user_id=row.user_id,
            user_email=row.user_email,
            period_index=row.period_index,
            kind=row.kind,
            attempt=row.attempt,
            amount=row.amount,
            paid_at=row.paid_at,
            payment_method_id=row.saved_payment_method_id,
            reason=row.cancellation_reason,
        ).to_json()
        told: n.Notification = (
            n.PaymentSucceeded(row.amount, row.description)
            if succeeded
            else n.PaymentCanceled(row.amount, row.description, reason=row.cancellation_reason)
        )
        return event, n.letter(f"payment-{row.status}:{row.id}", row, told)

    # --- reconcile ----------------------------------------------------------------------------

    def reconcile_once(self, limit: int = 100) -> int:
        """Ask YooKassa about payments that are not final after their deadline. Returns how many settled."""
        with self.uow() as uow:
            due = uow.payments.due_for_check(self.now(), limit)
        return reconcile_due(
            "payments", due, self.reconcile_payment, RECONCILER_RECOVERIES.labels("payment").inc
        )

    def pending_of(self, subscription_id: uuid.UUID) -> list[uuid.UUID]:
        """The subscription's payments not final yet (an operator's "reconcile now")."""
        with self.uow() as uow:
            return uow.payments.pending_of(subscription_id)

    def reconcile_payment(self, payment_id: uuid.UUID) -> bool:
        with self.uow() as uow:
            row = uow.payments.get(payment_id)
        assert row is not None, f"no payment {payment_id}"
        phase = phase_of(row.status, row.provider_payment_id)
        if phase == Phase.SETTLED:
            return False
        try:
            if phase == Phase.RECORDED:
                # The create call's outcome is unknown: repeating it with the same key is safe.
                result = self.submit(row)
            else:
                result = self.apply_provider_object(
                    row.id, dict(self.gateway.get_payment(row.provider_payment_id))
                )
        except (ProviderUnavailable, OutcomeUnknown) as exc:
            self._note_unknown(row.id, str(exc))
            return False
        except ProviderRejected as exc:
            if phase == Phase.RECORDED:
                result = self._settle(row.id, None, rejected=str(exc))
            else:
                self._note_unknown(row.id, str(exc))
                return False
        return bool(result.status != PaymentStatus.PENDING)

    # --- queries ------------------------------------------------------------------------------

    def list_for_user(
        self, user_id: uuid.UUID, *, before: tuple[datetime, uuid.UUID] | None, limit: int
    ) -> list[PaymentView]:
        with self.uow() as uow:
            return [
                PaymentView.of(r) for r in uow.payments.list_for_user(user_id, before=before, limit=limit)
            ]

    def list_for_subscription(self, subscription_id: uuid.UUID) -> list[PaymentView]:
        """Every payment of the subscription, newest first."""
        with self.uow() as uow:
            return [PaymentView.of(r) for r in uow.payments.list_for_subscription(subscription_id)]

    def get(self, payment_id: uuid.UUID) -> PaymentView | None:
        with self.uow() as uow:
            row = uow.payments.get(payment_id)
        return PaymentView.of(row) if row is not None else None

    def by_provider_id(self, provider_payment_id: str) -> Any:
        with self.uow() as uow:
            return uow.payments.by_provider_id(provider_payment_id)
