"""`kinobill worker`: the background processes, each a thread with its own loop.

Roles (all by default; `--only` picks some, so Kubernetes can run each as its own Deployment):
  relay-subscriptions, relay-billing   outbox → Redis Streams
  payment-results                      Subscriptions applies Billing's payment results
  refund-results                       Subscriptions applies Billing's refund results (a success ends it)
  access-cache                         drops Auth's cached access answers on subscription changes
  charge-commands                      Billing charges saved cards for renewal attempts (billing/charges.py)
  scheduler                            renewal passes every policy.interval (subscriptions/renewals.py)
  mail-subscriptions, mail-billing     e-mails → SMTP
  reconcile-billing                    payments and refunds not final after their deadline, receipts
                                       still pending → ask YooKassa
  reconcile-subscriptions              purchases whose payment was never created → ended (abandoned.py);
                                       payment results lost with Redis → applied from Billing (backstop.py)
SIGTERM stops every loop after its current step.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from kinobill.billing import tables as billing_tables
from kinobill.events import PAYMENT_RESULTS, REFUND_RESULTS
from kinobill.mail import EmailSender
from kinobill.messages import PaymentSettled, RefundSettled, SubscriptionChanged
from kinobill.outbox import OutboxRelay
from kinobill.runtime import Runtime
from kinobill.streams import BatchHandler, Handler, StreamConsumer
from kinobill.subscriptions import tables as subscription_tables
from kinobill.unavailable import log_loop_failure

log = logging.getLogger(__name__)


def consumer_name(role: str) -> str:
    return os.environ.get("KINOBILL_CONSUMER_NAME") or f"{role}-{socket.gethostname()}-{os.getpid()}"


def periodic(step: Callable[[], int], interval: float) -> Callable[[threading.Event], None]:
    def loop(stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                if step() == 0:
                    stop.wait(interval)
            except Exception as exc:
                log_loop_failure(log, "periodic step failed", exc)
                stop.wait(max(interval, 1.0))

    return loop


def build_roles(runtime: Runtime) -> dict[str, Callable[[threading.Event], None]]:
    s = runtime.settings
    now = runtime.clock.now

    def mail(table: Any) -> Callable[[threading.Event], None]:
        return EmailSender(
            runtime.engine,
            table,
            smtp_host=s.smtp_host,
            smtp_port=s.smtp_port,
            sender=s.mail_from,
            now=now,
            claim=timedelta(seconds=s.mail_claim_seconds),
            crash_point=runtime.crash_point,
        ).run

    claim_idle_ms = int(os.environ.get("KINOBILL_CLAIM_IDLE_MS", "15000"))

    def consume(
        stop: threading.Event,
        stream: str,
        group: str,
        role: str,
        handler: Handler,
        batch_handler: BatchHandler | None = None,
    ) -> None:
        StreamConsumer(
            runtime.redis,
            stream,
            group,
            consumer_name(role),
            handler,
            claim_idle_ms=claim_idle_ms,
            crash_point=runtime.crash_point,
            batch_handler=batch_handler,
        ).run(stop)

    def payment_results(stop: threading.Event) -> None:
        from kinobill.subscriptions.bootstrap import card_changes, purchases
        from kinobill.subscriptions.card_changes import is_card_change

        def one(event: dict[str, Any]) -> object:
            if is_card_change(event):  # a new card for renewals (card_changes.py)
                return card_changes().apply(event)
            return purchases().apply_payment_result(PaymentSettled.from_json(event))

        def batch(events: list[dict[str, Any]]) -> object:
            if any(is_card_change(event) for event in events):
                return [one(event) for event in events]
            return purchases().apply_payment_results([PaymentSettled.from_json(e) for e in events])

        consume(stop, PAYMENT_RESULTS, "subscriptions", "payment-results", one, batch)

    def reconcile_billing(stop: threading.Event) -> None:
        from kinobill.billing.bootstrap import (
            card_change_service,
            payment_service,
            receipt_follower,
            refund_service,
        )

        def reconcile() -> int:
            payments, refunds = payment_service(), refund_service()
            duplicates = refunds.return_duplicate_payments(payments.duplicates_to_refund())
            receipts = receipt_follower().follow_once()
            cards = card_change_service().reconcile_once()
            return payments.reconcile_once() + refunds.reconcile_once() + duplicates + receipts + cards

        periodic(reconcile, 1.0)(stop)

    def reconcile_subscriptions(stop: threading.Event) -> None:
        from kinobill.subscriptions.bootstrap import (
            abandoned_purchases,
            awaited_results_backstop,
            payment_backstop,
        )

        abandoned, backstop, awaited = abandoned_purchases(), payment_backstop(), awaited_results_backstop()
        every = float(os.environ.get("KINOBILL_BACKSTOP_INTERVAL_SECONDS", "60"))
        last_backstop = [0.0]

        def reconcile() -> int:
            done = abandoned.run_pass()
            if time.monotonic() - last_backstop[0] >= every:
                done += backstop.run_pass() + awaited.run_pass()
                last_backstop[0] = time.monotonic()
            return done

        periodic(reconcile, min(5.0, every))(stop)

    def refund_results(stop: threading.Event) -> None:
        from kinobill.subscriptions.bootstrap import cancellations

        consume(
            stop,
            REFUND_RESULTS,
            "subscriptions",
            "refund-results",
            lambda event: cancellations().apply_refund_result(RefundSettled.from_json(event)),
        )

    def access_cache(stop: threading.Event) -> None:
        from kinobill.events import SUBSCRIPTION_CHANGES
        from kinobill.subscriptions.access import apply_change_event

        consume(
            stop,
            SUBSCRIPTION_CHANGES,
            "access-cache",
            "access-cache",
            lambda event: apply_change_event(runtime.redis, SubscriptionChanged.from_json(event)),
        )

    def charge_commands(stop: threading.Event) -> None:
        from concurrent.futures import ThreadPoolExecutor

        from kinobill.billing.bootstrap import charge_commands as build_charge_commands
        from kinobill.events import CHARGE_COMMANDS

        concurrency = int(os.environ.get("KINOBILL_CHARGE_CONCURRENCY", "16"))  # YooKassa calls in flight
        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="charge") as pool:
            commands = build_charge_commands(pool)
            consume(
                stop, CHARGE_COMMANDS, "billing", "charge-commands", commands.handle, commands.handle_batch
            )

    def scheduler(stop: threading.Event) -> None:
        from kinobill.subscriptions.bootstrap import renewal_scheduler
        from kinobill.subscriptions.renewals import renewal_policy

        policy = renewal_policy()
        passes = renewal_scheduler(runtime, policy)
        while not stop.is_set():
            try:
                result = passes.run_pass()
                if result.acted:
                    log.info("renewal pass: %s", result.as_dict())
            except Exception as exc:
                log_loop_failure(log, "renewal pass failed", exc)
            stop.wait(policy.interval.total_seconds())

    return {
        "access-cache": access_cache,
        "relay-subscriptions": OutboxRelay(
            runtime.engine,
            subscription_tables.outbox,
            runtime.redis,
            now=now,
            crash_point=runtime.crash_point,
        ).run,
        "relay-billing": OutboxRelay(
            runtime.engine, billing_tables.outbox, runtime.redis, now=now, crash_point=runtime.crash_point
        ).run,
        "payment-results": payment_results,
        "charge-commands": charge_commands,
        "scheduler": scheduler,
        "refund-results": refund_results,
        "mail-subscriptions": mail(subscription_tables.emails),
        "mail-billing": mail(billing_tables.emails),
        "reconcile-billing": reconcile_billing,
        "reconcile-subscriptions": reconcile_subscriptions,
    }


def run_workers(runtime: Runtime, only: list[str] | None = None) -> int:
    roles = build_roles(runtime)
    chosen = only or list(roles)
    unknown = set(chosen) - set(roles)
    if unknown:
        raise SystemExit(f"unknown worker roles: {', '.join(sorted(unknown))}; known: {', '.join(roles)}")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    threads = [threading.Thread(target=roles[name], args=(stop,), name=name, daemon=True) for name in chosen]
    for thread in threads:
        thread.start()
    status_port = int(os.environ.get("KINOBILL_WORKER_PORT", "0"))
    if status_port:
        from kinobill.metrics import serve_status
        from kinobill.streams import stalled_consumers

        # A consumer that has not completed a poll for this long (stuck, or Redis gone that long) fails
        # the liveness probe, so Kubernetes restarts the worker.
        stall = float(os.environ.get("KINOBILL_CONSUMER_STALL_SECONDS", "120"))
        serve_status(
            status_port,
            lambda: all(t.is_alive() for t in threads) and not stalled_consumers(stall),
            host=os.environ.get("KINOBILL_HOST", "127.0.0.1"),
        )
    log.info("workers started: %s", ", ".join(chosen))
    while not stop.wait(0.5):
        dead = [t.name for t in threads if not t.is_alive()]
        if dead:
            log.error("worker threads died: %s", dead)
            stop.set()
            return 1
    for thread in threads:
        thread.join(15)
    return 0
