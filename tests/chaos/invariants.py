"""What must hold after any fault, checked against the records (not "no errors were seen").

Scoped to the subscriptions and e-mail addresses a scenario created, so other tests sharing the database
cannot disturb it. Every check reads the systems of record directly: Billing's and Subscriptions'
tables, the YooKassa sandbox (its payments list and request journal) and the capture mailbox.

1. ``paid_recorded_once_and_reflected``: every payment YooKassa holds as succeeded is one Billing row,
   succeeded, and reflected in Subscriptions: a paid period (active / renewed) or a refund of it.
2. ``one_success_per_period``: at most one succeeded payment per (subscription, period), apart from
   recorded duplicates, which are refunded in full.
3. ``one_provider_payment_per_charge``: no charge key (one Billing row = one Idempotence-Key) made two
   YooKassa payments (sandbox journal: successful, non-replayed creates).
4. ``outbox_published``: every outbox row of both services is published.
5. ``emails_once``: every e-mail queued for the scope was sent, and each Message-ID arrived once.
6. ``nothing_waiting``: no purchase awaiting payment, no payment or refund pending (call after the
   test clock was advanced past the deadlines, or after every payment was decided).

Usage: ``report = wait_for_invariants(Records(engine, sandbox, mailbox_url), scope, timeout=60)``;
``report.table()`` prints the results. Reusable by any stack shape (the session stack, a Patroni one).
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx
import sqlalchemy as sa

from kinobill.billing import tables as billing
from kinobill.subscriptions import tables as subscriptions
from yookassa_sandbox.testing import SandboxHandle

CHECKS = (
    "paid_recorded_once_and_reflected",
    "one_success_per_period",
    "one_provider_payment_per_charge",
    "outbox_published",
    "emails_once",
    "nothing_waiting",
)


@dataclass
class Scope:
    """What a scenario created: its subscriptions and its buyers' addresses."""

    subscription_ids: set[str] = field(default_factory=set)
    emails: set[str] = field(default_factory=set)

    def add(self, subscription_id: str, email: str | None = None) -> None:
        self.subscription_ids.add(str(subscription_id))
        if email:
            self.emails.add(email)


@dataclass
class Records:
    """Where the truth is: the database, the provider sandbox, the mailbox."""

    engine: sa.Engine
    sandbox: SandboxHandle
    mailbox_url: str

    def provider_payments(self, subscription_ids: set[str]) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        auth = (self.sandbox.shop_id, self.sandbox.secret_key)
        while True:
            params = {"limit": "100", **({"cursor": cursor} if cursor else {})}
            page = httpx.get(
                f"{self.sandbox.api_url}/payments",
                params=params,
                auth=auth,
                timeout=30,
                verify=self.sandbox.ca_file or True,
            ).json()
            items += [
                p
                for p in page["items"]
                if (p.get("metadata") or {}).get("subscription_id") in subscription_ids
            ]
            cursor = page.get("next_cursor")
            if not cursor:
                return items

    def mails(self) -> list[dict[str, Any]]:
        return list(httpx.get(f"{self.mailbox_url}/api/messages", timeout=30).json()["items"])


@dataclass
class InvariantReport:
    violations: dict[str, list[str]]
    checked_payments: int = 0

    @property
    def ok(self) -> bool:
        return not any(self.violations.values())

    def table(self) -> str:
        lines = [f"{'invariant':<36} result"]
        for name in CHECKS:
            found = self.violations.get(name, [])
            lines.append(f"{name:<36} {'ok' if not found else f'FAILED ({len(found)}): {found[:3]}'}")
        return "\n".join(lines)


def _uuids(ids: Iterable[str]) -> list[uuid.UUID]:
    return [uuid.UUID(i) for i in ids]


def check_invariants(records: Records, scope: Scope) -> InvariantReport:
    ids = _uuids(scope.subscription_ids)
    p, r, periods = billing.payments, billing.refunds, subscriptions.periods
    found: dict[str, list[str]] = {name: [] for name in CHECKS}
    with records.engine.connect() as conn:
        rows = conn.execute(sa.select(p).where(p.c.subscription_id.in_(ids))).all() if ids else []
        refunds = conn.execute(sa.select(r).where(r.c.subscription_id.in_(ids))).all() if ids else []
        paid_periods = (
            conn.execute(sa.select(periods).where(periods.c.subscription_id.in_(ids))).all() if ids else []
        )
        waiting = (
            conn.execute(
                sa.select(subscriptions.subscriptions.c.id).where(
                    subscriptions.subscriptions.c.id.in_(ids),
                    subscriptions.subscriptions.c.status == "awaiting_payment",
                )
            )
            .scalars()
            .all()
            if ids
            else []
        )
        unpublished = {
            schema: conn.execute(
                sa.select(sa.func.count()).select_from(table).where(table.c.published_at.is_(None))
            ).scalar_one()
            for schema, table in (("billing", billing.outbox), ("subscriptions", subscriptions.outbox))
        }
        unsent = []
        if scope.emails:
            for table in (billing.emails, subscriptions.emails):
                unsent += conn.execute(
                    sa.select(table.c.id, table.c.to_address, table.c.kind).where(
                        table.c.to_address.in_(scope.emails), table.c.sent_at.is_(None)
                    )
                ).all()

    by_provider_id = Counter(row.provider_payment_id for row in rows if row.provider_payment_id)
    rows_by_provider = {row.provider_payment_id: row for row in rows if row.provider_payment_id}
    reflected_payments = {period.payment_id for period in paid_periods}
    refunded_payments = {refund.payment_id for refund in refunds if refund.status != "canceled"}

    # 1. every succeeded YooKassa payment: one Billing row, succeeded, reflected
    provider = records.provider_payments(scope.subscription_ids)
    for obj in provider:
        if obj["status"] != "succeeded":
            continue
        row = rows_by_provider.get(obj["id"])
        if row is None or by_provider_id[obj["id"]] != 1:
            found["paid_recorded_once_and_reflected"].append(f"{obj['id']}: not recorded once in Billing")
        elif row.status != "succeeded":
            found["paid_recorded_once_and_reflected"].append(f"{obj['id']}: Billing says {row.status}")
        elif row.id not in reflected_payments and row.id not in refunded_payments:
            found["paid_recorded_once_and_reflected"].append(
                f"{obj['id']}: payment {row.id} of subscription {row.subscription_id} neither a paid period"
                " nor refunded"
            )

    # 2. one success per (subscription, period); duplicates refunded in full
    successes = Counter(
        (row.subscription_id, row.period_index)
        for row in rows
        if row.status == "succeeded" and row.duplicate_of is None
    )
    found["one_success_per_period"] += [f"{key}: {n} successes" for key, n in successes.items() if n > 1]
    found["one_success_per_period"] += [
        f"duplicate {row.id} refunded {row.refunded_amount} of {row.amount}"
        for row in rows
        if row.duplicate_of is not None and row.refunded_amount < row.amount
    ]

    # 3. one YooKassa payment per charge key (a Billing row's id is the Idempotence-Key)
    keys = {str(row.id) for row in rows}
    creates = Counter(
        entry["idempotence_key"]
        for entry in records.sandbox.journal(operation="payments.create", replayed=False, http_status=200)
        if entry["idempotence_key"] in keys
    )
    found["one_provider_payment_per_charge"] += [
        f"key {k}: {n} payments" for k, n in creates.items() if n > 1
    ]
    found["one_provider_payment_per_charge"] += [
        f"{pid}: {n} Billing rows" for pid, n in by_provider_id.items() if n > 1
    ]

    # 4. outbox
    found["outbox_published"] += [f"{schema}: {n} unpublished" for schema, n in unpublished.items() if n]

    # 5. e-mails: all sent, each Message-ID once
    found["emails_once"] += [f"unsent {row.kind} to {row.to_address}" for row in unsent]
    delivered = Counter(m["message_id"] for m in records.mails() if any(to in scope.emails for to in m["to"]))
    found["emails_once"] += [f"{mid} delivered {n} times" for mid, n in delivered.items() if n > 1]

    # 6. nothing left waiting
    found["nothing_waiting"] += [f"subscription {sid} awaiting payment" for sid in waiting]
    found["nothing_waiting"] += [f"payment {row.id} pending" for row in rows if row.status == "pending"]
    found["nothing_waiting"] += [f"refund {row.id} pending" for row in refunds if row.status == "pending"]
    return InvariantReport(found, checked_payments=len(provider))


def wait_for_invariants(
    records: Records, scope: Scope, *, timeout: float = 60.0, interval: float = 0.5
) -> InvariantReport:
    """The system is eventually consistent: check until every invariant holds or `timeout` passes, and
    return the last report (callers assert `report.ok`, printing `report.table()`)."""
    deadline = time.monotonic() + timeout
    while True:
        report = check_invariants(records, scope)
        if report.ok or time.monotonic() > deadline:
            return report
        time.sleep(interval)
