"""Transactional outbox: events are rows written with the state change; a relay publishes them.

The relay takes a batch with FOR UPDATE SKIP LOCKED (so several relays never publish the same row at
once), XADDs each row to its stream with the row id as `outbox_id`, then marks the batch published. A
crash between XADD and the commit publishes a row again: consumers are idempotent by business keys.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import redis
import sqlalchemy as sa
from prometheus_client import Counter, Gauge

from kinobill.pacing import IdleBackoff
from kinobill.unavailable import log_loop_failure

log = logging.getLogger(__name__)

OUTBOX_PUBLISHED = Counter("kinobill_outbox_published_total", "Outbox rows published", ["schema"])
OUTBOX_LAG = Gauge("kinobill_outbox_lag_seconds", "Age of the oldest unpublished outbox row", ["schema"])
STREAM_MAXLEN = 1_000_000
MAX_BACKOFF = 5.0


def add_event(conn: sa.Connection, table: sa.Table, stream: str, payload: dict[str, Any]) -> None:
    """Write an event in the caller's transaction."""
    conn.execute(table.insert().values(stream=stream, payload=payload))


def add_events(conn: sa.Connection, table: sa.Table, stream: str, payloads: Sequence[dict[str, Any]]) -> None:
    """Write several events of one stream in the caller's transaction: one multi-row INSERT."""
    if payloads:
        conn.execute(table.insert().values([{"stream": stream, "payload": p} for p in payloads]))


class OutboxRelay:
    def __init__(
        self,
        engine: sa.Engine,
        table: sa.Table,
        client: redis.Redis,
        *,
        now: Callable[[], datetime],
        batch_size: int = 200,
        crash_point: Callable[[str], None] = lambda _: None,
    ) -> None:
        self.engine, self.table, self.redis, self.now = engine, table, client, now
        self.batch_size = batch_size
        self.crash_point = crash_point
        self.schema = table.schema or "public"

    def relay_once(self) -> int:
        t = self.table
        with self.engine.connect() as conn, conn.begin():
            rows = conn.execute(
                sa.select(t.c.id, t.c.stream, t.c.payload, t.c.created_at)
                .where(t.c.published_at.is_(None))
                .order_by(t.c.id)
                .limit(self.batch_size)
                .with_for_update(skip_locked=True)
            ).all()
            if not rows:
                OUTBOX_LAG.labels(self.schema).set(0)
                return 0
            OUTBOX_LAG.labels(self.schema).set(max(0.0, (self.now() - rows[0].created_at).total_seconds()))
            pipe = self.redis.pipeline(transaction=False)
            for row in rows:
                fields = {"outbox_id": str(row.id), "payload": json.dumps(row.payload, separators=(",", ":"))}
                # Top-level strings also travel as plain fields, for consumers outside this codebase (Auth).
                fields.update(
                    {k: v for k, v in row.payload.items() if isinstance(v, str) and k not in fields}
                )
                pipe.xadd(row.stream, fields, maxlen=STREAM_MAXLEN, approximate=True)  # type: ignore[arg-type]
            pipe.execute()
            self.crash_point(f"relay.{self.schema}.after_publish")
            conn.execute(
                t.update().where(t.c.id.in_([r.id for r in rows])).values(published_at=sa.func.now())
            )
        OUTBOX_PUBLISHED.labels(self.schema).inc(len(rows))
        return len(rows)

    def run(self, stop: threading.Event, idle: IdleBackoff | None = None) -> None:
        idle = idle or IdleBackoff(least=0.02, most=0.25)
        backoff = 0.0
        while not stop.is_set():
            try:
                published = self.relay_once()
                backoff = 0.0
                if published < self.batch_size:  # a full batch means more is waiting: go on at once
                    idle.after(published > 0, stop)
            except Exception as exc:
                # Redis or Postgres away: nothing is lost (the rows stay unpublished); back off, doubling
                # up to MAX_BACKOFF, with one line per try, and catch up at full speed once it is back.
                backoff = min(MAX_BACKOFF, max(0.5, backoff * 2))
                log_loop_failure(log, f"outbox relay {self.schema} failed (next try in {backoff:.1f}s)", exc)
                stop.wait(backoff)
