"""JSON bodies of Billing's API, rendered from what its use cases return (`results.py`).

Only the routers call these: the service layer returns values and never shapes an HTTP body.
"""

from __future__ import annotations

from typing import Any

from kinobill.billing.results import CardChangeView, OperatorTaskView, PaymentView, RefundView
from kinobill.views import json_of


def payment_json(payment: PaymentView) -> dict[str, Any]:
    return json_of(payment)


def refund_json(refund: RefundView) -> dict[str, Any]:
    return json_of(refund)


def card_change_json(change: CardChangeView) -> dict[str, Any]:
    return json_of(change)


def operator_task_json(task: OperatorTaskView) -> dict[str, Any]:
    return json_of(task)
