"""Operator actions, each one call to a service's internal API, audited whatever the answer.

The admin decides nothing here: Subscriptions and Billing apply their rules and answer; this module
calls, records the attempt (who, what, the request and the answer or error) and words the outcome.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _

from kinobill.domain.errors import DomainError
from kinobill.domain.money import format_rub
from kinobill.domain.refunds import quote_refund
from kinobill_admin import audit, clock, services
from kinobill_admin.models import OperatorTask, Payment, Plan, Subscription, SubscriptionPeriod


@dataclass
class Outcome:
    ok: bool
    message: str
    result: dict[str, Any] = field(default_factory=dict)


def _act(
    request: HttpRequest,
    target: Subscription | Plan | OperatorTask,
    action: str,
    call: Callable[[], Any],
    details: dict[str, Any],
    done: Callable[[dict[str, Any]], str],
) -> Outcome:
    try:
        result = call()
    except services.ServiceError as error:
        audit.record(request, action, target=target, details=details, outcome="error", message=str(error))
        return Outcome(
            False,
            _("%(action)s failed: %(message)s (%(code)s)")
            % {"action": action, "message": error.message, "code": error.code},
        )
    result = result if isinstance(result, dict) else {}
    audit.record(request, action, target=target, details={**details, "result": result})
    return Outcome(True, done(result), result)


def cancel(request: HttpRequest, sub: Subscription) -> Outcome:
    def done(result: dict[str, Any]) -> str:
        if result.get("status") == "ended":
            return _("The purchase is cancelled (%(reason)s); nothing was charged.") % {
                "reason": result.get("ended_reason")
            }
        return _("Auto-renew is off; access stays until the period ends.")

    return _act(
        request, sub, "subscription.cancel", lambda: services.cancel_subscription(str(sub.pk)), {}, done
    )


def refund(request: HttpRequest, sub: Subscription, idempotency_key: str) -> Outcome:
    def done(result: dict[str, Any]) -> str:
        text = _("Refund of %(amount)s RUB requested (status: %(status)s).") % {
            "amount": result.get("amount", "?"),
            "status": result.get("status", "?"),
        }
        ended = result.get("subscription") or {}
        if ended.get("status") == "ended":
            return (
                text
                + " "
                + _("The subscription has ended (%(reason)s).") % {"reason": ended.get("ended_reason")}
            )
        return text + " " + _("The subscription ends when YooKassa confirms the refund.")

    return _act(
        request,
        sub,
        "subscription.refund",
        lambda: services.refund_subscription(str(sub.pk), idempotency_key),
        {"idempotency_key": idempotency_key},
        done,
    )


def reconcile(request: HttpRequest, sub: Subscription) -> Outcome:
    def done(result: dict[str, Any]) -> str:
        return _(
            "Reconciliation ran: %(sp)s of %(pp)s pending payments and %(sr)s of %(pr)s pending refunds "
            "settled."
        ) % {
            "sp": result.get("settled_payments", 0),
            "pp": result.get("pending_payments", 0),
            "sr": result.get("settled_refunds", 0),
            "pr": result.get("pending_refunds", 0),
        }

    return _act(
        request, sub, "subscription.reconcile", lambda: services.reconcile_subscription(str(sub.pk)), {}, done
    )


def end_sale(request: HttpRequest, plan: Plan) -> Outcome:
    return _act(
        request,
        plan,
        "plan.end_sale",
        lambda: services.end_plan_sale(str(plan.pk)),
        {},
        lambda _result: (
            _("Plan %(code)s is off sale; existing subscriptions keep renewing.") % {"code": plan.code}
        ),
    )


def resolve_task(request: HttpRequest, task: OperatorTask, note: str) -> Outcome:
    already = task.resolved_at is not None

    def done(result: dict[str, Any]) -> str:
        words = {"id": task.pk, "who": result.get("resolved_by"), "at": result.get("resolved_at")}
        if already:
            return _("Task %(id)s was already resolved by %(who)s at %(at)s; nothing changed.") % words
        return _("Task %(id)s is resolved (by %(who)s at %(at)s).") % words

    return _act(
        request,
        task,
        "operatortask.resolve",
        lambda: services.resolve_operator_task(task.pk, request.user.get_username(), note),
        {"note": note},
        done,
    )


def new_refund_key() -> str:
    """Minted when the confirmation page is rendered: a double submit or a retry replays one refund."""
    return f"admin-refund-{uuid.uuid4()}"


@dataclass
class RefundEstimate:
    amount: str | None
    text: str
    period: int | None = None


def refund_estimate(sub: Subscription) -> RefundEstimate | None:
    """What the refund rule gives now for the latest paid period (Billing computes the real amount)."""
    latest = SubscriptionPeriod.objects.filter(subscription=sub).order_by("-period_index").first()
    if latest is None:
        return RefundEstimate(None, _("nothing was paid for this subscription yet"))
    payment = Payment.objects.filter(pk=latest.payment_id).only("amount", "refunded_amount").first()
    try:
        quote = quote_refund(
            paid=payment.amount if payment else latest.amount,
            already_refunded=payment.refunded_amount if payment else 0,
            period_start=latest.starts_at,
            period_end=latest.ends_at,
            now=clock.now(),
        )
    except (DomainError, ValueError) as exc:
        return RefundEstimate(None, str(exc), latest.period_index)
    return RefundEstimate(format_rub(quote.amount), quote.describe(), latest.period_index)
