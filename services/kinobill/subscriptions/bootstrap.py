"""Subscriptions' composition root: the one place its services are built and wired to this process's
runtime (engine, Redis, clock, settings, crash points).

Routers, worker roles, the CLI and the operator take their services from here and nothing else builds
them; the service layer itself never reads the runtime. A test builds the same classes by hand with
fakes at the ports (``tests/service``).
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Iterable
from datetime import timedelta
from functools import lru_cache

from kinobill.domain.schedule import RenewalPolicy
from kinobill.idempotency import IdempotencyStore
from kinobill.runtime import Runtime, get_runtime
from kinobill.subscriptions import tables
from kinobill.subscriptions.abandoned import AbandonedPurchases
from kinobill.subscriptions.access import invalidate
from kinobill.subscriptions.backstop import AwaitedResultsBackstop, PaymentBackstop
from kinobill.subscriptions.billing_client import BillingClient
from kinobill.subscriptions.cancellations import Cancellations
from kinobill.subscriptions.card_changes import CardChanges
from kinobill.subscriptions.plans import PlanCatalogue
from kinobill.subscriptions.purchases import Purchases
from kinobill.subscriptions.renewals import RenewalScheduler, renewal_policy
from kinobill.subscriptions.repository import SubscriptionsUnitOfWork

log = logging.getLogger(__name__)


def _runtime(runtime: Runtime | None) -> Runtime:
    return runtime if runtime is not None else get_runtime()


def unit_of_work(runtime: Runtime | None = None) -> Callable[[], SubscriptionsUnitOfWork]:
    """New units of work on this process's engine; after each commit they drop the changed users'
    cached access answers (best effort: the ``access-cache`` worker does it from the stream too)."""
    rt = _runtime(runtime)

    def after_commit(user_ids: Iterable[str]) -> None:
        try:
            invalidate(rt.redis, user_ids)
        except Exception:
            log.warning("access cache invalidation after commit failed; the stream will do it", exc_info=True)

    return lambda: SubscriptionsUnitOfWork(rt.engine, after_commit=after_commit)


@lru_cache(maxsize=1)
def billing_client() -> BillingClient:
    s = get_runtime().settings
    return BillingClient(s.billing_url, s.service_token)


def return_url_for(subscription_id: uuid.UUID) -> str:
    """Where YooKassa sends the buyer back: this service's return page (``return_page.py``)."""
    return f"{get_runtime().settings.subscriptions_public_url}/return/{subscription_id}"


def catalogue() -> PlanCatalogue:
    return PlanCatalogue(unit_of_work(), get_runtime().clock.now)


def purchases() -> Purchases:
    runtime = get_runtime()
    return Purchases(
        unit_of_work(runtime),
        billing_client(),
        runtime.clock.now,
        policy=renewal_policy(),
        crash_point=runtime.crash_point,
        return_url_for=return_url_for,
    )


def cancellations() -> Cancellations:
    runtime = get_runtime()
    return Cancellations(unit_of_work(runtime), billing_client(), runtime.clock.now)


def card_changes() -> CardChanges:
    runtime = get_runtime()
    return CardChanges(unit_of_work(runtime), billing_client(), runtime.clock.now, renewal_policy())


def idempotency_store() -> IdempotencyStore:
    runtime = get_runtime()
    return IdempotencyStore(
        runtime.engine,
        tables.idempotency_keys,
        runtime.clock.now,
        lock_ttl=timedelta(seconds=runtime.settings.idempotency_lock_seconds),
    )


def renewal_scheduler(
    runtime: Runtime | None = None, policy: RenewalPolicy | None = None
) -> RenewalScheduler:
    """The scheduler with this process's policy (or the one given: the CLI and the operator pass theirs)."""
    rt = _runtime(runtime)
    chosen = renewal_policy() if policy is None else policy
    return RenewalScheduler(unit_of_work(rt), rt.clock.now, chosen)


def abandoned_purchases() -> AbandonedPurchases:
    runtime = get_runtime()
    return AbandonedPurchases(
        unit_of_work(runtime),
        billing_client(),
        runtime.clock.now,
        timedelta(seconds=runtime.settings.abandon_purchase_after_seconds),
    )


def backstop_after() -> timedelta:
    return timedelta(seconds=float(os.environ.get("KINOBILL_BACKSTOP_AFTER_SECONDS", "600")))


def awaited_results_backstop() -> AwaitedResultsBackstop:
    runtime = get_runtime()
    return AwaitedResultsBackstop(
        unit_of_work(runtime), cancellations(), card_changes(), runtime.clock.now, after=backstop_after()
    )


def payment_backstop() -> PaymentBackstop:
    runtime = get_runtime()
    return PaymentBackstop(
        unit_of_work(runtime),
        billing_client(),
        purchases(),
        runtime.clock.now,
        renewal_policy(),
        after=backstop_after(),
    )
