"""A refund's recovery points and the one step that moves it forward (no I/O).

The amount a refund returns is :mod:`kinobill.domain.refunds`' rule; this module is the life of the
refund once its row exists. Like a payment (:mod:`kinobill.domain.payment`) it goes through three
phases, each a point a crash or a timeout can leave it at and from which a retry, a webhook or the
reconciler carries it on:

* ``recorded``     the row is committed (amount fixed under the payment's lock); YooKassa has not
                   answered yet, or its answer was lost. The next step repeats the create call with the
                   same Idempotence-Key (the row id) and the same body.
* ``at_provider``  YooKassa holds the refund and it is not final. The next step re-reads it.
* ``settled``      ``succeeded`` or ``canceled``: final, never changed again.

:meth:`Refund.advance` is the one rule for what YooKassa's view of a refund (or its refusal) does to it,
whichever path brought it: the create call, a ``refund.*`` webhook or the reconciler.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kinobill.domain.money import parse_rub
from kinobill.domain.payment import Phase, Step
from kinobill.domain.statuses import RefundStatus


@dataclass(frozen=True)
class Refund:
    """What the rules need of a refund: its status, amount, YooKassa's id for it (once known) and
    YooKassa's id of the payment it returns."""

    status: str
    amount: int
    provider_refund_id: str | None
    provider_payment_id: str | None

    @property
    def phase(self) -> Phase:
        if self.status != RefundStatus.PENDING:
            return Phase.SETTLED
        return Phase.AT_PROVIDER if self.provider_refund_id else Phase.RECORDED

    def advance(self, view: Mapping[str, Any] | None, *, rejected: bool = False) -> Step:
        """The step YooKassa's `view` of this refund (or its definite refusal: `rejected`) makes.

        A final refund never changes; a view of another YooKassa refund, or of another payment or
        amount, is not applied; a refusal cancels the refund (``rejected_by_provider``); a refund
        YooKassa canceled without a reason is ``canceled``."""
        if self.phase == Phase.SETTLED:
            return Step("ignore", why="final")
        if rejected:
            return Step("settle", RefundStatus.CANCELED, "rejected_by_provider")
        assert view is not None
        if self.provider_refund_id and view.get("id") != self.provider_refund_id:
            return Step("ignore", why="another provider refund")
        if (
            view.get("payment_id") != self.provider_payment_id
            or parse_rub(str(view["amount"]["value"])) != self.amount
        ):
            return Step("ignore", why="another payment or amount")
        status = RefundStatus(str(view["status"]))
        if status == RefundStatus.PENDING:
            return Step("record")
        if status == RefundStatus.SUCCEEDED:
            return Step("settle", status)
        return Step("settle", status, (view.get("cancellation_details") or {}).get("reason") or "canceled")
