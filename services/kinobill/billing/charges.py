"""Billing's consumer of renewal charge commands (stream ``CHARGE_COMMANDS``, group ``billing``).

A thin adapter: the command becomes a :class:`NewPayment` of kind ``renewal`` whose charge key is the
command's deterministic key (``renewal:<subscription>:<period>:<attempt>``), and
``PaymentService.create`` does the rest — the row is committed first (unique charge key: one row per
attempt however often the command is delivered), then YooKassa is called with the row id as the
Idempotence-Key, and the answer (final at once for a saved card) is settled with the payment result
event that Subscriptions applies.

Delivery is at-least-once: a redelivered or re-sent command (a consumer died after the provider call
and before the commit, a relay published twice, the scheduler re-sent a pending attempt) lands on the
same row; if YooKassa was already asked, it is asked again with the same key and replays its answer.

Throughput: the consumer hands over each read of up to 50 commands as a batch (``handle_batch``): the
rows go in with one INSERT, the YooKassa calls (I/O) overlap on a small thread pool (role setting
``KINOBILL_CHARGE_CONCURRENCY``), and the answers settle in one transaction. Any failure of the batch
falls back to one command at a time, so a malformed command is still isolated and dead-lettered.

A command is held to the rules of the HTTP path (``PaymentService``): a card saved by another user is
refused (``payment_method_not_owned``), nothing is written or charged, and the command is acknowledged and
counted as ``refused``: a forged entry, which asking again would not change.
"""

from __future__ import annotations

import logging
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any

from prometheus_client import Counter

from kinobill.billing.payments import NewPayment, PaymentService
from kinobill.domain.statuses import PaymentKind
from kinobill.errors import ApplicationError, ChargeKeyReused, Forbidden, ProviderUnavailable
from kinobill.i18n.locales import supported_locale, valid_zone
from kinobill.messages import RenewalChargeRequested

log = logging.getLogger(__name__)

CHARGE_COMMANDS_HANDLED = Counter(
    "kinobill_charge_commands_total", "Renewal charge commands handled", ["outcome"]
)


def renewal_payment(raw: dict[str, Any]) -> NewPayment:
    """The payment a charge command asks for (ValueError on a malformed command)."""
    command = RenewalChargeRequested.from_json(raw)
    return NewPayment(
        subscription_id=command.subscription_id,
        user_id=command.user_id,
        user_email=command.user_email,
        locale=supported_locale(command.locale),
        zoneinfo=valid_zone(command.zoneinfo),
        period_index=command.period_index,
        kind=PaymentKind.RENEWAL,
        charge_key=command.charge_key,
        amount=command.amount,
        description=(command.description or "Kinobill renewal")[:128],
        payment_method_id=command.payment_method_id,
        attempt=command.attempt,
    )


class ChargeCommands:
    def __init__(self, payments: PaymentService, pool: Executor | None = None) -> None:
        self.payments = payments
        self.pool = pool or ThreadPoolExecutor(max_workers=1)  # provider calls of a batch run here

    def handle(self, command: dict[str, Any]) -> str:
        """Charge the saved method for one renewal attempt. Returns the payment's status (or why not)."""
        request = renewal_payment(command)
        try:
            payment = self.payments.create(request)
        except (ProviderUnavailable, ChargeKeyReused, Forbidden) as exc:
            return self._refused(request, exc)
        CHARGE_COMMANDS_HANDLED.labels(payment.status).inc()
        return payment.status

    def handle_batch(self, commands: list[dict[str, Any]]) -> list[str]:
        """`handle` for a batch read from the stream: one multi-row insert, the provider calls overlapped
        on the pool, one settling transaction (`PaymentService.create_many`). Raises on a malformed
        command or any other failure; the consumer then handles the entries one by one."""
        requests = [renewal_payment(command) for command in commands]
        outcomes = []
        for request, answer in zip(requests, self.payments.create_many(requests, self.pool), strict=True):
            if isinstance(answer, ApplicationError):
                outcomes.append(self._refused(request, answer))
            else:
                CHARGE_COMMANDS_HANDLED.labels(answer.status).inc()
                outcomes.append(answer.status)
        return outcomes

    def _refused(self, request: NewPayment, exc: ApplicationError) -> str:
        if isinstance(exc, ProviderUnavailable):
            # The row is committed and marked for the reconciler, which repeats the call with the
            # same Idempotence-Key: acknowledging here loses nothing.
            CHARGE_COMMANDS_HANDLED.labels("outcome_unknown").inc()
            return "outcome_unknown"
        if isinstance(exc, Forbidden):
            # Not a command Subscriptions would send (the card was saved by another user): a forged or
            # corrupt entry. Nothing was written or charged; it is counted and acknowledged, as asking
            # again would be refused again.
            log.warning("charge command %s refused: %s (%s)", request.charge_key, exc.code, exc.message)
            CHARGE_COMMANDS_HANDLED.labels("refused").inc()
            return "refused"
        if isinstance(exc, ChargeKeyReused):
            # The same attempt was requested again with another amount (the plan's price changed
            # meanwhile): the first request stands, one attempt is one payment.
            log.warning("charge command %s conflicts with its existing payment", request.charge_key)
            CHARGE_COMMANDS_HANDLED.labels("conflict").inc()
            return "conflict"
        raise exc
