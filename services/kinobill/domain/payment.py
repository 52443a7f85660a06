"""A payment's recovery points and the one step that moves it forward (no I/O).

A payment goes through three phases, each a point a crash or a timeout can leave it at and from which a
retry, a webhook or the reconciler carries it on (Brandur Leach's "atomic phases"):

* ``recorded``     the row is committed; YooKassa has not answered yet (or its answer was lost). The next
                   step repeats the create call with the same Idempotence-Key (the row id).
* ``at_provider``  YooKassa holds the payment and it is not final (waiting for the buyer). The next step
                   re-reads it from YooKassa's API.
* ``settled``      ``succeeded`` or ``canceled``: final, never changed again.

:func:`advance` is the one rule for what YooKassa's view (or its refusal) does to a payment, whichever
path brought it: the create call, a batch of renewal charges, a webhook or the reconciler.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from kinobill.domain.money import parse_rub
from kinobill.domain.statuses import PaymentStatus, payment_status_from_provider


class Phase(StrEnum):
    RECORDED = "recorded"
    AT_PROVIDER = "at_provider"
    SETTLED = "settled"


def phase_of(status: str, provider_payment_id: str | None) -> Phase:
    if status != PaymentStatus.PENDING:
        return Phase.SETTLED
    return Phase.AT_PROVIDER if provider_payment_id else Phase.RECORDED


@dataclass(frozen=True)
class Step:
    """What to do with a payment (or a refund: domain/refund.py): ``ignore`` it (final already, or the
    view is not about it), ``record`` the provider's view and wait, or ``settle`` it in `status`. `why`
    says why it is ignored."""

    action: str  # ignore | record | settle
    status: str = PaymentStatus.PENDING  # a PaymentStatus, or a RefundStatus for a refund
    reason: str | None = None
    party: str | None = None
    why: str = ""


def advance(
    *,
    status: str,
    amount: int,
    provider_payment_id: str | None,
    view: Mapping[str, Any] | None,
    rejected: bool = False,
) -> Step:
    """The step YooKassa's `view` of a payment (or its definite refusal to create it: `rejected`) makes.

    A final payment never changes; a view of another YooKassa payment, or of another amount, is not
    applied; a refusal cancels the payment (``rejected_by_provider``, the merchant's side)."""
    if phase_of(status, provider_payment_id) == Phase.SETTLED:
        return Step("ignore", why="final")
    if rejected:
        return Step("settle", PaymentStatus.CANCELED, "rejected_by_provider", "merchant")
    assert view is not None
    if provider_payment_id and view.get("id") != provider_payment_id:
        return Step("ignore", why="another provider payment")
    if parse_rub(str(view["amount"]["value"])) != amount:
        return Step("ignore", why="another amount")
    new_status = payment_status_from_provider(str(view["status"]))
    if new_status == PaymentStatus.PENDING:
        return Step("record")
    details = view.get("cancellation_details") or {}
    return Step("settle", new_status, details.get("reason"), details.get("party"))
