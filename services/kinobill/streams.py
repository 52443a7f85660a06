"""Redis Streams consumer groups: at-least-once delivery to idempotent handlers.

On start a consumer re-reads its own pending entries (a restart after a crash), then new ones ('>').
Entries idle longer than `claim_idle_ms` (a dead consumer's, or a failed one of its own: that idle time
is the retry back-off) are taken over with XAUTOCLAIM. An entry
delivered `max_deliveries` times goes to `<stream>:dead` with the error and is acknowledged, so one
poison message cannot block the rest.

With a ``batch_handler`` the entries of one read are handed over together (one transaction for the lot,
in the handler) and acknowledged with one XACK after it returns; if the batch fails for any reason, the
entries are handled one by one with ``handler``, so a poison message is isolated, retried and
dead-lettered exactly as without batching, and the others are applied (once: handlers are idempotent).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import redis
from prometheus_client import Counter, Gauge

from kinobill.events import DEAD_LETTER_SUFFIX
from kinobill.logs import request_id

log = logging.getLogger(__name__)

STREAM_HANDLED = Counter("kinobill_stream_messages_total", "Stream messages handled", ["stream", "outcome"])
STREAM_PENDING = Gauge(
    "kinobill_stream_pending", "Entries delivered but not acknowledged", ["stream", "group"]
)

Handler = Callable[[dict[str, Any]], object]
BatchHandler = Callable[[list[dict[str, Any]]], object]


def decode_payload(fields: dict[bytes, bytes]) -> dict[str, Any]:
    raw = fields.get(b"payload")
    if raw is not None:
        return dict(json.loads(raw))
    return {k.decode(): v.decode() for k, v in fields.items()}


class StreamConsumer:
    def __init__(
        self,
        client: redis.Redis,
        stream: str,
        group: str,
        consumer: str,
        handler: Handler,
        *,
        batch: int = 50,
        block_ms: int = 500,
        claim_idle_ms: int = 30_000,
        max_deliveries: int = 5,
        crash_point: Callable[[str], None] = lambda _: None,
        batch_handler: BatchHandler | None = None,
    ) -> None:
        self.redis, self.stream, self.group, self.consumer = client, stream, group, consumer
        self.handler, self.batch_handler = handler, batch_handler
        self.batch, self.block_ms = batch, block_ms
        self.claim_idle_ms, self.max_deliveries = claim_idle_ms, max_deliveries
        self.crash_point = crash_point
        self._last_claim = 0.0
        self._recovered = False

    def ensure_group(self) -> None:
        try:
            self.redis.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def poll_once(self) -> int:
        """Handle what is pending for this consumer, claimed from dead ones, or new. Returns the count."""
        handled = 0
        if not self._recovered:  # after a restart: our own unacknowledged entries first
            handled += self._read(pending=True)
            self._recovered = True
        if time.monotonic() - self._last_claim > max(1.0, self.claim_idle_ms / 2000):
            handled += self._claim_idle()
            self._last_claim = time.monotonic()
        if handled == 0:
            handled += self._read(pending=False)
        return handled

    def _read(self, *, pending: bool) -> int:
        response: Any = self.redis.xreadgroup(
            self.group,
            self.consumer,
            {self.stream: "0" if pending else ">"},
            count=self.batch,
            block=None if pending else self.block_ms,
        )
        live = []
        for _stream, entries in response or []:
            for entry_id, fields in entries:
                if fields is None:  # deleted while pending
                    self.redis.xack(self.stream, self.group, entry_id)
                    continue
                live.append((entry_id, fields))
        self._handle_all(live)
        return len(live)

    def _claim_idle(self) -> int:
        # Redis 6.2 answers [cursor, entries]; 7.0 adds a third element, the deleted ids.
        claimed = self.redis.xautoclaim(
            self.stream, self.group, self.consumer, self.claim_idle_ms, start_id="0-0", count=self.batch
        )[1]
        self._handle_all([(entry_id, fields) for entry_id, fields in claimed if fields is not None])
        return len(claimed)

    def _deliveries(self, entry_id: bytes) -> int:
        info = self.redis.xpending_range(self.stream, self.group, entry_id, entry_id, 1)
        return int(info[0]["times_delivered"]) if info else 1

    def _handle_all(self, entries: list[tuple[bytes, dict[bytes, bytes]]]) -> None:
        if self.batch_handler is None or len(entries) < 2:
            for entry_id, fields in entries:
                self._handle(entry_id, fields)
            return
        first = entries[0][0].decode()
        token = request_id.set(f"{self.stream}/{first}+{len(entries) - 1}")
        try:
            self.batch_handler([decode_payload(fields) for _id, fields in entries])
        except Exception:
            log.warning("batch of %s failed; handling its entries one by one", len(entries), exc_info=True)
            STREAM_HANDLED.labels(self.stream, "batch_failed").inc()
            for entry_id, fields in entries:
                self._handle(entry_id, fields)
            return
        finally:
            request_id.reset(token)
        self.crash_point(f"consumer.{self.group}.before_ack")
        self.redis.xack(self.stream, self.group, *[entry_id for entry_id, _fields in entries])
        STREAM_HANDLED.labels(self.stream, "ok").inc(len(entries))

    def _handle(self, entry_id: bytes, fields: dict[bytes, bytes]) -> None:
        token = request_id.set(f"{self.stream}/{entry_id.decode()}")
        try:
            payload = decode_payload(fields)
            self.handler(payload)
            self.crash_point(f"consumer.{self.group}.before_ack")
            self.redis.xack(self.stream, self.group, entry_id)
            STREAM_HANDLED.labels(self.stream, "ok").inc()
        except Exception as exc:
            deliveries = self._deliveries(entry_id)
            log.exception("stream handler failed (delivery %s of %s)", deliveries, self.max_deliveries)
            if deliveries >= self.max_deliveries:
                dead = dict(fields)
                dead[b"error"] = repr(exc).encode()
                dead[b"source_id"] = entry_id
                self.redis.xadd(self.stream + DEAD_LETTER_SUFFIX, dead)  # type: ignore[arg-type]
                self.redis.xack(self.stream, self.group, entry_id)
                STREAM_HANDLED.labels(self.stream, "dead_lettered").inc()
            else:
                STREAM_HANDLED.labels(self.stream, "failed").inc()
        finally:
            request_id.reset(token)

    def run(self, stop: threading.Event) -> None:
        self.ensure_group()
        while not stop.is_set():
            try:
                self.poll_once()
                summary = self.redis.xpending(self.stream, self.group)
                STREAM_PENDING.labels(self.stream, self.group).set(int(summary["pending"]))
            except redis.ConnectionError:
                log.warning("redis unavailable; consumer retrying")
                stop.wait(1.0)
            except Exception:
                log.exception("consumer loop failed; retrying")
                stop.wait(1.0)
