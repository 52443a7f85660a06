"""Renewals under the shared test clock: buy at a chosen moment, move time, run scheduler passes.

Every fixture here leaves the clock as it found it (real time) and ends the subscriptions its test
bought, so later tests (one shared database) never see them renewing in the background.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from kinobill.clock import TestClock
from kinobill.subscriptions import tables as st
from shop import SUCCESS_CARD, Buyer, mail_to
from support import kinobill_command, wait_until


def tick(stack, policy: dict | None = None) -> dict:
    """One scheduler pass in its own process (`kinobill tick`), as an operator would run it."""
    args = ["tick"] + (["--policy", json.dumps(policy)] if policy else [])
    done = subprocess.run(
        kinobill_command(*args), env=stack.env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


@dataclass
class Renewals:
    """A buyer's subscriptions bought at test-clock moments, and what the database says about them."""

    stack: object
    db: sa.Engine
    clock: TestClock
    buyer: Buyer
    bought: list[str] = field(default_factory=list)

    def activate(self, plan_id: str, at: datetime, period: str = "month") -> tuple[dict, str]:
        """Buy at `at` and pay with a card that succeeds; returns the active subscription and the
        saved payment method id (= the first payment's provider id)."""
        self.clock.set(at)
        response = self.buyer.buy(plan_id, period=period)
        assert response.status_code == 201, response.text
        body = response.json()
        self.bought.append(body["id"])
        method = body["payment"]["provider_payment_id"]
        self.stack.sandbox.confirm(method, SUCCESS_CARD)  # type: ignore[attr-defined]
        active = wait_until(
            lambda: (s := self.buyer.subscription(body["id"]))["status"] == "active" and s,
            message="activation",
        )
        wait_until(lambda: self.row(body["id"]).next_attempt_at is not None, message="renewal scheduled")
        return active, method

    def row(self, subscription_id: str) -> sa.Row:
        with self.db.connect() as conn:
            return conn.execute(
                sa.select(st.subscriptions).where(st.subscriptions.c.id == uuid.UUID(subscription_id))
            ).one()

    def periods(self, subscription_id: str) -> list[sa.Row]:
        with self.db.connect() as conn:
            return list(
                conn.execute(
                    sa.select(st.periods)
                    .where(st.periods.c.subscription_id == uuid.UUID(subscription_id))
                    .order_by(st.periods.c.period_index)
                )
            )

    def at_first_attempt(self, subscription_id: str, after: timedelta = timedelta(minutes=1)) -> datetime:
        """Move the clock just past the next scheduled step of this subscription."""
        row = self.row(subscription_id)
        return self.clock.set(row.next_attempt_at + after)

    def wait_period(self, subscription_id: str, index: int, timeout: float = 30) -> sa.Row:
        return wait_until(
            lambda: (r := self.row(subscription_id)).period_index == index and r,
            timeout=timeout,
            message=f"period {index}",
        )

    def mails(self, kind_words: str) -> list[dict]:
        return [m for m in mail_to(self.stack, self.buyer.email) if kind_words in m["subject"]]

    def end_all(self) -> None:
        """Test teardown: no subscription of this test keeps renewing when the clock moves on."""
        with self.db.begin() as conn:
            conn.execute(
                st.subscriptions.update()
                .where(
                    st.subscriptions.c.id.in_([uuid.UUID(i) for i in self.bought]),
                    st.subscriptions.c.status != "ended",
                )
                .values(status="ended", ended_reason="cancelled", next_attempt_at=None, auto_renew=False)
            )


@pytest.fixture()
def renewals(stack, db, clock, buyer) -> Iterator[Renewals]:
    helper = Renewals(stack, db, clock, buyer)
    yield helper
    helper.end_all()
