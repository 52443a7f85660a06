"""Billing's composition root: the one place its services are built and wired to this process's
runtime (engine, clock, settings, crash points) and to YooKassa.

Routers, worker roles and the CLI take their services from here and nothing else builds them; the
service layer itself never reads the runtime. A test builds the same classes by hand with a fake
gateway (``tests/service``).
"""

from __future__ import annotations

from concurrent.futures import Executor
from functools import lru_cache

from kinobill.billing.card_changes import CardChangeService
from kinobill.billing.charges import ChargeCommands
from kinobill.billing.operator_tasks import OperatorTaskService
from kinobill.billing.payments import PaymentService
from kinobill.billing.provider import YooKassaConfig, YooKassaGateway
from kinobill.billing.receipts import ReceiptFollower
from kinobill.billing.refunds import RefundService
from kinobill.billing.repository import BillingUnitOfWork
from kinobill.billing.webhooks import NotificationHandler
from kinobill.runtime import get_runtime


@lru_cache(maxsize=1)
def gateway() -> YooKassaGateway:
    s = get_runtime().settings
    return YooKassaGateway(
        YooKassaConfig(
            s.yookassa_shop_id, s.yookassa_secret_key, s.yookassa_api_url, timeout=s.yookassa_timeout_seconds
        )
    )


def unit_of_work() -> BillingUnitOfWork:
    """A new unit of work on this process's database (services take this function as their factory)."""
    return BillingUnitOfWork(get_runtime().engine)


def payment_service() -> PaymentService:
    runtime = get_runtime()
    return PaymentService(
        unit_of_work,
        gateway(),
        runtime.clock.now,
        crash_point=runtime.crash_point,
        receipts=runtime.settings.receipt_policy,
    )


def refund_service() -> RefundService:
    runtime = get_runtime()
    return RefundService(
        unit_of_work,
        gateway(),
        runtime.clock.now,
        public_url=runtime.settings.billing_public_url,
        crash_point=runtime.crash_point,
        receipts=runtime.settings.receipt_policy,
    )


def card_change_service() -> CardChangeService:
    runtime = get_runtime()
    return CardChangeService(unit_of_work, gateway(), runtime.clock.now, crash_point=runtime.crash_point)


def receipt_follower() -> ReceiptFollower:
    runtime = get_runtime()
    return ReceiptFollower(unit_of_work, gateway(), runtime.clock.now)


def operator_task_service() -> OperatorTaskService:
    return OperatorTaskService(unit_of_work, get_runtime().clock.now)


def notification_handler() -> NotificationHandler:
    """YooKassa's webhooks: `payment.*` re-read and settled by the payments, `refund.*` by the refunds,
    `payment_method.active` by the card changes."""
    return NotificationHandler(
        unit_of_work,
        payment_service(),
        refunds=refund_service().handle_notification,
        payment_methods=card_change_service().handle_notification,
    )


def charge_commands(pool: Executor) -> ChargeCommands:
    return ChargeCommands(payment_service(), pool)
